// TorchScript archives (torch.jit.save, e.g. the FILM port's film_net_fp32.pt / film_net_fp16.pt) read as
// a TensorSource of their parameters, WITHOUT executing any TorchScript: `<root>/data.pkl` pickles the
// module object tree (`__torch__.<path> <Class>` objects whose BUILD state is a dict of attributes), and
// every tensor attribute is a `_rebuild_tensor_v2` over a storage `<root>/data/<key>`. The state-dict
// key of a tensor is its dotted attribute path from the root (e.g. `fuse.convs.3.1.0.weight`); walking
// the tree in pickle order gives torch's state_dict() order. `<root>/code/` is never read.
// Layout notes: /work/shared/golden/film/README.md section 5 (torch 1.13 export; newer exports add
// `byteorder` / `.data/serialization_id` entries, which are accepted / ignored).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/tensor_source.h"
#include "io/torch_checkpoint.h"
#include "io/zip_reader.h"

namespace tc {

class TorchScriptArchive : public TensorSource {
public:
    static TorchScriptArchive open(const std::string& path, const ZipLimits& limits = {});
    static TorchScriptArchive from_bytes(ByteSpan bytes, std::shared_ptr<void> keepalive,
                                         const std::string& label = "<memory>", const ZipLimits& limits = {});
    // True when the zip in `bytes` has `<root>/constants.pkl` beside `<root>/data.pkl` (a TorchScript
    // archive rather than a torch.save checkpoint). Never throws for a well-formed zip.
    static bool is_torchscript(const ZipReader& zip);

    std::vector<std::string> names() const override;  // attribute-tree (state_dict) order
    bool contains(const std::string& name) const override;
    TensorInfo info(const std::string& name) const override;
    Tensor get(const std::string& name) const override;
    std::string format_name() const override { return "TorchScript archive"; }

    const std::string& archive_name() const { return archive_; }
    // The root module's class, mangling stripped (e.g. "__torch__.interpolator.Interpolator").
    const std::string& root_class() const { return root_class_; }

private:
    const TorchTensorRecord& record(const std::string& name) const;

    std::string label_;
    std::shared_ptr<void> keepalive_;
    std::shared_ptr<ZipReader> zip_;
    std::string archive_, root_class_;
    std::vector<std::pair<std::string, TorchTensorRecord>> tensors_;
    std::unordered_map<std::string, size_t> index_;
    std::shared_ptr<StorageCache> cache_ = std::make_shared<StorageCache>();
};

}  // namespace tc
