// The `--model demo` engine (engine/demo_model.h): built with no file at all, real API frame counts (T = 16)
// and sizes, deterministic for a seed. A 256x256 run() at steps 1 takes ~7 s on 2 cores (bench/RESULTS.md:
// most of it the VAE decode of 16 + 14 frames) and several times that under ASan, so one test runs requests
// by default (DeterministicForASeed, not in sanitised builds: the Python suites drive the same engine through
// the release binary); the others that run() are opt-in (TC_SLOW_TESTS=1). plan() checks the frame counts and
// sizes in every run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "engine/demo_model.h"
#include "engine/engine.h"

namespace {

const tc::Engine& demo() {
    static const std::unique_ptr<tc::Engine> e = tc::Engine::load_demo(0);
    return *e;
}

tc::Tensor keyframe(int64_t h, int64_t w, int which) {
    tc::Tensor t = tc::Tensor::empty({h, w, 3}, tc::DType::U8);
    uint8_t* d = t.data<uint8_t>();
    for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
            d[(y * w + x) * 3 + 0] = uint8_t((x * 255) / w);
            d[(y * w + x) * 3 + 1] = uint8_t((y * 255) / h);
            d[(y * w + x) * 3 + 2] = uint8_t(which * 80 + 40);
        }
    return t;
}

tc::Request request(int keyframes) {
    tc::Request r;
    for (int i = 0; i < keyframes; ++i) r.keyframes.push_back(keyframe(300, 300, i));
    r.max_width = 256;
    r.max_height = 256;
    r.steps = 2;
    r.seed = 11;
    return r;
}

#define TC_REQUIRE_SLOW_TESTS() \
    if (!std::getenv("TC_SLOW_TESTS")) GTEST_SKIP() << "several 256x256 demo runs: set TC_SLOW_TESTS=1"

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

bool same_bytes(const tc::Tensor& a, const tc::Tensor& b) {
    return a.shape() == b.shape() && a.dtype() == b.dtype() &&
           std::memcmp(a.contiguous().raw_data(), b.contiguous().raw_data(), a.nbytes()) == 0;
}

TEST(DemoModel, LoadsWithoutAnyFile) {
    const tc::Engine& e = demo();
    EXPECT_TRUE(e.is_demo());
    EXPECT_FALSE(e.has_film());
    EXPECT_EQ(e.model().config().frames(), 16);
    // Every declared tensor is bound, with finite values.
    int64_t unbound = 0, non_finite = 0;
    const_cast<tc::ToonCrafterModel&>(e.model()).visit_params([&](const std::string&, tc::Param& p) {
        if (!p.value.defined() || p.value.shape() != p.shape) {
            ++unbound;
            return;
        }
        const float* d = p.value.data<float>();
        for (int64_t i = 0; i < p.value.numel(); ++i) non_finite += !std::isfinite(d[i]);
    });
    EXPECT_EQ(unbound, 0);
    EXPECT_EQ(non_finite, 0);
    // The schedule buffers are the computed ones (zero-terminal-SNR: the last alphas_cumprod is ~0).
    const std::vector<float> ac = e.model().buffer_values("alphas_cumprod");
    ASSERT_EQ(ac.size(), 1000u);
    EXPECT_GT(ac.front(), 0.99f);
    EXPECT_LT(ac.back(), 1e-6f);
}

TEST(DemoModel, RealLoadStillNeedsAModelPath) {
    tc::EngineConfig cfg;  // no model path: load() refuses (the demo is only ever built by load_demo())
    EXPECT_THROW(tc::Engine::load(cfg), tc::Error);
}

TEST(DemoModel, AcceptsTheApiSizes) {
    for (int64_t side : {256, 512, 768}) {
        tc::Request r = request(2);
        r.max_width = side;
        r.max_height = side;
        const tc::RequestPlan p = demo().plan(r);
        EXPECT_EQ(p.width, side);
        EXPECT_EQ(p.height, side);
        EXPECT_EQ(p.frames, 16);
    }
    tc::Request wide = request(2);
    wide.keyframes = {keyframe(1080, 1920, 0), keyframe(1080, 1920, 1)};
    wide.max_width = 768;
    wide.max_height = 768;
    const tc::RequestPlan p = demo().plan(wide);
    EXPECT_EQ(p.width, 768);  // same rule as the real model (multiples of 64)
    EXPECT_EQ(p.height, 448);
    tc::Request bad = request(2);
    bad.max_width = 320;
    EXPECT_THROW(demo().plan(bad), tc::Error);
    tc::Request film = request(2);
    film.interpolate = true;
    EXPECT_THROW(demo().plan(film), tc::Error);
}

TEST(DemoModel, PlansTheRealFrameCounts) {
    EXPECT_EQ(demo().plan(request(2)).frames, 16);
    tc::Request r = request(3);
    r.loop = true;
    const tc::RequestPlan p = demo().plan(r);
    EXPECT_EQ(p.segments, 3);
    EXPECT_EQ(p.frames, (16 - 1) * 3);
    EXPECT_DOUBLE_EQ(p.fps, 8.0);
}

TEST(DemoModel, TwoKeyframes256GiveSixteenFrames) {
    TC_REQUIRE_SLOW_TESTS();
    const tc::Video v = demo().run(request(2));
    ASSERT_EQ(v.frames.dim(), 4);
    EXPECT_EQ(v.frames.size(0), 16);
    EXPECT_EQ(v.frames.size(1), 256);
    EXPECT_EQ(v.frames.size(2), 256);
    EXPECT_EQ(v.frames.size(3), 3);
    EXPECT_EQ(v.frames.dtype(), tc::DType::U8);
    EXPECT_DOUBLE_EQ(v.fps, 8.0);
}

TEST(DemoModel, ThreeKeyframesLoopGive45Frames) {
    TC_REQUIRE_SLOW_TESTS();
    tc::Request r = request(3);
    r.loop = true;
    r.steps = 1;
    EXPECT_EQ(demo().plan(r).segments, 3);
    const tc::Video v = demo().run(r);
    EXPECT_EQ(v.frames.size(0), (16 - 1) * 3);
    EXPECT_EQ(v.frames.size(1), 256);
    EXPECT_EQ(v.frames.size(2), 256);
}

TEST(DemoModel, DeterministicForASeed) {
    // Same weights from the same seed, different from another seed.
    const auto a = tc::build_demo_model(5), b = tc::build_demo_model(5), c = tc::build_demo_model(6);
    std::vector<tc::Tensor> wa, wb, wc;
    a->visit_params([&](const std::string&, tc::Param& p) { wa.push_back(p.value); });
    b->visit_params([&](const std::string&, tc::Param& p) { wb.push_back(p.value); });
    c->visit_params([&](const std::string&, tc::Param& p) { wc.push_back(p.value); });
    ASSERT_EQ(wa.size(), wb.size());
    bool all_same = true, any_differs = false;
    for (size_t i = 0; i < wa.size(); ++i) {
        all_same = all_same && same_bytes(wa[i], wb[i]);
        any_differs = any_differs || !same_bytes(wa[i], wc[i]);
    }
    EXPECT_TRUE(all_same);
    EXPECT_TRUE(any_differs);

    // Same request twice on one engine: the same video (and the real API's 16 frames at 256x256).
    if (kSanitized && !std::getenv("TC_SLOW_TESTS")) GTEST_SKIP() << "demo runs under ASan: set TC_SLOW_TESTS=1";
    tc::Request r = request(2);
    r.steps = 1;
    const tc::Video v1 = demo().run(r), v2 = demo().run(r);
    ASSERT_EQ(v1.frames.shape(), (tc::Shape{16, 256, 256, 3}));
    EXPECT_TRUE(same_bytes(v1.frames, v2.frames));
    r.seed = 12;
    EXPECT_FALSE(same_bytes(v1.frames, demo().run(r).frames));
}

TEST(DemoModel, ByteTokenizerStandIn) {
    const std::vector<int64_t> ids = tc::demo_byte_tokenize("Ab");
    ASSERT_EQ(ids.size(), 77u);
    EXPECT_EQ(ids[0], 49406);
    EXPECT_EQ(ids[1], 'A' + 1);
    EXPECT_EQ(ids[2], 'b' + 1);
    EXPECT_EQ(ids[3], 49407);
    EXPECT_EQ(ids[4], 0);
    const std::vector<int64_t> long_ids = tc::demo_byte_tokenize(std::string(200, 'x'));
    ASSERT_EQ(long_ids.size(), 77u);
    EXPECT_EQ(long_ids[75], 'x' + 1);
    EXPECT_EQ(long_ids[76], 49407);
    EXPECT_EQ(tc::demo_byte_tokenize("", 77)[1], 49407);
}

}  // namespace
