// Matrix products on the CPU: the cblas_sgemm wrapper every GEMM-shaped kernel uses, nn.Linear
// (x @ w^T + b with an optional fused activation) and batched matmul.
#include <cblas.h>

#include <omp.h>

#include <algorithm>
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
    // Checked here, outside any OpenMP region (an exception must not escape one).
    blas_int(M, "M"), blas_int(N, "N");
    const blasint k = blas_int(K, "K"), la = blas_int(lda, "lda"), lb = blas_int(ldb, "ldb"), lc = blas_int(ldc, "ldc");
    const auto call = [&](int64_t m, int64_t n, const float* a, const float* b, float* c) {
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), k, alpha, a, la, b, lb, beta, c, lc);
    };
    // OpenBLAS runs on one thread (cpu/blas_setup.h); a large product outside an OpenMP region is split here
    // into one block of C per thread, along the longer side. K is never split, so every element of C is the
    // same dot product as in one call.
    const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (threads <= 1 || double(M) * double(N) * double(K) < double(1 << 21)) {
        call(M, N, A, B, C);
        return;
    }
    const bool split_rows = M >= N;
    const int64_t len = split_rows ? M : N;
    const int64_t chunk = std::max<int64_t>(16, (len + threads - 1) / threads);
    const int64_t pieces = (len + chunk - 1) / chunk;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < pieces; ++p) {
        const int64_t i0 = p * chunk, n = std::min(chunk, len - i0);
        if (split_rows)  // rows i0.. of op(A) and of C
            call(n, N, trans_a ? A + i0 : A + i0 * lda, B, C + i0 * ldc);
        else  // columns i0.. of op(B) and of C
            call(M, n, A, trans_b ? B + i0 * ldb : B + i0, C + i0);
    }
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
