// group_norm and layer_norm on the CPU backend against naive double loops, including single-element
// groups (channels == groups at 1x1), 5-D input, a large mean (where a one-pass float variance fails),
// fused activations, hand values and errors.
#include <cmath>

#include "ops_test_helpers.h"

namespace tc::test {
namespace {

double act_ref(double v, Activation act) {
    switch (act) {
        case Activation::None: return v;
        case Activation::SiLU: return v / (1.0 + std::exp(-v));
        case Activation::GELU: return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    }
    return v;
}

std::vector<double> group_norm_ref(const Tensor& x, int64_t G, const Tensor* gamma, const Tensor* beta, double eps,
                                   Activation act) {
    const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C), Cg = C / G, n = Cg * S;
    auto X = as_double(x);
    std::vector<double> y(X.size());
    for (int64_t b = 0; b < N; ++b)
        for (int64_t g = 0; g < G; ++g) {
            const size_t base = size_t((b * C + g * Cg) * S);
            double mean = 0, var = 0;
            for (int64_t i = 0; i < n; ++i) mean += X[base + size_t(i)];
            mean /= double(n);
            for (int64_t i = 0; i < n; ++i) var += (X[base + size_t(i)] - mean) * (X[base + size_t(i)] - mean);
            var /= double(n);
            for (int64_t i = 0; i < n; ++i) {
                const int64_t c = g * Cg + i / S;
                double v = (X[base + size_t(i)] - mean) / std::sqrt(var + eps);
                if (gamma) v = v * double(gamma->to_vector()[size_t(c)]);
                if (beta) v = v + double(beta->to_vector()[size_t(c)]);
                y[base + size_t(i)] = act_ref(v, act);
            }
        }
    return y;
}

TEST(OpsGroupNorm, MatchesNaive) {
    Tensor x = random_tensor({2, 8, 5, 3}, 1, -2.f, 3.f);
    Tensor gamma = random_tensor({8}, 2, 0.5f, 1.5f), beta = random_tensor({8}, 3);
    for (Activation act : {Activation::None, Activation::SiLU, Activation::GELU}) {
        Tensor y = ops::group_norm(x, 4, &gamma, &beta, 1e-5f, act);
        EXPECT_LT(max_err(y, group_norm_ref(x, 4, &gamma, &beta, 1e-5, act)), 2e-6);
    }
    // 5-D [N, C, T, H, W], eps 1e-6, no affine, strided input.
    Tensor x5 = random_tensor({1, 6, 3, 2, 5}, 4);
    EXPECT_LT(max_err(ops::group_norm(strided_copy(x5), 3, nullptr, nullptr, 1e-6f),
                      group_norm_ref(x5, 3, nullptr, nullptr, 1e-6, Activation::None)),
              2e-6);
    // Only gamma.
    EXPECT_LT(max_err(ops::group_norm(x, 2, &gamma, nullptr, 1e-5f),
                      group_norm_ref(x, 2, &gamma, nullptr, 1e-5, Activation::None)),
              2e-6);
}

TEST(OpsGroupNorm, SingleElementGroupsGiveBeta) {
    // channels == groups at 1x1: every group is one value, so (x - mean) = 0 and the output is beta.
    Tensor x = random_tensor({2, 4, 1, 1}, 5, -5.f, 5.f);
    Tensor gamma = random_tensor({4}, 6), beta = Tensor::from_vector({0.5f, -1.f, 2.f, 0.f}, {4});
    auto y = ops::group_norm(x, 4, &gamma, &beta, 1e-5f).to_vector();
    for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], beta.to_vector()[i % 4]);
    auto ys = ops::group_norm(x, 4, &gamma, &beta, 1e-5f, Activation::SiLU).to_vector();
    EXPECT_NEAR(ys[0], 0.5 / (1 + std::exp(-0.5)), 1e-7);
}

TEST(OpsGroupNorm, HandValuesAndTinyGroups) {
    // One group of [1, 3]: mean 2, biased variance 1, so the output is -+1/sqrt(1 + eps).
    Tensor x = Tensor::from_vector({1, 3}, {1, 2, 1});
    auto y = ops::group_norm(x, 1, nullptr, nullptr, 1e-5f).to_vector();
    EXPECT_NEAR(y[0], -1.0 / std::sqrt(1.0 + 1e-5), 1e-7);
    EXPECT_NEAR(y[1], 1.0 / std::sqrt(1.0 + 1e-5), 1e-7);
    // Groups of 2 elements far from zero (mean 1000, spread 1e-2): a float32 one-pass variance loses
    // every digit here; the double statistics keep the output exact to float rounding.
    Tensor big = random_tensor({1, 64, 1, 1}, 7, 999.99f, 1000.01f);
    Tensor y2 = ops::group_norm(big, 32, nullptr, nullptr, 1e-6f);
    EXPECT_LT(max_err(y2, group_norm_ref(big, 32, nullptr, nullptr, 1e-6, Activation::None)), 1e-4);
}

TEST(OpsGroupNorm, Errors) {
    Tensor x = random_tensor({1, 6, 2, 2}, 1);
    EXPECT_THROW(ops::group_norm(x, 4, nullptr, nullptr, 1e-5f), Error);
    Tensor g5 = random_tensor({5}, 2);
    EXPECT_THROW(ops::group_norm(x, 3, &g5, nullptr, 1e-5f), Error);
    EXPECT_THROW(ops::group_norm(random_tensor({6}, 1), 3, nullptr, nullptr, 1e-5f), Error);
}

std::vector<double> layer_norm_ref(const Tensor& x, const Tensor* gamma, const Tensor* beta, double eps) {
    const int64_t D = x.size(-1), rows = x.numel() / D;
    auto X = as_double(x);
    std::vector<double> y(X.size());
    for (int64_t r = 0; r < rows; ++r) {
        double mean = 0, var = 0;
        for (int64_t i = 0; i < D; ++i) mean += X[size_t(r * D + i)];
        mean /= double(D);
        for (int64_t i = 0; i < D; ++i) var += std::pow(X[size_t(r * D + i)] - mean, 2);
        var /= double(D);
        for (int64_t i = 0; i < D; ++i) {
            double v = (X[size_t(r * D + i)] - mean) / std::sqrt(var + eps);
            if (gamma) v *= gamma->to_vector()[size_t(i)];
            if (beta) v += beta->to_vector()[size_t(i)];
            y[size_t(r * D + i)] = v;
        }
    }
    return y;
}

TEST(OpsLayerNorm, MatchesNaive) {
    Tensor x = random_tensor({3, 7, 13}, 10, -3.f, 2.f);
    Tensor gamma = random_tensor({13}, 11), beta = random_tensor({13}, 12);
    EXPECT_LT(max_err(ops::layer_norm(x, &gamma, &beta, 1e-5f), layer_norm_ref(x, &gamma, &beta, 1e-5)), 2e-6);
    EXPECT_LT(max_err(ops::layer_norm(strided_copy(x), nullptr, nullptr, 1e-6f), layer_norm_ref(x, nullptr, nullptr, 1e-6)),
              2e-6);
}

TEST(OpsLayerNorm, HandValuesAndErrors) {
    auto y = ops::layer_norm(Tensor::from_vector({1, 2, 3}, {1, 3}), nullptr, nullptr, 0.f).to_vector();
    EXPECT_NEAR(y[0], -std::sqrt(1.5), 1e-6);
    EXPECT_NEAR(y[1], 0.0, 1e-7);
    EXPECT_NEAR(y[2], std::sqrt(1.5), 1e-6);
    Tensor g = random_tensor({4}, 1);
    EXPECT_THROW(ops::layer_norm(random_tensor({2, 3}, 2), &g, nullptr, 1e-5f), Error);
}

}  // namespace
}  // namespace tc::test
