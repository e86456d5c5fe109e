// A minimal ZIP writer for the frames_zip output: STORED entries only (PNG frames do not compress further),
// no zip64 (the archive and every entry stay under 4 GiB and 65535 entries, checked), fixed timestamps
// (1980-01-01 00:00, so equal frames give byte-identical archives). Layout per APPNOTE.TXT 4.3: local
// header + data for each entry, then the central directory and the end-of-central-directory record.
// Entries are streamed to the file as they are added; nothing but the directory is kept in memory.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace tc::media {

class ZipWriter {
public:
    // Creates (truncates) `path`. Throws tc::Error when it cannot be opened.
    explicit ZipWriter(const std::string& path);
    ZipWriter(const ZipWriter&) = delete;
    ZipWriter& operator=(const ZipWriter&) = delete;
    ~ZipWriter() = default;  // without finish() the file is left incomplete (callers write to a temp file)

    // Appends one STORED entry. Names are stored as given (use '/' separators); duplicates are rejected.
    void add(const std::string& name, const uint8_t* data, size_t size);
    void add(const std::string& name, const std::vector<uint8_t>& bytes) { add(name, bytes.data(), bytes.size()); }
    // Writes the central directory and closes the file. Throws on I/O errors.
    void finish();

private:
    struct Entry {
        std::string name;
        uint32_t crc = 0;
        uint32_t size = 0;
        uint32_t offset = 0;
    };
    void write(const void* p, size_t n);

    std::string path_;
    std::ofstream out_;
    uint64_t pos_ = 0;
    std::vector<Entry> entries_;
    bool finished_ = false;
};

}  // namespace tc::media
