// timestep_embedding on the CPU backend: hand values (t = 0, dim 4), the odd-dim zero column, the
// float32 argument rounding torch applies, I64 timesteps and errors.
#include <cmath>

#include "ops_test_helpers.h"

namespace tc::test {
namespace {

TEST(OpsTimestepEmbedding, ZeroTimestepIsCosOneSinZero) {
    Tensor y = ops::timestep_embedding(Tensor::from_vector({0.f}, {1}), 8);
    EXPECT_EQ(y.to_vector(), (std::vector<float>{1, 1, 1, 1, 0, 0, 0, 0}));
}

TEST(OpsTimestepEmbedding, HandValuesDim4) {
    // half = 2: f = [1, exp(-ln(10000) / 2)] = [1, 0.01]; layout [cos(t f0), cos(t f1), sin(t f0), sin(t f1)].
    auto y = ops::timestep_embedding(Tensor::from_vector({1.f}, {1}), 4).to_vector();
    EXPECT_NEAR(y[0], std::cos(1.0), 1e-7);
    EXPECT_NEAR(y[1], std::cos(0.01), 1e-7);
    EXPECT_NEAR(y[2], std::sin(1.0), 1e-7);
    EXPECT_NEAR(y[3], std::sin(0.01), 1e-7);
}

TEST(OpsTimestepEmbedding, OddDimPadsOneZeroColumn) {
    Tensor y = ops::timestep_embedding(Tensor::from_vector({0.f, 5.f}, {2}), 7);
    ASSERT_EQ(y.shape(), (Shape{2, 7}));
    auto Y = y.to_vector();
    EXPECT_EQ(Y[6], 0.f);
    EXPECT_EQ(Y[13], 0.f);
    EXPECT_NEAR(Y[7], std::cos(5.0), 1e-6);  // k = 0: f = 1
    EXPECT_NEAR(Y[10], std::sin(5.0), 1e-6);
    EXPECT_EQ(ops::timestep_embedding(Tensor::from_vector({3.f}, {1}), 1).to_vector(), (std::vector<float>{0.f}));
}

TEST(OpsTimestepEmbedding, FollowsTorchFloat32Arithmetic) {
    const std::vector<float> ts = {0, 1, 10, 24, 249, 499, 749, 999};
    const int64_t dim = 128, half = 64;
    Tensor y = ops::timestep_embedding(Tensor::from_vector(ts, {int64_t(ts.size())}), dim);
    // Reference: the float32 argument exactly as torch forms it, then cos/sin in double.
    const float neg_log = float(-std::log(10000.0));
    std::vector<double> ref, exact;
    for (float t : ts) {
        std::vector<double> c, s, ce, se;
        for (int64_t k = 0; k < half; ++k) {
            const float f = std::exp(float(k) * neg_log / float(half));
            const float arg = t * f;
            c.push_back(std::cos(double(arg)));
            s.push_back(std::sin(double(arg)));
            const double arg_d = double(t) * std::exp(-std::log(10000.0) * double(k) / double(half));
            ce.push_back(std::cos(arg_d));
            se.push_back(std::sin(arg_d));
        }
        ref.insert(ref.end(), c.begin(), c.end());
        ref.insert(ref.end(), s.begin(), s.end());
        exact.insert(exact.end(), ce.begin(), ce.end());
        exact.insert(exact.end(), se.begin(), se.end());
    }
    EXPECT_LT(max_err(y, ref), 1e-6);
    // Against the exact real-number embedding the float32 arguments (up to ~1000) differ by up to ~1e-4.
    EXPECT_LT(max_err(y, exact), 3e-4);
}

TEST(OpsTimestepEmbedding, AcceptsI64AndRejectsBadInput) {
    Tensor a = ops::timestep_embedding(Tensor::from_vector_i64({749, 3}, {2}), 16);
    Tensor b = ops::timestep_embedding(Tensor::from_vector({749.f, 3.f}, {2}), 16);
    EXPECT_EQ(a.to_vector(), b.to_vector());
    EXPECT_THROW(ops::timestep_embedding(Tensor::from_vector({1, 2}, {1, 2}), 8), Error);
    EXPECT_THROW(ops::timestep_embedding(Tensor::from_vector({1}, {1}), 0), Error);
    EXPECT_THROW(ops::timestep_embedding(Tensor::from_vector({1}, {1}).to(DType::F16), 8), Error);
}

}  // namespace
}  // namespace tc::test
