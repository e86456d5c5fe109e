// Image decoding (media/image_decode): each format decodes (test images made with FFmpeg's own encoders),
// EXIF orientation is applied, and hostile inputs fail with a tc::Error: truncated files, non-image bytes,
// headers declaring huge images (rejected before decoding), the byte cap, a 10^4-frame GIF (first frame
// only, fast), randomly corrupted files. Also resize_rgb8.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "media/image_decode.h"
#include "media/video_encode.h"
#include "test_util.h"

extern "C" {
#include <libavcodec/avcodec.h>
}

using tc::Tensor;
using tc::media::decode_image;

namespace {

struct Rgb {
    int r, g, b;
};
const Rgb kRed{255, 0, 0}, kGreen{0, 255, 0}, kBlue{0, 0, 255}, kWhite{255, 255, 255};

// Top-left red, top-right green, bottom-left blue, bottom-right white.
Tensor quadrants(int64_t h, int64_t w) {
    Tensor t = Tensor::empty({h, w, 3}, tc::DType::U8);
    uint8_t* p = t.data<uint8_t>();
    for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
            const Rgb c = y < h / 2 ? (x < w / 2 ? kRed : kGreen) : (x < w / 2 ? kBlue : kWhite);
            uint8_t* q = p + (y * w + x) * 3;
            q[0] = uint8_t(c.r), q[1] = uint8_t(c.g), q[2] = uint8_t(c.b);
        }
    return t;
}

Tensor pattern(int64_t h, int64_t w, int64_t c) {
    Tensor t = Tensor::empty({h, w, c}, tc::DType::U8);
    uint8_t* p = t.data<uint8_t>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = uint8_t((i * 37 + i / 7) & 0xff);
    return t;
}

// Max channel difference between the pixel (y, x) of img and c.
int pixel_diff(const Tensor& img, int64_t y, int64_t x, Rgb c) {
    const uint8_t* p = img.data<uint8_t>() + (y * img.size(1) + x) * 3;
    return std::max({std::abs(p[0] - c.r), std::abs(p[1] - c.g), std::abs(p[2] - c.b)});
}

Tensor decode(const std::vector<uint8_t>& b, const tc::media::DecodeLimits& lim = {}) {
    return decode_image(b.data(), b.size(), lim);
}

// The tc::Error message of decoding `b` ("" when it decodes).
std::string decode_error(const std::vector<uint8_t>& b, const tc::media::DecodeLimits& lim = {}) {
    try {
        decode(b, lim);
    } catch (const tc::Error& e) {
        return e.what();
    }
    return "";
}

std::string temp_dir() {
    std::string t = "/tmp/tc-media-test-XXXXXX";
    EXPECT_NE(::mkdtemp(t.data()), nullptr);
    return t;
}

// A GIF made by our own encoder (palettegen/paletteuse + FFmpeg's gif muxer).
std::vector<uint8_t> make_gif(const Tensor& frames, double fps = 8) {
    tc::media::EncodeOptions o;
    o.format = tc::media::VideoFormat::GIF;
    o.fps = fps;
    return tc::media::encode_video_bytes(frames, o);
}

// An APP1 Exif segment whose IFD0 holds only Orientation = `value`, in big- or little-endian TIFF order.
std::vector<uint8_t> exif_app1(int value, bool big_endian) {
    std::vector<uint8_t> tiff;
    auto u16 = [&](uint32_t v) {
        if (big_endian) tiff.insert(tiff.end(), {uint8_t(v >> 8), uint8_t(v)});
        else tiff.insert(tiff.end(), {uint8_t(v), uint8_t(v >> 8)});
    };
    auto u32 = [&](uint32_t v) {
        if (big_endian) u16(v >> 16), u16(v & 0xffff);
        else u16(v & 0xffff), u16(v >> 16);
    };
    tiff.insert(tiff.end(), big_endian ? std::initializer_list<uint8_t>{'M', 'M'} : std::initializer_list<uint8_t>{'I', 'I'});
    u16(42);
    u32(8);        // IFD0 offset
    u16(1);        // one entry
    u16(0x0112);   // Orientation
    u16(3);        // SHORT
    u32(1);        // count
    u16(uint32_t(value));
    u16(0);        // value field padding
    u32(0);        // no next IFD
    std::vector<uint8_t> seg{0xFF, 0xE1};
    const size_t len = 2 + 6 + tiff.size();
    seg.push_back(uint8_t(len >> 8));
    seg.push_back(uint8_t(len));
    const char exif[6] = {'E', 'x', 'i', 'f', 0, 0};
    seg.insert(seg.end(), exif, exif + 6);
    seg.insert(seg.end(), tiff.begin(), tiff.end());
    return seg;
}

std::vector<uint8_t> with_exif(std::vector<uint8_t> jpeg, int orientation, bool big_endian) {
    const std::vector<uint8_t> app1 = exif_app1(orientation, big_endian);
    jpeg.insert(jpeg.begin() + 2, app1.begin(), app1.end());  // right after SOI
    return jpeg;
}

}  // namespace

TEST(ImageDecode, PngExact) {
    Tensor img = pattern(13, 17, 3);
    Tensor back = decode(tc::media::encode_image_bytes(img, "png"));
    ASSERT_EQ(back.shape(), (tc::Shape{13, 17, 3}));
    EXPECT_EQ(tc::test::max_abs_diff(back, img), 0.0);
}

TEST(ImageDecode, PngAlphaIsDroppedNotComposited) {
    Tensor rgba = pattern(5, 6, 4);
    Tensor rgb = decode(tc::media::encode_image_bytes(rgba, "png"));
    ASSERT_EQ(rgb.shape(), (tc::Shape{5, 6, 3}));
    EXPECT_EQ(tc::test::max_abs_diff(rgb, rgba.slice(2, 0, 3)), 0.0);
}

TEST(ImageDecode, Jpeg) {
    Tensor img = quadrants(32, 48);
    Tensor back = decode(tc::media::encode_image_bytes(img, "mjpeg"));
    ASSERT_EQ(back.shape(), (tc::Shape{32, 48, 3}));
    EXPECT_LE(pixel_diff(back, 2, 2, kRed), 24);
    EXPECT_LE(pixel_diff(back, 2, 45, kGreen), 24);
    EXPECT_LE(pixel_diff(back, 29, 2, kBlue), 24);
    EXPECT_LE(pixel_diff(back, 29, 45, kWhite), 24);
}

TEST(ImageDecode, WebP) {
    if (!avcodec_find_encoder_by_name("libwebp"))
        GTEST_SKIP() << "this libavcodec has no libwebp encoder to make a WebP test image";
    Tensor img = quadrants(32, 48);
    Tensor back = decode(tc::media::encode_image_bytes(img, "libwebp"));
    ASSERT_EQ(back.shape(), (tc::Shape{32, 48, 3}));
    EXPECT_LE(pixel_diff(back, 2, 2, kRed), 40);
    EXPECT_LE(pixel_diff(back, 2, 45, kGreen), 40);
    EXPECT_LE(pixel_diff(back, 29, 2, kBlue), 40);
    EXPECT_LE(pixel_diff(back, 29, 45, kWhite), 40);
}

TEST(ImageDecode, GifFirstFrame) {
    Tensor frames = Tensor::empty({2, 24, 32, 3}, tc::DType::U8);
    frames.select(0, 0).copy_(quadrants(24, 32));
    Tensor second = Tensor::zeros({24, 32, 3}, tc::DType::U8);  // black
    frames.select(0, 1).copy_(second);
    Tensor back = decode(make_gif(frames));
    ASSERT_EQ(back.shape(), (tc::Shape{24, 32, 3}));
    EXPECT_LE(pixel_diff(back, 1, 1, kRed), 8);
    EXPECT_LE(pixel_diff(back, 1, 30, kGreen), 8);
    EXPECT_LE(pixel_diff(back, 22, 1, kBlue), 8);
    EXPECT_LE(pixel_diff(back, 22, 30, kWhite), 8);
}

TEST(ImageDecode, ExifOrientationRotates) {
    // 64 wide x 32 high. Orientation 6 = "rotate 90 clockwise to display": the result is 32 wide x 64 high,
    // its top-left is the stored bottom-left (blue), its top-right the stored top-left (red).
    const std::vector<uint8_t> jpeg = tc::media::encode_image_bytes(quadrants(32, 64), "mjpeg");
    Tensor r6 = decode(with_exif(jpeg, 6, /*big_endian=*/true));
    ASSERT_EQ(r6.shape(), (tc::Shape{64, 32, 3}));
    EXPECT_LE(pixel_diff(r6, 2, 2, kBlue), 24);
    EXPECT_LE(pixel_diff(r6, 2, 29, kRed), 24);
    EXPECT_LE(pixel_diff(r6, 61, 2, kWhite), 24);
    EXPECT_LE(pixel_diff(r6, 61, 29, kGreen), 24);
    // Orientation 8 (rotate 90 counter-clockwise), little-endian TIFF: top-left is the stored top-right.
    Tensor r8 = decode(with_exif(jpeg, 8, /*big_endian=*/false));
    ASSERT_EQ(r8.shape(), (tc::Shape{64, 32, 3}));
    EXPECT_LE(pixel_diff(r8, 2, 2, kGreen), 24);
    EXPECT_LE(pixel_diff(r8, 61, 2, kRed), 24);
    // Orientation 3 (rotate 180) keeps the size; 1 changes nothing.
    Tensor r3 = decode(with_exif(jpeg, 3, true));
    ASSERT_EQ(r3.shape(), (tc::Shape{32, 64, 3}));
    EXPECT_LE(pixel_diff(r3, 2, 2, kWhite), 24);
    Tensor r1 = decode(with_exif(jpeg, 1, true));
    EXPECT_LE(pixel_diff(r1, 2, 2, kRed), 24);
}

TEST(ImageDecode, TruncatedFilesFail) {
    const Tensor img = pattern(40, 40, 3);
    struct Case {
        const char* name;
        std::vector<uint8_t> bytes;
    };
    std::vector<Case> cases{{"png", tc::media::encode_image_bytes(img, "png")},
                            {"jpeg", tc::media::encode_image_bytes(img, "mjpeg")},
                            {"gif", make_gif(img.unsqueeze(0).contiguous())}};
    if (avcodec_find_encoder_by_name("libwebp"))
        cases.push_back({"webp", tc::media::encode_image_bytes(img, "libwebp")});
    for (const Case& c : cases) {
        for (double keep : {0.05, 0.5, 0.9}) {
            std::vector<uint8_t> cut(c.bytes.begin(), c.bytes.begin() + std::ptrdiff_t(double(c.bytes.size()) * keep));
            EXPECT_NE(decode_error(cut), "") << c.name << " truncated to " << cut.size() << " of " << c.bytes.size();
        }
    }
}

TEST(ImageDecode, NonImageBytesFail) {
    const std::string text = "<html>this is not an image</html>";
    std::vector<uint8_t> html(text.begin(), text.end());
    EXPECT_NE(decode_error(html).find("unsupported image format (expected JPEG, PNG, WebP or GIF)"), std::string::npos);
    EXPECT_NE(decode_error({}), "");
    EXPECT_NE(decode_error({0xFF, 0xD8, 0xFF}), "");                 // JPEG magic only
    EXPECT_NE(decode_error({'G', 'I', 'F', '8', '9', 'a'}), "");      // GIF magic only
    std::vector<uint8_t> riff{'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P'};
    EXPECT_NE(decode_error(riff), "");
    // A BMP is a real image but not one we accept.
    std::vector<uint8_t> bmp{'B', 'M', 0x3a, 0, 0, 0, 0, 0, 0, 0, 0x36, 0, 0, 0};
    EXPECT_NE(decode_error(bmp).find("unsupported image format"), std::string::npos);
}

TEST(ImageDecode, PixelCapCheckedFromHeader) {
    // A PNG that is only a signature and an IHDR declaring 100000 x 100000: rejected from the header.
    std::vector<uint8_t> png{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    for (uint32_t v : {100000u, 100000u}) png.insert(png.end(), {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)});
    png.insert(png.end(), {8, 2, 0, 0, 0, 0, 0, 0, 0});  // depth, colour type, methods, CRC (unchecked)
    const auto t0 = std::chrono::steady_clock::now();
    const std::string msg = decode_error(png);
    EXPECT_NE(msg.find("image is 100000x100000 = 10 GP, over the 40 MP limit"), std::string::npos) << msg;
    // 32-bit sides whose product overflows int64 (found by the fuzzer).
    std::vector<uint8_t> huge = png;
    for (int i = 16; i < 24; ++i) huge[size_t(i)] = 0xF5;
    EXPECT_NE(decode_error(huge).find("over the 40 MP limit"), std::string::npos);
    // A GIF whose logical screen is 65535 x 65535 (the format's maximum).
    std::vector<uint8_t> gif{'G', 'I', 'F', '8', '9', 'a', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, ';'};
    const std::string gmsg = decode_error(gif);
    EXPECT_NE(gmsg.find("65535x65535 = 4.29 GP, over the 40 MP limit"), std::string::npos) << gmsg;
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.5);
    // A real image over a small custom cap.
    tc::media::DecodeLimits small;
    small.max_pixels = 1000;
    const std::string smsg = decode_error(tc::media::encode_image_bytes(pattern(40, 40, 3), "png"), small);
    EXPECT_NE(smsg.find("40x40"), std::string::npos) << smsg;
}

TEST(ImageDecode, ByteCap) {
    const std::vector<uint8_t> png = tc::media::encode_image_bytes(pattern(40, 40, 3), "png");
    tc::media::DecodeLimits lim;
    lim.max_bytes = 100;
    ASSERT_GT(png.size(), 100u);
    EXPECT_NE(decode_error(png, lim).find("-byte limit"), std::string::npos);
}

TEST(ImageDecode, AnimatedGifWith10kFramesDecodesOnlyTheFirst) {
    // 10^4 frames of 2x2: the first red, the rest blue.
    const int64_t T = 10000;
    Tensor frames = Tensor::empty({T, 2, 2, 3}, tc::DType::U8);
    uint8_t* p = frames.data<uint8_t>();
    for (int64_t t = 0; t < T; ++t)
        for (int i = 0; i < 4; ++i) {
            const Rgb c = t == 0 ? kRed : kBlue;
            p[(t * 4 + i) * 3 + 0] = uint8_t(c.r), p[(t * 4 + i) * 3 + 1] = uint8_t(c.g), p[(t * 4 + i) * 3 + 2] = uint8_t(c.b);
        }
    const std::vector<uint8_t> gif = make_gif(frames, 50);
    const auto t0 = std::chrono::steady_clock::now();
    Tensor first = decode(gif);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(first.shape(), (tc::Shape{2, 2, 3}));
    EXPECT_LE(pixel_diff(first, 0, 0, kRed), 4);
    EXPECT_LE(pixel_diff(first, 1, 1, kRed), 4);
    EXPECT_LT(secs, 0.05) << "decoding only the first frame should be near-instant";
}

TEST(ImageDecode, FileErrorsNameThePath) {
    try {
        tc::media::decode_image_file("/nonexistent/keyframe.png");
        FAIL() << "expected an error";
    } catch (const tc::Error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/keyframe.png"), std::string::npos);
    }
    const std::string dir = temp_dir();
    const std::string path = dir + "/k.jpg";  // the name says JPEG, the bytes are PNG: bytes win
    const std::vector<uint8_t> png = tc::media::encode_image_bytes(pattern(7, 9, 3), "png");
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(png.data()), std::streamsize(png.size()));
    EXPECT_EQ(tc::media::decode_image_file(path).shape(), (tc::Shape{7, 9, 3}));
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
}

TEST(ImageDecode, RandomCorruptionNeverCrashes) {
    // Flip bytes of valid files: each result either decodes to a sane tensor or throws tc::Error.
    const Tensor img = quadrants(24, 24);
    const std::vector<std::vector<uint8_t>> seeds{tc::media::encode_image_bytes(img, "png"),
                                                  tc::media::encode_image_bytes(img, "mjpeg"),
                                                  make_gif(img.unsqueeze(0).contiguous())};
    std::mt19937 rng(1234);
    int decoded = 0, failed = 0;
    for (const auto& seed : seeds) {
        for (int iter = 0; iter < 150; ++iter) {
            std::vector<uint8_t> b = seed;
            const int flips = 1 + int(rng() % 8);
            for (int k = 0; k < flips; ++k) b[rng() % b.size()] = uint8_t(rng());
            try {
                Tensor t = decode(b);
                EXPECT_EQ(t.dim(), 3);
                EXPECT_EQ(t.size(2), 3);
                ++decoded;
            } catch (const tc::Error&) {
                ++failed;
            }
        }
    }
    EXPECT_EQ(decoded + failed, 450);
}

TEST(ImageResize, FlatColourStaysExact) {
    Tensor img = Tensor::empty({30, 40, 3}, tc::DType::U8);
    uint8_t* p = img.data<uint8_t>();
    for (int64_t i = 0; i < 30 * 40; ++i) p[i * 3] = 200, p[i * 3 + 1] = 17, p[i * 3 + 2] = 99;
    for (auto [h, w] : {std::pair<int64_t, int64_t>{15, 20}, {7, 11}, {60, 80}, {45, 33}}) {
        Tensor r = tc::media::resize_rgb8(img, h, w);
        ASSERT_EQ(r.shape(), (tc::Shape{h, w, 3}));
        const uint8_t* q = r.data<uint8_t>();
        for (int64_t i = 0; i < h * w; ++i) {
            ASSERT_EQ(q[i * 3], 200) << h << "x" << w;
            ASSERT_EQ(q[i * 3 + 1], 17);
            ASSERT_EQ(q[i * 3 + 2], 99);
        }
    }
}

TEST(ImageResize, QuadrantsKeepTheirColours) {
    Tensor r = tc::media::resize_rgb8(quadrants(64, 64), 16, 16);  // area downscale
    EXPECT_LE(pixel_diff(r, 1, 1, kRed), 2);
    EXPECT_LE(pixel_diff(r, 1, 14, kGreen), 2);
    EXPECT_LE(pixel_diff(r, 14, 1, kBlue), 2);
    Tensor u = tc::media::resize_rgb8(quadrants(8, 8), 32, 32);  // lanczos upscale
    EXPECT_LE(pixel_diff(u, 0, 0, kRed), 4);
    EXPECT_LE(pixel_diff(u, 31, 31, kWhite), 4);
    // Non-contiguous input (a crop) works.
    Tensor crop = quadrants(64, 64).slice(1, 0, 32);
    EXPECT_EQ(tc::media::resize_rgb8(crop, 10, 5).shape(), (tc::Shape{10, 5, 3}));
    EXPECT_THROW(tc::media::resize_rgb8(crop, 0, 5), tc::Error);
}
