// linear and bmm on the CPU backend against naive double loops, plus hand-checked values and errors.
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

std::vector<double> linear_ref(const Tensor& x, const Tensor& w, const Tensor* b, Activation act) {
    const int64_t in = w.size(1), out = w.size(0), rows = x.numel() / in;
    auto X = as_double(x), W = as_double(w);
    std::vector<double> B = b ? as_double(*b) : std::vector<double>(size_t(out), 0.0);
    std::vector<double> y(size_t(rows * out));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = 0; o < out; ++o) {
            double s = B[size_t(o)];
            for (int64_t i = 0; i < in; ++i) s += X[size_t(r * in + i)] * W[size_t(o * in + i)];
            y[size_t(r * out + o)] = act_ref(s, act);
        }
    return y;
}

TEST(OpsLinear, MatchesNaiveWithBiasAndActivations) {
    Tensor x = random_tensor({2, 7, 13}, 1);
    Tensor w = random_tensor({33, 13}, 2);
    Tensor b = random_tensor({33}, 3);
    for (Activation act : {Activation::None, Activation::SiLU, Activation::GELU}) {
        Tensor y = ops::linear(x, w, &b, act);
        EXPECT_EQ(y.shape(), (Shape{2, 7, 33}));
        EXPECT_LT(max_err(y, linear_ref(x, w, &b, act)), 1e-5);
    }
}

TEST(OpsLinear, NoBiasBatchOneAndStridedInputs) {
    Tensor x = random_tensor({1, 9}, 4);
    Tensor w = random_tensor({5, 9}, 5);
    EXPECT_LT(max_err(ops::linear(x, w), linear_ref(x, w, nullptr, Activation::None)), 1e-5);
    Tensor xs = random_tensor({3, 8, 8}, 6);
    Tensor ws = random_tensor({8, 8}, 7);
    Tensor y = ops::linear(strided_copy(xs), strided_copy(ws));
    EXPECT_LT(max_err(y, linear_ref(xs, ws, nullptr, Activation::None)), 1e-5);
}

TEST(OpsLinear, HandValues) {
    Tensor x = Tensor::from_vector({1, 2}, {1, 2});
    Tensor w = Tensor::from_vector({1, 0, 0, 1, 1, 1}, {3, 2});
    Tensor b = Tensor::from_vector({0.5f, 0.f, -1.f}, {3});
    EXPECT_EQ(ops::linear(x, w, &b).to_vector(), (std::vector<float>{1.5f, 2.f, 2.f}));
    // SiLU(0) = 0, GELU(0) = 0, SiLU(2) = 2 * sigmoid(2)
    Tensor z = Tensor::from_vector({0, 2}, {1, 2});
    Tensor eye = Tensor::from_vector({1, 0, 0, 1}, {2, 2});
    auto s = ops::linear(z, eye, nullptr, Activation::SiLU).to_vector();
    EXPECT_FLOAT_EQ(s[0], 0.f);
    EXPECT_NEAR(s[1], 2.0 / (1.0 + std::exp(-2.0)), 1e-6);
}

TEST(OpsLinear, Errors) {
    Tensor x = random_tensor({2, 4}, 8);
    EXPECT_THROW(ops::linear(x, random_tensor({3, 5}, 9)), Error);
    Tensor bad_bias = random_tensor({4}, 10);
    EXPECT_THROW(ops::linear(x, random_tensor({3, 4}, 9), &bad_bias), Error);
    EXPECT_THROW(ops::linear(x, random_tensor({3, 4, 1}, 9)), Error);
    EXPECT_THROW(ops::linear(x.to(DType::F16), random_tensor({3, 4}, 9)), Error);
    try {
        ops::linear(x, random_tensor({3, 5}, 9));
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("linear"), std::string::npos) << e.what();
    }
}

TEST(OpsBmm, AllTransposeCombinations) {
    const int64_t B = 3, M = 7, K = 13, N = 5;
    for (bool ta : {false, true})
        for (bool tb : {false, true}) {
            Tensor a = random_tensor(ta ? Shape{B, K, M} : Shape{B, M, K}, 11);
            Tensor b = random_tensor(tb ? Shape{B, N, K} : Shape{B, K, N}, 12);
            Tensor y = ops::bmm(a, b, ta, tb, 0.5f);
            ASSERT_EQ(y.shape(), (Shape{B, M, N}));
            auto A = as_double(a), Bv = as_double(b);
            std::vector<double> ref(size_t(B * M * N));
            for (int64_t i = 0; i < B; ++i)
                for (int64_t m = 0; m < M; ++m)
                    for (int64_t n = 0; n < N; ++n) {
                        double s = 0;
                        for (int64_t k = 0; k < K; ++k) {
                            double av = ta ? A[size_t((i * K + k) * M + m)] : A[size_t((i * M + m) * K + k)];
                            double bv = tb ? Bv[size_t((i * N + n) * K + k)] : Bv[size_t((i * K + k) * N + n)];
                            s += av * bv;
                        }
                        ref[size_t((i * M + m) * N + n)] = 0.5 * s;
                    }
            EXPECT_LT(max_err(y, ref), 1e-5) << "trans_a " << ta << " trans_b " << tb;
        }
}

TEST(OpsBmm, Errors) {
    EXPECT_THROW(ops::bmm(random_tensor({2, 3, 4}, 1), random_tensor({3, 4, 5}, 2)), Error);  // batch
    EXPECT_THROW(ops::bmm(random_tensor({2, 3, 4}, 1), random_tensor({2, 5, 5}, 2)), Error);  // K
    EXPECT_THROW(ops::bmm(random_tensor({3, 4}, 1), random_tensor({4, 5}, 2)), Error);        // rank
}

}  // namespace
}  // namespace tc::test
