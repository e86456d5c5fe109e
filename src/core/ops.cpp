// The dispatcher: each free function checks that its inputs share a device and forwards to that
// device's backend.
#include "core/ops.h"

#include <array>

namespace tc {

namespace {
std::array<Backend*, 2> g_backends{nullptr, nullptr};

Backend& on(const Tensor& x) {
    TC_CHECK(x.defined(), "op called with an undefined tensor");
    return backend(x.device());
}

void same_device(const Tensor& a, const Tensor* b, const char* op) {
    if (b && b->defined())
        TC_CHECK(a.device() == b->device(), op, ": inputs on different devices (", a.describe(), " vs ",
                 b->describe(), ")");
}
}  // namespace

void register_backend(Device device, Backend* b) { g_backends[size_t(device)] = b; }

Backend& backend(Device device) {
    Backend* b = g_backends[size_t(device)];
    TC_CHECK(b != nullptr, "no backend registered for device ", device_name(device));
    return *b;
}

namespace ops {
Tensor linear(const Tensor& x, const Tensor& w, const Tensor* b, Activation act) {
    same_device(x, &w, "linear");
    same_device(x, b, "linear");
    return on(x).linear(x, w, b, act);
}
Tensor bmm(const Tensor& a, const Tensor& b, bool ta, bool tb, float alpha) {
    same_device(a, &b, "bmm");
    return on(a).bmm(a, b, ta, tb, alpha);
}
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p) {
    same_device(x, &w, "conv2d");
    same_device(x, b, "conv2d");
    return on(x).conv2d(x, w, b, p);
}
Tensor conv3d_temporal(const Tensor& x, const Tensor& w, const Tensor* b, int64_t pad_t) {
    same_device(x, &w, "conv3d_temporal");
    same_device(x, b, "conv3d_temporal");
    return on(x).conv3d_temporal(x, w, b, pad_t);
}
Tensor conv3d(const Tensor& x, const Tensor& w, const Tensor* b, std::array<int64_t, 3> pad) {
    same_device(x, &w, "conv3d");
    same_device(x, b, "conv3d");
    return on(x).conv3d(x, w, b, pad);
}
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor* gamma, const Tensor* beta, float eps, Activation act) {
    same_device(x, gamma, "group_norm");
    same_device(x, beta, "group_norm");
    return on(x).group_norm(x, groups, gamma, beta, eps, act);
}
Tensor layer_norm(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps) {
    same_device(x, gamma, "layer_norm");
    same_device(x, beta, "layer_norm");
    return on(x).layer_norm(x, gamma, beta, eps);
}
Tensor silu(const Tensor& x) { return on(x).activation(x, Activation::SiLU); }
Tensor gelu(const Tensor& x) { return on(x).activation(x, Activation::GELU); }
Tensor geglu(const Tensor& x) { return on(x).geglu(x); }
Tensor softmax(const Tensor& x) { return on(x).softmax_lastdim(x); }
Tensor sigmoid(const Tensor& x) { return on(x).sigmoid(x); }
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, float scale) {
    same_device(q, &k, "attention");
    same_device(q, &v, "attention");
    same_device(q, mask, "attention");
    return on(q).attention(q, k, v, mask, scale);
}
Tensor upsample_nearest2x(const Tensor& x) { return on(x).upsample_nearest2x(x); }
Tensor resize_bicubic_aa(const Tensor& x, int64_t oh, int64_t ow) { return on(x).resize_bicubic_aa(x, oh, ow); }
Tensor add(const Tensor& a, const Tensor& b) { same_device(a, &b, "add"); return on(a).add(a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { same_device(a, &b, "sub"); return on(a).sub(a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { same_device(a, &b, "mul"); return on(a).mul(a, b); }
Tensor div(const Tensor& a, const Tensor& b) { same_device(a, &b, "div"); return on(a).div(a, b); }
Tensor scale(const Tensor& x, float s) { return on(x).affine_scalar(x, s, 0.f); }
Tensor add_scalar(const Tensor& x, float s) { return on(x).affine_scalar(x, 1.f, s); }
Tensor affine_scalar(const Tensor& x, float s, float shift) { return on(x).affine_scalar(x, s, shift); }
Tensor clamp(const Tensor& x, float lo, float hi) { return on(x).clamp(x, lo, hi); }
Tensor exp(const Tensor& x) { return on(x).exp(x); }
Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
    TC_CHECK(!xs.empty(), "concat of zero tensors");
    for (const auto& t : xs) same_device(xs[0], &t, "concat");
    return on(xs[0]).concat(xs, dim);
}
Tensor timestep_embedding(const Tensor& t, int64_t dim, float max_period) {
    return on(t).timestep_embedding(t, dim, max_period);
}
Tensor contiguous(const Tensor& x) { return x.is_contiguous() ? x : on(x).contiguous(x); }
}  // namespace ops

}  // namespace tc
