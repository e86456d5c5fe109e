// The operator set the models are written against, and the dispatcher that sends each call to the
// backend of its inputs' device. Every op takes and returns float32 tensors unless it says otherwise;
// inputs may be strided (backends call contiguous() where they need it), outputs are contiguous.
// The CPU backend (src/cpu) is the readable fp32 reference; the CUDA backend (src/cuda) registers its
// own implementation of the same interface, and every CUDA op is tested against its CPU twin.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include "core/tensor.h"

namespace tc {

struct Conv2dParams {
    std::array<int64_t, 2> stride{1, 1};
    // Padding as (top, bottom, left, right): the VAE downsampler pads only right/bottom
    // (lvdm/modules/networks/ae_modules.py Downsample: pad=(0,1,0,1)).
    std::array<int64_t, 4> pad{0, 0, 0, 0};
    int64_t groups = 1;
    static Conv2dParams same(int64_t k, int64_t stride = 1) {
        Conv2dParams p;
        p.stride = {stride, stride};
        int64_t h = k / 2;
        p.pad = {h, h, h, h};
        return p;
    }
};

enum class Activation { None, SiLU, GELU };

// A backend implements every op for one device. Inputs are guaranteed to be on that device.
class Backend {
public:
    virtual ~Backend() = default;

    // y = x @ w^T + b over the last dim of x: x[..., in], w[out, in], b[out] -> [..., out]; optional fused activation.
    virtual Tensor linear(const Tensor& x, const Tensor& w, const Tensor* b, Activation act) = 0;
    // Batched matmul: a[B, M, K] (or [B, K, M] when trans_a), b[B, K, N] (or [B, N, K] when trans_b) -> [B, M, N], scaled by alpha.
    virtual Tensor bmm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, float alpha) = 0;
    // x[N, C, H, W], w[O, C/groups, kh, kw], b[O] -> [N, O, Ho, Wo].
    virtual Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p) = 0;
    // Temporal conv: x[N, C, T, H, W], w[O, C, kt, 1, 1], b[O], zero padding pad_t on both ends of T -> [N, O, T', H, W].
    virtual Tensor conv3d_temporal(const Tensor& x, const Tensor& w, const Tensor* b, int64_t pad_t) = 0;
    // Full 3D conv with stride 1: x[N, C, T, H, W], w[O, C, kt, kh, kw], padding (pt, ph, pw) symmetric.
    virtual Tensor conv3d(const Tensor& x, const Tensor& w, const Tensor* b, std::array<int64_t, 3> pad) = 0;
    // GroupNorm over x[N, C, *]; gamma/beta [C] may be null; act fused after the affine.
    virtual Tensor group_norm(const Tensor& x, int64_t groups, const Tensor* gamma, const Tensor* beta, float eps,
                              Activation act) = 0;
    // LayerNorm over the last dim.
    virtual Tensor layer_norm(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps) = 0;
    virtual Tensor activation(const Tensor& x, Activation act) = 0;
    // x[..., 2d] -> x[..., :d] * gelu(x[..., d:]) (diffusers/lvdm GEGLU: value first, gate second).
    virtual Tensor geglu(const Tensor& x) = 0;
    virtual Tensor softmax_lastdim(const Tensor& x) = 0;
    virtual Tensor sigmoid(const Tensor& x) = 0;
    // Scaled dot-product attention: q[B, H, Lq, D], k/v[B, H, Lk, D], mask additive [Lq, Lk] or null -> [B, H, Lq, D].
    virtual Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, float scale) = 0;
    // Nearest-neighbour 2x upsampling of the last two dims.
    virtual Tensor upsample_nearest2x(const Tensor& x) = 0;
    // kornia.geometry.transform.resize(x, (oh, ow), 'bicubic', align_corners=True, antialias=True) on x[N, C, H, W].
    virtual Tensor resize_bicubic_aa(const Tensor& x, int64_t oh, int64_t ow) = 0;
    // Elementwise with numpy broadcasting.
    virtual Tensor add(const Tensor& a, const Tensor& b) = 0;
    virtual Tensor sub(const Tensor& a, const Tensor& b) = 0;
    virtual Tensor mul(const Tensor& a, const Tensor& b) = 0;
    virtual Tensor div(const Tensor& a, const Tensor& b) = 0;
    // y = x * scale + shift.
    virtual Tensor affine_scalar(const Tensor& x, float scale, float shift) = 0;
    virtual Tensor clamp(const Tensor& x, float lo, float hi) = 0;
    virtual Tensor exp(const Tensor& x) = 0;
    virtual Tensor concat(const std::vector<Tensor>& xs, int64_t dim) = 0;
    // Sinusoidal embedding of t[N] (float values): [cos(t f_k), sin(t f_k)], f_k = exp(-ln(max_period) k / half)
    // (lvdm/models/utils_diffusion.py timestep_embedding, cos first); odd dim pads one zero column.
    virtual Tensor timestep_embedding(const Tensor& t, int64_t dim, float max_period) = 0;
    // Materialise any view as a contiguous copy on this device.
    virtual Tensor contiguous(const Tensor& x) = 0;
};

void register_backend(Device device, Backend* backend);  // the backend must outlive every call
Backend& backend(Device device);

// ------------------------------------------------------------------ dispatching free functions
namespace ops {
Tensor linear(const Tensor& x, const Tensor& w, const Tensor* b = nullptr, Activation act = Activation::None);
inline Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, Activation act = Activation::None) {
    return linear(x, w, b.defined() ? &b : nullptr, act);
}
Tensor bmm(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false, float alpha = 1.f);
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p);
Tensor conv3d_temporal(const Tensor& x, const Tensor& w, const Tensor* b, int64_t pad_t);
Tensor conv3d(const Tensor& x, const Tensor& w, const Tensor* b, std::array<int64_t, 3> pad);
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor* gamma, const Tensor* beta, float eps,
                  Activation act = Activation::None);
Tensor layer_norm(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps);
Tensor silu(const Tensor& x);
Tensor gelu(const Tensor& x);  // exact erf form
Tensor geglu(const Tensor& x);
Tensor softmax(const Tensor& x);  // over the last dim
Tensor sigmoid(const Tensor& x);
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, float scale);
Tensor upsample_nearest2x(const Tensor& x);
Tensor resize_bicubic_aa(const Tensor& x, int64_t oh, int64_t ow);
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, float s);          // x * s
Tensor add_scalar(const Tensor& x, float s);     // x + s
Tensor affine_scalar(const Tensor& x, float scale, float shift);
Tensor clamp(const Tensor& x, float lo, float hi);
Tensor exp(const Tensor& x);
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
Tensor timestep_embedding(const Tensor& t, int64_t dim, float max_period = 10000.f);
Tensor contiguous(const Tensor& x);
}  // namespace ops

}  // namespace tc
