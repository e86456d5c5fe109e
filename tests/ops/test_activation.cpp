// SiLU, exact-erf GELU, sigmoid, exp, GEGLU and softmax on the CPU backend against double formulas,
// hand values, -inf handling and errors.
#include <cmath>
#include <limits>

#include "ops_test_helpers.h"

namespace tc::test {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<double> map_ref(const Tensor& x, double (*f)(double)) {
    auto v = as_double(x);
    for (double& d : v) d = f(d);
    return v;
}
double silu_d(double v) { return v / (1.0 + std::exp(-v)); }
double gelu_d(double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }
double sigmoid_d(double v) { return 1.0 / (1.0 + std::exp(-v)); }
double exp_d(double v) { return std::exp(v); }

TEST(OpsActivation, MatchesDoubleFormulas) {
    Tensor x = random_tensor({3, 7, 13}, 1, -10.f, 10.f);
    EXPECT_LT(max_err(ops::silu(x), map_ref(x, silu_d)), 5e-6);
    EXPECT_LT(max_err(ops::gelu(x), map_ref(x, gelu_d)), 5e-6);
    EXPECT_LT(max_err(ops::sigmoid(x), map_ref(x, sigmoid_d)), 1e-7);
    Tensor xs = random_tensor({5, 9}, 2, -5.f, 5.f);
    auto ref = map_ref(xs, exp_d);
    EXPECT_LT(max_err(ops::exp(strided_copy(xs)), ref), 1e-6 * max_abs(ref));
}

TEST(OpsActivation, HandValues) {
    auto g = ops::gelu(Tensor::from_vector({0.f, 1.f, -1.f}, {3})).to_vector();
    EXPECT_FLOAT_EQ(g[0], 0.f);
    EXPECT_FLOAT_EQ(g[1], 0.8413447460685429f);   // Phi(1)
    EXPECT_FLOAT_EQ(g[2], -0.15865525393145707f);  // -(1 - Phi(1))
    auto s = ops::silu(Tensor::from_vector({1.f, -100.f}, {2})).to_vector();
    EXPECT_FLOAT_EQ(s[0], 0.7310585786300049f);
    EXPECT_NEAR(s[1], 0.f, 1e-30);
    EXPECT_FLOAT_EQ(ops::sigmoid(Tensor::from_vector({0.f}, {1})).item(), 0.5f);
    EXPECT_FLOAT_EQ(ops::exp(Tensor::from_vector({1.f}, {1})).item(), 2.7182817f);
}

TEST(OpsGeglu, ValueFirstGateSecond) {
    Tensor x = random_tensor({2, 3, 10}, 3, -3.f, 3.f);
    Tensor y = ops::geglu(x);
    ASSERT_EQ(y.shape(), (Shape{2, 3, 5}));
    auto X = as_double(x);
    std::vector<double> ref;
    for (int64_t r = 0; r < 6; ++r)
        for (int64_t i = 0; i < 5; ++i) ref.push_back(X[size_t(r * 10 + i)] * gelu_d(X[size_t(r * 10 + 5 + i)]));
    EXPECT_LT(max_err(y, ref), 5e-6);
    // value 2, gate 1 -> 2 * gelu(1)
    EXPECT_FLOAT_EQ(ops::geglu(Tensor::from_vector({2.f, 1.f}, {1, 2})).item(), 2.f * 0.8413447460685429f);
    EXPECT_THROW(ops::geglu(random_tensor({2, 5}, 4)), Error);
}

TEST(OpsSoftmax, MatchesNaiveAndHandlesInfinities) {
    Tensor x = random_tensor({4, 33}, 5, -8.f, 8.f);
    auto X = as_double(x);
    std::vector<double> ref(X.size());
    for (int64_t r = 0; r < 4; ++r) {
        double mx = -1e300, sum = 0;
        for (int64_t i = 0; i < 33; ++i) mx = std::max(mx, X[size_t(r * 33 + i)]);
        for (int64_t i = 0; i < 33; ++i) sum += std::exp(X[size_t(r * 33 + i)] - mx);
        for (int64_t i = 0; i < 33; ++i) ref[size_t(r * 33 + i)] = std::exp(X[size_t(r * 33 + i)] - mx) / sum;
    }
    EXPECT_LT(max_err(ops::softmax(strided_copy(x)), ref), 1e-6);

    // Large logits stay finite (max subtraction); -inf entries get probability 0 (a causal mask row).
    auto y = ops::softmax(Tensor::from_vector({1000.f, 1000.f, -kInf}, {1, 3})).to_vector();
    EXPECT_FLOAT_EQ(y[0], 0.5f);
    EXPECT_FLOAT_EQ(y[1], 0.5f);
    EXPECT_EQ(y[2], 0.f);
    // A row of only -inf is NaN in torch; it must not crash here.
    auto z = ops::softmax(Tensor::from_vector({-kInf, -kInf}, {1, 2})).to_vector();
    EXPECT_TRUE(std::isnan(z[0]) && std::isnan(z[1]));
    // Hand value: softmax([0, ln 3]) = [0.25, 0.75].
    auto h = ops::softmax(Tensor::from_vector({0.f, float(std::log(3.0))}, {2})).to_vector();
    EXPECT_NEAR(h[0], 0.25, 1e-7);
    EXPECT_NEAR(h[1], 0.75, 1e-7);
}

TEST(OpsActivation, RejectsNonF32) {
    Tensor h = random_tensor({4}, 6).to(DType::F16);
    EXPECT_THROW(ops::silu(h), Error);
    EXPECT_THROW(ops::softmax(h), Error);
    try {
        ops::gelu(h);
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("F16"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace tc::test
