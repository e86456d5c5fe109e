// CUDA context, device allocator and copies registered with the tensor core.
#include "cuda/cuda_context.h"

#include <memory>

#include "core/tensor.h"
#include "cuda/cuda_backend.h"

namespace tc::cuda {

Context::Context(int device) : device_(device) {
    TC_CUDA_CHECK(cudaSetDevice(device_));
    TC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    cublasStatus_t st = cublasLtCreate(&blaslt_);
    if (st != CUBLAS_STATUS_SUCCESS) {
        cudaStreamDestroy(stream_);
        TC_FAIL("cublasLtCreate failed: status ", int(st));
    }
}

Context::~Context() {
    if (blaslt_) cublasLtDestroy(blaslt_);
    if (stream_) cudaStreamDestroy(stream_);
}

Context& context() {
    static Context ctx(0);
    return ctx;
}

bool device_present() {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

namespace {
std::shared_ptr<Storage> allocate_device(size_t bytes) {
    Context& ctx = context();
    void* p = nullptr;
    if (bytes) {
        TC_CUDA_CHECK(cudaMallocAsync(&p, bytes, ctx.stream()));
        TC_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, ctx.stream()));
    }
    cudaStream_t s = ctx.stream();
    std::shared_ptr<void> owner(p, [s](void* q) {
        if (q) cudaFreeAsync(q, s);  // a destructor must not throw: a failure here is left to the runtime
    });
    return Storage::borrow(p, bytes, owner, Device::CUDA);
}

void copy_between(const Tensor& dst, const Tensor& src, cudaMemcpyKind kind) {
    TC_CHECK(dst.dtype() == src.dtype(), "device copy needs equal dtypes (", dst.describe(), " <- ", src.describe(), ")");
    TC_CHECK(dst.is_contiguous() && src.is_contiguous(), "device copy needs contiguous tensors");
    Context& ctx = context();
    TC_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), src.nbytes(), kind, ctx.stream()));
    TC_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
}
}  // namespace

void register_cuda_backend_if_present() {
    if (!device_present()) return;
    register_allocator(Device::CUDA, allocate_device);
    register_device_copy(Device::CUDA, Device::CPU,
                         [](const Tensor& d, const Tensor& s) { copy_between(d, s.contiguous(), cudaMemcpyHostToDevice); });
    register_device_copy(Device::CPU, Device::CUDA,
                         [](const Tensor& d, const Tensor& s) { copy_between(d, s, cudaMemcpyDeviceToHost); });
    register_device_copy(Device::CUDA, Device::CUDA,
                         [](const Tensor& d, const Tensor& s) { copy_between(d, s, cudaMemcpyDeviceToDevice); });
}

}  // namespace tc::cuda
