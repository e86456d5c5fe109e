// Broadcasting add/sub/mul/div, affine_scalar/scale/add_scalar, clamp, concat and contiguous on the CPU
// backend: numpy broadcasting against index arithmetic, strided operands, hand values and errors.
#include <cmath>
#include <limits>

#include "ops_test_helpers.h"

namespace tc::test {
namespace {

// out[i] = f(a[bcast(i)], b[bcast(i)]) by explicit multi-index arithmetic.
template <typename F>
std::vector<double> broadcast_ref(const Tensor& a, const Tensor& b, const Shape& out, F f) {
    auto A = as_double(a), B = as_double(b);
    auto index_of = [&](const Shape& s, const std::vector<int64_t>& idx) {
        int64_t flat = 0;
        const size_t lead = out.size() - s.size();
        for (size_t d = 0; d < s.size(); ++d) flat = flat * s[d] + (s[d] == 1 ? 0 : idx[lead + d]);
        return size_t(flat);
    };
    std::vector<double> y(size_t(shape_numel(out)));
    std::vector<int64_t> idx(out.size(), 0);
    for (size_t i = 0; i < y.size(); ++i) {
        int64_t rem = int64_t(i);
        for (int64_t d = int64_t(out.size()) - 1; d >= 0; --d) {
            idx[size_t(d)] = rem % out[size_t(d)];
            rem /= out[size_t(d)];
        }
        y[i] = f(A[index_of(a.shape(), idx)], B[index_of(b.shape(), idx)]);
    }
    return y;
}

TEST(OpsBinary, BroadcastHandValues) {
    Tensor a = Tensor::from_vector({1, 2, 3, 10, 20, 30}, {2, 1, 3});
    Tensor b = Tensor::from_vector({100, 200, 300, 400}, {4, 1});
    Tensor y = ops::add(a, b);
    ASSERT_EQ(y.shape(), (Shape{2, 4, 3}));
    auto Y = y.to_vector();
    EXPECT_EQ(Y[0], 101.f);
    EXPECT_EQ(Y[2], 103.f);
    EXPECT_EQ(Y[3], 201.f);
    EXPECT_EQ(Y[12], 110.f);
    EXPECT_EQ(Y[23], 430.f);
}

TEST(OpsBinary, RandomShapesAllOps) {
    const std::vector<std::pair<Shape, Shape>> pairs = {
        {{2, 1, 3}, {4, 1}}, {{3, 4, 5}, {5}}, {{3, 1, 5}, {1, 4, 1}}, {{1}, {2, 3}},
        {{7, 13}, {7, 13}}, {{2, 3, 1, 1}, {1, 3, 4, 5}}, {{33}, {1}}, {{}, {2, 2}},
    };
    uint32_t seed = 1;
    for (const auto& [sa, sb] : pairs) {
        Tensor a = random_tensor(sa, seed++), b = random_tensor(sb, seed++, 0.5f, 2.f);
        Shape out = ops::add(a, b).shape();
        EXPECT_LT(max_err(ops::add(a, b), broadcast_ref(a, b, out, [](double u, double v) { return u + v; })), 1e-6);
        EXPECT_LT(max_err(ops::sub(a, b), broadcast_ref(a, b, out, [](double u, double v) { return u - v; })), 1e-6);
        EXPECT_LT(max_err(ops::mul(a, b), broadcast_ref(a, b, out, [](double u, double v) { return u * v; })), 1e-6);
        Tensor den = ops::add_scalar(ops::clamp(a, 0.f, 1.f), 1.f);  // in [1, 2]
        EXPECT_LT(max_err(ops::div(b, den), broadcast_ref(b, den, out, [](double u, double v) { return u / v; })), 1e-6)
            << shape_str(sa) << " " << shape_str(sb);
    }
}

TEST(OpsBinary, StridedAndOffsetOperands) {
    Tensor a = random_tensor({4, 6, 5}, 30), b = random_tensor({6, 5}, 31);
    Tensor at = strided_copy(a), bt = strided_copy(b);
    EXPECT_LT(max_err(ops::mul(at, bt), broadcast_ref(a, b, {4, 6, 5}, [](double u, double v) { return u * v; })), 1e-7);
    // A slice (offset view) and a permuted view broadcast against each other.
    Tensor big = random_tensor({3, 8}, 32);
    Tensor s = big.slice(1, 2, 7);                     // [3, 5], offset 2, row stride 8
    Tensor p = random_tensor({5, 2}, 33).permute({1, 0}).unsqueeze(1);  // [2, 1, 5] strided
    Tensor y = ops::sub(s, p);
    EXPECT_EQ(y.shape(), (Shape{2, 3, 5}));
    EXPECT_LT(max_err(y, broadcast_ref(s.contiguous(), p.contiguous(), {2, 3, 5},
                                       [](double u, double v) { return u - v; })),
              1e-7);
}

TEST(OpsBinary, Errors) {
    try {
        ops::add(random_tensor({2, 3}, 1), random_tensor({4}, 2));
        ADD_FAILURE() << "no throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("cannot be broadcast"), std::string::npos) << e.what();
    }
    EXPECT_THROW(ops::mul(random_tensor({2, 3}, 1), random_tensor({3, 3}, 2)), Error);
    EXPECT_THROW(ops::add(random_tensor({2}, 1), Tensor::from_vector_i64({1, 2}, {2})), Error);
}

TEST(OpsScalar, AffineScaleAddClamp) {
    Tensor x = Tensor::from_vector({-2, -0.5f, 0, 1.5f, 3}, {5});
    EXPECT_EQ(ops::affine_scalar(x, 2.f, 1.f).to_vector(), (std::vector<float>{-3, 0, 1, 4, 7}));
    EXPECT_EQ(ops::scale(x, -1.f).to_vector(), (std::vector<float>{2, 0.5f, -0.f, -1.5f, -3}));
    EXPECT_EQ(ops::add_scalar(x, 0.5f).to_vector(), (std::vector<float>{-1.5f, 0, 0.5f, 2, 3.5f}));
    EXPECT_EQ(ops::clamp(x, -1.f, 1.f).to_vector(), (std::vector<float>{-1, -0.5f, 0, 1, 1}));
    auto n = ops::clamp(Tensor::from_vector({std::numeric_limits<float>::quiet_NaN()}, {1}), 0.f, 1.f).item();
    EXPECT_TRUE(std::isnan(n));  // torch.clamp propagates NaN
    Tensor r = random_tensor({3, 4}, 3);
    EXPECT_EQ(ops::affine_scalar(strided_copy(r), 3.f, -1.f).to_vector(), ops::affine_scalar(r, 3.f, -1.f).to_vector());
    EXPECT_THROW(ops::clamp(x, 1.f, -1.f), Error);
}

TEST(OpsConcat, AnyDimAnyStrides) {
    Tensor a = random_tensor({2, 3, 4}, 40), b = random_tensor({2, 5, 4}, 41);
    Tensor y = ops::concat({strided_copy(a), b}, 1);
    ASSERT_EQ(y.shape(), (Shape{2, 8, 4}));
    auto Y = y.to_vector(), A = a.to_vector(), B = b.to_vector();
    for (int64_t n = 0; n < 2; ++n)
        for (int64_t c = 0; c < 8; ++c)
            for (int64_t k = 0; k < 4; ++k) {
                const float want = c < 3 ? A[size_t((n * 3 + c) * 4 + k)] : B[size_t((n * 5 + c - 3) * 4 + k)];
                ASSERT_EQ(Y[size_t((n * 8 + c) * 4 + k)], want);
            }
    // Last dim (negative index), three inputs, one of them empty along the dim.
    Tensor c = Tensor::from_vector({1, 2, 3, 4}, {2, 2}), d = Tensor::from_vector({5, 6}, {2, 1}), e = Tensor::zeros({2, 0});
    EXPECT_EQ(ops::concat({c, e, d}, -1).to_vector(), (std::vector<float>{1, 2, 5, 3, 4, 6}));
    EXPECT_EQ(ops::concat({c, c}, 0).shape(), (Shape{4, 2}));
    EXPECT_THROW(ops::concat({a, b}, 0), Error);
    EXPECT_THROW(ops::concat({a, b}, 3), Error);
    EXPECT_THROW(ops::concat({a, random_tensor({2, 3}, 1)}, 0), Error);
}

TEST(OpsContiguous, MaterialisesViews) {
    Tensor x = random_tensor({2, 3, 4, 5}, 50);
    Tensor v = x.permute({0, 2, 3, 1});
    Tensor c = ops::contiguous(v);
    EXPECT_TRUE(c.is_contiguous());
    EXPECT_EQ(c.shape(), (Shape{2, 4, 5, 3}));
    EXPECT_EQ(c.to_vector(), v.to_vector());
    Tensor s = x.slice(3, 1, 4).select(1, 2);
    EXPECT_EQ(ops::contiguous(s).to_vector(), s.to_vector());
    EXPECT_THROW(ops::contiguous(x.to(DType::BF16).permute({1, 0, 2, 3})), Error);
}

}  // namespace
}  // namespace tc::test
