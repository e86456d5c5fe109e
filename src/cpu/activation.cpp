// Pointwise activations and softmax on the CPU: SiLU, exact-erf GELU (torch.nn.GELU() default), sigmoid,
// exp, GEGLU (lvdm/modules/attention.py GEGLU: `x, gate = proj(x).chunk(2, dim=-1); x * F.gelu(gate)`)
// and the max-subtracted softmax over the last dim.
#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/kernels.h"
#include "cpu/simd_clones.h"

namespace tc::cpu {

namespace {
// The leaf loops, cloned per CPU (cpu/simd_clones.h): called from the parallel regions below.
TC_SIMD_CLONES void activate_span(const float* x, float* y, int64_t n, Activation act) {
    switch (act) {
        case Activation::None:
#pragma omp simd
            for (int64_t i = 0; i < n; ++i) y[i] = x[i];
            break;
        case Activation::SiLU:
#pragma omp simd
            for (int64_t i = 0; i < n; ++i) y[i] = silu_f(x[i]);
            break;
        case Activation::GELU:
#pragma omp simd
            for (int64_t i = 0; i < n; ++i) y[i] = gelu_f(x[i]);
            break;
    }
}

TC_SIMD_CLONES void sigmoid_span(const float* x, float* y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = sigmoid_f(x[i]);
}

TC_SIMD_CLONES void geglu_row(const float* value, const float* gate, float* y, int64_t d) {
#pragma omp simd
    for (int64_t i = 0; i < d; ++i) y[i] = value[i] * gelu_f(gate[i]);
}

constexpr int64_t kSpan = 16384;  // elements per parallel task of the pointwise maps

// y = f(x) elementwise, in spans of kSpan elements spread over the threads.
template <typename F>
Tensor map_spans(const Tensor& x_in, const char* op, F span_fn) {
    Tensor x = f32_input(x_in, op, "input");
    Tensor y = Tensor::empty(x.shape());
    const float* X = x.data<float>();
    float* Y = y.data<float>();
    const int64_t n = x.numel(), spans = (n + kSpan - 1) / kSpan;
#pragma omp parallel for if (spans > 2)
    for (int64_t s = 0; s < spans; ++s) span_fn(X + s * kSpan, Y + s * kSpan, std::min(kSpan, n - s * kSpan));
    return y;
}
}  // namespace

Tensor activation(const Tensor& x, Activation act) {
    return map_spans(x, "activation", [act](const float* in, float* out, int64_t n) { activate_span(in, out, n, act); });
}

Tensor sigmoid(const Tensor& x) { return map_spans(x, "sigmoid", sigmoid_span); }

Tensor exp(const Tensor& x) {
    return map_spans(x, "exp", [](const float* in, float* out, int64_t n) {
        for (int64_t i = 0; i < n; ++i) out[i] = std::exp(in[i]);
    });
}

Tensor geglu(const Tensor& x_in) {
    Tensor x = f32_input(x_in, "geglu", "input");
    TC_CHECK(x.dim() >= 1 && x.size(-1) % 2 == 0, "geglu: last dim must be even ([..., 2d]: value then gate), got ",
             shape_str(x.shape()));
    const int64_t d = x.size(-1) / 2;
    Shape out_shape = x.shape();
    out_shape.back() = d;
    Tensor y = Tensor::empty(out_shape);  // [..., d]
    const int64_t rows = d == 0 ? 0 : y.numel() / d;
    const float* X = x.data<float>();
    float* Y = y.data<float>();
#pragma omp parallel for if (rows * d > 16384)
    for (int64_t r = 0; r < rows; ++r) geglu_row(X + r * 2 * d, X + r * 2 * d + d, Y + r * d, d);
    return y;
}

TC_SIMD_CLONES void softmax_row(float* row, int64_t n) {
    if (n == 0) return;
    // The max in 16 independent lanes: GCC keeps `omp simd reduction(max)` over std::max scalar (a chain of
    // dependent maxss was 2/3 of this function's time, bench/RESULTS.md).
    constexpr int64_t L = 16;
    float lane[L];
    for (int64_t j = 0; j < L; ++j) lane[j] = -std::numeric_limits<float>::infinity();
    int64_t i0 = 0;
    for (; i0 + L <= n; i0 += L) {
#pragma omp simd
        for (int64_t j = 0; j < L; ++j) lane[j] = row[i0 + j] > lane[j] ? row[i0 + j] : lane[j];
    }
    for (int64_t i = i0; i < n; ++i) lane[0] = row[i] > lane[0] ? row[i] : lane[0];
    float mx = lane[0];
    for (int64_t j = 1; j < L; ++j) mx = lane[j] > mx ? lane[j] : mx;
    // A row of only -inf gives (-inf) - (-inf) = NaN everywhere, as torch does; nothing traps.
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) row[i] = exp_f(row[i] - mx);
    // The sum stays in double (8192-key rows of the 512 model); `reduction` lets it vectorise (partial sums
    // per lane: another order than a sequential sum, as accurate in double).
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < n; ++i) sum += double(row[i]);
    const float inv = float(1.0 / sum);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) row[i] *= inv;
}

Tensor softmax_lastdim(const Tensor& x_in) {
    Tensor x = f32_input(x_in, "softmax", "input");
    TC_CHECK(x.dim() >= 1, "softmax: input must have at least one dim");
    Tensor y = x.clone();
    const int64_t n = x.size(-1);
    const int64_t rows = n == 0 ? 0 : x.numel() / n;
    float* Y = y.data<float>();
#pragma omp parallel for if (rows * n > 16384)
    for (int64_t r = 0; r < rows; ++r) softmax_row(Y + r * n, n);
    return y;
}

}  // namespace tc::cpu
