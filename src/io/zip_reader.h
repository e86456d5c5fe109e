// A minimal, defensive ZIP reader for torch.save archives (and TorchScript archives). It parses the
// end-of-central-directory record (with its zip64 variant), the central directory and each entry's local
// header itself (APPNOTE.TXT 4.3). STORED entries are returned as zero-copy spans of the archive bytes;
// DEFLATE entries are inflated with zlib into a buffer of exactly the declared size, and an entry that
// would inflate to more is rejected. Declared sizes are capped (per entry, and in total relative to the
// archive size), so a zip bomb fails with an error instead of an allocation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/mmap_file.h"

namespace tc {

struct ZipLimits {
    uint64_t max_entry_inflated = 4ull << 30;   // one DEFLATE entry: 4 GiB
    uint64_t total_inflated_ratio = 64;         // all DEFLATE entries: <= ratio * archive size ...
    uint64_t total_inflated_floor = 64ull << 20;  // ... or this floor, whichever is larger
    uint64_t max_entries = 1u << 22;
};

struct ZipEntry {
    std::string name;
    uint16_t method = 0;  // 0 stored, 8 deflate
    uint16_t flags = 0;
    uint32_t crc32 = 0;
    uint64_t compressed_size = 0;
    uint64_t size = 0;  // uncompressed
    uint64_t local_header_offset = 0;
    uint64_t data_offset = 0;  // resolved from the local header when the archive is opened
};

// The bytes of one entry: either a view of the archive (`owned` empty) or an inflated buffer.
struct ZipData {
    const uint8_t* data = nullptr;
    size_t size = 0;
    std::shared_ptr<std::vector<uint8_t>> owned;
    ByteSpan span() const { return {data, size}; }
};

class ZipReader {
public:
    // Parses the archive in `bytes` (kept alive by the caller). `label` names it in error messages.
    static ZipReader parse(ByteSpan bytes, const std::string& label = "<memory>", const ZipLimits& limits = {});

    const std::vector<ZipEntry>& entries() const { return entries_; }
    const ZipEntry* find(const std::string& name) const;  // nullptr when absent
    // The entry's bytes; STORED entries are zero-copy, DEFLATE ones are inflated (and CRC-checked).
    ZipData read(const ZipEntry& e) const;
    ByteSpan archive() const { return bytes_; }

private:
    std::string label_;
    ByteSpan bytes_;
    ZipLimits limits_;
    std::vector<ZipEntry> entries_;
    std::unordered_map<std::string, size_t> index_;
};

}  // namespace tc
