// End-to-end golden parity of the interpolation pipeline (golden README section 7): the tiny model, the
// recorded keyframes and noise, against the official image_guided_synthesis run.
//  1. Conditioning: text/image contexts, the sampled keyframe latents, c_concat and ref_context (1e-4).
//  2. Step by step: each step fed the recorded x_in; our v_cond/v_uncond and everything the step derives
//     from them (1e-3 max-abs; the README's float64 re-run moved step 3's v_cond by 3.6e-3, see below).
//  3. Free-running: the final latent and frames (3e-2 max-abs), uint8 frames within +-1.
//  4. The decoder alone on the golden final latent, with and without the middle-frame re-decode (1e-4).
// Every figure is printed with a "[parity]" prefix.
#include <cstdio>
#include <memory>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "media/png.h"
#include "models/tooncrafter_model.h"
#include "pipeline/interpolate.h"
#include "test_util.h"

namespace {

constexpr double kCondTol = 1e-4;
constexpr double kStepTol = 1e-3;
constexpr double kFreeTol = 3e-2;

struct Golden {
    std::string dir = tc::test::shared_dir() + "/golden/tiny";
    tc::ToonCrafterConfig cfg = tc::load_model_config(dir + "/tiny.yaml");
    tc::SafeTensorsFile weights = tc::SafeTensorsFile::open(dir + "/model.safetensors");
    std::unique_ptr<tc::ToonCrafterModel> model = tc::ToonCrafterModel::load(cfg, weights);
    tc::SafeTensorsFile e2e = tc::SafeTensorsFile::open(dir + "/e2e/e2e.safetensors");
    tc::SafeTensorsFile clip = tc::SafeTensorsFile::open(dir + "/cases/c_clip_text.safetensors");

    // Inputs as the official run had them: keyframes_2 [1,3,2,H,W]; the token ids of case c, whose prompts
    // are ["cartoon character animation", "", ...] (the e2e prompt and the empty unconditional prompt).
    tc::InterpolationInputs inputs() const {
        tc::InterpolationInputs in;
        tc::Tensor kf = e2e.get("keyframes_2");
        in.keyframe0 = kf.select(0, 0).select(1, 0).contiguous();
        in.keyframe1 = kf.select(0, 0).select(1, 1).contiguous();
        tc::Tensor ids = clip.get("token_ids");
        auto row = [&](int r) {
            std::vector<int64_t> v;
            for (float x : ids.select(0, r).to_vector()) v.push_back(int64_t(x));
            return v;
        };
        in.prompt_ids = row(0);
        in.negative_ids = row(1);
        return in;
    }
    tc::RecordedNoise noise() const { return tc::RecordedNoise(dir + "/e2e/e2e.safetensors"); }
};

bool have_golden() {
    return !tc::test::shared_file("golden/tiny/e2e/e2e.safetensors").empty() &&
           !tc::test::shared_file("golden/tiny/model.safetensors").empty() &&
           !tc::test::shared_file("golden/tiny/cases/c_clip_text.safetensors").empty();
}

#define TC_REQUIRE_GOLDEN_E2E()                                                                    \
    if (!have_golden()) GTEST_SKIP() << "reference data not found under " << tc::test::shared_dir() \
                                     << "/golden/tiny (set TC_SHARED_DIR)"

double report(const char* what, const tc::Tensor& got, const tc::Tensor& ref) {
    const double d = tc::test::max_abs_diff(got, ref);
    std::printf("[parity] e2e %-28s max-abs %.3g  rel %.3g\n", what, d, tc::test::rel_err(got, ref));
    return d;
}

}  // namespace

TEST(E2EParity, Conditioning) {
    TC_REQUIRE_GOLDEN_E2E();
    Golden g;
    ASSERT_NE(g.clip.metadata().at("prompts").find("[\"cartoon character animation\", \"\""), std::string::npos);
    tc::RecordedNoise noise = g.noise();
    const tc::Conditioning c = tc::prepare_conditioning(*g.model, g.inputs(), noise);
    EXPECT_EQ(noise.used(), 1u);  // only the posterior sample so far
    const auto& e = g.e2e;
    EXPECT_LE(report("text_context", c.text_context, e.get("rec_text_context")), kCondTol);
    EXPECT_LE(report("uncond_text_context", c.uncond_text_context, e.get("rec_uncond_text_context")), kCondTol);
    EXPECT_LE(report("clip_image_tokens", c.clip_image_tokens, e.get("rec_clip_image_tokens")), kCondTol);
    EXPECT_LE(report("uncond_clip_image_tokens", c.uncond_clip_image_tokens, e.get("rec_uncond_clip_image_tokens")),
              kCondTol);
    EXPECT_LE(report("image_context", c.image_context, e.get("rec_image_context")), kCondTol);
    EXPECT_LE(report("uncond_image_context", c.uncond_image_context, e.get("rec_uncond_image_context")), kCondTol);
    // rec_z holds all T frames; frames 0 and T-1 are the ones the pipeline uses.
    const tc::Tensor rec_z = e.get("rec_z");
    const int64_t T = rec_z.size(2);
    EXPECT_LE(report("z frame 0", c.z_first, rec_z.select(2, 0)), kCondTol);
    EXPECT_LE(report("z frame T-1", c.z_last, rec_z.select(2, T - 1)), kCondTol);
    EXPECT_LE(report("c_concat", c.c_concat, e.get("rec_cond_c_concat")), kCondTol);
    // The ref_context of this run equals case b's (README section 7).
    auto b = tc::SafeTensorsFile::open(g.dir + "/cases/b_vae_decode.safetensors");
    ASSERT_EQ(c.ref_context.size(), 5u);
    for (int i = 0; i < 5; ++i) {
        const std::string name = "ref_context_" + std::to_string(i);
        EXPECT_LE(report(name.c_str(), c.ref_context[size_t(i)], b.get(name)), kCondTol);
    }
}

TEST(E2EParity, StepByStep) {
    TC_REQUIRE_GOLDEN_E2E();
    Golden g;
    tc::RecordedNoise noise = g.noise();
    const tc::Conditioning c = tc::prepare_conditioning(*g.model, g.inputs(), noise);
    const auto& e = g.e2e;
    const tc::DdimSchedule sched = tc::DdimSchedule::make(tc::model_schedule(*g.model), 4, 1.0);
    const tc::Denoiser batched = tc::make_denoiser(*g.model, c, 10.0, /*batch_cfg=*/true);
    const tc::Denoiser separate = tc::make_denoiser(*g.model, c, 10.0, /*batch_cfg=*/false);
    for (int s = 0; s < 4; ++s) {
        const std::string p = "rec_step" + std::to_string(s) + "_";
        const tc::Tensor x_in = e.get(p + "x_in");
        const int64_t t = int64_t(e.get(p + "t").to_vector()[0]);
        ASSERT_EQ(t, sched.timesteps[size_t(3 - s)]);
        auto [v_c, v_u] = batched(x_in, t, true);
        if (s == 0) {  // both ways of running the two branches agree
            auto [v_c2, v_u2] = separate(x_in, t, true);
            const double d = std::max(tc::test::max_abs_diff(v_c, v_c2), tc::test::max_abs_diff(v_u, v_u2));
            // Not bit-equal: the GEMMs see other shapes and sum in another order; the tiny model's few-element
            // GroupNorms amplify that to ~1e-4 (README section 8).
            std::printf("[parity] e2e batched vs separate CFG branches: max-abs %.3g\n", d);
            EXPECT_LE(d, 2e-4);
        }
        char noise_name[16];
        std::snprintf(noise_name, sizeof noise_name, "noise_%02d", s + 2);
        const tc::DdimStep r = tc::ddim_step(sched, s, x_in, v_c, v_u, {7.5, 0.7}, e.get(noise_name));
        std::printf("[parity] e2e step %d (t=%lld)\n", s, (long long)t);
        // Every per-step quantity within 1e-3 max-abs (the budget), even after CFG's x7.5 (measured
        // <= 3.2e-4 on the tiny model; see docs/numerics.md).
        const double tol_v = kStepTol, tol_cfg = kStepTol;
        EXPECT_LE(report("  v_cond", r.v_cond, e.get(p + "v_cond")), tol_v) << "step " << s;
        EXPECT_LE(report("  v_uncond", r.v_uncond, e.get(p + "v_uncond")), tol_v) << "step " << s;
        EXPECT_LE(report("  v_cfg", r.v_cfg, e.get(p + "v_cfg")), tol_cfg) << "step " << s;
        EXPECT_LE(report("  v_rescaled", r.v_rescaled, e.get(p + "v_rescaled")), tol_cfg) << "step " << s;
        EXPECT_LE(report("  pred_x0", r.pred_x0, e.get(p + "pred_x0")), tol_cfg) << "step " << s;
        EXPECT_LE(report("  x_prev", r.x_prev, e.get(p + "x_prev")), tol_cfg) << "step " << s;
    }
}

TEST(E2EParity, FreeRunning) {
    TC_REQUIRE_GOLDEN_E2E();
    Golden g;
    tc::RecordedNoise noise = g.noise();
    tc::InterpolationParams params;
    params.steps = 4;  // the golden run; the other values are the defaults (run.sh)
    int steps_seen = 0;
    tc::InterpolationHooks hooks;
    hooks.on_step = [&](const tc::DdimStep& st) {
        const std::string p = "rec_step" + std::to_string(st.i) + "_";
        std::printf("[parity] e2e free-running step %d: x_prev max-abs %.3g\n", st.i,
                    tc::test::max_abs_diff(st.x_prev, g.e2e.get(p + "x_prev")));
        ++steps_seen;
    };
    const tc::InterpolationResult r = tc::interpolate(*g.model, g.inputs(), params, noise, hooks);
    EXPECT_EQ(steps_seen, 4);
    EXPECT_EQ(noise.used(), 6u);  // posterior, x_T, four step draws: the official order and count
    const auto& e = g.e2e;
    EXPECT_LE(report("final_latent", r.latent, e.get("final_latent")), kFreeTol);
    EXPECT_LE(report("frames", r.frames, e.get("frames")), kFreeTol);
    const tc::Tensor ref_u8 = e.get("frames_uint8_thwc");
    ASSERT_EQ(r.frames_uint8.shape(), ref_u8.shape());
    const uint8_t* a = r.frames_uint8.data<uint8_t>();
    const uint8_t* b = ref_u8.contiguous().data<uint8_t>();
    int64_t off = 0, worst = 0;
    for (int64_t i = 0; i < ref_u8.numel(); ++i) {
        const int64_t d = std::abs(int64_t(a[i]) - int64_t(b[i]));
        off += d != 0;
        worst = std::max(worst, d);
    }
    std::printf("[parity] e2e frames_uint8: %lld of %lld values differ, max |diff| %lld\n", (long long)off,
                (long long)ref_u8.numel(), (long long)worst);
    EXPECT_LE(worst, 1);
}

TEST(E2EParity, DecodeGoldenLatent) {
    TC_REQUIRE_GOLDEN_E2E();
    Golden g;
    tc::RecordedNoise noise = g.noise();
    const tc::Conditioning c = tc::prepare_conditioning(*g.model, g.inputs(), noise);
    tc::Tensor sub;
    const tc::Tensor frames = tc::decode_video(*g.model, g.e2e.get("final_latent"), c.ref_context, true, &sub);
    EXPECT_LE(report("decode(final_latent)", frames, g.e2e.get("frames")), kCondTol);
    EXPECT_LE(report("decode_sub_out", sub, g.e2e.get("rec_decode_sub_out").select(0, 0)), kCondTol);
    // uint8 conversion of the golden float frames is exact.
    const tc::Tensor u8 = tc::frames_to_uint8(g.e2e.get("frames"));
    EXPECT_EQ(tc::test::max_abs_diff(u8, g.e2e.get("frames_uint8_thwc")), 0.0);
    // Without the fix, frames T/2-1 and T/2 come from the full decode.
    const tc::Tensor plain = tc::decode_video(*g.model, g.e2e.get("final_latent"), c.ref_context, false);
    const int64_t T = plain.size(1);
    EXPECT_LE(tc::test::max_abs_diff(plain.slice(1, 0, T / 2 - 1), frames.slice(1, 0, T / 2 - 1)), 0.0);
    EXPECT_GT(tc::test::max_abs_diff(plain.slice(1, T / 2 - 1, T / 2 + 1), frames.slice(1, T / 2 - 1, T / 2 + 1)), 1e-3);
}

// load_data_prompts: PIL RGB, ToTensor, Normalize(0.5, 0.5) gives exactly the recorded keyframes.
TEST(E2EParity, KeyframesFromPng) {
    TC_REQUIRE_GOLDEN_E2E();
    const std::string dir = tc::test::shared_dir() + "/golden/tiny/e2e/";
    auto e = tc::SafeTensorsFile::open(dir + "e2e.safetensors");
    const tc::Tensor kf = e.get("keyframes_2");
    for (int k = 0; k < 2; ++k) {
        const tc::Tensor img = tc::read_png(dir + "keyframe_" + std::to_string(k) + ".png");
        const tc::Tensor x = tc::keyframe_from_rgb8(img);
        EXPECT_EQ(tc::test::max_abs_diff(x, kf.select(0, 0).select(1, k)), 0.0) << "keyframe " << k;
        EXPECT_EQ(tc::fit_keyframe(x, 64, 64).shape(), (tc::Shape{3, 64, 64}));
    }
    // The recorded uint8 frames match the PNGs the golden run saved for viewing.
    const tc::Tensor u8 = e.get("frames_uint8_thwc");
    for (int t = 0; t < 8; ++t) {
        char name[32];
        std::snprintf(name, sizeof name, "out_frame_%02d.png", t);
        EXPECT_EQ(tc::test::max_abs_diff(tc::read_png(dir + name), u8.select(0, t)), 0.0) << name;
    }
}
