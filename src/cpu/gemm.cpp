// Matrix products on the CPU: the cblas_sgemm wrapper every GEMM-shaped kernel uses, nn.Linear
// (x @ w^T + b with an optional fused activation) and batched matmul.
#include <cblas.h>

#include <climits>

#include "cpu/kernels.h"

namespace tc::cpu {

namespace {
blasint blas_int(int64_t v, const char* what) {
    TC_CHECK(v >= 0 && v <= INT_MAX, "sgemm: ", what, " = ", v, " does not fit the BLAS integer type");
    return blasint(v);
}

int64_t leading_numel(const Shape& s) {  // product of every dim but the last (1 for a 1-D shape)
    int64_t n = 1;
    for (size_t i = 0; i + 1 < s.size(); ++i) n *= s[i];
    return n;
}
}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    if (M == 0 || N == 0) return;
    if (K == 0) {  // empty sum: C = beta * C (BLAS would do the same, but some builds reject K = 0 leading dims)
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : beta * C[i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                blas_int(M, "M"), blas_int(N, "N"), blas_int(K, "K"), alpha, A, blas_int(lda, "lda"), B,
                blas_int(ldb, "ldb"), beta, C, blas_int(ldc, "ldc"));
}

Tensor linear(const Tensor& x_in, const Tensor& w_in, const Tensor* b_in, Activation act) {
    Tensor x = f32_input(x_in, "linear", "input");
    Tensor w = f32_input(w_in, "linear", "weight");
    Tensor b_keep;
    const Tensor* b = f32_optional(b_in, "linear", "bias", b_keep);
    TC_CHECK(x.dim() >= 1, "linear: input must have at least one dim, got ", shape_str(x.shape()));
    TC_CHECK(w.dim() == 2, "linear: weight must be [out, in], got ", shape_str(w.shape()));
    const int64_t out = w.size(0), in = w.size(1);
    TC_CHECK(x.size(-1) == in, "linear: input ", shape_str(x.shape()), " has ", x.size(-1),
             " features but weight [out, in] = ", shape_str(w.shape()), " expects ", in);
    if (b)
        TC_CHECK(b->dim() == 1 && b->size(0) == out, "linear: bias ", shape_str(b->shape()), " does not match ", out,
                 " output features");

    Shape out_shape = x.shape();
    out_shape.back() = out;
    Tensor y = Tensor::empty(out_shape);  // [..., out]
    const int64_t rows = leading_numel(x.shape());
    float* Y = y.data<float>();
    sgemm(false, true, rows, out, in, 1.f, x.data<float>(), in, w.data<float>(), in, 0.f, Y, out);

    if (b || act != Activation::None) {
        const float* bias = b ? b->data<float>() : nullptr;
#pragma omp parallel for if (rows * out > 32768)
        for (int64_t r = 0; r < rows; ++r) {
            float* row = Y + r * out;
            for (int64_t j = 0; j < out; ++j) row[j] = activate_f(bias ? row[j] + bias[j] : row[j], act);
        }
    }
    return y;
}

Tensor bmm(const Tensor& a_in, const Tensor& b_in, bool trans_a, bool trans_b, float alpha) {
    Tensor a = f32_input(a_in, "bmm", "a");
    Tensor b = f32_input(b_in, "bmm", "b");
    TC_CHECK(a.dim() == 3 && b.dim() == 3, "bmm: expects 3-D operands, got a ", shape_str(a.shape()), " and b ",
             shape_str(b.shape()));
    const int64_t batch = a.size(0);
    TC_CHECK(b.size(0) == batch, "bmm: batch sizes differ: a ", shape_str(a.shape()), ", b ", shape_str(b.shape()));
    const int64_t M = trans_a ? a.size(2) : a.size(1);
    const int64_t Ka = trans_a ? a.size(1) : a.size(2);
    const int64_t Kb = trans_b ? b.size(2) : b.size(1);
    const int64_t N = trans_b ? b.size(1) : b.size(2);
    TC_CHECK(Ka == Kb, "bmm: inner dims differ: a ", shape_str(a.shape()), (trans_a ? " (transposed)" : ""), " has K = ",
             Ka, ", b ", shape_str(b.shape()), (trans_b ? " (transposed)" : ""), " has K = ", Kb);

    Tensor y = Tensor::empty({batch, M, N});
    const float* A = a.data<float>();
    const float* B = b.data<float>();
    float* Y = y.data<float>();
    for (int64_t i = 0; i < batch; ++i)
        sgemm(trans_a, trans_b, M, N, Ka, alpha, A + i * a.size(1) * a.size(2), a.size(2), B + i * b.size(1) * b.size(2),
              b.size(2), 0.f, Y + i * M * N, N);
    return y;
}

}  // namespace tc::cpu
