// STORED zip writer (APPNOTE.TXT sections 4.3.7 local header, 4.3.12 central directory header,
// 4.3.16 end of central directory record). CRC-32 from zlib.
#include "media/zip_writer.h"

#include <zlib.h>

#include <algorithm>

#include "core/error.h"

namespace tc::media {

namespace {

constexpr uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;  // 1980-01-01
constexpr uint16_t kDosTime = 0;

void put16(std::vector<uint8_t>& b, uint32_t v) {
    b.push_back(uint8_t(v));
    b.push_back(uint8_t(v >> 8));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
    put16(b, v & 0xffff);
    put16(b, v >> 16);
}

bool is_ascii(const std::string& s) {
    for (unsigned char c : s)
        if (c >= 0x80) return false;
    return true;
}

}  // namespace

ZipWriter::ZipWriter(const std::string& path) : path_(path), out_(path, std::ios::binary | std::ios::trunc) {
    TC_CHECK(out_, "cannot create zip file ", path);
}

void ZipWriter::write(const void* p, size_t n) {
    out_.write(static_cast<const char*>(p), std::streamsize(n));
    TC_CHECK(out_, "write error on ", path_);
    pos_ += n;
}

void ZipWriter::add(const std::string& name, const uint8_t* data, size_t size) {
    TC_CHECK(!finished_, "ZipWriter::add after finish");
    TC_CHECK(!name.empty() && name.size() <= 0xffff, "zip entry name must be 1..65535 bytes");
    for (const Entry& e : entries_) TC_CHECK(e.name != name, "duplicate zip entry ", name);
    TC_CHECK(entries_.size() < 0xffff, "too many zip entries (zip64 is not supported)");
    const uint64_t header_size = 30 + name.size();
    TC_CHECK(pos_ + header_size + size < 0xffffffffull, "zip archive would exceed 4 GiB (zip64 is not supported)");

    Entry e;
    e.name = name;
    e.size = uint32_t(size);
    e.offset = uint32_t(pos_);
    uLong crc = crc32(0L, Z_NULL, 0);
    // zlib's crc32 takes uInt lengths: feed it in chunks
    for (size_t done = 0; done < size;) {
        const size_t n = std::min<size_t>(size - done, 1u << 30);
        crc = crc32(crc, data + done, uInt(n));
        done += n;
    }
    e.crc = uint32_t(crc);

    std::vector<uint8_t> h;
    put32(h, 0x04034b50);              // local file header signature
    put16(h, 10);                      // version needed: 1.0 (stored)
    put16(h, is_ascii(name) ? 0 : 0x0800);  // bit 11: UTF-8 name
    put16(h, 0);                       // method: stored
    put16(h, kDosTime);
    put16(h, kDosDate);
    put32(h, e.crc);
    put32(h, e.size);                  // compressed size
    put32(h, e.size);                  // uncompressed size
    put16(h, uint32_t(name.size()));
    put16(h, 0);                       // extra field length
    h.insert(h.end(), name.begin(), name.end());
    write(h.data(), h.size());
    if (size) write(data, size);
    entries_.push_back(std::move(e));
}

void ZipWriter::finish() {
    TC_CHECK(!finished_, "ZipWriter::finish called twice");
    const uint64_t cd_offset = pos_;
    std::vector<uint8_t> cd;
    for (const Entry& e : entries_) {
        put32(cd, 0x02014b50);         // central file header signature
        put16(cd, (3 << 8) | 20);      // made by: UNIX, spec 2.0 (so the external attributes are mode bits)
        put16(cd, 10);                 // version needed
        put16(cd, is_ascii(e.name) ? 0 : 0x0800);
        put16(cd, 0);                  // stored
        put16(cd, kDosTime);
        put16(cd, kDosDate);
        put32(cd, e.crc);
        put32(cd, e.size);
        put32(cd, e.size);
        put16(cd, uint32_t(e.name.size()));
        put16(cd, 0);                  // extra
        put16(cd, 0);                  // comment
        put16(cd, 0);                  // disk number start
        put16(cd, 0);                  // internal attributes
        put32(cd, 0100644u << 16);     // external attributes: regular file, rw-r--r--
        put32(cd, e.offset);
        cd.insert(cd.end(), e.name.begin(), e.name.end());
    }
    TC_CHECK(cd_offset + cd.size() < 0xffffffffull, "zip archive would exceed 4 GiB (zip64 is not supported)");
    const uint32_t cd_size = uint32_t(cd.size());
    put32(cd, 0x06054b50);             // end of central directory
    put16(cd, 0);                      // this disk
    put16(cd, 0);                      // disk with the central directory
    put16(cd, uint32_t(entries_.size()));
    put16(cd, uint32_t(entries_.size()));
    put32(cd, cd_size);
    put32(cd, uint32_t(cd_offset));
    put16(cd, 0);                      // comment length
    write(cd.data(), cd.size());
    out_.close();
    TC_CHECK(!out_.fail(), "error closing ", path_);
    finished_ = true;
}

}  // namespace tc::media
