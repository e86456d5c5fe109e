// A Backend that times every op of another backend (bench tool, not part of the library): wall seconds and
// calls per op name and input shape, printed sorted by total time. It answers "which op, at which shape,
// eats the request" where perf cannot see through OpenBLAS's frames. Install it over the CPU backend with
// OpProfiler::install(); calls are timed on the calling thread (ops are called from one thread; each op
// parallelises inside), so the times add up to the engine's time in ops.
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include "core/ops.h"

namespace tc::bench {

class OpProfiler final : public Backend {
public:
    // Wraps the backend registered for `device` and registers itself in its place.
    static OpProfiler& install(Device device = Device::CPU);
    void print(std::FILE* out, double min_share = 0.005) const;
    void reset() { stats_.clear(); }

    Tensor linear(const Tensor& x, const Tensor& w, const Tensor* b, Activation act) override {
        return time("linear", key(x, w), [&] { return inner_.linear(x, w, b, act); });
    }
    Tensor bmm(const Tensor& a, const Tensor& b, bool ta, bool tb, float alpha) override {
        return time("bmm", key(a, b), [&] { return inner_.bmm(a, b, ta, tb, alpha); });
    }
    Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p) override {
        return time("conv2d", key(x, w), [&] { return inner_.conv2d(x, w, b, p); });
    }
    Tensor conv3d_temporal(const Tensor& x, const Tensor& w, const Tensor* b, int64_t pad_t) override {
        return time("conv3d_temporal", key(x, w), [&] { return inner_.conv3d_temporal(x, w, b, pad_t); });
    }
    Tensor conv3d(const Tensor& x, const Tensor& w, const Tensor* b, std::array<int64_t, 3> pad) override {
        return time("conv3d", key(x, w), [&] { return inner_.conv3d(x, w, b, pad); });
    }
    Tensor group_norm(const Tensor& x, int64_t groups, const Tensor* gamma, const Tensor* beta, float eps,
                      Activation act) override {
        return time("group_norm", key(x), [&] { return inner_.group_norm(x, groups, gamma, beta, eps, act); });
    }
    Tensor layer_norm(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps) override {
        return time("layer_norm", key(x), [&] { return inner_.layer_norm(x, gamma, beta, eps); });
    }
    Tensor activation(const Tensor& x, Activation act) override {
        return time("activation", key(x), [&] { return inner_.activation(x, act); });
    }
    Tensor geglu(const Tensor& x) override { return time("geglu", key(x), [&] { return inner_.geglu(x); }); }
    Tensor softmax_lastdim(const Tensor& x) override {
        return time("softmax", key(x), [&] { return inner_.softmax_lastdim(x); });
    }
    Tensor sigmoid(const Tensor& x) override { return time("sigmoid", key(x), [&] { return inner_.sigmoid(x); }); }
    Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, float scale) override {
        return time("attention", key(q, k), [&] { return inner_.attention(q, k, v, mask, scale); });
    }
    Tensor upsample_nearest2x(const Tensor& x) override {
        return time("upsample2x", key(x), [&] { return inner_.upsample_nearest2x(x); });
    }
    Tensor resize_bicubic_aa(const Tensor& x, int64_t oh, int64_t ow) override {
        return time("resize", key(x), [&] { return inner_.resize_bicubic_aa(x, oh, ow); });
    }
    Tensor add(const Tensor& a, const Tensor& b) override { return time("add", key(a, b), [&] { return inner_.add(a, b); }); }
    Tensor sub(const Tensor& a, const Tensor& b) override { return time("sub", key(a, b), [&] { return inner_.sub(a, b); }); }
    Tensor mul(const Tensor& a, const Tensor& b) override { return time("mul", key(a, b), [&] { return inner_.mul(a, b); }); }
    Tensor div(const Tensor& a, const Tensor& b) override { return time("div", key(a, b), [&] { return inner_.div(a, b); }); }
    Tensor affine_scalar(const Tensor& x, float scale, float shift) override {
        return time("affine_scalar", key(x), [&] { return inner_.affine_scalar(x, scale, shift); });
    }
    Tensor clamp(const Tensor& x, float lo, float hi) override {
        return time("clamp", key(x), [&] { return inner_.clamp(x, lo, hi); });
    }
    Tensor exp(const Tensor& x) override { return time("exp", key(x), [&] { return inner_.exp(x); }); }
    Tensor concat(const std::vector<Tensor>& xs, int64_t dim) override {
        return time("concat", xs.empty() ? std::string() : key(xs[0]), [&] { return inner_.concat(xs, dim); });
    }
    Tensor timestep_embedding(const Tensor& t, int64_t dim, float max_period) override {
        return time("timestep_embedding", key(t), [&] { return inner_.timestep_embedding(t, dim, max_period); });
    }
    Tensor contiguous(const Tensor& x) override {
        return time("contiguous", key(x), [&] { return inner_.contiguous(x); });
    }

private:
    explicit OpProfiler(Backend& inner) : inner_(inner) {}
    static std::string key(const Tensor& a) { return shape_str(a.shape()); }
    static std::string key(const Tensor& a, const Tensor& b) { return shape_str(a.shape()) + " x " + shape_str(b.shape()); }
    template <typename F>
    Tensor time(const char* op, const std::string& shapes, F f) {
        const auto t0 = std::chrono::steady_clock::now();
        Tensor y = f();
        Stat& s = stats_[{op, shapes}];
        s.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ++s.calls;
        return y;
    }
    struct Stat {
        double seconds = 0;
        long calls = 0;
    };
    Backend& inner_;
    std::map<std::pair<std::string, std::string>, Stat> stats_;
};

}  // namespace tc::bench
