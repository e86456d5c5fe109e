// Monge-Kantorovich linear colour transfer (pipeline/color_correction.h) on synthetic images whose answer
// is known.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <algorithm>
#include <cstring>
#include <functional>

#include "pipeline/color_correction.h"

namespace {

using tc::Tensor;

// A [H, W, 3] U8 image with correlated channels, values kept inside [lo, hi].
Tensor random_image(int64_t H, int64_t W, uint32_t seed, int lo = 40, int hi = 200) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> d(0, 1000);
    Tensor t = Tensor::empty({H, W, 3}, tc::DType::U8);
    uint8_t* p = t.data<uint8_t>();
    for (int64_t i = 0; i < H * W; ++i) {
        const double a = d(rng) / 1000.0, b = d(rng) / 1000.0, c = d(rng) / 1000.0;
        const double rgb[3] = {0.7 * a + 0.3 * b, 0.5 * a + 0.5 * c, 0.2 * a + 0.3 * b + 0.5 * c};
        for (int k = 0; k < 3; ++k) p[i * 3 + k] = uint8_t(std::lround(lo + (hi - lo) * rgb[k]));
    }
    return t;
}

Tensor map_pixels(const Tensor& img, const std::function<double(int c, double v)>& f) {
    Tensor t = Tensor::empty(img.shape(), tc::DType::U8);
    const uint8_t* p = img.data<uint8_t>();
    uint8_t* q = t.data<uint8_t>();
    for (int64_t i = 0; i < img.numel(); ++i) q[i] = uint8_t(std::lround(std::clamp(f(int(i % 3), p[i]), 0.0, 255.0)));
    return t;
}

int max_diff(const Tensor& a, const Tensor& b) {
    EXPECT_EQ(a.shape(), b.shape());
    int m = 0;
    for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(int(a.data<uint8_t>()[i]) - int(b.data<uint8_t>()[i])));
    return m;
}

TEST(ColorCorrection, IdentityWhenFrameIsReference) {
    const Tensor img = random_image(48, 40, 1);
    const Tensor out = tc::mkl_transfer(img, tc::color_stats(img));
    EXPECT_LE(max_diff(out, img), 1);
    const auto t = tc::mkl_matrix(tc::color_stats(img), tc::color_stats(img));
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) EXPECT_NEAR(t[size_t(i * 3 + j)], i == j ? 1.0 : 0.0, 1e-6);
}

TEST(ColorCorrection, PureColourShift) {
    const Tensor ref = random_image(32, 32, 2);
    const double shift[3] = {25, -30, 12};
    const Tensor frame = map_pixels(ref, [&](int c, double v) { return v + shift[c]; });  // no clipping: 40..200
    EXPECT_LE(max_diff(tc::mkl_transfer(frame, tc::color_stats(ref)), ref), 1);
}

TEST(ColorCorrection, PurePerChannelScaling) {
    const Tensor frame = random_image(32, 32, 3, 60, 120);
    const double scale[3] = {1.8, 0.6, 1.3};
    // Reference: each channel scaled about its mean (so values stay in range); the answer is that image.
    const tc::ColorStats fs = tc::color_stats(frame);
    const Tensor ref = map_pixels(frame, [&](int c, double v) { return fs.mean[size_t(c)] + scale[c] * (v - fs.mean[size_t(c)]); });
    const auto t = tc::mkl_matrix(fs, tc::color_stats(ref));
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(t[size_t(c * 4)], scale[c], 0.02);  // rounding of ref moves it slightly
    EXPECT_LE(max_diff(tc::mkl_transfer(frame, tc::color_stats(ref)), ref), 1);
}

TEST(ColorCorrection, FlatFrameTakesReferenceMean) {
    Tensor flat = map_pixels(random_image(8, 8, 4), [](int, double) { return 100.0; });
    const tc::ColorStats ref = tc::color_stats(random_image(8, 8, 5));
    const Tensor out = tc::mkl_transfer(flat, ref);
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(out.data<uint8_t>()[c], ref.mean[size_t(c)], 0.5 + 1e-9);
}

TEST(ColorCorrection, SegmentEndsKeepTheirKeyframesColours) {
    // A reddish first keyframe, a bluish last one, and "generated" frames with neutral, wrong colours.
    const Tensor base = random_image(24, 24, 6);
    const Tensor red = map_pixels(base, [](int c, double v) { return c == 0 ? v + 50 : v - 30; });
    const Tensor blue = map_pixels(base, [](int c, double v) { return c == 2 ? v + 50 : v - 30; });
    const int64_t T = 8;
    Tensor frames = Tensor::empty({T, 24, 24, 3}, tc::DType::U8);
    for (int64_t k = 0; k < T; ++k) {
        const Tensor f = map_pixels(base, [&](int, double v) { return v * 0.8 + 10 + k; });
        std::memcpy(frames.data<uint8_t>() + k * f.numel(), f.data<uint8_t>(), size_t(f.numel()));
    }
    const tc::ColorStats sr = tc::color_stats(red), sb = tc::color_stats(blue);
    const Tensor out = tc::color_correct_segment(frames, sr, sb);
    ASSERT_EQ(out.shape(), frames.shape());
    const tc::ColorStats first = tc::color_stats(out.select(0, 0)), last = tc::color_stats(out.select(0, T - 1));
    const tc::ColorStats mid = tc::color_stats(out.select(0, T / 2));
    for (int c = 0; c < 3; ++c) {
        EXPECT_NEAR(first.mean[size_t(c)], sr.mean[size_t(c)], 0.6) << "channel " << c;
        EXPECT_NEAR(last.mean[size_t(c)], sb.mean[size_t(c)], 0.6) << "channel " << c;
    }
    // The start is red-dominant, the end blue-dominant, the middle in between.
    EXPECT_GT(first.mean[0], first.mean[2] + 60);
    EXPECT_GT(last.mean[2], last.mean[0] + 60);
    EXPECT_LT(std::abs(mid.mean[0] - mid.mean[2]), 25);
    // Frame 0 is the red keyframe's image up to rounding (same structure, matched statistics).
    EXPECT_LE(max_diff(out.select(0, 0).contiguous(), red), 2);
}

TEST(ColorCorrection, LerpStatsEnds) {
    const tc::ColorStats a = tc::color_stats(random_image(8, 8, 7)), b = tc::color_stats(random_image(8, 8, 8));
    const tc::ColorStats m0 = tc::lerp_stats(a, b, 0.0), m1 = tc::lerp_stats(a, b, 1.0);
    for (size_t i = 0; i < 9; ++i) {
        EXPECT_DOUBLE_EQ(m0.cov[i], a.cov[i]);
        EXPECT_DOUBLE_EQ(m1.cov[i], b.cov[i]);
    }
}

}  // namespace
