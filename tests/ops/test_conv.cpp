// conv2d, conv3d_temporal and conv3d on the CPU backend against naive double loops: odd sizes, batch 1,
// groups, asymmetric padding with stride 2 (the VAE Downsample), 1x1 kernels, kernel 14 stride 14 (the
// CLIP patch embedding), a case large enough to be split into row bands, and the error messages.
#include "ops_test_helpers.h"

namespace tc::test {
namespace {

std::vector<double> conv2d_ref(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dParams& p) {
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t O = w.size(0), kh = w.size(2), kw = w.size(3), G = p.groups, Cg = C / G, Og = O / G;
    const int64_t Ho = (H + p.pad[0] + p.pad[1] - kh) / p.stride[0] + 1;
    const int64_t Wo = (W + p.pad[2] + p.pad[3] - kw) / p.stride[1] + 1;
    auto X = as_double(x), Wt = as_double(w);
    std::vector<double> B = b ? as_double(*b) : std::vector<double>(size_t(O), 0.0);
    std::vector<double> y(size_t(N * O * Ho * Wo));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < O; ++o)
            for (int64_t oh = 0; oh < Ho; ++oh)
                for (int64_t ow = 0; ow < Wo; ++ow) {
                    double s = B[size_t(o)];
                    const int64_t g = o / Og;
                    for (int64_t c = 0; c < Cg; ++c)
                        for (int64_t i = 0; i < kh; ++i)
                            for (int64_t j = 0; j < kw; ++j) {
                                const int64_t ih = oh * p.stride[0] - p.pad[0] + i;
                                const int64_t iw = ow * p.stride[1] - p.pad[2] + j;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                s += X[size_t(((n * C + g * Cg + c) * H + ih) * W + iw)] *
                                     Wt[size_t(((o * Cg + c) * kh + i) * kw + j)];
                            }
                    y[size_t(((n * O + o) * Ho + oh) * Wo + ow)] = s;
                }
    return y;
}

Conv2dParams params(int64_t stride, std::array<int64_t, 4> pad, int64_t groups = 1) {
    Conv2dParams p;
    p.stride = {stride, stride};
    p.pad = pad;
    p.groups = groups;
    return p;
}

struct Conv2dCase {
    Shape x, w;
    Conv2dParams p;
    bool bias;
};

TEST(OpsConv2d, MatchesNaive) {
    const std::vector<Conv2dCase> cases = {
        {{2, 5, 13, 7}, {3, 5, 3, 3}, Conv2dParams::same(3), true},        // odd sizes
        {{1, 4, 8, 8}, {6, 4, 3, 3}, params(2, {0, 1, 0, 1}), true},      // VAE Downsample padding
        {{1, 3, 9, 7}, {5, 3, 3, 3}, params(2, {1, 1, 1, 1}), false},     // UNet Downsample, odd input
        {{2, 4, 6, 5}, {6, 2, 3, 3}, params(1, {1, 1, 1, 1}, 2), true},   // groups 2
        {{1, 6, 5, 5}, {6, 1, 3, 3}, params(1, {1, 1, 1, 1}, 6), true},   // depthwise
        {{1, 7, 5, 9}, {13, 7, 1, 1}, Conv2dParams{}, true},              // 1x1 (skip connection)
        {{1, 3, 28, 42}, {8, 3, 14, 14}, params(14, {0, 0, 0, 0}), false},  // CLIP patch embedding
        {{1, 2, 5, 5}, {3, 2, 5, 3}, params(1, {2, 0, 1, 3}), true},      // non-square kernel, uneven pads
        {{1, 64, 260, 128}, {4, 64, 3, 3}, Conv2dParams::same(3), true},  // column buffer split into bands
    };
    uint32_t seed = 100;
    for (const auto& c : cases) {
        Tensor x = random_tensor(c.x, seed++);
        Tensor w = random_tensor(c.w, seed++);
        Tensor b = random_tensor({c.w[0]}, seed++);
        Tensor y = ops::conv2d(x, w, c.bias ? &b : nullptr, c.p);
        auto ref = conv2d_ref(x, w, c.bias ? &b : nullptr, c.p);
        EXPECT_LT(max_err(y, ref), 2e-5 * std::max(1.0, max_abs(ref))) << shape_str(c.x) << " * " << shape_str(c.w);
    }
}

TEST(OpsConv2d, OutputShapesAndStridedInput) {
    Tensor x = random_tensor({1, 4, 8, 8}, 1);
    Tensor w = random_tensor({6, 4, 3, 3}, 2);
    EXPECT_EQ(ops::conv2d(x, w, nullptr, params(2, {0, 1, 0, 1})).shape(), (Shape{1, 6, 4, 4}));
    EXPECT_EQ(ops::conv2d(x, w, nullptr, Conv2dParams::same(3, 2)).shape(), (Shape{1, 6, 4, 4}));
    Tensor y = ops::conv2d(strided_copy(x), strided_copy(w), nullptr, Conv2dParams::same(3));
    EXPECT_LT(max_err(y, conv2d_ref(x, w, nullptr, Conv2dParams::same(3))), 1e-5);
}

TEST(OpsConv2d, HandValues) {
    // A 3x3 box filter over a 3x3 image of ones with zero padding 1 counts the in-image neighbours.
    Tensor x = Tensor::full({1, 1, 3, 3}, 1.f);
    Tensor w = Tensor::full({1, 1, 3, 3}, 1.f);
    Tensor b = Tensor::from_vector({0.5f}, {1});
    EXPECT_EQ(ops::conv2d(x, w, &b, Conv2dParams::same(3)).to_vector(),
              (std::vector<float>{4.5f, 6.5f, 4.5f, 6.5f, 9.5f, 6.5f, 4.5f, 6.5f, 4.5f}));
    // Stride 2 with (0,1,0,1) padding on a 2x2 ramp: one output = sum of the 4 pixels.
    Tensor r = Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2});
    EXPECT_EQ(ops::conv2d(r, w, nullptr, params(2, {0, 1, 0, 1})).to_vector(), (std::vector<float>{10.f}));
}

TEST(OpsConv2d, Errors) {
    Tensor x = random_tensor({1, 5, 8, 8}, 1);
    try {
        ops::conv2d(x, random_tensor({3, 4, 3, 3}, 2), nullptr, Conv2dParams::same(3));
        ADD_FAILURE() << "no throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("does not match input channels 5"), std::string::npos) << e.what();
    }
    EXPECT_THROW(ops::conv2d(x, random_tensor({3, 5, 9, 9}, 2), nullptr, Conv2dParams{}), Error);  // kernel > input
    Tensor bad_bias = random_tensor({4}, 3);
    EXPECT_THROW(ops::conv2d(x, random_tensor({3, 5, 3, 3}, 2), &bad_bias, Conv2dParams{}), Error);
    EXPECT_THROW(ops::conv2d(x, random_tensor({3, 5, 3, 3}, 2), nullptr, params(1, {0, 0, 0, 0}, 2)), Error);
    EXPECT_THROW(ops::conv2d(random_tensor({5, 8, 8}, 1), random_tensor({3, 5, 3, 3}, 2), nullptr, Conv2dParams{}),
                 Error);
    EXPECT_THROW(ops::conv2d(x, random_tensor({3, 5, 3, 3}, 2), nullptr, params(0, {0, 0, 0, 0})), Error);
}

// ---------------------------------------------------------------- 3-D
std::vector<double> conv3d_ref(const Tensor& x, const Tensor& w, const Tensor* b, std::array<int64_t, 3> pad) {
    const int64_t N = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
    const int64_t O = w.size(0), kt = w.size(2), kh = w.size(3), kw = w.size(4);
    const int64_t To = T + 2 * pad[0] - kt + 1, Ho = H + 2 * pad[1] - kh + 1, Wo = W + 2 * pad[2] - kw + 1;
    auto X = as_double(x), Wt = as_double(w);
    std::vector<double> B = b ? as_double(*b) : std::vector<double>(size_t(O), 0.0);
    std::vector<double> y(size_t(N * O * To * Ho * Wo));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < O; ++o)
            for (int64_t t = 0; t < To; ++t)
                for (int64_t oh = 0; oh < Ho; ++oh)
                    for (int64_t ow = 0; ow < Wo; ++ow) {
                        double s = B[size_t(o)];
                        for (int64_t c = 0; c < C; ++c)
                            for (int64_t a = 0; a < kt; ++a)
                                for (int64_t i = 0; i < kh; ++i)
                                    for (int64_t j = 0; j < kw; ++j) {
                                        const int64_t it = t - pad[0] + a, ih = oh - pad[1] + i, iw = ow - pad[2] + j;
                                        if (it < 0 || it >= T || ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                        s += X[size_t((((n * C + c) * T + it) * H + ih) * W + iw)] *
                                             Wt[size_t((((o * C + c) * kt + a) * kh + i) * kw + j)];
                                    }
                        y[size_t((((n * O + o) * To + t) * Ho + oh) * Wo + ow)] = s;
                    }
    return y;
}

TEST(OpsConv3dTemporal, MatchesNaive) {
    Tensor x = random_tensor({2, 5, 7, 3, 4}, 20);
    Tensor w = random_tensor({6, 5, 3, 1, 1}, 21);
    Tensor b = random_tensor({6}, 22);
    for (int64_t pad : {int64_t(1), int64_t(0), int64_t(2)}) {
        Tensor y = ops::conv3d_temporal(x, w, &b, pad);
        EXPECT_EQ(y.size(2), 7 + 2 * pad - 2);
        EXPECT_LT(max_err(y, conv3d_ref(x, w, &b, {pad, 0, 0})), 1e-5) << "pad " << pad;
    }
    // Batch 1, one frame, no bias: only the centre tap sees data.
    Tensor x1 = random_tensor({1, 3, 1, 2, 2}, 23);
    Tensor w1 = random_tensor({2, 3, 3, 1, 1}, 24);
    EXPECT_LT(max_err(ops::conv3d_temporal(strided_copy(x1), w1, nullptr, 1), conv3d_ref(x1, w1, nullptr, {1, 0, 0})),
              1e-5);
}

TEST(OpsConv3dTemporal, Errors) {
    Tensor x = random_tensor({1, 4, 5, 2, 2}, 1);
    EXPECT_THROW(ops::conv3d_temporal(x, random_tensor({3, 4, 3, 3, 1}, 2), nullptr, 1), Error);  // not (kt,1,1)
    EXPECT_THROW(ops::conv3d_temporal(x, random_tensor({3, 5, 3, 1, 1}, 2), nullptr, 1), Error);  // channels
    EXPECT_THROW(ops::conv3d_temporal(x, random_tensor({3, 4, 9, 1, 1}, 2), nullptr, 1), Error);  // kt > T + 2p
    EXPECT_THROW(ops::conv3d_temporal(random_tensor({4, 5, 2, 2}, 1), random_tensor({3, 4, 3, 1, 1}, 2), nullptr, 1),
                 Error);
}

TEST(OpsConv3d, MatchesNaive) {
    Tensor x = random_tensor({1, 3, 5, 6, 7}, 30);
    Tensor w = random_tensor({4, 3, 3, 3, 3}, 31);
    Tensor b = random_tensor({4}, 32);
    EXPECT_LT(max_err(ops::conv3d(x, w, &b, {1, 1, 1}), conv3d_ref(x, w, &b, {1, 1, 1})), 2e-5);
    Tensor w2 = random_tensor({2, 3, 2, 3, 1}, 33);
    EXPECT_LT(max_err(ops::conv3d(x, w2, nullptr, {0, 1, 0}), conv3d_ref(x, w2, nullptr, {0, 1, 0})), 2e-5);
    Tensor x2 = random_tensor({2, 2, 4, 3, 3}, 34);
    Tensor w3 = random_tensor({3, 2, 1, 3, 3}, 35);
    Tensor b3 = b.slice(0, 0, 3);  // a view that starts at an offset
    EXPECT_LT(max_err(ops::conv3d(strided_copy(x2), w3, &b3, {0, 1, 1}), conv3d_ref(x2, w3, &b3, {0, 1, 1})), 2e-5);
    EXPECT_THROW(ops::conv3d(x, random_tensor({4, 2, 3, 3, 3}, 36), nullptr, {1, 1, 1}), Error);
}

}  // namespace
}  // namespace tc::test
