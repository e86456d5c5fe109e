// Normalisation layers on the CPU: torch.nn.GroupNorm (optionally followed by a fused SiLU/GELU, the
// `GN -> SiLU` pair every ResBlock starts with) and torch.nn.LayerNorm over the last dim.
// Both use the biased variance, as torch does. The statistics are accumulated in double with two passes:
// the tiny model has GroupNorms with 2 to 8 elements per group (golden/README.md section 8), where a
// float32 single-pass variance would lose digits the 1e-4 end-to-end budget cannot spare.
#include <cmath>

#include "cpu/kernels.h"
#include "cpu/simd_clones.h"

namespace tc::cpu {

namespace {
struct Moments {
    double mean, rstd;
};

// Two passes in double. `reduction` lets the sums vectorise (in double lanes, with the AVX clones).
TC_SIMD_CLONES Moments moments(const float* x, int64_t n, float eps) {
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < n; ++i) sum += double(x[i]);
    const double mean = n > 0 ? sum / double(n) : 0.0;
    double ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < n; ++i) {
        const double d = double(x[i]) - mean;
        ss += d * d;
    }
    const double var = n > 0 ? ss / double(n) : 0.0;
    return {mean, 1.0 / std::sqrt(var + double(eps))};
}

// out = act(((x - mean) * rstd) * scale + shift) over n values, in float. The mean is split in a float
// head and the float rest of it: x - head is exact when x is close to the mean (Sterbenz) and otherwise
// rounds relative to the difference, so a mean much larger than the spread does not cancel digits the way
// x - float(mean) would (that version failed the end-to-end parity budget).
TC_SIMD_CLONES void normalize_plane(const float* in, float* out, int64_t n, Moments m, float scale, float shift,
                                    Activation act) {
    const float head = float(m.mean), rest = float(m.mean - double(head));
    const float a = float(m.rstd) * scale;
    switch (act) {
        case Activation::None:
#pragma omp simd
            for (int64_t s = 0; s < n; ++s) out[s] = float((double(in[s]) - m.mean) * m.rstd) * scale + shift;
            break;
        case Activation::SiLU:
#pragma omp simd
            for (int64_t s = 0; s < n; ++s) out[s] = silu_f(((in[s] - head) - rest) * a + shift);
            break;
        case Activation::GELU:
#pragma omp simd
            for (int64_t s = 0; s < n; ++s) out[s] = gelu_f(((in[s] - head) - rest) * a + shift);
            break;
    }
}

void check_affine(const Tensor* t, int64_t n, const char* op, const char* what) {
    if (t) TC_CHECK(t->dim() == 1 && t->size(0) == n, op, ": ", what, " ", shape_str(t->shape()), " must be [", n, "]");
}
}  // namespace

Tensor group_norm(const Tensor& x_in, int64_t groups, const Tensor* gamma_in, const Tensor* beta_in, float eps,
                  Activation act) {
    Tensor x = f32_input(x_in, "group_norm", "input");
    Tensor gk, bk;
    const Tensor* gamma = f32_optional(gamma_in, "group_norm", "weight", gk);
    const Tensor* beta = f32_optional(beta_in, "group_norm", "bias", bk);
    TC_CHECK(x.dim() >= 2, "group_norm: input must be [N, C, *], got ", shape_str(x.shape()));
    const int64_t N = x.size(0), C = x.size(1);
    TC_CHECK(groups >= 1 && C % groups == 0, "group_norm: ", C, " channels are not divisible into ", groups, " groups");
    check_affine(gamma, C, "group_norm", "weight");
    check_affine(beta, C, "group_norm", "bias");

    Tensor y = Tensor::empty(x.shape());
    const int64_t S = N * C == 0 ? 0 : x.numel() / (N * C);  // elements per channel (T*H*W, H*W, ... or 1)
    const int64_t Cg = C / groups;
    const float* X = x.data<float>();
    const float* G = gamma ? gamma->data<float>() : nullptr;
    const float* B = beta ? beta->data<float>() : nullptr;
    float* Y = y.data<float>();
#pragma omp parallel for schedule(dynamic)
    for (int64_t ng = 0; ng < N * groups; ++ng) {
        const int64_t g = ng % groups;
        const float* src = X + ng * Cg * S;  // one group is Cg consecutive channels: contiguous
        float* dst = Y + ng * Cg * S;
        const Moments m = moments(src, Cg * S, eps);
        for (int64_t c = 0; c < Cg; ++c) {
            const int64_t ch = g * Cg + c;
            normalize_plane(src + c * S, dst + c * S, S, m, G ? G[ch] : 1.f, B ? B[ch] : 0.f, act);
        }
    }
    return y;
}

Tensor layer_norm(const Tensor& x_in, const Tensor* gamma_in, const Tensor* beta_in, float eps) {
    Tensor x = f32_input(x_in, "layer_norm", "input");
    Tensor gk, bk;
    const Tensor* gamma = f32_optional(gamma_in, "layer_norm", "weight", gk);
    const Tensor* beta = f32_optional(beta_in, "layer_norm", "bias", bk);
    TC_CHECK(x.dim() >= 1, "layer_norm: input must have at least one dim, got ", shape_str(x.shape()));
    const int64_t D = x.size(-1);
    check_affine(gamma, D, "layer_norm", "weight");
    check_affine(beta, D, "layer_norm", "bias");

    Tensor y = Tensor::empty(x.shape());
    const int64_t rows = D == 0 ? 0 : x.numel() / D;
    const float* X = x.data<float>();
    const float* G = gamma ? gamma->data<float>() : nullptr;
    const float* B = beta ? beta->data<float>() : nullptr;
    float* Y = y.data<float>();
#pragma omp parallel for if (rows * D > 16384)
    for (int64_t r = 0; r < rows; ++r) {
        const float* src = X + r * D;
        float* dst = Y + r * D;
        const Moments m = moments(src, D, eps);
        for (int64_t i = 0; i < D; ++i) {
            const float norm = float((double(src[i]) - m.mean) * m.rstd);
            dst[i] = norm * (G ? G[i] : 1.f) + (B ? B[i] : 0.f);
        }
    }
    return y;
}

}  // namespace tc::cpu
