// The CPU reference backend: the tc::Backend whose every op forwards to the fp32 kernels of src/cpu
// (one file per kernel family, declared in kernels.h), plus the input checks they share.
#include "cpu/cpu_backend.h"
#include "cpu/blas_setup.h"

#include "cpu/kernels.h"

namespace tc::cpu {

void check_f32(const Tensor& t, const char* op, const char* what) {
    TC_CHECK(t.defined(), op, ": ", what, " is an undefined tensor");
    TC_CHECK(t.device() == Device::CPU, op, ": ", what, " is on ", device_name(t.device()),
             ", the CPU backend needs CPU tensors");
    TC_CHECK(t.dtype() == DType::F32, op, ": ", what, " has dtype ", dtype_name(t.dtype()),
             ", the CPU backend computes in F32 only (convert with .to(DType::F32))");
}

Tensor f32_input(const Tensor& t, const char* op, const char* what) {
    check_f32(t, op, what);
    return t.is_contiguous() ? t : contiguous(t);
}

const Tensor* f32_optional(const Tensor* t, const char* op, const char* what, Tensor& keep) {
    if (t == nullptr || !t->defined()) return nullptr;
    keep = f32_input(*t, op, what);
    return &keep;
}

namespace {

class CpuBackend final : public Backend {
public:
    Tensor linear(const Tensor& x, const Tensor& w, const Tensor* b, Activation act) override {
        return cpu::linear(x, w, b, act);
    }
    Tensor bmm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, float alpha) override {
        return cpu::bmm(a, b, trans_a, trans_b, alpha);
    }
    Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p) override {
        return cpu::conv2d(x, w, b, p);
    }
    Tensor conv3d_temporal(const Tensor& x, const Tensor& w, const Tensor* b, int64_t pad_t) override {
        return cpu::conv3d_temporal(x, w, b, pad_t);
    }
    Tensor conv3d(const Tensor& x, const Tensor& w, const Tensor* b, std::array<int64_t, 3> pad) override {
        return cpu::conv3d(x, w, b, pad);
    }
    Tensor group_norm(const Tensor& x, int64_t groups, const Tensor* gamma, const Tensor* beta, float eps,
                      Activation act) override {
        return cpu::group_norm(x, groups, gamma, beta, eps, act);
    }
    Tensor layer_norm(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps) override {
        return cpu::layer_norm(x, gamma, beta, eps);
    }
    Tensor activation(const Tensor& x, Activation act) override { return cpu::activation(x, act); }
    Tensor geglu(const Tensor& x) override { return cpu::geglu(x); }
    Tensor softmax_lastdim(const Tensor& x) override { return cpu::softmax_lastdim(x); }
    Tensor sigmoid(const Tensor& x) override { return cpu::sigmoid(x); }
    Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, float scale) override {
        return cpu::attention(q, k, v, mask, scale);
    }
    Tensor upsample_nearest2x(const Tensor& x) override { return cpu::upsample_nearest2x(x); }
    Tensor resize_bicubic_aa(const Tensor& x, int64_t oh, int64_t ow) override {
        return cpu::resize_bicubic_aa(x, oh, ow);
    }
    Tensor add(const Tensor& a, const Tensor& b) override { return binary(a, b, BinaryOp::Add); }
    Tensor sub(const Tensor& a, const Tensor& b) override { return binary(a, b, BinaryOp::Sub); }
    Tensor mul(const Tensor& a, const Tensor& b) override { return binary(a, b, BinaryOp::Mul); }
    Tensor div(const Tensor& a, const Tensor& b) override { return binary(a, b, BinaryOp::Div); }
    Tensor affine_scalar(const Tensor& x, float scale, float shift) override {
        return cpu::affine_scalar(x, scale, shift);
    }
    Tensor clamp(const Tensor& x, float lo, float hi) override { return cpu::clamp(x, lo, hi); }
    Tensor exp(const Tensor& x) override { return cpu::exp(x); }
    Tensor concat(const std::vector<Tensor>& xs, int64_t dim) override { return cpu::concat(xs, dim); }
    Tensor timestep_embedding(const Tensor& t, int64_t dim, float max_period) override {
        return cpu::timestep_embedding(t, dim, max_period);
    }
    Tensor contiguous(const Tensor& x) override { return cpu::contiguous(x); }
};

}  // namespace

Backend& cpu_backend() {
    static CpuBackend backend;  // stateless: every op only reads its arguments
    return backend;
}

void register_cpu_backend() {
    configure_blas_threads();  // OpenMP owns the cores (cpu/blas_setup.h)
    register_backend(Device::CPU, &cpu_backend());
}

}  // namespace tc::cpu
