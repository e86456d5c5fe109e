// Noise sources: the Philox generator (known-answer vectors of Random123, determinism, independence of
// draw shapes, moments) and the replay of recorded noise (order, shape checks, exhaustion).
#include <cmath>
#include <cstdio>

#include "pipeline/noise.h"
#include "test_util.h"

TEST(Noise, PhiloxKnownAnswers) {
    // Random123 kat_vectors, philox4x32 with 10 rounds.
    using A4 = std::array<uint32_t, 4>;
    EXPECT_EQ(tc::SeededNoise::philox({0, 0, 0, 0}, {0, 0}), (A4{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
    EXPECT_EQ(tc::SeededNoise::philox({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}),
              (A4{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
    EXPECT_EQ(tc::SeededNoise::philox({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}),
              (A4{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(Noise, SeededIsDeterministic) {
    tc::SeededNoise a(42), b(42), c(43);
    for (int i = 0; i < 3; ++i) {
        tc::Tensor x = a.next({2, 4, 3, 5}), y = b.next({2, 4, 3, 5}), z = c.next({2, 4, 3, 5});
        EXPECT_EQ(x.shape(), (tc::Shape{2, 4, 3, 5}));
        EXPECT_EQ(x.dtype(), tc::DType::F32);
        EXPECT_EQ(tc::test::max_abs_diff(x, y), 0.0);
        EXPECT_GT(tc::test::max_abs_diff(x, z), 0.1);
    }
    // Successive draws differ.
    tc::SeededNoise d(7);
    EXPECT_GT(tc::test::max_abs_diff(d.next({64}), d.next({64})), 0.1);
}

TEST(Noise, DrawDependsOnlyOnSeedAndIndex) {
    // The second draw is the same whatever the first draw's shape; a shorter draw is a prefix of a longer one.
    tc::SeededNoise a(5), b(5);
    a.next({10});
    b.next({3});
    tc::Tensor x = a.next({7}), y = b.next({9});
    auto xv = x.to_vector(), yv = y.to_vector();
    for (size_t i = 0; i < xv.size(); ++i) EXPECT_EQ(xv[i], yv[i]) << i;
}

TEST(Noise, SeededMoments) {
    tc::SeededNoise g(123);
    auto v = g.next({200000}).to_vector();
    double mean = 0, m2 = 0, m4 = 0, mx = 0;
    for (float x : v) {
        ASSERT_TRUE(std::isfinite(x));
        mean += x;
        mx = std::max(mx, double(std::abs(x)));
    }
    mean /= double(v.size());
    for (float x : v) {
        m2 += (x - mean) * (x - mean);
        m4 += std::pow(x - mean, 4);
    }
    m2 /= double(v.size());
    m4 /= double(v.size());
    std::printf("[noise] mean %.4f var %.4f kurtosis %.3f max|x| %.2f\n", mean, m2, m4 / (m2 * m2), mx);
    EXPECT_NEAR(mean, 0.0, 0.01);
    EXPECT_NEAR(m2, 1.0, 0.02);
    EXPECT_NEAR(m4 / (m2 * m2), 3.0, 0.1);
    EXPECT_GT(mx, 3.5);
}

TEST(Noise, RecordedReplaysInOrder) {
    tc::Tensor a = tc::Tensor::from_vector({1, 2, 3, 4}, {2, 2});
    tc::Tensor b = tc::Tensor::from_vector({5, 6, 7}, {3});
    tc::RecordedNoise r({a, b}, "test");
    EXPECT_EQ(r.size(), 2u);
    EXPECT_EQ(tc::test::max_abs_diff(r.next({2, 2}), a), 0.0);
    EXPECT_THROW(r.next({4}), tc::Error);  // shape mismatch with b
    EXPECT_EQ(tc::test::max_abs_diff(r.next({3}), b), 0.0);
    EXPECT_THROW(r.next({3}), tc::Error);  // exhausted
    EXPECT_EQ(r.used(), 2u);
}

TEST(Noise, RecordedFromGoldenFile) {
    TC_REQUIRE_SHARED(path, "golden/tiny/e2e/e2e.safetensors");
    tc::RecordedNoise r(path);
    EXPECT_EQ(r.size(), 6u);  // noise_00 .. noise_05
    EXPECT_EQ(r.next({8, 4, 8, 8}).shape(), (tc::Shape{8, 4, 8, 8}));
    for (int i = 0; i < 5; ++i) EXPECT_EQ(r.next({1, 4, 8, 8, 8}).numel(), 2048);
    EXPECT_THROW(r.next({1}), tc::Error);
}

TEST(Noise, RecordedFileWithoutNoiseIsAnError) {
    TC_REQUIRE_SHARED(path, "golden/tiny/cases/g_ddim_schedule.safetensors");
    EXPECT_THROW(tc::RecordedNoise r(path), tc::Error);
}
