// Resampling on the CPU: nearest 2x upsampling (F.interpolate(scale_factor=2, mode='nearest'), used by
// every Upsample block) and the CLIP image preprocess resize, kornia 0.7.2
// `resize(x, (oh, ow), 'bicubic', align_corners=True, antialias=True)`
// (kornia/geometry/transform/affwarp.py resize; FrozenOpenCLIPImageEmbedderV2.preprocess in
// lvdm/modules/encoders/condition.py). That resize, on a downscale, first blurs with
// kornia.filters.gaussian_blur2d and then calls torch bicubic interpolation. The float32 arithmetic of
// both steps follows torch's so that the result agrees to rounding.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/kernels.h"

namespace tc::cpu {

Tensor upsample_nearest2x(const Tensor& x_in) {
    Tensor x = f32_input(x_in, "upsample_nearest2x", "input");
    TC_CHECK(x.dim() == 4 || x.dim() == 5, "upsample_nearest2x: input must be 4-D or 5-D ([..., H, W]), got ",
             shape_str(x.shape()));
    const int64_t H = x.size(-2), W = x.size(-1);
    Shape out_shape = x.shape();
    out_shape[out_shape.size() - 2] = 2 * H;
    out_shape[out_shape.size() - 1] = 2 * W;
    Tensor y = Tensor::empty(out_shape);
    const int64_t planes = H * W == 0 ? 0 : x.numel() / (H * W);
    const float* X = x.data<float>();
    float* Y = y.data<float>();
#pragma omp parallel for if (planes * H * W > 16384)
    for (int64_t p = 0; p < planes; ++p)
        for (int64_t oy = 0; oy < 2 * H; ++oy) {
            const float* src = X + (p * H + oy / 2) * W;
            float* dst = Y + (p * 2 * H + oy) * 2 * W;
            for (int64_t ox = 0; ox < 2 * W; ++ox) dst[ox] = src[ox / 2];
        }
    return y;
}

namespace {

// ---------------------------------------------------------------- Gaussian blur (kornia gaussian_blur2d)
// kornia/filters/kernels.py gaussian(): x = arange(ks) - ks // 2 (+0.5 for even ks),
// w = exp(-x^2 / (2 sigma^2)) / sum, all in float32 (sigma is a float32 tensor there).
std::vector<float> gaussian_window(int64_t ks, double sigma_d) {
    const float sigma = float(sigma_d);
    const float denom = 2.f * (sigma * sigma);
    std::vector<float> w(static_cast<size_t>(ks));
    float sum = 0.f;
    for (int64_t i = 0; i < ks; ++i) {
        float x = float(i) - float(ks / 2);
        if (ks % 2 == 0) x += 0.5f;
        w[size_t(i)] = std::exp(-(x * x) / denom);
        sum += w[size_t(i)];
    }
    for (float& v : w) v /= sum;
    return w;
}

// torch.nn.functional.pad(mode='reflect') index: mirror about the edge samples without repeating them.
// torch rejects pads >= the size; here larger pads keep mirroring and a size-1 axis maps to its only sample.
int64_t reflect_index(int64_t i, int64_t n) {
    if (n == 1) return 0;
    const int64_t period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

// One pass of kornia filter2d with a 1-D kernel along an axis of every plane, 'same' size, reflect border:
// out[i] = sum_j w[j] * in[reflect(i - pad_front + j)], pad_front = (ks - 1) / 2 (kornia _compute_padding).
// The axis has n samples `stride` apart; `lines` lines of it start at line_start(l).
template <typename LineStart>
void blur_axis(const float* src, float* dst, int64_t lines, int64_t n, int64_t stride, LineStart line_start,
               const std::vector<float>& w) {
    const int64_t ks = int64_t(w.size()), pad_front = (ks - 1) / 2;
    std::vector<int64_t> taps(size_t(n * ks));  // reflected source index of tap j for output i
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < ks; ++j) taps[size_t(i * ks + j)] = reflect_index(i - pad_front + j, n);
#pragma omp parallel for if (lines * n * ks > 65536)
    for (int64_t l = 0; l < lines; ++l) {
        const float* in = src + line_start(l);
        float* out = dst + line_start(l);
        for (int64_t i = 0; i < n; ++i) {
            float acc = 0.f;
            for (int64_t j = 0; j < ks; ++j) acc += w[size_t(j)] * in[taps[size_t(i * ks + j)] * stride];
            out[i * stride] = acc;
        }
    }
}

// kornia gaussian_blur2d(x, (ks_h, ks_w), (sigma_h, sigma_w), 'reflect', separable=True): the x (width)
// pass first, then the y (height) pass (kornia/filters/filter.py filter2d_separable).
Tensor gaussian_blur(const Tensor& x, int64_t ks_h, int64_t ks_w, double sigma_h, double sigma_w) {
    const int64_t H = x.size(-2), W = x.size(-1);
    const int64_t planes = x.numel() / (H * W);
    Tensor tmp = Tensor::empty(x.shape());
    Tensor y = Tensor::empty(x.shape());
    blur_axis(x.data<float>(), tmp.data<float>(), planes * H, W, 1, [W](int64_t row) { return row * W; },
              gaussian_window(ks_w, sigma_w));
    blur_axis(tmp.data<float>(), y.data<float>(), planes * W, H, W,
              [H, W](int64_t col) { return (col / W) * H * W + col % W; }, gaussian_window(ks_h, sigma_h));
    return y;
}

// ---------------------------------------------------------------- torch bicubic (align_corners=True)
// aten/src/ATen/native/UpSample.h: cubic convolution with A = -0.75, evaluated in float.
float cubic_near(float x, float A) { return ((A + 2) * x - (A + 3)) * x * x + 1; }            // |x| <= 1
float cubic_far(float x, float A) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; }        // 1 < |x| < 2

struct CubicTaps {
    int64_t index[4];
    float weight[4];
};

// For each output position: src = dst * (in-1)/(out-1) (0 when out == 1), the 4 neighbours
// floor(src)-1 .. floor(src)+2 clamped to the border, and their cubic weights.
// The scale is a float32 (area_pixel_compute_scale<float>). torch's x86 kernels are built with FMA and
// contract `scale * dst - floor(...)` into one fused multiply-add, so the fraction t is formed from the
// exact product; the golden CLIP preprocess (case d2) agrees to 2e-6 with that and only to 5e-5 with a
// rounded product (the position 511/223 * 223 carries a float32 rounding of ~3e-5 pixels).
std::vector<CubicTaps> cubic_taps(int64_t in, int64_t out) {
    const float A = -0.75f;
    const float scale = out > 1 ? float(in - 1) / float(out - 1) : 0.f;
    std::vector<CubicTaps> taps(static_cast<size_t>(out));
    for (int64_t o = 0; o < out; ++o) {
        const float real = scale * float(o);
        const int64_t base = int64_t(std::floor(real));
        const float t = std::fma(scale, float(o), -float(base));
        CubicTaps& c = taps[size_t(o)];
        const float u = 1.f - t;  // torch forms the far right tap as (1 - t) + 1
        c.weight[0] = cubic_far(t + 1.f, A);
        c.weight[1] = cubic_near(t, A);
        c.weight[2] = cubic_near(u, A);
        c.weight[3] = cubic_far(u + 1.f, A);
        for (int j = 0; j < 4; ++j) c.index[j] = std::clamp<int64_t>(base - 1 + j, 0, in - 1);
    }
    return taps;
}

// out[y][x] = sum_j wy_j * (sum_i wx_i * in[iy_j][ix_i]), accumulated in that order as torch's separable
// CPU kernel does (aten/src/ATen/native/cpu/UpSampleKernel.cpp, Interpolate<2>).
Tensor bicubic_align_corners(const Tensor& x, int64_t oh, int64_t ow) {
    const int64_t H = x.size(-2), W = x.size(-1);
    const int64_t planes = x.numel() / (H * W);
    Shape out_shape = x.shape();
    out_shape[out_shape.size() - 2] = oh;
    out_shape[out_shape.size() - 1] = ow;
    Tensor y = Tensor::empty(out_shape);
    const std::vector<CubicTaps> ty = cubic_taps(H, oh), tx = cubic_taps(W, ow);
    const float* X = x.data<float>();
    float* Y = y.data<float>();
#pragma omp parallel for if (planes * oh * ow > 16384)
    for (int64_t r = 0; r < planes * oh; ++r) {
        const int64_t p = r / oh, oy = r % oh;
        const float* plane = X + p * H * W;
        const CubicTaps& cy = ty[size_t(oy)];
        for (int64_t ox = 0; ox < ow; ++ox) {
            const CubicTaps& cx = tx[size_t(ox)];
            float acc = 0.f;
            for (int j = 0; j < 4; ++j) {
                const float* row = plane + cy.index[j] * W;
                float line = row[cx.index[0]] * cx.weight[0];
                for (int i = 1; i < 4; ++i) line += row[cx.index[i]] * cx.weight[i];
                acc = j == 0 ? line * cy.weight[0] : acc + line * cy.weight[j];
            }
            Y[r * ow + ox] = acc;
        }
    }
    return y;
}

}  // namespace

Tensor resize_bicubic_aa(const Tensor& x_in, int64_t oh, int64_t ow) {
    Tensor x = f32_input(x_in, "resize_bicubic_aa", "input");
    TC_CHECK(x.dim() >= 2, "resize_bicubic_aa: input must be [..., H, W] (normally [N, C, H, W]), got ",
             shape_str(x.shape()));
    const int64_t H = x.size(-2), W = x.size(-1);
    TC_CHECK(H >= 1 && W >= 1, "resize_bicubic_aa: empty image ", shape_str(x.shape()));
    TC_CHECK(oh >= 1 && ow >= 1, "resize_bicubic_aa: output size (", oh, ", ", ow, ") must be positive");
    if (oh == H && ow == W) return x.clone();  // kornia returns the input unchanged

    // kornia: factors = in / out; blur only when some axis shrinks, then on both axes with
    // sigma = max((factor - 1) / 2, 0.001) and ks = int(max(4 sigma, 3)) made odd.
    const double fh = double(H) / double(oh), fw = double(W) / double(ow);
    Tensor src = x;
    if (std::max(fh, fw) > 1.0) {
        const double sigma_h = std::max((fh - 1.0) / 2.0, 0.001), sigma_w = std::max((fw - 1.0) / 2.0, 0.001);
        int64_t ks_h = int64_t(std::max(2.0 * 2 * sigma_h, 3.0)), ks_w = int64_t(std::max(2.0 * 2 * sigma_w, 3.0));
        if (ks_h % 2 == 0) ++ks_h;
        if (ks_w % 2 == 0) ++ks_w;
        src = gaussian_blur(x, ks_h, ks_w, sigma_h, sigma_w);
    }
    return bicubic_align_corners(src, oh, ow);
}

}  // namespace tc::cpu
