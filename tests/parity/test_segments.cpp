// Multi-keyframe segments (pipeline/segments.h) on the golden tiny model (T = 8, 64x64): all segments
// denoised as one batch give the same frames as smaller batches and as tc::interpolate run once per segment
// (1e-5 max-abs on the CPU), and the segment plan / join give the documented frame counts.
#include <cstdio>
#include <memory>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "models/tooncrafter_model.h"
#include "pipeline/segments.h"
#include "test_util.h"

namespace {

// Batch-1 runs the very same products as interpolate(): equal up to 1e-5 (in practice bit-equal).
constexpr double kSameShapeTol = 1e-5;
// Batches of 2 and 3 run GEMMs of other shapes, and BLAS is not batch-invariant (OpenBLAS's AVX-512 kernels
// round a product of another M differently; up to 1e-3 seen over 3 steps at cfg 7.5, which amplifies). A wrong
// keyframe pair, seed or segment order gives differences of order 0.1 to 1 in these [-1, 1] frames.
constexpr double kBatchTol = 5e-3;

// [3, H, W] -> mirrored left to right.
tc::Tensor flip_w(const tc::Tensor& chw) {
    const tc::Tensor c = chw.contiguous();
    const int64_t C = c.size(0), H = c.size(1), W = c.size(2);
    tc::Tensor out = tc::Tensor::empty(c.shape());
    for (int64_t i = 0; i < C * H; ++i)
        for (int64_t x = 0; x < W; ++x) out.data<float>()[i * W + x] = c.data<float>()[i * W + (W - 1 - x)];
    return out;
}

std::vector<int64_t> ids_row(const tc::Tensor& ids, int r) {
    std::vector<int64_t> v;
    for (float x : ids.select(0, r).to_vector()) v.push_back(int64_t(x));
    return v;
}

}  // namespace

TEST(Segments, PlanAndFrameCounts) {
    const tc::SegmentPlan a = tc::plan_segments(3, false, 16);
    EXPECT_EQ(a.segments(), 2);
    EXPECT_EQ(a.output_frames(), 31);
    const tc::SegmentPlan b = tc::plan_segments(3, true, 8);
    ASSERT_EQ(b.segments(), 3);
    EXPECT_EQ(b.pairs[2], (std::pair<int, int>{2, 0}));
    EXPECT_EQ(b.output_frames(), 21);
    EXPECT_EQ(tc::plan_segments(10, true, 16).output_frames(), 150);
    EXPECT_THROW(tc::plan_segments(1, false, 16), tc::Error);
    EXPECT_THROW(tc::plan_segments(11, false, 16), tc::Error);
    EXPECT_EQ(tc::segment_seed(42, 0), 42u);
    EXPECT_NE(tc::segment_seed(42, 1), tc::segment_seed(42, 2));
}

TEST(Segments, JoinDropsSharedKeyframes) {
    // Segment s, frame k holds the value 10 s + k.
    std::vector<tc::Tensor> segs;
    for (int s = 0; s < 3; ++s) {
        tc::Tensor t = tc::Tensor::empty({4, 2, 2, 3}, tc::DType::U8);
        for (int64_t k = 0; k < 4; ++k)
            for (int64_t i = 0; i < 12; ++i) t.data<uint8_t>()[k * 12 + i] = uint8_t(10 * s + k);
        segs.push_back(t);
    }
    auto values = [](const tc::Tensor& v) {
        std::vector<int> out;
        for (int64_t f = 0; f < v.size(0); ++f) out.push_back(v.data<uint8_t>()[f * 12]);
        return out;
    };
    EXPECT_EQ(values(tc::join_segments(segs, false)), (std::vector<int>{0, 1, 2, 3, 11, 12, 13, 21, 22, 23}));
    EXPECT_EQ(values(tc::join_segments(segs, true)), (std::vector<int>{0, 1, 2, 3, 11, 12, 13, 21, 22}));
}

TEST(SegmentsParity, BatchedEqualsSequential) {
    TC_REQUIRE_SHARED(yaml, "golden/tiny/tiny.yaml");
    TC_REQUIRE_SHARED(weights_path, "golden/tiny/model.safetensors");
    TC_REQUIRE_SHARED(e2e_path, "golden/tiny/e2e/e2e.safetensors");
    TC_REQUIRE_SHARED(clip_path, "golden/tiny/cases/c_clip_text.safetensors");
    const tc::ToonCrafterConfig cfg = tc::load_model_config(yaml);
    tc::SafeTensorsFile weights = tc::SafeTensorsFile::open(weights_path);
    const auto model = tc::ToonCrafterModel::load(cfg, weights);
    tc::SafeTensorsFile e2e = tc::SafeTensorsFile::open(e2e_path);
    tc::SafeTensorsFile clip = tc::SafeTensorsFile::open(clip_path);
    const tc::Tensor kf = e2e.get("keyframes_2");  // [1, 3, 2, H, W]
    const tc::Tensor k0 = kf.select(0, 0).select(1, 0).contiguous(), k1 = kf.select(0, 0).select(1, 1).contiguous();
    const std::vector<tc::Tensor> keyframes{k0, k1, flip_w(k0)};
    const tc::Tensor ids = clip.get("token_ids");
    const std::vector<int64_t> prompt = ids_row(ids, 0), negative = ids_row(ids, 1);

    const tc::SegmentPlan plan = tc::plan_segments(3, /*loop=*/true, cfg.frames());
    ASSERT_EQ(plan.segments(), 3);
    tc::SegmentsParams params;
    params.interp.steps = 3;
    params.interp.cfg_scale = 7.5;
    const uint64_t seed = 1234;

    auto run = [&](int max_batch) {
        params.max_batch_segments = max_batch;
        std::vector<std::unique_ptr<tc::SeededNoise>> noises;
        for (int s = 0; s < plan.segments(); ++s) noises.push_back(std::make_unique<tc::SeededNoise>(tc::segment_seed(seed, s)));
        int denoise_reports = 0;
        tc::SegmentHooks hooks;
        hooks.progress = [&](const std::string& stage, int, int, int) { denoise_reports += stage == "denoise"; };
        auto out = tc::generate_segments(*model, keyframes, plan, prompt, negative, params,
                                         [&](int s) -> tc::NoiseSource& { return *noises[size_t(s)]; }, hooks);
        // Every segment made exactly its official number of draws: posterior, x_T, one per step.
        for (const auto& n : noises) EXPECT_EQ(n->draws(), 2 + params.interp.steps);
        const int batches = max_batch == 0 ? 1 : (plan.segments() + max_batch - 1) / max_batch;
        EXPECT_EQ(denoise_reports, batches * params.interp.steps);
        return out;
    };
    const std::vector<tc::Tensor> all = run(0), pairs = run(2), single = run(1);
    ASSERT_EQ(all.size(), 3u);
    for (int s = 0; s < 3; ++s) {
        // The reference: the two-keyframe pipeline on its own, with the segment's seed.
        tc::InterpolationInputs in;
        in.keyframe0 = keyframes[size_t(plan.pairs[size_t(s)].first)];
        in.keyframe1 = keyframes[size_t(plan.pairs[size_t(s)].second)];
        in.prompt_ids = prompt;
        in.negative_ids = negative;
        tc::SeededNoise noise(tc::segment_seed(seed, s));
        const tc::InterpolationResult ref = tc::interpolate(*model, in, params.interp, noise);
        ASSERT_EQ(tc::shape_str(all[size_t(s)].shape()), tc::shape_str(ref.frames.shape()));
        const double d_all = tc::test::max_abs_diff(all[size_t(s)], ref.frames);
        const double d_pairs = tc::test::max_abs_diff(pairs[size_t(s)], ref.frames);
        const double d_single = tc::test::max_abs_diff(single[size_t(s)], ref.frames);
        std::printf("[parity] segments seg %d: batch-3 %.3g  batch-2 %.3g  batch-1 %.3g max-abs vs interpolate()\n", s,
                    d_all, d_pairs, d_single);
        EXPECT_LE(d_all, kBatchTol);
        EXPECT_LE(d_pairs, kBatchTol);
        EXPECT_LE(d_single, kSameShapeTol);
    }
    // Segments really differ (different keyframes and noise), so the comparison is not vacuous.
    EXPECT_GT(tc::test::max_abs_diff(all[0], all[1]), 1e-2);
}
