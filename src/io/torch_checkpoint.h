// PyTorch checkpoints written by torch.save (>= 1.6, the zip format): `<archive>/data.pkl` is a pickle whose
// tensors are `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` calls and whose storages
// are persistent ids ('storage', torch.<T>Storage, key, location, numel) naming `<archive>/data/<key>`.
// The pickle runs in the restricted unpickler (io/pickle.h) with only the globals a state dict needs, so a
// checkpoint cannot execute code. Tensors are zero-copy strided views into the archive (bounds-checked
// against their storage). Accepted layouts, as scripts/evaluation/funcs.py load_model_checkpoint reads them:
// {'state_dict': {...}}, deepspeed {'module': {...}} (the first 16 characters of each key are stripped),
// and a bare dict of tensors.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/pickle.h"
#include "io/tensor_source.h"
#include "io/zip_reader.h"

namespace tc {

// A persistent storage reference, as BINPERSID produces it.
struct TorchStorageRef {
    std::string key;
    std::string type_name;  // "FloatStorage", ...
    DType dtype = DType::F32;
    uint64_t numel = 0;  // elements
};

// One tensor of the pickle: where its elements live in which storage.
struct TorchTensorRecord {
    TorchStorageRef storage;
    int64_t offset = 0;  // elements
    Shape shape, stride;
};

// Unpickler options for torch.save data: the allowlist (collections.OrderedDict,
// torch._utils._rebuild_tensor_v2 / _rebuild_parameter, torch.<T>Storage) and the storage persistent ids.
// Tensor records are Custom values holding a TorchTensorRecord (validated against the storage's numel).
pickle::PickleOptions torch_pickle_options(const std::string& label);
// Inflated (DEFLATE) storages of one archive, shared by every tensor that views them.
struct StorageCache {
    std::mutex mutex;
    std::unordered_map<std::string, ZipData> inflated;
};

// The tensor a record describes, read from `<archive>/data/<key>` of `zip`: a zero-copy view for a dense
// STORED storage (kept alive by `keepalive`), else a contiguous copy. Shared by TorchCheckpoint and
// TorchScriptArchive; bounds were checked when the record was unpickled.
Tensor tensor_from_record(const ZipReader& zip, const std::string& archive, const TorchTensorRecord& r,
                          const std::shared_ptr<void>& keepalive, StorageCache& cache);

const TorchTensorRecord* as_tensor_record(const pickle::Value* v);  // nullptr if not a tensor

// The named tensors of an unpickled torch.save document, in dict order, for the layouts above
// (`layout` receives "state_dict", "module" or "dict").
std::vector<std::pair<std::string, TorchTensorRecord>> torch_state_entries(const pickle::PickleDoc& doc,
                                                                            const std::string& label,
                                                                            std::string* layout = nullptr);

class TorchCheckpoint : public TensorSource {
public:
    static TorchCheckpoint open(const std::string& path, const ZipLimits& limits = {});
    // Parses an archive held in memory (kept alive by `keepalive`, or by the caller for longer than the
    // checkpoint and every tensor taken from it when null).
    static TorchCheckpoint from_bytes(ByteSpan bytes, std::shared_ptr<void> keepalive,
                                      const std::string& label = "<memory>", const ZipLimits& limits = {});

    std::vector<std::string> names() const override;  // pickle dict order
    bool contains(const std::string& name) const override;
    TensorInfo info(const std::string& name) const override;
    Tensor get(const std::string& name) const override;
    std::string format_name() const override { return "torch zip checkpoint"; }

    const std::string& layout() const { return layout_; }         // "state_dict", "module" or "dict"
    const std::string& archive_name() const { return archive_; }  // the zip's top directory

private:
    const TorchTensorRecord& record(const std::string& name) const;

    std::string label_;
    std::shared_ptr<void> keepalive_;
    std::shared_ptr<ZipReader> zip_;
    std::string archive_, layout_;
    std::vector<std::pair<std::string, TorchTensorRecord>> tensors_;
    std::unordered_map<std::string, size_t> index_;
    std::shared_ptr<StorageCache> cache_ = std::make_shared<StorageCache>();
};

}  // namespace tc
