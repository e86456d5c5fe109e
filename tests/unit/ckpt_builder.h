// Test-only writers for the hostile-input tests: pickle opcodes, ZIP archives (stored / deflate / zip64,
// with the local-header padding torch uses) and torch.save-style checkpoints, built byte by byte in C++
// so the tests need no Python.
#pragma once

#include <zlib.h>

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tc::testutil {

// A fresh directory under the system temp dir, removed with its contents at scope exit.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        static std::atomic<int> counter{0};
        path = std::filesystem::temp_directory_path() /
               ("tc_io_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
    std::string write(const std::string& name, const std::string& bytes) const {
        std::string p = file(name);
        std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
        return p;
    }
};

inline void put_le(std::string& b, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b += char((v >> (8 * i)) & 0xff);
}

// Emits pickle opcodes (protocol 2 names, see CPython Lib/pickletools.py).
struct PickleWriter {
    std::string b;
    PickleWriter& proto(int v = 2) { b += '\x80'; b += char(v); return *this; }
    PickleWriter& op(char c) { b += c; return *this; }
    PickleWriter& mark() { return op('('); }
    PickleWriter& stop() { return op('.'); }
    PickleWriter& none() { return op('N'); }
    PickleWriter& boolean(bool v) { return op(v ? '\x88' : '\x89'); }
    PickleWriter& integer(int64_t v) {
        if (v >= 0 && v < 256) { b += 'K'; put_le(b, uint64_t(v), 1); }
        else if (v >= 0 && v < 65536) { b += 'M'; put_le(b, uint64_t(v), 2); }
        else if (v >= INT32_MIN && v <= INT32_MAX) { b += 'J'; put_le(b, uint64_t(uint32_t(int32_t(v))), 4); }
        else { b += '\x8a'; b += char(8); put_le(b, uint64_t(v), 8); }
        return *this;
    }
    PickleWriter& str(const std::string& s) { b += 'X'; put_le(b, s.size(), 4); b += s; return *this; }
    PickleWriter& global(const std::string& mod, const std::string& name) {
        b += 'c'; b += mod; b += '\n'; b += name; b += '\n'; return *this;
    }
    PickleWriter& tuple() { return op('t'); }
    PickleWriter& empty_tuple() { return op(')'); }
    PickleWriter& empty_dict() { return op('}'); }
    PickleWriter& empty_list() { return op(']'); }
    PickleWriter& reduce() { return op('R'); }
    PickleWriter& setitem() { return op('s'); }
    PickleWriter& setitems() { return op('u'); }
    PickleWriter& put(uint32_t i) { b += 'r'; put_le(b, i, 4); return *this; }
    PickleWriter& get(uint32_t i) { b += 'j'; put_le(b, i, 4); return *this; }
    PickleWriter& binpersid() { return op('Q'); }
    PickleWriter& ints_tuple(const std::vector<int64_t>& v) {
        mark();
        for (int64_t x : v) integer(x);
        return tuple();
    }
};

inline std::string raw_deflate(const std::string& in) {
    z_stream zs{};
    deflateInit2(&zs, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&zs, uLong(in.size())) + 16, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = uInt(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = uInt(out.size());
    deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

// Writes a ZIP archive. Entries are padded like torch's writer (data 64-byte aligned via an extra field).
struct ZipWriter {
    struct Item {
        std::string name, data;
        bool deflate = false;
        std::optional<uint64_t> declared_size;  // lie about the uncompressed size
        uint64_t offset = 0, csize = 0, usize = 0;
        uint32_t crc = 0;
    };
    std::vector<Item> items;
    bool zip64 = false;

    ZipWriter& add(const std::string& name, const std::string& data, bool deflate = false,
                   std::optional<uint64_t> declared_size = std::nullopt) {
        items.push_back({name, data, deflate, declared_size});
        return *this;
    }

    std::string finish() {
        std::string out;
        for (Item& it : items) {
            std::string payload = it.deflate ? raw_deflate(it.data) : it.data;
            it.crc = uint32_t(crc32(0, reinterpret_cast<const Bytef*>(it.data.data()), uInt(it.data.size())));
            it.csize = payload.size();
            it.usize = it.declared_size ? *it.declared_size : it.data.size();
            it.offset = out.size();
            size_t base = out.size() + 30 + it.name.size() + 4;
            size_t pad = (64 - base % 64) % 64;
            out += "PK\x03\x04";
            put_le(out, 20, 2);
            put_le(out, 0, 2);
            put_le(out, it.deflate ? 8 : 0, 2);
            put_le(out, 0, 4);  // time, date
            put_le(out, it.crc, 4);
            put_le(out, zip64 ? 0xFFFFFFFFu : it.csize, 4);
            put_le(out, zip64 ? 0xFFFFFFFFu : it.usize, 4);
            put_le(out, it.name.size(), 2);
            put_le(out, 4 + pad, 2);
            out += it.name;
            put_le(out, 0x4246, 2);  // "FB" padding extra field, as torch writes
            put_le(out, pad, 2);
            out += std::string(pad, 'Z');
            out += payload;
        }
        const uint64_t cd_off = out.size();
        for (const Item& it : items) {
            out += "PK\x01\x02";
            put_le(out, 20, 2);
            put_le(out, zip64 ? 45 : 20, 2);
            put_le(out, 0, 2);
            put_le(out, it.deflate ? 8 : 0, 2);
            put_le(out, 0, 4);
            put_le(out, it.crc, 4);
            put_le(out, zip64 ? 0xFFFFFFFFu : it.csize, 4);
            put_le(out, zip64 ? 0xFFFFFFFFu : it.usize, 4);
            put_le(out, it.name.size(), 2);
            put_le(out, zip64 ? 28 : 0, 2);
            put_le(out, 0, 2);  // comment
            put_le(out, 0, 2);  // disk
            put_le(out, 0, 2);
            put_le(out, 0, 4);
            put_le(out, zip64 ? 0xFFFFFFFFu : it.offset, 4);
            out += it.name;
            if (zip64) {
                put_le(out, 1, 2);
                put_le(out, 24, 2);
                put_le(out, it.usize, 8);
                put_le(out, it.csize, 8);
                put_le(out, it.offset, 8);
            }
        }
        const uint64_t cd_size = out.size() - cd_off;
        if (zip64) {
            uint64_t z64 = out.size();
            out += "PK\x06\x06";
            put_le(out, 44, 8);
            put_le(out, 45, 2);
            put_le(out, 45, 2);
            put_le(out, 0, 4);
            put_le(out, 0, 4);
            put_le(out, items.size(), 8);
            put_le(out, items.size(), 8);
            put_le(out, cd_size, 8);
            put_le(out, cd_off, 8);
            out += "PK\x06\x07";
            put_le(out, 0, 4);
            put_le(out, z64, 8);
            put_le(out, 1, 4);
        }
        out += "PK\x05\x06";
        put_le(out, 0, 2);
        put_le(out, 0, 2);
        put_le(out, zip64 ? 0xFFFF : items.size(), 2);
        put_le(out, zip64 ? 0xFFFF : items.size(), 2);
        put_le(out, zip64 ? 0xFFFFFFFFu : cd_size, 4);
        put_le(out, zip64 ? 0xFFFFFFFFu : cd_off, 4);
        put_le(out, 0, 2);
        return out;
    }
};

// One tensor of a synthetic torch checkpoint: a view (offset/size/stride) of storage `key`.
struct CkptTensor {
    std::string name;
    std::string key;  // storage key
    int64_t offset = 0;
    std::vector<int64_t> size, stride;
    std::string storage_type = "FloatStorage";
    int64_t storage_numel = -1;  // -1: from the storage bytes
};

// Writes `archive/data.pkl` the way torch.save does (protocol 2, OrderedDict + _rebuild_tensor_v2 +
// BINPERSID storages). `layout`: "state_dict", "module" or "dict".
inline std::string torch_pickle(const std::vector<CkptTensor>& ts,
                                const std::vector<std::pair<std::string, std::string>>& storages,
                                const std::string& layout = "state_dict") {
    PickleWriter p;
    p.proto(2);
    if (layout != "dict") p.empty_dict().str(layout);
    p.global("collections", "OrderedDict").empty_tuple().reduce();
    p.mark();
    for (const CkptTensor& t : ts) {
        int64_t numel = t.storage_numel;
        if (numel < 0) {
            for (const auto& [k, bytes] : storages)
                if (k == t.key) numel = int64_t(bytes.size()) / (t.storage_type == "HalfStorage" ? 2 : 4);
        }
        p.str(t.name).global("torch._utils", "_rebuild_tensor_v2");
        p.mark();
        p.mark().str("storage").global("torch", t.storage_type).str(t.key).str("cpu").integer(numel).tuple();
        p.binpersid();
        p.integer(t.offset).ints_tuple(t.size).ints_tuple(t.stride).boolean(false);
        p.global("collections", "OrderedDict").empty_tuple().reduce();
        p.tuple().reduce();
    }
    p.setitems();
    if (layout != "dict") p.setitem();
    p.stop();
    return p.b;
}

inline std::string floats_bytes(const std::vector<float>& v) {
    std::string s(v.size() * 4, '\0');
    std::memcpy(s.data(), v.data(), s.size());
    return s;
}

inline std::string torch_zip(const std::string& pkl, const std::vector<std::pair<std::string, std::string>>& storages,
                             bool deflate = false, bool zip64 = false, const std::string& archive = "archive") {
    ZipWriter z;
    z.zip64 = zip64;
    z.add(archive + "/data.pkl", pkl, deflate);
    for (const auto& [k, bytes] : storages) z.add(archive + "/data/" + k, bytes, deflate);
    z.add(archive + "/version", "3\n");
    return z.finish();
}

}  // namespace tc::testutil
