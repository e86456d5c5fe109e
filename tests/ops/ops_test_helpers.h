// Helpers for the op tests: seeded random tensors, strided copies of them, and comparison of an op's
// float32 output with a naive reference computed in double.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/ops.h"
#include "test_util.h"

namespace tc::test {
// Internal linkage: another suite may have helpers with the same names in its own files.
namespace {

// Uniform values in [lo, hi) from a fixed seed.
inline Tensor random_tensor(const Shape& shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    for (float& x : v) x = dist(gen);
    return Tensor::from_vector(v, shape);
}

// The same values as `t`, stored in a non-contiguous layout: a transposed buffer viewed back through a
// transpose of the last two dims (the layout a permute() in model code produces).
inline Tensor strided_copy(const Tensor& t) {
    if (t.dim() < 2) {  // a 1-D tensor as every other element of a twice-as-long buffer
        Tensor big = Tensor::zeros({t.size(0), 2});
        big.select(1, 0).copy_(t);
        return big.select(1, 0);
    }
    Tensor tt = t.transpose(-1, -2).contiguous();  // physically transposed
    Tensor v = tt.transpose(-1, -2);               // logically equal to t, strided
    EXPECT_FALSE(v.is_contiguous() && t.size(-1) > 1 && t.size(-2) > 1);
    return v;
}

// Largest |got - ref| over all elements (NaN counts as infinite); shapes must agree in element count.
inline double max_err(const Tensor& got, const std::vector<double>& ref) {
    std::vector<float> g = got.to_vector();
    EXPECT_EQ(g.size(), ref.size());
    if (g.size() != ref.size()) return 1e30;
    double m = 0;
    for (size_t i = 0; i < g.size(); ++i) {
        const double d = std::abs(double(g[i]) - ref[i]);
        if (!(d <= m)) m = std::isnan(d) ? 1e30 : d;
    }
    return m;
}

inline double max_abs(const std::vector<double>& v) {
    double m = 0;
    for (double x : v) m = std::max(m, std::abs(x));
    return m;
}

inline std::vector<double> as_double(const Tensor& t) {
    std::vector<float> f = t.to_vector();
    return std::vector<double>(f.begin(), f.end());
}

}  // namespace
}  // namespace tc::test
