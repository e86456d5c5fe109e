// ZIP parsing per PKWARE APPNOTE.TXT (sections 4.3.7 local header, 4.3.12 central directory header,
// 4.3.14-4.3.16 zip64 and end-of-central-directory records, 4.5.3 zip64 extended information extra field).
// Every offset and length read from the archive is checked against the archive bounds before use.
#include "io/zip_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace tc {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;

// Little-endian readers over a bounds-checked span.
struct Reader {
    ByteSpan b;
    const std::string& where;
    void need(uint64_t off, uint64_t len, const char* what) const {
        TC_CHECK(off <= b.size() && len <= b.size() - off, where, ": ", what, " at offset ", off,
                 " runs past the end of the archive (", b.size(), " bytes): truncated or corrupt");
    }
    uint16_t u16(uint64_t off) const {
        need(off, 2, "field");
        return uint16_t(b[off] | b[off + 1] << 8);
    }
    uint32_t u32(uint64_t off) const {
        need(off, 4, "field");
        return uint32_t(b[off]) | uint32_t(b[off + 1]) << 8 | uint32_t(b[off + 2]) << 16 | uint32_t(b[off + 3]) << 24;
    }
    uint64_t u64(uint64_t off) const { return uint64_t(u32(off)) | uint64_t(u32(off + 4)) << 32; }
};

// The smallest compressed size deflate can produce for `size` bytes is about size / 1032 (258-byte matches
// coded in 2 bits); anything claiming a better ratio is not a real deflate stream.
bool plausible_deflate_ratio(uint64_t compressed, uint64_t size) {
    return size <= compressed * 1032 + 1024;
}

}  // namespace

ZipReader ZipReader::parse(ByteSpan bytes, const std::string& label, const ZipLimits& limits) {
    ZipReader z;
    z.label_ = label;
    z.bytes_ = bytes;
    z.limits_ = limits;
    const std::string where = "zip archive '" + label + "'";
    Reader r{bytes, where};
    const uint64_t n = bytes.size();
    TC_CHECK(n >= 22, where, ": too short (", n, " bytes) to be a zip archive");

    // --- end of central directory: the last signature whose comment ends inside the file.
    uint64_t eocd = UINT64_MAX;
    uint64_t lowest = n - 22 > 65535 ? n - 22 - 65535 : 0;
    for (uint64_t p = n - 22 + 1; p-- > lowest;) {
        if (r.u32(p) == kEocdSig && p + 22 + r.u16(p + 20) <= n) {
            eocd = p;
            break;
        }
    }
    TC_CHECK(eocd != UINT64_MAX, where, ": no end-of-central-directory record (truncated, or not a zip file)");
    uint64_t disk = r.u16(eocd + 4), cd_disk = r.u16(eocd + 6);
    uint64_t count_disk = r.u16(eocd + 8), count = r.u16(eocd + 10);
    uint64_t cd_size = r.u32(eocd + 12), cd_offset = r.u32(eocd + 16);
    uint64_t cd_limit = eocd;  // the central directory ends before this

    // --- zip64: a locator right before the EOCD points at the zip64 EOCD record.
    if (eocd >= 20 && r.u32(eocd - 20) == kZip64LocatorSig) {
        uint64_t z64 = r.u64(eocd - 20 + 8);
        TC_CHECK(z64 <= eocd - 20 && eocd - 20 - z64 >= 56, where, ": zip64 end-of-central-directory offset ", z64,
                 " is invalid");
        TC_CHECK(r.u32(z64) == kZip64EocdSig, where, ": bad zip64 end-of-central-directory signature");
        disk = r.u32(z64 + 16);
        cd_disk = r.u32(z64 + 20);
        count_disk = r.u64(z64 + 24);
        count = r.u64(z64 + 32);
        cd_size = r.u64(z64 + 40);
        cd_offset = r.u64(z64 + 48);
        cd_limit = z64;
    } else {
        TC_CHECK(count != 0xFFFF && cd_size != 0xFFFFFFFFu && cd_offset != 0xFFFFFFFFu, where,
                 ": the end-of-central-directory record needs zip64 but no zip64 locator was found");
    }
    TC_CHECK(disk == 0 && cd_disk == 0 && count_disk == count, where, ": multi-disk archives are not supported");
    TC_CHECK(cd_offset <= cd_limit && cd_size <= cd_limit - cd_offset, where, ": central directory [", cd_offset,
             ", +", cd_size, ") lies outside the archive");
    TC_CHECK(count <= limits.max_entries, where, ": ", count, " entries exceed the limit of ", limits.max_entries);
    TC_CHECK(count <= cd_size / 46, where, ": ", count, " entries cannot fit in a central directory of ", cd_size,
             " bytes");

    // --- central directory
    z.entries_.reserve(size_t(count));
    uint64_t p = cd_offset;
    const uint64_t cd_end = cd_offset + cd_size;
    uint64_t total_inflated = 0;
    const uint64_t total_budget = std::max(limits.total_inflated_floor, limits.total_inflated_ratio * n);
    Reader cd{bytes.first(size_t(cd_end)), where};
    for (uint64_t i = 0; i < count; ++i) {
        cd.need(p, 46, "central directory header");
        TC_CHECK(cd.u32(p) == kCentralSig, where, ": bad central directory signature for entry ", i, " at offset ", p);
        ZipEntry e;
        e.flags = cd.u16(p + 8);
        e.method = cd.u16(p + 10);
        e.crc32 = cd.u32(p + 16);
        e.compressed_size = cd.u32(p + 20);
        e.size = cd.u32(p + 24);
        uint64_t name_len = cd.u16(p + 28), extra_len = cd.u16(p + 30), comment_len = cd.u16(p + 32);
        uint64_t disk_start = cd.u16(p + 34);
        e.local_header_offset = cd.u32(p + 42);
        cd.need(p + 46, name_len + extra_len + comment_len, "central directory name/extra/comment");
        e.name.assign(reinterpret_cast<const char*>(bytes.data() + p + 46), size_t(name_len));

        // zip64 extended information: present fields replace the 0xFFFFFFFF placeholders, in this order.
        uint64_t x = p + 46 + name_len, x_end = x + extra_len;
        while (x + 4 <= x_end) {
            uint16_t id = cd.u16(x), sz = cd.u16(x + 2);
            TC_CHECK(x + 4 + sz <= x_end, where, ": entry '", e.name, "' has a malformed extra field");
            if (id == 0x0001) {
                uint64_t f = x + 4, f_end = f + sz;
                auto take = [&](uint64_t& v) {
                    TC_CHECK(f + 8 <= f_end, where, ": entry '", e.name, "' has a short zip64 extra field");
                    v = cd.u64(f);
                    f += 8;
                };
                if (e.size == 0xFFFFFFFFu) take(e.size);
                if (e.compressed_size == 0xFFFFFFFFu) take(e.compressed_size);
                if (e.local_header_offset == 0xFFFFFFFFu) take(e.local_header_offset);
                if (disk_start == 0xFFFF) {
                    TC_CHECK(f + 4 <= f_end, where, ": entry '", e.name, "' has a short zip64 extra field");
                    disk_start = cd.u32(f);
                }
            }
            x += 4 + sz;
        }
        TC_CHECK(disk_start == 0, where, ": entry '", e.name, "' is on another disk");
        TC_CHECK((e.flags & 0x1) == 0, where, ": entry '", e.name, "' is encrypted");
        p += 46 + name_len + extra_len + comment_len;

        // --- local header: it gives the data offset (its own name and extra lengths may differ).
        const uint64_t lh = e.local_header_offset;
        r.need(lh, 30, "local header");
        TC_CHECK(lh < cd_offset && r.u32(lh) == kLocalSig, where, ": entry '", e.name,
                 "' has a bad local header offset ", lh);
        uint64_t lname = r.u16(lh + 26), lextra = r.u16(lh + 28);
        r.need(lh + 30, lname + lextra, "local header name/extra");
        TC_CHECK(lname == name_len && std::memcmp(bytes.data() + lh + 30, e.name.data(), size_t(name_len)) == 0, where,
                 ": entry '", e.name, "': the local header names a different file");
        e.data_offset = lh + 30 + lname + lextra;
        TC_CHECK(e.data_offset <= cd_offset && e.compressed_size <= cd_offset - e.data_offset, where, ": entry '",
                 e.name, "' data [", e.data_offset, ", +", e.compressed_size,
                 ") runs past the start of the central directory: truncated or corrupt");
        if (e.method == 0) {
            TC_CHECK(e.size == e.compressed_size, where, ": stored entry '", e.name, "' declares ", e.size,
                     " bytes but holds ", e.compressed_size);
        } else if (e.method == 8) {
            TC_CHECK(e.size <= limits.max_entry_inflated, where, ": entry '", e.name, "' declares ", e.size,
                     " uncompressed bytes, more than the limit of ", limits.max_entry_inflated,
                     " for a compressed entry");
            TC_CHECK(plausible_deflate_ratio(e.compressed_size, e.size), where, ": entry '", e.name, "' declares ",
                     e.size, " bytes from ", e.compressed_size,
                     " compressed bytes, a ratio deflate cannot reach (zip bomb?)");
            total_inflated += e.size;
            TC_CHECK(total_inflated <= total_budget, where, ": compressed entries declare more than ", total_budget,
                     " bytes in total (zip bomb?)");
        }
        TC_CHECK(z.index_.emplace(e.name, z.entries_.size()).second, where, ": entry '", e.name,
                 "' appears twice");
        z.entries_.push_back(std::move(e));
    }
    return z;
}

const ZipEntry* ZipReader::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
}

ZipData ZipReader::read(const ZipEntry& e) const {
    const std::string where = "zip archive '" + label_ + "'";
    const uint8_t* src = bytes_.data() + e.data_offset;  // bounds were checked by parse()
    if (e.method == 0) return ZipData{src, size_t(e.size), nullptr};
    TC_CHECK(e.method == 8, where, ": entry '", e.name, "' uses compression method ", e.method,
             " (only stored and deflate are supported)");

    // Inflate into exactly the declared size; parse() capped it.
    auto out = std::make_shared<std::vector<uint8_t>>(size_t(e.size));
    z_stream zs{};
    TC_CHECK(inflateInit2(&zs, -MAX_WBITS) == Z_OK, where, ": zlib initialisation failed");
    struct End {
        z_stream* z;
        ~End() { inflateEnd(z); }
    } end{&zs};
    uint64_t in_left = e.compressed_size, out_done = 0;
    const uint8_t* in = src;
    constexpr uint64_t kChunk = 1u << 30;
    int ret = Z_OK;
    while (ret != Z_STREAM_END) {
        if (zs.avail_in == 0 && in_left > 0) {
            uint64_t c = std::min(in_left, kChunk);
            zs.next_in = const_cast<Bytef*>(in);
            zs.avail_in = uInt(c);
            in += c;
            in_left -= c;
        }
        uint8_t spare = 0;
        bool full = out_done == e.size;
        if (full) {  // one more byte of room tells a finished stream from one that would overflow
            zs.next_out = &spare;
            zs.avail_out = 1;
        } else {
            uint64_t c = std::min(e.size - out_done, kChunk);
            zs.next_out = out->data() + out_done;
            zs.avail_out = uInt(c);
        }
        uInt before = zs.avail_out;
        uLong consumed_before = zs.total_in;
        ret = inflate(&zs, Z_NO_FLUSH);
        uInt produced = before - zs.avail_out;
        if (full) {
            TC_CHECK(produced == 0, where, ": entry '", e.name, "' inflates to more than its declared ", e.size,
                     " bytes (zip bomb?)");
        } else {
            out_done += produced;
        }
        if (ret == Z_STREAM_END) break;
        TC_CHECK(ret == Z_OK || ret == Z_BUF_ERROR, where, ": entry '", e.name, "' has corrupt deflate data",
                 zs.msg ? std::string(" (") + zs.msg + ")" : std::string());
        if (produced == 0 && zs.total_in == consumed_before) {  // no progress: input exhausted or stuck
            TC_CHECK(zs.avail_in > 0 || in_left > 0, where, ": entry '", e.name, "': deflate data ends early");
            TC_FAIL(where, ": entry '", e.name, "' has corrupt deflate data (no progress)");
        }
    }
    TC_CHECK(out_done == e.size, where, ": entry '", e.name, "' inflates to ", out_done, " bytes, not the declared ",
             e.size);
    uint32_t crc = uint32_t(crc32_z(0, out->data(), out->size()));
    TC_CHECK(crc == e.crc32, where, ": entry '", e.name, "' fails its CRC check");
    return ZipData{out->data(), out->size(), out};
}

}  // namespace tc
