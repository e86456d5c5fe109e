// PNG reading/writing (media/png) and the keyframe conversions of the pipeline: round trips, alpha dropped
// as PIL's convert('RGB') does, gray replicated, malformed input and the pixel cap rejected.
#include <png.h>

#include <cstring>

#include "media/png.h"
#include "pipeline/interpolate.h"
#include "test_util.h"

namespace {

tc::Tensor pattern(int64_t h, int64_t w, int64_t c) {
    tc::Tensor t = tc::Tensor::empty({h, w, c}, tc::DType::U8);
    uint8_t* p = t.data<uint8_t>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = uint8_t((i * 37 + i / 7) & 0xff);
    return t;
}

// Encodes with libpng's simplified API in any of its formats (to make gray inputs).
std::vector<uint8_t> encode_with(const std::vector<uint8_t>& pixels, uint32_t w, uint32_t h, uint32_t format) {
    png_image img;
    std::memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = w;
    img.height = h;
    img.format = format;
    png_alloc_size_t n = 0;
    EXPECT_TRUE(png_image_write_to_memory(&img, nullptr, &n, 0, pixels.data(), 0, nullptr));
    std::vector<uint8_t> out(n);
    EXPECT_TRUE(png_image_write_to_memory(&img, out.data(), &n, 0, pixels.data(), 0, nullptr));
    out.resize(n);
    return out;
}

}  // namespace

TEST(Png, RoundTripRgb) {
    tc::Tensor img = pattern(13, 17, 3);
    std::vector<uint8_t> bytes = tc::encode_png(img);
    tc::Tensor back = tc::decode_png(bytes.data(), bytes.size());
    EXPECT_EQ(back.shape(), (tc::Shape{13, 17, 3}));
    EXPECT_EQ(tc::test::max_abs_diff(back, img), 0.0);
}

TEST(Png, AlphaIsDroppedNotComposited) {
    tc::Tensor rgba = pattern(5, 6, 4);
    std::vector<uint8_t> bytes = tc::encode_png(rgba);
    tc::Tensor rgb = tc::decode_png(bytes.data(), bytes.size());
    ASSERT_EQ(rgb.shape(), (tc::Shape{5, 6, 3}));
    EXPECT_EQ(tc::test::max_abs_diff(rgb, rgba.slice(2, 0, 3)), 0.0);
}

TEST(Png, GrayIsReplicated) {
    std::vector<uint8_t> gray{0, 10, 200, 255, 17, 99};
    std::vector<uint8_t> bytes = encode_with(gray, 3, 2, PNG_FORMAT_GRAY);
    tc::Tensor rgb = tc::decode_png(bytes.data(), bytes.size());
    ASSERT_EQ(rgb.shape(), (tc::Shape{2, 3, 3}));
    auto v = rgb.to_vector();
    for (size_t i = 0; i < gray.size(); ++i)
        for (int c = 0; c < 3; ++c) EXPECT_EQ(v[i * 3 + size_t(c)], float(gray[i]));
}

TEST(Png, RejectsBadInput) {
    const uint8_t junk[] = "definitely not a png file";
    EXPECT_THROW(tc::decode_png(junk, sizeof junk), tc::Error);
    std::vector<uint8_t> bytes = tc::encode_png(pattern(8, 8, 3));
    // Truncated stream: libpng's error becomes a tc::Error.
    EXPECT_THROW(tc::decode_png(bytes.data(), bytes.size() / 2), tc::Error);
    // Pixel cap.
    tc::PngLimits small;
    small.max_pixels = 63;
    EXPECT_THROW(tc::decode_png(bytes.data(), bytes.size(), small), tc::Error);
    EXPECT_THROW(tc::read_png("/nonexistent/x.png"), tc::Error);
    EXPECT_THROW(tc::encode_png(tc::Tensor::zeros({4, 4, 3})), tc::Error);  // F32, not U8
}

TEST(Keyframes, FromRgb8AndFit) {
    tc::Tensor img = pattern(6, 10, 3);
    tc::Tensor x = tc::keyframe_from_rgb8(img);
    ASSERT_EQ(x.shape(), (tc::Shape{3, 6, 10}));
    auto v = x.to_vector();
    auto u = img.to_vector();
    // [3, H, W] from [H, W, 3]; (u/255 - 0.5)/0.5 in float32.
    EXPECT_EQ(v[1 * 60 + 2 * 10 + 3], (u[(2 * 10 + 3) * 3 + 1] / 255.0f - 0.5f) / 0.5f);
    for (float f : v) {
        EXPECT_GE(f, -1.0f);
        EXPECT_LE(f, 1.0f);
    }
    // Same size: unchanged. Other sizes: centre-crop to the aspect, then resize.
    EXPECT_EQ(tc::test::max_abs_diff(tc::fit_keyframe(x, 6, 10), x), 0.0);
    EXPECT_EQ(tc::fit_keyframe(x, 8, 8).shape(), (tc::Shape{3, 8, 8}));
    EXPECT_EQ(tc::fit_keyframe(x, 64, 128).shape(), (tc::Shape{3, 64, 128}));
    // A constant image stays constant through crop and resize.
    tc::Tensor flat = tc::Tensor::full({3, 30, 50}, 0.25f);
    tc::Tensor fitted = tc::fit_keyframe(flat, 16, 16);
    for (float f : fitted.to_vector()) EXPECT_NEAR(f, 0.25f, 1e-5);
}

TEST(Keyframes, Uint8TruncatesLikeTorch) {
    // clamp(-1, 1), (x + 1) / 2 * 255, then truncation: 0.999 -> 254, 1.5 -> 255, -3 -> 0.
    tc::Tensor f = tc::Tensor::from_vector({0.999f, 1.5f, -3.0f, 0.0f, -0.99f, 0.5f}, {3, 1, 1, 2});
    tc::Tensor u = tc::frames_to_uint8(f);
    ASSERT_EQ(u.shape(), (tc::Shape{1, 1, 2, 3}));
    auto v = u.to_vector();  // [t, h, w, c]: pixel 0 = (0.999, -3, -0.99), pixel 1 = (1.5, 0, 0.5)
    EXPECT_EQ(v[0], 254.0f);
    EXPECT_EQ(v[1], 0.0f);
    EXPECT_EQ(v[2], 1.0f);
    EXPECT_EQ(v[3], 255.0f);
    EXPECT_EQ(v[4], 127.0f);
    EXPECT_EQ(v[5], 191.0f);
}
