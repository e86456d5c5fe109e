// Internal interface of the CPU backend: one function per op of tc::Backend, grouped by the file that
// implements it, plus the few helpers the kernel files share (input checks, the GEMM wrapper, scalar
// activations). Every op validates its arguments with TC_CHECK, accepts strided float32 CPU tensors and
// returns a fresh contiguous float32 tensor.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/ops.h"
#include "cpu/vec_math.h"

namespace tc::cpu {

// ------------------------------------------------------------------ shared helpers (cpu_backend.cpp)
// Checks that `t` is a defined float32 CPU tensor (any strides); `op` and `what` name the op and the
// argument in the error message.
void check_f32(const Tensor& t, const char* op, const char* what);
// Checks that `t` is a defined float32 CPU tensor and returns it contiguous (a copy only when it is a
// strided view).
Tensor f32_input(const Tensor& t, const char* op, const char* what);
// Same for an optional argument: null stays null; otherwise the contiguous tensor is stored in `keep`.
const Tensor* f32_optional(const Tensor* t, const char* op, const char* what, Tensor& keep);

// Scalar activations in float (torch computes them in float32 on the CPU); exp through cpu/vec_math.h.
inline float silu_f(float x) { return x / (1.f + exp_f(-x)); }
inline float gelu_f(float x) { return 0.5f * x * (1.f + std::erf(x * 0.70710678118654752440f)); }  // exact erf GELU
inline float sigmoid_f(float x) { return 1.f / (1.f + exp_f(-x)); }
inline float activate_f(float x, Activation act) {
    switch (act) {
        case Activation::None: return x;
        case Activation::SiLU: return silu_f(x);
        case Activation::GELU: return gelu_f(x);
    }
    return x;
}

// ------------------------------------------------------------------ gemm.cpp
// Row-major C[M, N] = alpha * op(A) op(B) + beta * C through cblas_sgemm; op(A) is [M, K] (A stored
// [K, M] when trans_a), op(B) is [K, N] (stored [N, K] when trans_b). lda/ldb/ldc are row strides.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
Tensor linear(const Tensor& x, const Tensor& w, const Tensor* b, Activation act);
Tensor bmm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, float alpha);

// ------------------------------------------------------------------ conv.cpp
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p);
Tensor conv3d_temporal(const Tensor& x, const Tensor& w, const Tensor* b, int64_t pad_t);
Tensor conv3d(const Tensor& x, const Tensor& w, const Tensor* b, std::array<int64_t, 3> pad);

// ------------------------------------------------------------------ norm.cpp
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor* gamma, const Tensor* beta, float eps,
                  Activation act);
Tensor layer_norm(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps);

// ------------------------------------------------------------------ activation.cpp
Tensor activation(const Tensor& x, Activation act);
Tensor geglu(const Tensor& x);
Tensor softmax_lastdim(const Tensor& x);
// In-place max-subtracted softmax of one row of n floats.
void softmax_row(float* row, int64_t n);
Tensor sigmoid(const Tensor& x);
Tensor exp(const Tensor& x);

// ------------------------------------------------------------------ attention.cpp
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, float scale);

// ------------------------------------------------------------------ resize.cpp
Tensor upsample_nearest2x(const Tensor& x);
Tensor resize_bicubic_aa(const Tensor& x, int64_t oh, int64_t ow);

// ------------------------------------------------------------------ elementwise.cpp
enum class BinaryOp { Add, Sub, Mul, Div };
Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op);
// numpy broadcasting of two shapes; throws naming `op` when they are incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
Tensor affine_scalar(const Tensor& x, float scale, float shift);
Tensor clamp(const Tensor& x, float lo, float hi);
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
Tensor contiguous(const Tensor& x);

// ------------------------------------------------------------------ embedding.cpp
Tensor timestep_embedding(const Tensor& t, int64_t dim, float max_period);

}  // namespace tc::cpu
