// torch.save zip checkpoints. The archive layout and the pickle protocol are those of
// torch/serialization.py (_save: persistent_id, _load: persistent_load) and torch/_utils.py
// (_rebuild_tensor_v2, _rebuild_parameter).
#include "io/torch_checkpoint.h"

#include <cstring>

#include "core/error.h"

namespace tc {

namespace {

using pickle::PickleDoc;
using pickle::Value;
using K = Value::Kind;

// torch.<T>Storage -> element type. Other storage types are recognised so the error can name them.
bool storage_dtype(const std::string& name, DType& out) {
    if (name == "FloatStorage") out = DType::F32;
    else if (name == "HalfStorage") out = DType::F16;
    else if (name == "BFloat16Storage") out = DType::BF16;
    else if (name == "LongStorage") out = DType::I64;
    else if (name == "ByteStorage") out = DType::U8;
    else return false;
    return true;
}
bool known_unsupported_storage(const std::string& name) {
    return name == "DoubleStorage" || name == "IntStorage" || name == "ShortStorage" || name == "CharStorage" ||
           name == "BoolStorage" || name == "ComplexFloatStorage" || name == "ComplexDoubleStorage";
}

int64_t int_arg(const Value* v, const char* what) {
    TC_CHECK(v->kind == K::Int, what, " is a ", pickle::kind_name(v->kind), ", not an int");
    return v->i;
}

Shape int_tuple(const Value* v, const char* what) {
    TC_CHECK(v->is_seq(), what, " is a ", pickle::kind_name(v->kind), ", not a tuple");
    TC_CHECK(v->items.size() <= 32, what, " has ", v->items.size(), " dimensions (at most 32)");
    Shape s;
    for (const Value* d : v->items) {
        int64_t x = int_arg(d, what);
        TC_CHECK(x >= 0, what, " has a negative entry ", x);
        s.push_back(x);
    }
    return s;
}

Value* make_custom(PickleDoc& doc, std::any payload, const char* type) {
    Value* v = doc.make(K::Custom);
    v->custom = std::move(payload);
    v->custom_type = type;
    return v;
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
Value* rebuild_tensor_v2(PickleDoc& doc, const Value&, const Value& args) {
    TC_CHECK(args.items.size() >= 6 && args.items.size() <= 7, "_rebuild_tensor_v2 takes 6 or 7 arguments, got ",
             args.items.size());
    const Value* st = args.items[0];
    const TorchStorageRef* ref = st->kind == K::Custom ? std::any_cast<TorchStorageRef>(&st->custom) : nullptr;
    TC_CHECK(ref, "_rebuild_tensor_v2: the storage argument is ", pickle::describe(st, 1), ", not a storage");
    TorchTensorRecord r;
    r.storage = *ref;
    r.offset = int_arg(args.items[1], "tensor storage offset");
    TC_CHECK(r.offset >= 0, "negative tensor storage offset ", r.offset);
    r.shape = int_tuple(args.items[2], "tensor size");
    r.stride = int_tuple(args.items[3], "tensor stride");
    TC_CHECK(r.shape.size() == r.stride.size(), "tensor size ", shape_str(r.shape), " and stride ",
             shape_str(r.stride), " differ in rank");
    // Every element must lie inside the storage: offset + sum((size-1)*stride) < numel (overflow-checked).
    int64_t numel = 1;
    bool empty = false;
    for (int64_t d : r.shape) {
        if (d == 0) empty = true;
        else TC_CHECK(numel <= INT64_MAX / d, "tensor size ", shape_str(r.shape), " has too many elements");
        if (d) numel *= d;
    }
    const uint64_t storage_numel = r.storage.numel;
    if (empty) {
        TC_CHECK(uint64_t(r.offset) <= storage_numel, "tensor offset ", r.offset, " is past the end of storage '",
                 r.storage.key, "' (", storage_numel, " elements)");
    } else {
        uint64_t last = uint64_t(r.offset);
        for (size_t i = 0; i < r.shape.size(); ++i) {
            uint64_t span = uint64_t(r.shape[i] - 1);
            uint64_t st_i = uint64_t(r.stride[i]);
            TC_CHECK(st_i == 0 || span <= (UINT64_MAX - last) / st_i, "tensor stride ", shape_str(r.stride),
                     " overflows");
            last += span * st_i;
        }
        // Views with zero strides could otherwise describe far more elements than the file holds.
        TC_CHECK(uint64_t(numel) <= storage_numel, "tensor ", shape_str(r.shape), " has more elements than its storage '",
                 r.storage.key, "' (", storage_numel, ")");
        TC_CHECK(last < storage_numel, "tensor ", shape_str(r.shape), " (offset ", r.offset, ", stride ",
                 shape_str(r.stride), ") reaches element ", last, " of storage '", r.storage.key, "' which has ",
                 storage_numel, " elements");
    }
    return make_custom(doc, std::move(r), "tensor");
}

// _rebuild_parameter(data, requires_grad, backward_hooks[, state]): the Parameter is its data tensor.
Value* rebuild_parameter(PickleDoc&, const Value&, const Value& args) {
    TC_CHECK(!args.items.empty() && as_tensor_record(args.items[0]), "_rebuild_parameter expects a tensor");
    return args.items[0];
}

// collections.OrderedDict(): an empty dict; SETITEMS fill it and BUILD attaches its _metadata. (Only the
// empty form torch.save writes is accepted: copying a memoised item list per call could multiply memory.)
Value* ordered_dict(PickleDoc& doc, const Value&, const Value& args) {
    TC_CHECK(args.items.empty(), "OrderedDict takes no arguments here");
    return doc.make(K::Dict);
}

// ('storage', torch.<T>Storage, key, location, numel)
Value* load_storage(PickleDoc& doc, const Value& pid) {
    TC_CHECK(pid.kind == K::Tuple && pid.items.size() == 5 && pid.items[0]->is_str() &&
                 pid.items[0]->s == "storage",
             "persistent id ", pickle::describe(&pid), " is not ('storage', type, key, location, numel)");
    const Value* type = pid.items[1];
    TC_CHECK(type->kind == K::Global && type->module == "torch", "storage type ", pickle::describe(type, 1),
             " is not a torch storage class");
    TorchStorageRef ref;
    ref.type_name = type->name;
    TC_CHECK(storage_dtype(type->name, ref.dtype), "storage type torch.", type->name,
             " is not supported (supported: Float, Half, BFloat16, Long, Byte storages)");
    TC_CHECK(pid.items[2]->is_str() && !pid.items[2]->s.empty(), "storage key is not a string");
    ref.key = pid.items[2]->s;
    int64_t numel = int_arg(pid.items[4], "storage numel");
    TC_CHECK(numel >= 0 && uint64_t(numel) <= UINT64_MAX / 8, "invalid storage numel ", numel);
    ref.numel = uint64_t(numel);
    return make_custom(doc, std::move(ref), "storage");
}

bool dense_layout(const TorchTensorRecord& r) {
    int64_t acc = 1;
    for (int64_t i = int64_t(r.shape.size()) - 1; i >= 0; --i) {
        if (r.shape[i] == 0) return true;
        if (r.shape[i] != 1 && r.stride[i] != acc) return false;
        acc *= r.shape[i];
    }
    return true;
}

}  // namespace

const TorchTensorRecord* as_tensor_record(const pickle::Value* v) {
    return v && v->kind == K::Custom ? std::any_cast<TorchTensorRecord>(&v->custom) : nullptr;
}

pickle::PickleOptions torch_pickle_options(const std::string& label) {
    pickle::PickleOptions o;
    o.label = label;
    o.globals["collections.OrderedDict"] = ordered_dict;
    o.globals["torch._utils._rebuild_tensor_v2"] = rebuild_tensor_v2;
    o.globals["torch._utils._rebuild_parameter"] = rebuild_parameter;
    o.globals["torch._utils._rebuild_parameter_with_state"] = rebuild_parameter;
    // Storage classes are only ever named (inside persistent ids), never called: no reducer, so a call
    // would make an inert Object that nothing accepts as a tensor.
    o.allow_global = [](const std::string& module, const std::string& name, pickle::Reducer*) {
        DType d;
        return module == "torch" && (storage_dtype(name, d) || known_unsupported_storage(name));
    };
    o.persistent_load = load_storage;
    return o;
}

std::vector<std::pair<std::string, TorchTensorRecord>> torch_state_entries(const pickle::PickleDoc& doc,
                                                                            const std::string& label,
                                                                            std::string* layout_out) {
    const Value* root = doc.root();
    TC_CHECK(root && root->kind == K::Dict, label, ": the checkpoint is a ", root ? pickle::kind_name(root->kind) : "null",
             ", not a dict");
    const Value* dict = root;
    std::string layout = "dict";
    size_t strip = 0;
    if (const Value* sd = root->get("state_dict")) {
        dict = sd;
        layout = "state_dict";
    } else if (const Value* m = root->get("module")) {  // deepspeed: keys carry a 16-character prefix
        dict = m;
        layout = "module";
        strip = 16;
    }
    TC_CHECK(dict->kind == K::Dict, label, ": '", layout, "' is a ", pickle::kind_name(dict->kind), ", not a dict");
    if (layout_out) *layout_out = layout;

    std::vector<std::pair<std::string, TorchTensorRecord>> out;
    std::unordered_map<std::string, size_t> seen;
    for (const auto& [k, v] : dict->entries) {
        TC_CHECK(k->is_str(), label, ": a ", layout, " key is ", pickle::describe(k, 1), ", not a string");
        const TorchTensorRecord* r = as_tensor_record(v);
        TC_CHECK(r, label, ": ", layout, " entry '", k->s, "' is ", pickle::describe(v, 1), ", not a tensor",
                 layout == "dict" ? " (expected a dict with 'state_dict' or 'module', or a dict of tensors)" : "");
        std::string name = k->s;
        if (strip) {
            TC_CHECK(name.size() > strip, label, ": deepspeed key '", name, "' is too short to strip its ", strip,
                     "-character prefix");
            name = name.substr(strip);
        }
        auto [it, fresh] = seen.emplace(name, out.size());
        if (fresh) out.emplace_back(name, *r);
        else out[it->second].second = *r;  // a repeated key: the last value wins, at the first position
    }
    return out;
}

TorchCheckpoint TorchCheckpoint::open(const std::string& path, const ZipLimits& limits) {
    auto m = MappedFile::open(path);
    return from_bytes(m->bytes(), m, path, limits);
}

TorchCheckpoint TorchCheckpoint::from_bytes(ByteSpan bytes, std::shared_ptr<void> keepalive, const std::string& label,
                                            const ZipLimits& limits) {
    TorchCheckpoint c;
    c.label_ = label;
    c.keepalive_ = std::move(keepalive);
    c.zip_ = std::make_shared<ZipReader>(ZipReader::parse(bytes, label, limits));
    const std::string where = "checkpoint '" + label + "'";

    // The archive directory is whatever holds data.pkl at depth one ("archive/" or the file's stem).
    const ZipEntry* pkl = nullptr;
    for (const ZipEntry& e : c.zip_->entries()) {
        size_t slash = e.name.find('/');
        if (slash != std::string::npos && slash > 0 && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
            TC_CHECK(!pkl, where, ": more than one data.pkl ('", pkl->name, "' and '", e.name, "')");
            pkl = &e;
        }
    }
    TC_CHECK(pkl, where, ": no <archive>/data.pkl entry: not a torch.save checkpoint");
    c.archive_ = pkl->name.substr(0, pkl->name.find('/'));
    TC_CHECK(!c.zip_->find(c.archive_ + "/constants.pkl"), where,
             ": this is a TorchScript archive (it has constants.pkl), not a torch.save checkpoint");
    if (const ZipEntry* bo = c.zip_->find(c.archive_ + "/byteorder")) {
        ZipData d = c.zip_->read(*bo);
        std::string order(reinterpret_cast<const char*>(d.data), d.size);
        TC_CHECK(order == "little", where, ": byte order '", order.substr(0, 16), "' is not supported (only little)");
    }

    ZipData pkl_data = c.zip_->read(*pkl);
    pickle::PickleDoc doc = pickle::unpickle(pkl_data.span(), torch_pickle_options(label + ":" + pkl->name));
    c.tensors_ = torch_state_entries(doc, where, &c.layout_);

    // Every storage must exist and be large enough for the elements its tensors view.
    c.index_.reserve(c.tensors_.size());
    for (size_t i = 0; i < c.tensors_.size(); ++i) {
        const auto& [name, r] = c.tensors_[i];
        const std::string entry = c.archive_ + "/data/" + r.storage.key;
        const ZipEntry* e = c.zip_->find(entry);
        TC_CHECK(e, where, ": tensor '", name, "' refers to storage '", r.storage.key, "' but there is no entry '",
                 entry, "'");
        const uint64_t need = r.storage.numel * dtype_size(r.storage.dtype);
        TC_CHECK(e->size >= need, where, ": storage '", entry, "' has ", e->size, " bytes but tensor '", name,
                 "' declares ", r.storage.numel, " ", dtype_name(r.storage.dtype), " elements (", need, " bytes)");
        c.index_.emplace(name, i);
    }
    return c;
}

std::vector<std::string> TorchCheckpoint::names() const {
    std::vector<std::string> out;
    out.reserve(tensors_.size());
    for (const auto& t : tensors_) out.push_back(t.first);
    return out;
}

bool TorchCheckpoint::contains(const std::string& name) const { return index_.count(name) != 0; }

const TorchTensorRecord& TorchCheckpoint::record(const std::string& name) const {
    auto it = index_.find(name);
    TC_CHECK(it != index_.end(), "checkpoint '", label_, "' has no tensor '", name, "'");
    return tensors_[it->second].second;
}

TensorInfo TorchCheckpoint::info(const std::string& name) const {
    const TorchTensorRecord& r = record(name);
    return {r.storage.dtype, r.shape};
}

Tensor tensor_from_record(const ZipReader& zip, const std::string& archive, const TorchTensorRecord& r,
                          const std::shared_ptr<void>& keepalive, StorageCache& cache) {
    const ZipEntry* e = zip.find(archive + "/data/" + r.storage.key);
    TC_CHECK(e != nullptr, "storage ", r.storage.key, " is missing from the archive");
    ZipData data;
    std::shared_ptr<void> keep = keepalive;
    if (e->method == 0) {
        data = zip.read(*e);
    } else {  // inflate once; every tensor viewing this storage shares the buffer
        std::lock_guard<std::mutex> lock(cache.mutex);
        auto it = cache.inflated.find(e->name);
        if (it == cache.inflated.end()) it = cache.inflated.emplace(e->name, zip.read(*e)).first;
        data = it->second;
        keep = data.owned;
    }
    const size_t es = dtype_size(r.storage.dtype);
    if (dense_layout(r)) return borrow_or_copy(data.data + size_t(r.offset) * es, r.shape, r.storage.dtype, keep);

    // A strided (non-dense) view: gather it into a contiguous tensor.
    Tensor out = Tensor::empty(r.shape, r.storage.dtype);
    uint8_t* dst = static_cast<uint8_t*>(out.raw_data());
    const int64_t n = out.numel();
    const size_t nd = r.shape.size();
    std::vector<int64_t> idx(nd, 0);
    int64_t off = r.offset;
    for (int64_t i = 0; i < n; ++i) {
        std::memcpy(dst + size_t(i) * es, data.data + size_t(off) * es, es);
        for (size_t d = nd; d-- > 0;) {
            if (++idx[d] < r.shape[d]) {
                off += r.stride[d];
                break;
            }
            off -= r.stride[d] * (r.shape[d] - 1);
            idx[d] = 0;
        }
    }
    return out;
}

Tensor TorchCheckpoint::get(const std::string& name) const {
    return tensor_from_record(*zip_, archive_, record(name), keepalive_, *cache_);
}

}  // namespace tc
