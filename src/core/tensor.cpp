// Tensor views, copies and dtype conversion. Strided iteration here is generic and simple; hot paths
// live in the backends and take contiguous inputs.
#include "core/tensor.h"

#include "core/cpu_block_cache.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <sstream>

namespace tc {

std::string shape_str(const Shape& s) {
    std::ostringstream os;
    os << "[";
    for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
    os << "]";
    return os.str();
}

int64_t shape_numel(const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) {
        TC_CHECK(d >= 0, "negative dimension in shape ", shape_str(s));
        TC_CHECK(d == 0 || n <= INT64_MAX / d, "shape ", shape_str(s), " has too many elements");
        n *= d;
    }
    return n;
}

Shape contiguous_strides(const Shape& shape) {
    Shape st(shape.size());
    int64_t acc = 1;
    for (int64_t i = int64_t(shape.size()) - 1; i >= 0; --i) {
        st[i] = acc;
        acc *= std::max<int64_t>(shape[i], 1);
    }
    return st;
}

// ---------------------------------------------------------------- storage and allocators
namespace {
std::mutex g_reg_mutex;
std::map<Device, DeviceAlloc>& allocators() {
    static std::map<Device, DeviceAlloc> m;
    return m;
}
std::map<std::pair<Device, Device>, DeviceCopy>& copies() {
    static std::map<std::pair<Device, Device>, DeviceCopy> m;
    return m;
}
}  // namespace

void register_allocator(Device device, DeviceAlloc alloc) {
    std::lock_guard<std::mutex> lock(g_reg_mutex);
    allocators()[device] = std::move(alloc);
}

void register_device_copy(Device a, Device b, DeviceCopy copy) {
    std::lock_guard<std::mutex> lock(g_reg_mutex);
    copies()[{a, b}] = std::move(copy);
}

std::shared_ptr<Storage> Storage::allocate(size_t bytes, Device device, bool zero) {
    if (device != Device::CPU) {
        DeviceAlloc alloc;
        {
            std::lock_guard<std::mutex> lock(g_reg_mutex);
            auto it = allocators().find(device);
            TC_CHECK(it != allocators().end(), "no allocator registered for device ", device_name(device),
                     " (was the binary built with that backend?)");
            alloc = it->second;
        }
        return alloc(bytes);
    }
    // 64-byte alignment suits AVX-512 loads and BLAS.
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = rounded ? cpu_block_take(rounded) : nullptr;
    TC_CHECK(rounded == 0 || p != nullptr, "out of memory allocating ", bytes, " bytes");
#ifdef __SANITIZE_ADDRESS__
    if (p) std::memset(p, zero ? 0 : 0xFF, rounded);  // 0xFFFFFFFF is a NaN: reads of unwritten floats show
#else
    if (p && zero) std::memset(p, 0, rounded);
#endif
    auto s = std::make_shared<Storage>();
    s->data = p;
    s->bytes = bytes;
    s->device = Device::CPU;
    s->keepalive = std::shared_ptr<void>(p, [rounded](void* q) { cpu_block_give(q, rounded); });
    return s;
}

std::shared_ptr<Storage> Storage::borrow(void* data, size_t bytes, std::shared_ptr<void> keepalive, Device device) {
    auto s = std::make_shared<Storage>();
    s->data = data;
    s->bytes = bytes;
    s->device = device;
    s->keepalive = std::move(keepalive);
    return s;
}

// ---------------------------------------------------------------- construction
Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
    Tensor t;
    t.shape_ = shape;
    t.strides_ = contiguous_strides(shape);
    t.dtype_ = dtype;
    int64_t n = shape_numel(shape);
    TC_CHECK(size_t(n) <= SIZE_MAX / dtype_size(dtype), "tensor too large: ", shape_str(shape));
    t.storage_ = Storage::allocate(size_t(n) * dtype_size(dtype), device, /*zero=*/false);
    return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
    Tensor t = empty(shape, dtype, device);  // device allocators zero-fill; CPU blocks are filled here
    if (device == Device::CPU && t.storage_->data) std::memset(t.storage_->data, 0, t.storage_->bytes);
    return t;
}

Tensor Tensor::full(const Shape& shape, float value) {
    Tensor t = empty(shape, DType::F32);
    float* p = t.data<float>();
    for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = value;
    return t;
}

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& shape) {
    TC_CHECK(int64_t(v.size()) == shape_numel(shape), "from_vector: ", v.size(), " values for shape ", shape_str(shape));
    Tensor t = empty(shape, DType::F32);
    if (!v.empty()) std::memcpy(t.raw_data(), v.data(), v.size() * 4);
    return t;
}

Tensor Tensor::from_vector_i64(const std::vector<int64_t>& v, const Shape& shape) {
    TC_CHECK(int64_t(v.size()) == shape_numel(shape), "from_vector_i64: ", v.size(), " values for shape ", shape_str(shape));
    Tensor t = empty(shape, DType::I64);
    if (!v.empty()) std::memcpy(t.raw_data(), v.data(), v.size() * 8);
    return t;
}

Tensor Tensor::from_blob(void* data, const Shape& shape, DType dtype, std::shared_ptr<void> keepalive, Device device) {
    Tensor t;
    t.shape_ = shape;
    t.strides_ = contiguous_strides(shape);
    t.dtype_ = dtype;
    t.storage_ = Storage::borrow(data, size_t(shape_numel(shape)) * dtype_size(dtype), std::move(keepalive), device);
    return t;
}

// ---------------------------------------------------------------- metadata
int64_t Tensor::size(int64_t d) const {
    int64_t n = dim();
    if (d < 0) d += n;
    TC_CHECK(d >= 0 && d < n, "dimension ", d, " out of range for ", describe());
    return shape_[d];
}

bool Tensor::is_contiguous() const {
    int64_t acc = 1;
    for (int64_t i = dim() - 1; i >= 0; --i) {
        if (shape_[i] == 1) continue;
        if (strides_[i] != acc) return false;
        acc *= shape_[i];
    }
    return true;
}

std::string Tensor::describe() const {
    return std::string(dtype_name(dtype_)) + shape_str(shape_) + " " + device_name(device());
}

void* Tensor::raw_data() const {
    TC_CHECK(storage_, "use of an undefined tensor");
    return static_cast<char*>(storage_->data) + offset_ * int64_t(dtype_size(dtype_));
}

namespace {
// Calls f(linear_index_in_logical_order, element_offset) for every element of a strided layout.
template <typename F>
void for_each_offset(const Shape& shape, const Shape& strides, F&& f) {
    int64_t n = shape_numel(shape);
    if (n == 0) return;
    size_t nd = shape.size();
    std::vector<int64_t> idx(nd, 0);
    int64_t off = 0;
    for (int64_t i = 0; i < n; ++i) {
        f(i, off);
        for (int64_t d = int64_t(nd) - 1; d >= 0; --d) {
            if (++idx[d] < shape[d]) {
                off += strides[d];
                break;
            }
            off -= strides[d] * (shape[d] - 1);
            idx[d] = 0;
        }
    }
}

float load_as_f32(const void* base, DType t, int64_t off) {
    switch (t) {
        case DType::F32: return static_cast<const float*>(base)[off];
        case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(base)[off]);
        case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(base)[off]);
        case DType::I64: return float(static_cast<const int64_t*>(base)[off]);
        case DType::U8: return float(static_cast<const uint8_t*>(base)[off]);
    }
    return 0.f;
}
}  // namespace

float Tensor::item() const {
    TC_CHECK(numel() == 1, "item() on a tensor with ", numel(), " elements");
    TC_CHECK(device() == Device::CPU, "item() on a ", device_name(device()), " tensor");
    return load_as_f32(raw_data(), dtype_, 0);
}

std::vector<float> Tensor::to_vector() const {
    TC_CHECK(device() == Device::CPU, "to_vector() on a ", device_name(device()), " tensor");
    std::vector<float> out(static_cast<size_t>(numel()));
    const void* base = raw_data();
    for_each_offset(shape_, strides_, [&](int64_t i, int64_t off) { out[size_t(i)] = load_as_f32(base, dtype_, off); });
    return out;
}

// ---------------------------------------------------------------- views
Tensor Tensor::view(const Shape& shape) const {
    TC_CHECK(is_contiguous(), "view() needs a contiguous tensor, got ", describe());
    Shape s = shape;
    int64_t known = 1, infer = -1;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == -1) {
            TC_CHECK(infer < 0, "view(): more than one -1 in ", shape_str(shape));
            infer = int64_t(i);
        } else {
            TC_CHECK(s[i] >= 0, "view(): bad shape ", shape_str(shape));
            known *= s[i];
        }
    }
    if (infer >= 0) {
        TC_CHECK(known > 0 && numel() % known == 0, "view(): cannot infer -1 in ", shape_str(shape), " for ", describe());
        s[infer] = numel() / known;
    }
    TC_CHECK(shape_numel(s) == numel(), "view(): shape ", shape_str(s), " does not match ", describe());
    Tensor t = *this;
    t.shape_ = s;
    t.strides_ = contiguous_strides(s);
    return t;
}

Tensor Tensor::reshape(const Shape& shape) const { return is_contiguous() ? view(shape) : contiguous().view(shape); }

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
    TC_CHECK(int64_t(dims.size()) == dim(), "permute(): ", dims.size(), " dims for ", describe());
    std::vector<bool> seen(dims.size(), false);
    Tensor t = *this;
    for (size_t i = 0; i < dims.size(); ++i) {
        int64_t d = dims[i] < 0 ? dims[i] + dim() : dims[i];
        TC_CHECK(d >= 0 && d < dim() && !seen[d], "permute(): bad dims for ", describe());
        seen[d] = true;
        t.shape_[i] = shape_[d];
        t.strides_[i] = strides_[d];
    }
    return t;
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
    std::vector<int64_t> p(static_cast<size_t>(dim()));
    for (size_t i = 0; i < p.size(); ++i) p[i] = int64_t(i);
    if (a < 0) a += dim();
    if (b < 0) b += dim();
    TC_CHECK(a >= 0 && a < dim() && b >= 0 && b < dim(), "transpose(): bad dims for ", describe());
    std::swap(p[a], p[b]);
    return permute(p);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end) const {
    if (d < 0) d += dim();
    TC_CHECK(d >= 0 && d < dim(), "slice(): dim out of range for ", describe());
    TC_CHECK(0 <= start && start <= end && end <= shape_[d], "slice(): [", start, ", ", end, ") out of range for dim ",
             d, " of ", describe());
    Tensor t = *this;
    t.offset_ += start * strides_[d];
    t.shape_[d] = end - start;
    return t;
}

Tensor Tensor::select(int64_t d, int64_t index) const {
    if (d < 0) d += dim();
    Tensor t = slice(d, index, index + 1);
    t.shape_.erase(t.shape_.begin() + d);
    t.strides_.erase(t.strides_.begin() + d);
    return t;
}

Tensor Tensor::unsqueeze(int64_t d) const {
    if (d < 0) d += dim() + 1;
    TC_CHECK(d >= 0 && d <= dim(), "unsqueeze(): bad dim for ", describe());
    Tensor t = *this;
    int64_t st = d < dim() ? strides_[d] * shape_[d] : 1;
    t.shape_.insert(t.shape_.begin() + d, 1);
    t.strides_.insert(t.strides_.begin() + d, st);
    return t;
}

Tensor Tensor::squeeze(int64_t d) const {
    if (d < 0) d += dim();
    TC_CHECK(d >= 0 && d < dim() && shape_[d] == 1, "squeeze(): dim ", d, " is not 1 in ", describe());
    Tensor t = *this;
    t.shape_.erase(t.shape_.begin() + d);
    t.strides_.erase(t.strides_.begin() + d);
    return t;
}

// ---------------------------------------------------------------- copies
Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
    Tensor t = empty(shape_, dtype_, device());
    t.copy_(*this);
    return t;
}

Tensor Tensor::to(DType dtype) const {
    if (dtype == dtype_) return *this;
    Tensor t = empty(shape_, dtype, device());
    t.copy_(*this);
    return t;
}

Tensor Tensor::to(Device device) const {
    if (device == this->device()) return *this;
    Tensor t = empty(shape_, dtype_, device);
    t.copy_(*this);
    return t;
}

void Tensor::copy_(const Tensor& src) {
    TC_CHECK(shape_ == src.shape_, "copy_(): shape ", shape_str(src.shape_), " into ", describe());
    if (device() != Device::CPU || src.device() != Device::CPU) {
        DeviceCopy copy;
        {
            std::lock_guard<std::mutex> lock(g_reg_mutex);
            auto it = copies().find({device(), src.device()});
            TC_CHECK(it != copies().end(), "no copy registered from ", device_name(src.device()), " to ",
                     device_name(device()));
            copy = it->second;
        }
        copy(*this, src);
        return;
    }
    char* dst_base = static_cast<char*>(raw_data());
    const char* src_base = static_cast<const char*>(src.raw_data());
    size_t esz = dtype_size(dtype_);
    if (dtype_ == src.dtype_ && is_contiguous() && src.is_contiguous()) {
        std::memmove(dst_base, src_base, nbytes());
        return;
    }
    // Gather source offsets in logical order, then write each element converted.
    std::vector<int64_t> src_off(static_cast<size_t>(numel()));
    for_each_offset(src.shape_, src.strides_, [&](int64_t i, int64_t off) { src_off[size_t(i)] = off; });
    for_each_offset(shape_, strides_, [&](int64_t i, int64_t off) {
        int64_t so = src_off[size_t(i)];
        if (dtype_ == src.dtype_) {
            std::memcpy(dst_base + off * int64_t(esz), src_base + so * int64_t(esz), esz);
            return;
        }
        if (dtype_ == DType::I64 && src.dtype_ == DType::U8) {
            reinterpret_cast<int64_t*>(dst_base)[off] = reinterpret_cast<const uint8_t*>(src_base)[so];
            return;
        }
        float v = load_as_f32(src_base, src.dtype_, so);
        switch (dtype_) {
            case DType::F32: reinterpret_cast<float*>(dst_base)[off] = v; break;
            case DType::F16: reinterpret_cast<uint16_t*>(dst_base)[off] = f32_to_f16(v); break;
            case DType::BF16: reinterpret_cast<uint16_t*>(dst_base)[off] = f32_to_bf16(v); break;
            case DType::I64: reinterpret_cast<int64_t*>(dst_base)[off] = int64_t(v); break;
            case DType::U8: reinterpret_cast<uint8_t*>(dst_base)[off] = uint8_t(v); break;
        }
    });
}

}  // namespace tc
