// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of
// JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__"?: {str: str}}, then the data
// section that the offsets index. Files are untrusted input: every field is validated (header size, JSON,
// dtype, shape overflow, offsets inside the data section, size = numel * element size, no overlapping
// ranges) and get() returns a zero-copy view over the mapped bytes whenever they are aligned.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/tensor_source.h"

namespace tc {

class SafeTensorsFile : public TensorSource {
public:
    struct Entry {
        std::string name;
        DType dtype;
        Shape shape;
        uint64_t begin, end;  // byte offsets in the data section
    };

    static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // 100 MB

    static SafeTensorsFile open(const std::string& path);
    // Parses bytes owned by `keepalive` (may be null if the caller keeps the bytes alive longer than
    // every tensor it gets). `label` names the source in error messages.
    static SafeTensorsFile from_bytes(ByteSpan bytes, std::shared_ptr<void> keepalive,
                                      const std::string& label = "<memory>");

    std::vector<std::string> names() const override;  // ordered by data offset
    bool contains(const std::string& name) const override;
    TensorInfo info(const std::string& name) const override;
    Tensor get(const std::string& name) const override;
    std::string format_name() const override { return "safetensors"; }

    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const std::vector<Entry>& entries() const { return entries_; }

private:
    const Entry& entry(const std::string& name) const;

    std::string label_;
    std::shared_ptr<void> keepalive_;
    ByteSpan data_;  // the data section
    std::vector<Entry> entries_;
    std::unordered_map<std::string, size_t> index_;
    std::map<std::string, std::string> metadata_;
};

// Writes a safetensors file with the tensors in the given order (contiguous data, no holes, header padded
// to 8 bytes). Tensors are made contiguous and brought to the CPU first. Writes `path`.tmp.<pid> and
// renames it over `path`, so readers never see a partial file.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace tc
