// safetensors reader and writer. The format is specified at https://github.com/huggingface/safetensors
// (README "Format"); this reader is strict about everything that could make it read out of bounds and
// lenient about what cannot (holes in the data section are allowed).
#include "io/safetensors.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace tc {

namespace {

using json = nlohmann::json;

uint64_t read_le64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

// safetensors dtype spelling -> ours; the other spellings of the format get a clear refusal.
bool parse_dtype(const std::string& s, DType& out) {
    if (s == "F32") out = DType::F32;
    else if (s == "F16") out = DType::F16;
    else if (s == "BF16") out = DType::BF16;
    else if (s == "I64") out = DType::I64;
    else if (s == "U8") out = DType::U8;
    else return false;
    return true;
}

uint64_t json_u64(const json& v, const std::string& what) {
    TC_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0), what,
             ": expected a non-negative integer");
    return v.get<uint64_t>();
}

}  // namespace

SafeTensorsFile SafeTensorsFile::open(const std::string& path) {
    auto m = MappedFile::open(path);
    return from_bytes(m->bytes(), m, path);
}

SafeTensorsFile SafeTensorsFile::from_bytes(ByteSpan bytes, std::shared_ptr<void> keepalive, const std::string& label) {
    SafeTensorsFile f;
    f.label_ = label;
    f.keepalive_ = std::move(keepalive);
    const std::string where = "safetensors '" + label + "'";
    TC_CHECK(bytes.size() >= 8, where, ": file too short (", bytes.size(), " bytes) for the 8-byte header length");
    uint64_t n = read_le64(bytes.data());
    TC_CHECK(n <= kMaxHeaderBytes, where, ": header length ", n, " exceeds the 100 MB limit");
    TC_CHECK(n <= bytes.size() - 8, where, ": header length ", n, " exceeds the file size (", bytes.size(),
             " bytes): truncated or not a safetensors file");
    const char* hb = reinterpret_cast<const char*>(bytes.data() + 8);
    json header;
    try {
        header = json::parse(hb, hb + n);
    } catch (const json::exception& e) {
        TC_FAIL(where, ": invalid JSON header: ", e.what());
    }
    TC_CHECK(header.is_object(), where, ": the JSON header is not an object");
    f.data_ = bytes.subspan(8 + n);
    const uint64_t data_size = f.data_.size();

    try {
        for (auto it = header.begin(); it != header.end(); ++it) {
            const std::string& name = it.key();
            const json& v = it.value();
            if (name == "__metadata__") {
                TC_CHECK(v.is_object(), where, ": __metadata__ must be an object of strings");
                for (auto mi = v.begin(); mi != v.end(); ++mi) {
                    TC_CHECK(mi.value().is_string(), where, ": __metadata__ value of '", mi.key(), "' is not a string");
                    f.metadata_[mi.key()] = mi.value().get<std::string>();
                }
                continue;
            }
            const std::string tw = where + ": tensor '" + name + "'";
            TC_CHECK(v.is_object(), tw, ": entry is not an object");
            auto dt = v.find("dtype");
            auto sh = v.find("shape");
            auto off = v.find("data_offsets");
            TC_CHECK(dt != v.end() && dt->is_string(), tw, ": missing or non-string 'dtype'");
            TC_CHECK(sh != v.end() && sh->is_array(), tw, ": missing or non-list 'shape'");
            TC_CHECK(off != v.end() && off->is_array() && off->size() == 2, tw,
                     ": 'data_offsets' must be a list [begin, end]");
            Entry e;
            e.name = name;
            const std::string dts = dt->get<std::string>();
            TC_CHECK(parse_dtype(dts, e.dtype), tw, " has dtype ", dts,
                     ", which is not supported (supported: F32, F16, BF16, I64, U8)");
            TC_CHECK(sh->size() <= 32, tw, ": shape has ", sh->size(), " dimensions (at most 32)");
            for (const json& d : *sh) {
                uint64_t dim = json_u64(d, tw + " shape");
                TC_CHECK(dim <= uint64_t(INT64_MAX), tw, ": shape dimension ", dim, " is too large");
                e.shape.push_back(int64_t(dim));
            }
            int64_t nbytes = checked_nbytes(e.shape, e.dtype);
            TC_CHECK(nbytes >= 0, tw, ": shape ", shape_str(e.shape), " has too many elements");
            e.begin = json_u64((*off)[0], tw + " data_offsets[0]");
            e.end = json_u64((*off)[1], tw + " data_offsets[1]");
            TC_CHECK(e.begin <= e.end && e.end <= data_size, tw, ": data_offsets [", e.begin, ", ", e.end,
                     "] are outside the data section of ", data_size, " bytes");
            TC_CHECK(e.end - e.begin == uint64_t(nbytes), tw, ": data_offsets span ", e.end - e.begin,
                     " bytes but ", dts, shape_str(e.shape), " needs ", nbytes);
            f.entries_.push_back(std::move(e));
        }
    } catch (const json::exception& e) {  // defensive: every access above is type-checked first
        TC_FAIL(where, ": malformed header: ", e.what());
    }

    // File order is the order of the data; equal offsets (only possible for empty tensors) keep name order.
    std::stable_sort(f.entries_.begin(), f.entries_.end(), [](const Entry& a, const Entry& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    for (size_t i = 1; i < f.entries_.size(); ++i) {
        const Entry& a = f.entries_[i - 1];
        const Entry& b = f.entries_[i];
        TC_CHECK(a.end <= b.begin, where, ": the data of tensors '", a.name, "' [", a.begin, ", ", a.end, ") and '",
                 b.name, "' [", b.begin, ", ", b.end, ") overlap");
    }
    f.index_.reserve(f.entries_.size());
    for (size_t i = 0; i < f.entries_.size(); ++i) f.index_.emplace(f.entries_[i].name, i);
    return f;
}

std::vector<std::string> SafeTensorsFile::names() const {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const Entry& e : entries_) out.push_back(e.name);
    return out;
}

bool SafeTensorsFile::contains(const std::string& name) const { return index_.count(name) != 0; }

const SafeTensorsFile::Entry& SafeTensorsFile::entry(const std::string& name) const {
    auto it = index_.find(name);
    TC_CHECK(it != index_.end(), "safetensors '", label_, "' has no tensor '", name, "'");
    return entries_[it->second];
}

TensorInfo SafeTensorsFile::info(const std::string& name) const {
    const Entry& e = entry(name);
    return {e.dtype, e.shape};
}

Tensor SafeTensorsFile::get(const std::string& name) const {
    const Entry& e = entry(name);
    return borrow_or_copy(data_.data() + e.begin, e.shape, e.dtype, keepalive_);
}

// ---------------------------------------------------------------- writer
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
    std::vector<Tensor> host;
    host.reserve(tensors.size());
    std::string header = "{";
    auto quote = [&](const std::string& s) {
        try {
            return json(s).dump();
        } catch (const json::exception&) {
            TC_FAIL("save_safetensors: name '", s, "' is not valid UTF-8");
        }
    };
    if (!metadata.empty()) {
        header += "\"__metadata__\":{";
        bool first = true;
        for (const auto& [k, v] : metadata) {
            if (!first) header += ',';
            header += quote(k);
            header += ':';
            header += quote(v);
            first = false;
        }
        header += "}";
    }
    std::unordered_map<std::string, int> seen;
    uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
        TC_CHECK(name != "__metadata__", "save_safetensors: '__metadata__' is reserved");
        TC_CHECK(seen.emplace(name, 0).second, "save_safetensors: tensor name '", name, "' appears twice");
        TC_CHECK(t.defined(), "save_safetensors: tensor '", name, "' is undefined");
        Tensor h = t.to(Device::CPU).contiguous();
        uint64_t nb = h.nbytes();
        if (header.size() > 1) header += ',';
        header += quote(name);
        header += ":{\"dtype\":\"";
        header += dtype_name(h.dtype());
        header += "\",\"shape\":[";
        for (size_t i = 0; i < h.shape().size(); ++i) {
            if (i) header += ',';
            header += std::to_string(h.shape()[i]);
        }
        header += "],\"data_offsets\":[";
        header += std::to_string(offset);
        header += ',';
        header += std::to_string(offset + nb);
        header += "]}";
        offset += nb;
        host.push_back(std::move(h));
    }
    header += "}";
    while ((8 + header.size()) % 8 != 0) header += ' ';

    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    std::FILE* fp = std::fopen(tmp.c_str(), "wb");
    TC_CHECK(fp, "save_safetensors: cannot create '", tmp, "': ", std::strerror(errno));
    bool ok = true;
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(header.size()) >> (8 * i));
    ok = ok && std::fwrite(len, 1, 8, fp) == 8;
    ok = ok && std::fwrite(header.data(), 1, header.size(), fp) == header.size();
    for (const Tensor& h : host) {
        size_t nb = h.nbytes();
        if (nb) ok = ok && std::fwrite(h.raw_data(), 1, nb, fp) == nb;
    }
    ok = (std::fflush(fp) == 0) && ok;
    ok = (std::fclose(fp) == 0) && ok;
    if (!ok) {
        std::remove(tmp.c_str());
        TC_FAIL("save_safetensors: writing '", tmp, "' failed (disk full?)");
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::remove(tmp.c_str());
        TC_FAIL("save_safetensors: cannot rename '", tmp, "' to '", path, "': ", ec.message());
    }
}

}  // namespace tc
