// The tensor: a typed, strided view over a reference-counted Storage on one device.
// Storage is either owned (allocated here) or borrowed from something that outlives it through a
// keep-alive handle (a memory-mapped checkpoint, for example), which is how weights stay zero-copy.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace tc {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& s);    // throws on negative dims or int64 overflow

// A block of device memory. `keepalive` holds whatever owns the bytes (for example an mmap).
struct Storage {
    void* data = nullptr;
    size_t bytes = 0;
    Device device = Device::CPU;
    std::shared_ptr<void> keepalive;

    // CPU blocks are zero-filled only when `zero` is set (Tensor::zeros); Tensor::empty's are not (filling
    // every block cost ~20% of a demo run in page faults and memset, bench/RESULTS.md). Under ASan an
    // unfilled CPU block is filled with NaN bytes instead, so code that reads before writing fails its tests.
    // Device allocators zero-fill always.
    static std::shared_ptr<Storage> allocate(size_t bytes, Device device = Device::CPU, bool zero = true);
    static std::shared_ptr<Storage> borrow(void* data, size_t bytes, std::shared_ptr<void> keepalive,
                                           Device device = Device::CPU);
};

// Device allocators are pluggable so the CUDA layer can register itself without core depending on it.
using DeviceAlloc = std::function<std::shared_ptr<Storage>(size_t bytes)>;
void register_allocator(Device device, DeviceAlloc alloc);

class Tensor {
public:
    Tensor() = default;

    // --- construction
    // Uninitialised contents (every element must be written before it is read).
    static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
    static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
    static Tensor full(const Shape& shape, float value);                 // F32, CPU
    static Tensor from_vector(const std::vector<float>& v, const Shape& shape);
    static Tensor from_vector_i64(const std::vector<int64_t>& v, const Shape& shape);
    // Zero-copy view over existing bytes (contiguous); keepalive owns them.
    static Tensor from_blob(void* data, const Shape& shape, DType dtype, std::shared_ptr<void> keepalive,
                            Device device = Device::CPU);

    // --- metadata
    bool defined() const { return storage_ != nullptr; }
    const Shape& shape() const { return shape_; }
    const Shape& strides() const { return strides_; }  // in elements
    int64_t dim() const { return int64_t(shape_.size()); }
    int64_t size(int64_t d) const;                       // negative d counts from the end
    int64_t numel() const { return shape_numel(shape_); }
    DType dtype() const { return dtype_; }
    Device device() const { return storage_ ? storage_->device : Device::CPU; }
    size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
    bool is_contiguous() const;
    const std::shared_ptr<Storage>& storage() const { return storage_; }
    int64_t offset() const { return offset_; }  // in elements
    std::string describe() const;               // "F32[2, 3] cpu"

    // --- raw access (CPU); T must match the dtype's size
    void* raw_data() const;
    template <typename T> T* data() const {
        TC_CHECK(sizeof(T) == dtype_size(dtype_), "data<T>(): element size does not match dtype ", dtype_name(dtype_));
        return static_cast<T*>(raw_data());
    }
    float item() const;                // single-element tensor as float
    std::vector<float> to_vector() const;  // any dtype, any layout -> dense f32 values in logical order

    // --- views (no copy)
    Tensor view(const Shape& shape) const;     // contiguous only; one dim may be -1
    Tensor reshape(const Shape& shape) const;  // view if contiguous, else copy
    Tensor permute(const std::vector<int64_t>& dims) const;
    Tensor transpose(int64_t a, int64_t b) const;
    Tensor slice(int64_t dim, int64_t start, int64_t end) const;  // [start, end) along dim
    Tensor select(int64_t dim, int64_t index) const;              // removes dim
    Tensor unsqueeze(int64_t dim) const;
    Tensor squeeze(int64_t dim) const;

    // --- copies
    Tensor contiguous() const;  // self if already contiguous
    Tensor clone() const;       // always a fresh contiguous copy
    Tensor to(DType dtype) const;   // converts (f16/bf16 rounding is nearest-even); self if same dtype
    Tensor to(Device device) const; // through the registered backend copy; self if same device
    void copy_(const Tensor& src);  // same shape; converts dtype; any strides

private:
    std::shared_ptr<Storage> storage_;
    int64_t offset_ = 0;
    Shape shape_;
    Shape strides_;
    DType dtype_ = DType::F32;
};

Shape contiguous_strides(const Shape& shape);

// Device-to-device copies are provided by backends (CUDA registers host<->device copies).
using DeviceCopy = std::function<void(const Tensor& dst, const Tensor& src)>;
void register_device_copy(Device a, Device b, DeviceCopy copy);

}  // namespace tc
