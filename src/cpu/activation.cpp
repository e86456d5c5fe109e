// Pointwise activations and softmax on the CPU: SiLU, exact-erf GELU (torch.nn.GELU() default), sigmoid,
// exp, GEGLU (lvdm/modules/attention.py GEGLU: `x, gate = proj(x).chunk(2, dim=-1); x * F.gelu(gate)`)
// and the max-subtracted softmax over the last dim.
#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/kernels.h"

namespace tc::cpu {

namespace {
template <typename F>
Tensor map_unary(const Tensor& x_in, const char* op, F f) {
    Tensor x = f32_input(x_in, op, "input");
    Tensor y = Tensor::empty(x.shape());
    const float* X = x.data<float>();
    float* Y = y.data<float>();
    const int64_t n = x.numel();
#pragma omp parallel for if (n > 32768)
    for (int64_t i = 0; i < n; ++i) Y[i] = f(X[i]);
    return y;
}
}  // namespace

Tensor activation(const Tensor& x, Activation act) {
    return map_unary(x, "activation", [act](float v) { return activate_f(v, act); });
}

Tensor sigmoid(const Tensor& x) { return map_unary(x, "sigmoid", sigmoid_f); }

Tensor exp(const Tensor& x) { return map_unary(x, "exp", [](float v) { return std::exp(v); }); }

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
    for (int64_t r = 0; r < rows; ++r) {
        const float* value = X + r * 2 * d;
        const float* gate = value + d;
        for (int64_t i = 0; i < d; ++i) Y[r * d + i] = value[i] * gelu_f(gate[i]);
    }
    return y;
}

void softmax_row(float* row, int64_t n) {
    if (n == 0) return;
    float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
    for (int64_t i = 0; i < n; ++i) mx = std::max(mx, row[i]);
    // A row of only -inf gives (-inf) - (-inf) = NaN everywhere, as torch does; nothing traps.
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) row[i] = exp_f(row[i] - mx);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += row[i];
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
