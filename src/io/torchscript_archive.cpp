// TorchScript archive parameters (see torchscript_archive.h). The pickle runs in the restricted unpickler
// with torch.save's allowlist (io/torch_checkpoint.h) plus: every `__torch__.*` class (recorded as an inert
// object, never run) and torch.jit._pickle.build_{int,double,bool}list (their argument list is returned
// as is). Export format: torch/csrc/jit/serialization/export_module.cpp / python_print.cpp.
#include "io/torchscript_archive.h"

#include <cstring>
#include <unordered_set>

#include "core/error.h"
#include "io/pickle.h"

namespace tc {

namespace {

using pickle::Value;
using K = Value::Kind;

// "__torch__.util.___torch_mangle_22" -> "__torch__.util" (mangled names carry the suffix as a module part).
std::string unmangle(const std::string& module) {
    std::string out;
    size_t start = 0;
    while (start <= module.size()) {
        size_t dot = module.find('.', start);
        std::string part = module.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (part.rfind("___torch_mangle_", 0) != 0) out += (out.empty() ? "" : ".") + part;
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return out;
}

bool is_script_object(const Value* v) {
    return v && v->kind == K::Object && v->module.rfind("__torch__", 0) == 0;
}

constexpr int kMaxDepth = 64;

// Depth-first walk of module attributes in pickle (insertion) order, collecting tensors by dotted path.
void walk(const Value* obj, const std::string& prefix, int depth, std::unordered_set<const Value*>& on_path,
          std::vector<std::pair<std::string, TorchTensorRecord>>& out, const std::string& where) {
    TC_CHECK(depth < kMaxDepth, where, ": module tree deeper than ", kMaxDepth, " at '", prefix, "'");
    TC_CHECK(on_path.insert(obj).second, where, ": module tree has a cycle at '", prefix, "'");
    const Value* st = obj->state;
    if (st && st->kind == K::Dict) {
        for (const auto& [k, v] : st->entries) {
            if (!k->is_str()) continue;
            const std::string name = prefix + k->s;
            if (const TorchTensorRecord* r = as_tensor_record(v)) out.emplace_back(name, *r);
            else if (is_script_object(v)) walk(v, name + ".", depth + 1, on_path, out, where);
        }
    } else {
        TC_CHECK(!st, where, ": module '", prefix, "' (", obj->qualname(), ") has state ", pickle::describe(st, 1),
                 ", expected an attribute dict");
    }
    on_path.erase(obj);
}

const ZipEntry* find_data_pkl(const ZipReader& zip, const std::string& where) {
    const ZipEntry* pkl = nullptr;
    for (const ZipEntry& e : zip.entries()) {
        size_t slash = e.name.find('/');
        if (slash != std::string::npos && slash > 0 && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
            TC_CHECK(!pkl, where, ": more than one data.pkl ('", pkl->name, "' and '", e.name, "')");
            pkl = &e;
        }
    }
    return pkl;
}

}  // namespace

bool TorchScriptArchive::is_torchscript(const ZipReader& zip) {
    for (const ZipEntry& e : zip.entries()) {
        size_t slash = e.name.find('/');
        if (slash != std::string::npos && slash > 0 && e.name.compare(slash, std::string::npos, "/data.pkl") == 0 &&
            zip.find(e.name.substr(0, slash) + "/constants.pkl"))
            return true;
    }
    return false;
}

TorchScriptArchive TorchScriptArchive::open(const std::string& path, const ZipLimits& limits) {
    auto m = MappedFile::open(path);
    return from_bytes(m->bytes(), m, path, limits);
}

TorchScriptArchive TorchScriptArchive::from_bytes(ByteSpan bytes, std::shared_ptr<void> keepalive,
                                                  const std::string& label, const ZipLimits& limits) {
    TorchScriptArchive a;
    a.label_ = label;
    a.keepalive_ = std::move(keepalive);
    a.zip_ = std::make_shared<ZipReader>(ZipReader::parse(bytes, label, limits));
    const std::string where = "TorchScript archive '" + label + "'";

    const ZipEntry* pkl = find_data_pkl(*a.zip_, where);
    TC_CHECK(pkl, where, ": no <root>/data.pkl entry");
    a.archive_ = pkl->name.substr(0, pkl->name.find('/'));
    TC_CHECK(a.zip_->find(a.archive_ + "/constants.pkl"), where,
             ": no constants.pkl: this is a torch.save checkpoint, not a TorchScript archive");
    if (const ZipEntry* bo = a.zip_->find(a.archive_ + "/byteorder")) {
        ZipData d = a.zip_->read(*bo);
        std::string order(reinterpret_cast<const char*>(d.data), d.size);
        TC_CHECK(order == "little", where, ": byte order '", order.substr(0, 16), "' is not supported (only little)");
    }

    pickle::PickleOptions opts = torch_pickle_options(label + ":" + pkl->name);
    auto torch_allow = opts.allow_global;
    opts.allow_global = [torch_allow](const std::string& module, const std::string& name, pickle::Reducer* r) {
        if (torch_allow && torch_allow(module, name, r)) return true;
        // TorchScript classes: named only; NEWOBJ makes an inert object that BUILD fills with attributes.
        return module == "__torch__" || module.rfind("__torch__.", 0) == 0;
    };
    // build_intlist([1, 1, 1, 1]) and friends: typed-list markers around a plain list.
    auto identity_list = [](pickle::PickleDoc&, const Value& callable, const Value& args) -> Value* {
        TC_CHECK(args.items.size() == 1 && args.items[0]->is_seq(), callable.qualname(), " expects one list");
        return args.items[0];
    };
    for (const char* n : {"build_intlist", "build_doublelist", "build_boollist"})
        opts.globals[std::string("torch.jit._pickle.") + n] = identity_list;

    ZipData pkl_data = a.zip_->read(*pkl);
    pickle::PickleDoc doc = pickle::unpickle(pkl_data.span(), opts);
    const Value* root = doc.root();
    TC_CHECK(is_script_object(root), where, ": data.pkl holds ", pickle::describe(root, 1),
             ", not a TorchScript module object");
    a.root_class_ = unmangle(root->module) + "." + root->name;
    std::unordered_set<const Value*> on_path;
    a.tensors_.clear();
    walk(root, "", 0, on_path, a.tensors_, where);

    for (size_t i = 0; i < a.tensors_.size(); ++i) {
        const auto& [name, r] = a.tensors_[i];
        TC_CHECK(a.index_.emplace(name, i).second, where, ": tensor '", name, "' appears twice");
        const std::string entry = a.archive_ + "/data/" + r.storage.key;
        const ZipEntry* e = a.zip_->find(entry);
        TC_CHECK(e, where, ": tensor '", name, "' refers to storage '", r.storage.key, "' but there is no entry '",
                 entry, "'");
        const uint64_t need = r.storage.numel * dtype_size(r.storage.dtype);
        TC_CHECK(e->size >= need, where, ": storage '", entry, "' has ", e->size, " bytes but tensor '", name,
                 "' declares ", r.storage.numel, " ", dtype_name(r.storage.dtype), " elements (", need, " bytes)");
    }
    return a;
}

std::vector<std::string> TorchScriptArchive::names() const {
    std::vector<std::string> out;
    out.reserve(tensors_.size());
    for (const auto& t : tensors_) out.push_back(t.first);
    return out;
}

bool TorchScriptArchive::contains(const std::string& name) const { return index_.count(name) != 0; }

const TorchTensorRecord& TorchScriptArchive::record(const std::string& name) const {
    auto it = index_.find(name);
    TC_CHECK(it != index_.end(), "TorchScript archive '", label_, "' has no tensor '", name, "'");
    return tensors_[it->second].second;
}

TensorInfo TorchScriptArchive::info(const std::string& name) const {
    const TorchTensorRecord& r = record(name);
    return {r.storage.dtype, r.shape};
}

Tensor TorchScriptArchive::get(const std::string& name) const {
    return tensor_from_record(*zip_, archive_, record(name), keepalive_, *cache_);
}

}  // namespace tc
