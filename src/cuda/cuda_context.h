// RAII ownership of the CUDA handles one process needs: the stream all work is queued on and the
// cuBLASLt handle. Errors from the runtime become tc::Error (never abort).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include "core/error.h"

#define TC_CUDA_CHECK(expr)                                                                         \
    do {                                                                                            \
        cudaError_t err_ = (expr);                                                                  \
        TC_CHECK(err_ == cudaSuccess, "CUDA error in ", #expr, ": ", cudaGetErrorString(err_));     \
    } while (0)

#define TC_CUBLAS_CHECK(expr)                                                                       \
    do {                                                                                            \
        cublasStatus_t st_ = (expr);                                                                \
        TC_CHECK(st_ == CUBLAS_STATUS_SUCCESS, "cuBLAS error in ", #expr, ": status ", int(st_));   \
    } while (0)

namespace tc::cuda {

class Context {
public:
    explicit Context(int device = 0);
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    int device() const { return device_; }
    cudaStream_t stream() const { return stream_; }
    cublasLtHandle_t blaslt() const { return blaslt_; }

private:
    int device_;
    cudaStream_t stream_ = nullptr;
    cublasLtHandle_t blaslt_ = nullptr;
};

Context& context();  // the process-wide context on device 0, created on first use

}  // namespace tc::cuda
