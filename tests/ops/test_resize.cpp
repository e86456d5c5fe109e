// upsample_nearest2x and resize_bicubic_aa on the CPU backend. The resize reference here is an independent
// double-precision transcription of kornia 0.7.2 resize(..., 'bicubic', align_corners=True, antialias=True):
// a 2-D (not separable) Gaussian blur with reflect borders when some axis shrinks, then the Keys cubic
// kernel (A = -0.75) evaluated through |x| on the align_corners grid with clamped borders. The golden
// comparison of the same op is tests/parity/test_resize_golden.cpp.
#include <cmath>

#include "ops_test_helpers.h"

namespace tc::test {
namespace {

TEST(OpsUpsampleNearest, FourAndFiveDims) {
    Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {1, 1, 2, 3});
    EXPECT_EQ(ops::upsample_nearest2x(x).to_vector(),
              (std::vector<float>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6}));
    Tensor x5 = random_tensor({2, 3, 2, 5, 7}, 1);
    Tensor y5 = ops::upsample_nearest2x(strided_copy(x5));
    ASSERT_EQ(y5.shape(), (Shape{2, 3, 2, 10, 14}));
    auto X = x5.to_vector(), Y = y5.to_vector();
    for (int64_t p = 0; p < 12; ++p)
        for (int64_t i = 0; i < 10; ++i)
            for (int64_t j = 0; j < 14; ++j)
                ASSERT_EQ(Y[size_t((p * 10 + i) * 14 + j)], X[size_t((p * 5 + i / 2) * 7 + j / 2)]);
    EXPECT_THROW(ops::upsample_nearest2x(random_tensor({3, 4, 4}, 2)), Error);
}

// ---------------------------------------------------------------- naive kornia resize in double
int64_t reflect(int64_t i, int64_t n) {  // torch 'reflect' padding for pads < n
    if (i < 0) return -i;
    if (i >= n) return 2 * (n - 1) - i;
    return i;
}

double keys_cubic(double x) {  // Keys cubic convolution kernel, A = -0.75
    const double A = -0.75;
    x = std::abs(x);
    if (x <= 1) return (A + 2) * x * x * x - (A + 3) * x * x + 1;
    if (x < 2) return A * x * x * x - 5 * A * x * x + 8 * A * x - 4 * A;
    return 0;
}

std::vector<double> gauss(int64_t ks, double sigma) {
    std::vector<double> g(static_cast<size_t>(ks));
    double sum = 0;
    for (int64_t i = 0; i < ks; ++i) sum += g[size_t(i)] = std::exp(-std::pow(double(i - ks / 2), 2) / (2 * sigma * sigma));
    for (double& v : g) v /= sum;
    return g;
}

std::vector<double> kornia_resize_ref(const Tensor& x, int64_t oh, int64_t ow) {
    const int64_t H = x.size(-2), W = x.size(-1), planes = x.numel() / (H * W);
    std::vector<double> src = as_double(x);
    const double fh = double(H) / double(oh), fw = double(W) / double(ow);
    if (std::max(fh, fw) > 1) {
        const double sh = std::max((fh - 1) / 2, 0.001), sw = std::max((fw - 1) / 2, 0.001);
        int64_t kh = int64_t(std::max(4 * sh, 3.0)), kw = int64_t(std::max(4 * sw, 3.0));
        kh += (kh % 2 == 0);
        kw += (kw % 2 == 0);
        const std::vector<double> gy = gauss(kh, sh), gx = gauss(kw, sw);
        std::vector<double> blurred(src.size());
        for (int64_t p = 0; p < planes; ++p)
            for (int64_t i = 0; i < H; ++i)
                for (int64_t j = 0; j < W; ++j) {
                    double s = 0;
                    for (int64_t a = 0; a < kh; ++a)
                        for (int64_t b = 0; b < kw; ++b)
                            s += gy[size_t(a)] * gx[size_t(b)] *
                                 src[size_t((p * H + reflect(i + a - kh / 2, H)) * W + reflect(j + b - kw / 2, W))];
                    blurred[size_t((p * H + i) * W + j)] = s;
                }
        src = blurred;
    }
    std::vector<double> out(size_t(planes * oh * ow));
    for (int64_t p = 0; p < planes; ++p)
        for (int64_t y = 0; y < oh; ++y)
            for (int64_t x_ = 0; x_ < ow; ++x_) {
                // torch's scale (in-1)/(out-1) is a float32; the position is that scale times the index
                // (formed exactly, see resize.cpp).
                const double sy = oh > 1 ? double(y) * double(float(H - 1) / float(oh - 1)) : 0.0;
                const double sx = ow > 1 ? double(x_) * double(float(W - 1) / float(ow - 1)) : 0.0;
                const int64_t by = int64_t(std::floor(sy)), bx = int64_t(std::floor(sx));
                double s = 0;
                for (int64_t a = by - 1; a <= by + 2; ++a)
                    for (int64_t b = bx - 1; b <= bx + 2; ++b) {
                        const int64_t ya = std::clamp<int64_t>(a, 0, H - 1), xb = std::clamp<int64_t>(b, 0, W - 1);
                        s += keys_cubic(sy - double(a)) * keys_cubic(sx - double(b)) * src[size_t((p * H + ya) * W + xb)];
                    }
                out[size_t((p * oh + y) * ow + x_)] = s;
            }
    return out;
}

void expect_resize_matches(const Shape& shape, int64_t oh, int64_t ow, uint32_t seed) {
    Tensor x = random_tensor(shape, seed);
    Tensor y = ops::resize_bicubic_aa(x, oh, ow);
    Shape want = shape;
    want[want.size() - 2] = oh;
    want[want.size() - 1] = ow;
    ASSERT_EQ(y.shape(), want);
    auto ref = kornia_resize_ref(x, oh, ow);
    const double err = max_err(y, ref) / max_abs(ref);
    // torch evaluates the cubic weights in float32, where e.g. ((A x - 5A) x + 8A) x - 4A cancels terms
    // near 3 down to ~0.1: about 1e-6 relative is the float32 floor of this op, not a model difference.
    EXPECT_LT(err, 3e-6) << shape_str(shape) << " -> " << oh << "x" << ow;
}

TEST(OpsResizeBicubicAA, UpscaleWithoutBlur) {
    expect_resize_matches({2, 3, 64, 64}, 224, 224, 1);  // the tiny keyframes into CLIP
    expect_resize_matches({1, 1, 5, 7}, 13, 9, 2);
}

TEST(OpsResizeBicubicAA, DownscaleWithBlur) {
    expect_resize_matches({1, 3, 320, 512}, 224, 224, 3);  // a 512x320 keyframe into CLIP (case d2)
    expect_resize_matches({1, 2, 100, 90}, 11, 13, 4);     // strong blur: sigma 4, kernel 17 (reflect)
    expect_resize_matches({1, 1, 30, 40}, 50, 20, 5);      // one axis up, one down: both axes filtered
}

TEST(OpsResizeBicubicAA, HandChecks) {
    // A constant image stays constant (normalised blur, cubic weights summing to 1).
    auto c = ops::resize_bicubic_aa(Tensor::full({1, 1, 40, 30}, 0.25f), 17, 23).to_vector();
    for (float v : c) EXPECT_NEAR(v, 0.25f, 1e-6);
    // Same size: unchanged values.
    Tensor x = random_tensor({1, 2, 6, 5}, 6);
    EXPECT_EQ(ops::resize_bicubic_aa(x, 6, 5).to_vector(), x.to_vector());
    // align_corners: the corner samples of an upscale are the corner pixels.
    Tensor r = random_tensor({1, 1, 4, 4}, 7);
    auto y = ops::resize_bicubic_aa(r, 10, 10).to_vector();
    auto R = r.to_vector();
    EXPECT_EQ(y[0], R[0]);  // t = 0 exactly: weights (0, 1, 0, 0)
    EXPECT_NEAR(y[9], R[3], 1e-6);  // 3/9 * 9 is 3 only up to float rounding
    EXPECT_NEAR(y[99], R[15], 1e-6);
    // Output of one row/column samples the first input row/column (scale 0).
    EXPECT_EQ(ops::resize_bicubic_aa(r, 1, 4).shape(), (Shape{1, 1, 1, 4}));
}

TEST(OpsResizeBicubicAA, Errors) {
    EXPECT_THROW(ops::resize_bicubic_aa(random_tensor({1, 1, 4, 4}, 1), 0, 4), Error);
    EXPECT_THROW(ops::resize_bicubic_aa(random_tensor({4}, 1), 2, 2), Error);
}

}  // namespace
}  // namespace tc::test
