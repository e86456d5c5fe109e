// Strict weight binding (see weight_map.h).
#include "io/weight_map.h"

#include <sstream>
#include <unordered_map>

#include "core/error.h"

namespace tc {

namespace {

std::string compact_shape(const Shape& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) {
        if (i) out += ',';
        out += std::to_string(s[i]);
    }
    return out + "]";
}

void list(std::ostringstream& os, const char* what, const std::vector<std::string>& v) {
    if (v.empty()) return;
    constexpr size_t kCap = 20;
    os << "\n  " << v.size() << " " << what << ":";
    for (size_t i = 0; i < v.size() && i < kCap; ++i) os << "\n    " << v[i];
    if (v.size() > kCap) os << "\n    ... and " << v.size() - kCap << " more";
}

bool is_float(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16; }

}  // namespace

std::string WeightReport::message(bool strict_unused) const {
    std::ostringstream os;
    os << "weights do not match the model:";
    list(os, "missing", missing);
    list(os, "with a different shape (file vs model)", mismatched);
    if (strict_unused) list(os, "unused (in the file, not in the model)", unused);
    return os.str();
}

WeightReport check_weights(const Module& root, const std::vector<std::pair<std::string, Shape>>& available,
                           const std::string& prefix) {
    std::unordered_map<std::string, const Shape*> file;
    file.reserve(available.size());
    for (const auto& [k, s] : available) file.emplace(k, &s);
    std::unordered_map<std::string, bool> claimed;
    WeightReport r;
    root.visit_params([&](const std::string& name, const Param& p) {
        const std::string key = prefix + name;
        auto it = file.find(key);
        if (it == file.end()) {
            r.missing.push_back(key);
            return;
        }
        claimed[key] = true;
        if (*it->second != p.shape)
            r.mismatched.push_back(key + ": file " + compact_shape(*it->second) + " vs model " + compact_shape(p.shape));
    });
    for (const auto& [k, s] : available)
        if (k.compare(0, prefix.size(), prefix) == 0 && !claimed.count(k)) r.unused.push_back(k);
    return r;
}

void bind_weights(Module& root, const TensorSource& src, const BindOptions& opts) {
    std::vector<std::pair<std::string, Shape>> available;
    for (const std::string& n : src.names()) available.emplace_back(n, src.info(n).shape);
    WeightReport r = check_weights(root, available, opts.prefix);
    TC_CHECK(r.ok(opts.strict_unused), src.format_name(), ": ", r.message(opts.strict_unused));
    root.visit_params([&](const std::string& name, Param& p) {
        if (!p.used) return;  // present and shaped right, but inference never reads it
        Tensor t = src.get(opts.prefix + name);
        if (t.dtype() != opts.compute_dtype && is_float(t.dtype()) && is_float(opts.compute_dtype))
            t = t.to(opts.compute_dtype);
        p.value = std::move(t);
    });
}

}  // namespace tc
