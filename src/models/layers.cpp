// torch.nn building blocks over core/ops.
#include "models/layers.h"

namespace tc {

const Tensor& weight_of(const Param& p, const char* what) {
    TC_CHECK(p.value.defined(), what, ": weight was not loaded (bind the checkpoint first)");
    return p.value;
}

static const Tensor* opt(const Param* p) { return p ? &weight_of(*p, "bias") : nullptr; }

Linear::Linear(int64_t in_, int64_t out_, bool has_bias) : in(in_), out(out_) {
    weight = &param("weight", {out, in});
    if (has_bias) bias = &param("bias", {out});
}

Tensor Linear::forward(const Tensor& x, Activation act) const {
    TC_CHECK(x.size(-1) == in, "Linear(", in, "->", out, "): input ", x.describe());
    return ops::linear(x, weight_of(*weight, "Linear"), opt(bias), act);
}

Conv2d::Conv2d(int64_t in_, int64_t out_, int64_t k, int64_t stride, int64_t pad, bool has_bias)
    : in(in_), out(out_), kernel(k) {
    params.stride = {stride, stride};
    params.pad = {pad, pad, pad, pad};
    weight = &param("weight", {out, in, k, k});
    if (has_bias) bias = &param("bias", {out});
}

Tensor Conv2d::forward(const Tensor& x) const { return forward(x, params); }

Tensor Conv2d::forward(const Tensor& x, const Conv2dParams& p) const {
    TC_CHECK(x.dim() == 4 && x.size(1) == in, "Conv2d(", in, "->", out, "): input ", x.describe());
    return ops::conv2d(x, weight_of(*weight, "Conv2d"), opt(bias), p);
}

Conv3d::Conv3d(int64_t in_, int64_t out_, std::array<int64_t, 3> k, std::array<int64_t, 3> p, bool has_bias)
    : in(in_), out(out_), kernel(k), pad(p) {
    weight = &param("weight", {out, in, k[0], k[1], k[2]});
    if (has_bias) bias = &param("bias", {out});
}

Tensor Conv3d::forward(const Tensor& x) const {
    TC_CHECK(x.dim() == 5 && x.size(1) == in, "Conv3d(", in, "->", out, "): input ", x.describe());
    if (kernel[1] == 1 && kernel[2] == 1 && pad[1] == 0 && pad[2] == 0)
        return ops::conv3d_temporal(x, weight_of(*weight, "Conv3d"), opt(bias), pad[0]);
    return ops::conv3d(x, weight_of(*weight, "Conv3d"), opt(bias), pad);
}

GroupNorm::GroupNorm(int64_t g, int64_t c, float e, bool affine) : groups(g), channels(c), eps(e) {
    TC_CHECK(g > 0 && c % g == 0, "GroupNorm: ", c, " channels not divisible into ", g, " groups");
    if (affine) {
        weight = &param("weight", {c});
        bias = &param("bias", {c});
    }
}

Tensor GroupNorm::forward(const Tensor& x, Activation act) const {
    TC_CHECK(x.dim() >= 2 && x.size(1) == channels, "GroupNorm(", channels, "): input ", x.describe());
    return ops::group_norm(x, groups, opt(weight), opt(bias), eps, act);
}

LayerNorm::LayerNorm(int64_t d, float e, bool affine) : dim(d), eps(e) {
    if (affine) {
        weight = &param("weight", {d});
        bias = &param("bias", {d});
    }
}

Tensor LayerNorm::forward(const Tensor& x) const {
    TC_CHECK(x.size(-1) == dim, "LayerNorm(", dim, "): input ", x.describe());
    return ops::layer_norm(x, opt(weight), opt(bias), eps);
}

}  // namespace tc
