// A read-only memory map of a whole file (RAII), and the byte-span type the readers parse.
// Every reader of untrusted files (safetensors, zip, pickle) parses a ByteSpan, so that the same code
// runs over an mmap, over an in-memory buffer (fuzz targets, tests) or over an inflated zip entry.
// Tensors that borrow bytes from a map hold the map alive through a shared_ptr (see Storage::keepalive).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace tc {

using ByteSpan = std::span<const uint8_t>;

class MappedFile {
public:
    // Maps `path` read-only. Throws tc::Error naming the path on any failure (missing, not a regular file,
    // unreadable). An empty file gives an empty span. The bytes are PROT_READ: writing through a tensor
    // that borrows them is a bug (it faults).
    static std::shared_ptr<MappedFile> open(const std::string& path);

    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    size_t size() const { return size_; }
    ByteSpan bytes() const { return {data_, size_}; }
    const std::string& path() const { return path_; }

private:
    MappedFile() = default;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    std::string path_;
};

}  // namespace tc
