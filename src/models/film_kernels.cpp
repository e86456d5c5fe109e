// FILM-specific CPU kernels (see film_kernels.h). PyTorch references for the index math:
// aten/src/ATen/native/UpSample.h (area_pixel_compute_source_index, nearest_idx),
// aten/src/ATen/native/GridSampler.h (grid_sampler_compute_source_index with border padding).
#include "models/film_kernels.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace tc::film {

namespace {

Tensor dense4(const Tensor& x, const char* what) {
    TC_CHECK(x.dim() == 4, what, ": expected a 4-D NCHW tensor, got ", x.describe());
    TC_CHECK(x.device() == Device::CPU, what, ": CPU-only kernel, got ", x.describe());
    return x.to(DType::F32).contiguous();
}

// PyTorch's scale for an explicit output size: (float)in / out.
float size_scale(int64_t in, int64_t out) { return float(in) / float(out); }

}  // namespace

Tensor leaky_relu(const Tensor& x_, float slope) {
    Tensor x = x_.to(DType::F32).contiguous();
    Tensor y = Tensor::empty(x.shape());
    const float* s = x.data<float>();
    float* d = y.data<float>();
    const int64_t n = x.numel();
    for (int64_t i = 0; i < n; ++i) d[i] = s[i] > 0.f ? s[i] : s[i] * slope;
    return y;
}

Tensor avg_pool2x2(const Tensor& x_) {
    Tensor x = dense4(x_, "avg_pool2x2");
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t oh = H / 2, ow = W / 2;
    Tensor y = Tensor::empty({N, C, oh, ow});
    const float* s = x.data<float>();
    float* d = y.data<float>();
    for (int64_t p = 0; p < N * C; ++p) {
        const float* sp = s + p * H * W;
        float* dp = d + p * oh * ow;
        for (int64_t i = 0; i < oh; ++i)
            for (int64_t j = 0; j < ow; ++j) {
                const float* a = sp + (2 * i) * W + 2 * j;
                // Summed row by row, then divided by the window size, as avg_pool2d does.
                float sum = 0.f;
                sum += a[0];
                sum += a[1];
                sum += a[W];
                sum += a[W + 1];
                dp[i * ow + j] = sum / 4.f;
            }
    }
    return y;
}

Tensor resize_bilinear(const Tensor& x_, int64_t oh, int64_t ow) {
    Tensor x = dense4(x_, "resize_bilinear");
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    TC_CHECK(oh > 0 && ow > 0 && H > 0 && W > 0, "resize_bilinear: bad sizes ", x.describe(), " -> ", oh, "x", ow);
    struct Tap { int64_t i0, i1; float l0, l1; };
    auto taps = [](int64_t in, int64_t out) {
        std::vector<Tap> t(static_cast<size_t>(out));
        const float scale = size_scale(in, out);
        for (int64_t o = 0; o < out; ++o) {
            float src = scale * (float(o) + 0.5f) - 0.5f;
            if (src < 0.f) src = 0.f;
            int64_t i0 = int64_t(src);
            int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
            float l1 = src - float(i0);
            t[size_t(o)] = {i0, i1, 1.f - l1, l1};
        }
        return t;
    };
    const std::vector<Tap> ty = taps(H, oh), tx = taps(W, ow);
    Tensor y = Tensor::empty({N, C, oh, ow});
    const float* s = x.data<float>();
    float* d = y.data<float>();
    for (int64_t p = 0; p < N * C; ++p) {
        const float* sp = s + p * H * W;
        float* dp = d + p * oh * ow;
        for (int64_t i = 0; i < oh; ++i) {
            const Tap& a = ty[size_t(i)];
            const float* r0 = sp + a.i0 * W;
            const float* r1 = sp + a.i1 * W;
            for (int64_t j = 0; j < ow; ++j) {
                const Tap& b = tx[size_t(j)];
                // upsample_bilinear2d: h0lambda * (w0lambda * v00 + w1lambda * v01) + h1lambda * (...)
                dp[i * ow + j] = a.l0 * (b.l0 * r0[b.i0] + b.l1 * r0[b.i1]) + a.l1 * (b.l0 * r1[b.i0] + b.l1 * r1[b.i1]);
            }
        }
    }
    return y;
}

Tensor resize_nearest(const Tensor& x_, int64_t oh, int64_t ow) {
    Tensor x = dense4(x_, "resize_nearest");
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    TC_CHECK(oh > 0 && ow > 0 && H > 0 && W > 0, "resize_nearest: bad sizes ", x.describe(), " -> ", oh, "x", ow);
    auto idx = [](int64_t in, int64_t out) {
        std::vector<int64_t> v(static_cast<size_t>(out));
        const float scale = size_scale(in, out);
        for (int64_t o = 0; o < out; ++o) v[size_t(o)] = std::min(int64_t(std::floor(float(o) * scale)), in - 1);
        return v;
    };
    const std::vector<int64_t> iy = idx(H, oh), ix = idx(W, ow);
    Tensor y = Tensor::empty({N, C, oh, ow});
    const float* s = x.data<float>();
    float* d = y.data<float>();
    for (int64_t p = 0; p < N * C; ++p)
        for (int64_t i = 0; i < oh; ++i)
            for (int64_t j = 0; j < ow; ++j) d[(p * oh + i) * ow + j] = s[(p * H + iy[size_t(i)]) * W + ix[size_t(j)]];
    return y;
}

Tensor warp(const Tensor& image_, const Tensor& flow_) {
    Tensor image = dense4(image_, "warp image"), flow = dense4(flow_, "warp flow");
    const int64_t N = image.size(0), C = image.size(1), H = image.size(2), W = image.size(3);
    TC_CHECK(flow.size(0) == N && flow.size(1) == 2 && flow.size(2) == H && flow.size(3) == W, "warp: flow ",
             flow.describe(), " does not match image ", image.describe());
    // The port's grid: linspace(-1 + 1/W, 1 - 1/W, W) + flow / (W / 2) (util.warp), then grid_sample
    // unnormalises with align_corners=False: ((g + 1) * W - 1) / 2, and clips to [0, W - 1] (border).
    auto linspace = [](int64_t n) {
        std::vector<float> v(static_cast<size_t>(n));
        const float start = -1.f + 1.f / float(n), end = 1.f - 1.f / float(n);
        const float step = n > 1 ? (end - start) / float(n - 1) : 0.f;
        const int64_t half = n / 2;  // torch's CPU linspace fills from both ends
        for (int64_t i = 0; i < n; ++i)
            v[size_t(i)] = i < half ? start + step * float(i) : end - step * float(n - 1 - i);
        return v;
    };
    const std::vector<float> gx0 = linspace(W), gy0 = linspace(H);
    const float hw = float(W) / 2.f, hh = float(H) / 2.f;
    Tensor out = Tensor::empty({N, C, H, W});
    const float* img = image.data<float>();
    const float* fl = flow.data<float>();
    float* o = out.data<float>();
    const int64_t plane = H * W;
    for (int64_t n = 0; n < N; ++n) {
        const float* fx = fl + (n * 2 + 0) * plane;
        const float* fy = fl + (n * 2 + 1) * plane;
        for (int64_t y = 0; y < H; ++y)
            for (int64_t x = 0; x < W; ++x) {
                const int64_t k = y * W + x;
                float gx = gx0[size_t(x)] + fx[k] / hw;
                float gy = gy0[size_t(y)] + fy[k] / hh;
                float ix = ((gx + 1.f) * float(W) - 1.f) / 2.f;
                float iy = ((gy + 1.f) * float(H) - 1.f) / 2.f;
                ix = std::min(float(W - 1), std::max(ix, 0.f));
                iy = std::min(float(H - 1), std::max(iy, 0.f));
                const int64_t x0 = int64_t(std::floor(ix)), y0 = int64_t(std::floor(iy));
                const int64_t x1 = x0 + 1, y1 = y0 + 1;
                const float nw = (float(x1) - ix) * (float(y1) - iy);
                const float ne = (ix - float(x0)) * (float(y1) - iy);
                const float sw = (float(x1) - ix) * (iy - float(y0));
                const float se = (ix - float(x0)) * (iy - float(y0));
                const bool in_x1 = x1 < W, in_y1 = y1 < H;
                for (int64_t c = 0; c < C; ++c) {
                    const float* p = img + (n * C + c) * plane;
                    float v = p[y0 * W + x0] * nw;
                    if (in_x1) v += p[y0 * W + x1] * ne;
                    if (in_y1) v += p[y1 * W + x0] * sw;
                    if (in_x1 && in_y1) v += p[y1 * W + x1] * se;
                    o[(n * C + c) * plane + k] = v;
                }
            }
    }
    return out;
}

}  // namespace tc::film
