// Scaled dot-product attention on the CPU backend against a naive double implementation: Lq != Lk,
// a causal -inf mask, a random additive mask, Dv != D, strided (permuted) inputs, a long key sequence
// that needs several query chunks, a hand-checked uniform case and errors.
#include <cmath>
#include <limits>

#include "ops_test_helpers.h"

namespace tc::test {
namespace {

std::vector<double> attention_ref(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, double scale) {
    const int64_t B = q.size(0), H = q.size(1), Lq = q.size(2), D = q.size(3), Lk = k.size(2), Dv = v.size(3);
    auto Q = as_double(q), K = as_double(k), V = as_double(v);
    std::vector<double> M = mask ? as_double(*mask) : std::vector<double>();
    std::vector<double> out(size_t(B * H * Lq * Dv), 0.0), s(static_cast<size_t>(Lk));
    for (int64_t bh = 0; bh < B * H; ++bh)
        for (int64_t i = 0; i < Lq; ++i) {
            double mx = -std::numeric_limits<double>::infinity();
            for (int64_t j = 0; j < Lk; ++j) {
                double d = 0;
                for (int64_t c = 0; c < D; ++c) d += Q[size_t((bh * Lq + i) * D + c)] * K[size_t((bh * Lk + j) * D + c)];
                s[size_t(j)] = d * scale + (mask ? M[size_t(i * Lk + j)] : 0.0);
                mx = std::max(mx, s[size_t(j)]);
            }
            double sum = 0;
            for (int64_t j = 0; j < Lk; ++j) sum += (s[size_t(j)] = std::exp(s[size_t(j)] - mx));
            for (int64_t j = 0; j < Lk; ++j)
                for (int64_t c = 0; c < Dv; ++c)
                    out[size_t((bh * Lq + i) * Dv + c)] += s[size_t(j)] / sum * V[size_t((bh * Lk + j) * Dv + c)];
        }
    return out;
}

TEST(OpsAttention, NoMaskLqDifferentFromLk) {
    Tensor q = random_tensor({2, 3, 7, 8}, 1), k = random_tensor({2, 3, 13, 8}, 2), v = random_tensor({2, 3, 13, 8}, 3);
    const float scale = 1.f / std::sqrt(8.f);
    Tensor y = ops::attention(q, k, v, nullptr, scale);
    ASSERT_EQ(y.shape(), (Shape{2, 3, 7, 8}));
    EXPECT_LT(max_err(y, attention_ref(q, k, v, nullptr, scale)), 2e-6);
}

TEST(OpsAttention, CausalMask) {
    const int64_t L = 9;
    std::vector<float> m(size_t(L * L), 0.f);
    for (int64_t i = 0; i < L; ++i)
        for (int64_t j = i + 1; j < L; ++j) m[size_t(i * L + j)] = -std::numeric_limits<float>::infinity();
    Tensor mask = Tensor::from_vector(m, {L, L});
    Tensor q = random_tensor({1, 2, L, 4}, 4), k = random_tensor({1, 2, L, 4}, 5), v = random_tensor({1, 2, L, 4}, 6);
    Tensor y = ops::attention(q, k, v, &mask, 0.5f);
    EXPECT_LT(max_err(y, attention_ref(q, k, v, &mask, 0.5)), 2e-6);
    // The first query sees only the first key: its output is v[0].
    auto Y = y.to_vector(), Vv = v.to_vector();
    for (int c = 0; c < 4; ++c) EXPECT_FLOAT_EQ(Y[size_t(c)], Vv[size_t(c)]);
}

TEST(OpsAttention, AdditiveMaskValueDimAndStridedInputs) {
    // Model code produces q/k/v as permuted views of [B, L, H, D].
    Tensor q4 = random_tensor({2, 5, 3, 6}, 7), k4 = random_tensor({2, 11, 3, 6}, 8), v4 = random_tensor({2, 11, 3, 4}, 9);
    Tensor q = q4.permute({0, 2, 1, 3}), k = k4.permute({0, 2, 1, 3}), v = v4.permute({0, 2, 1, 3});
    Tensor mask = random_tensor({5, 11}, 10, -2.f, 2.f);
    Tensor y = ops::attention(q, k, v, &mask, 0.3f);
    ASSERT_EQ(y.shape(), (Shape{2, 3, 5, 4}));
    EXPECT_LT(max_err(y, attention_ref(q.contiguous(), k.contiguous(), v.contiguous(), &mask, 0.3)), 2e-6);
}

TEST(OpsAttention, LongKeySequenceIsChunked) {
    // Lk = 8192 gives query chunks of 128 rows: 300 queries take three chunks, the last one partial.
    Tensor q = random_tensor({1, 1, 300, 4}, 11, -2.f, 2.f), k = random_tensor({1, 1, 8192, 4}, 12, -2.f, 2.f);
    Tensor v = random_tensor({1, 1, 8192, 4}, 13);
    Tensor y = ops::attention(q, k, v, nullptr, 1.f);
    EXPECT_LT(max_err(y, attention_ref(q, k, v, nullptr, 1.0)), 2e-6);
}

TEST(OpsAttention, UniformWeightsAverageValues) {
    Tensor q = Tensor::zeros({1, 1, 2, 3});
    Tensor k = random_tensor({1, 1, 4, 3}, 14);
    Tensor v = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8}, {1, 1, 4, 2});
    EXPECT_EQ(ops::attention(q, k, v, nullptr, 1.f).to_vector(), (std::vector<float>{4, 5, 4, 5}));
}

TEST(OpsAttention, Errors) {
    Tensor q = random_tensor({1, 2, 3, 4}, 1), k = random_tensor({1, 2, 5, 4}, 2), v = random_tensor({1, 2, 5, 4}, 3);
    EXPECT_THROW(ops::attention(q, random_tensor({1, 2, 5, 3}, 4), v, nullptr, 1.f), Error);  // D
    EXPECT_THROW(ops::attention(q, k, random_tensor({1, 2, 6, 4}, 5), nullptr, 1.f), Error);  // Lk of v
    EXPECT_THROW(ops::attention(q, random_tensor({2, 2, 5, 4}, 6), v, nullptr, 1.f), Error);  // batch
    Tensor bad_mask = random_tensor({5, 3}, 7);
    EXPECT_THROW(ops::attention(q, k, v, &bad_mask, 1.f), Error);
    EXPECT_THROW(ops::attention(random_tensor({2, 3, 4}, 8), k, v, nullptr, 1.f), Error);
}

}  // namespace
}  // namespace tc::test
