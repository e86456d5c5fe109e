// Golden parity of the diffusion schedule and the DDIM sampler (golden README 4.g, 5.1, 5.2, section 7):
//  - the 13 schedule buffers computed as the official constructor does, against the checkpoint and case g;
//  - DDIMSampler.make_schedule for S = 4 and 10, eta 1 and 0: every array of case g; the float32 scalars
//    p_sample_ddim builds ("_f32", "_used_f32") must be bit-identical;
//  - the NaN steps of the official code (1 - a_prev - sigma^2 < 0 in float32) are exactly the README's list,
//    and we clamp them;
//  - one DDIM step (guidance, rescale, v -> eps/x0, dynamic rescale, update) from the recorded model outputs
//    and noise of the e2e run, and the sampling loop over all four steps.
#include <cmath>
#include <cstdio>
#include <set>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "pipeline/ddim.h"
#include "test_util.h"

namespace {

std::vector<float> vec(const tc::SafeTensorsFile& f, const std::string& name) { return f.get(name).to_vector(); }

// Largest |a - b| over |b| clipped below at 1 (the tables hold values from 1e-3 to 46).
double max_scaled_diff(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    if (a.size() != b.size()) return 1e30;
    double m = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        double d = std::abs(double(a[i]) - double(b[i])) / std::max(1.0, std::abs(double(b[i])));
        if (!(d <= m)) m = d;
    }
    return m;
}

size_t count_exact(const std::vector<float>& a, const std::vector<float>& b) {
    size_t n = 0;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) n += a[i] == b[i] ? 1 : 0;
    return n;
}

// The model buffers the sampler reads, from case g (the same values as the checkpoint's buffers).
tc::DiffusionSchedule golden_buffers(const tc::SafeTensorsFile& g) {
    tc::DiffusionSchedule s;
    s.alphas_cumprod = vec(g, "alphas_cumprod_f32");
    s.sqrt_alphas_cumprod = vec(g, "sqrt_alphas_cumprod_f32");
    s.sqrt_one_minus_alphas_cumprod = vec(g, "sqrt_one_minus_alphas_cumprod_f32");
    s.scale_arr = vec(g, "scale_arr_f32");
    return s;
}

}  // namespace

TEST(DdimParity, ScheduleBuffersMatchCheckpoint) {
    TC_REQUIRE_SHARED(yaml, "golden/tiny/tiny.yaml");
    TC_REQUIRE_SHARED(weights, "golden/tiny/model.safetensors");
    TC_REQUIRE_SHARED(gpath, "golden/tiny/cases/g_ddim_schedule.safetensors");
    const tc::DiffusionSchedule s = tc::DiffusionSchedule::compute(tc::load_model_config(yaml));
    auto ckpt = tc::SafeTensorsFile::open(weights);
    for (const auto& [name, table] : s.named()) {
        std::vector<float> ref = vec(ckpt, name);
        double d = max_scaled_diff(*table, ref);
        std::printf("[parity] buffer %-32s n=%zu exact=%zu max_scaled_diff=%.3g\n", name.c_str(), ref.size(),
                    count_exact(*table, ref), d);
        EXPECT_LE(d, 1e-6) << name;
    }
    auto g = tc::SafeTensorsFile::open(gpath);
    const std::vector<std::pair<std::string, const std::vector<float>*>> case_g{
        {"betas_f32", &s.betas},
        {"alphas_cumprod_f32", &s.alphas_cumprod},
        {"alphas_cumprod_prev_f32", &s.alphas_cumprod_prev},
        {"sqrt_alphas_cumprod_f32", &s.sqrt_alphas_cumprod},
        {"sqrt_one_minus_alphas_cumprod_f32", &s.sqrt_one_minus_alphas_cumprod},
        {"scale_arr_f32", &s.scale_arr}};
    for (const auto& [name, table] : case_g) {
        std::vector<float> ref = vec(g, name);
        double d = max_scaled_diff(*table, ref);
        std::printf("[parity] case g %-34s exact=%zu/%zu max_scaled_diff=%.3g\n", name.c_str(),
                    count_exact(*table, ref), ref.size(), d);
        EXPECT_LE(d, 1e-6) << name;
    }
    EXPECT_EQ(s.alphas_cumprod.back(), 0.0f);  // zero terminal SNR
}

TEST(DdimParity, TimestepsUniformTrailing) {
    EXPECT_EQ(tc::ddim_timesteps_uniform_trailing(4), (std::vector<int64_t>{249, 499, 749, 999}));
    EXPECT_EQ(tc::ddim_timesteps_uniform_trailing(1), (std::vector<int64_t>{999}));
    for (int S = 1; S <= 1000; ++S) {
        auto ts = tc::ddim_timesteps_uniform_trailing(S);
        ASSERT_EQ(int(ts.size()), S);
        EXPECT_EQ(ts.back(), 999);
        for (size_t i = 1; i < ts.size(); ++i) EXPECT_LT(ts[i - 1], ts[i]) << "S=" << S;
        EXPECT_GE(ts.front(), 0);
    }
    EXPECT_THROW(tc::ddim_timesteps_uniform_trailing(0), tc::Error);
    // S = 61: numpy's arange has 62 values there (the last is timestep -1, which the official code cannot run).
    auto ts61 = tc::ddim_timesteps_uniform_trailing(61);
    EXPECT_EQ(ts61.size(), 61u);
    EXPECT_EQ(ts61.front(), 15);
}

TEST(DdimParity, MakeScheduleEveryArray) {
    TC_REQUIRE_SHARED(gpath, "golden/tiny/cases/g_ddim_schedule.safetensors");
    TC_REQUIRE_SHARED(yaml, "golden/tiny/tiny.yaml");
    auto g = tc::SafeTensorsFile::open(gpath);
    // From the golden buffers (what the official sampler reads) and from our own computed buffers.
    const tc::DiffusionSchedule from_golden = golden_buffers(g);
    const tc::DiffusionSchedule computed = tc::DiffusionSchedule::compute(tc::load_model_config(yaml));
    for (const tc::DiffusionSchedule* buf : {&from_golden, &computed}) {
        const char* src = buf == &from_golden ? "golden buffers" : "computed buffers";
        for (int S : {4, 10}) {
            for (int eta : {1, 0}) {
                const std::string p = "steps" + std::to_string(S) + "_eta" + std::to_string(eta) + "_";
                const tc::DdimSchedule d = tc::DdimSchedule::make(*buf, S, double(eta));
                std::vector<int64_t> ts;
                for (float v : g.get(p + "timesteps").to_vector()) ts.push_back(int64_t(v));
                EXPECT_EQ(d.timesteps, ts) << p;
                // Exact float32 scalars.
                const std::vector<std::pair<std::string, const std::vector<float>*>> exact{
                    {"alphas", &d.alphas},
                    {"a_t_used_f32", &d.a_t},
                    {"a_prev_used_f32", &d.a_prev},
                    {"sigma_used_f32", &d.sigma},
                    {"sqrt_a_prev_used_f32", &d.sqrt_a_prev},
                    {"dir_arg_used_f32", &d.dir_arg},
                    {"dir_coef_used_f32", &d.dir_coef},
                    {"scale_t_f32", &d.scale_t},
                    {"scale_prev_f32", &d.scale_prev}};
                for (const auto& [name, ours] : exact) {
                    std::vector<float> ref = vec(g, p + name);
                    EXPECT_EQ(*ours, ref) << src << " " << p << name;
                }
                // float64 in the sampler, stored rounded to float32.
                for (const auto& [name, ours64] :
                     std::vector<std::pair<std::string, const std::vector<double>*>>{{"alphas_prev", &d.alphas_prev},
                                                                                     {"sigmas", &d.sigmas}}) {
                    std::vector<float> ours(ours64->begin(), ours64->end());
                    std::vector<float> ref = vec(g, p + name);
                    double diff = max_scaled_diff(ours, ref);
                    EXPECT_LE(diff, 1e-6) << src << " " << p << name;
                    std::printf("[parity] %s %s%s: %zu/%zu equal after rounding, max_scaled_diff %.3g\n", src,
                                p.c_str(), name.c_str(), count_exact(ours, ref), ref.size(), diff);
                }
            }
        }
    }
}

// README 5.2: 1 - a_prev - sigma^2 is -5.96e-8 in float32 at the first step for these S (eta = 1), which is
// NaN in the official code. We clamp the argument at 0; no other step is affected.
TEST(DdimParity, NegativeDirectionArgumentIsClamped) {
    TC_REQUIRE_SHARED(gpath, "golden/tiny/cases/g_ddim_schedule.safetensors");
    auto g = tc::SafeTensorsFile::open(gpath);
    const tc::DiffusionSchedule buf = golden_buffers(g);
    const std::set<int> official_nan{7, 11, 14, 15, 20, 25, 33, 34, 35, 37, 38, 39};
    std::set<int> found;
    for (int S = 1; S <= 60; ++S) {
        const tc::DdimSchedule d = tc::DdimSchedule::make(buf, S, 1.0);
        const auto clamped = d.clamped_indices();
        if (!clamped.empty()) {
            found.insert(S);
            ASSERT_EQ(clamped.size(), 1u) << "S=" << S;
            EXPECT_EQ(clamped[0], S - 1) << "S=" << S;  // index S-1 is the first step (t = 999)
            EXPECT_FLOAT_EQ(d.dir_arg[size_t(S - 1)], -5.9604645e-8f);
        }
        for (float c : d.dir_coef) EXPECT_TRUE(std::isfinite(c)) << "S=" << S;
    }
    EXPECT_EQ(found, official_nan);
}

// One step from the recorded model outputs and noise of the e2e run (the UNet is not involved).
TEST(DdimParity, StepFromRecordedModelOutputs) {
    TC_REQUIRE_SHARED(gpath, "golden/tiny/cases/g_ddim_schedule.safetensors");
    TC_REQUIRE_SHARED(epath, "golden/tiny/e2e/e2e.safetensors");
    auto g = tc::SafeTensorsFile::open(gpath);
    auto e = tc::SafeTensorsFile::open(epath);
    const tc::DdimSchedule d = tc::DdimSchedule::make(golden_buffers(g), 4, 1.0);
    const tc::GuidanceParams guidance{7.5, 0.7};
    for (int s = 0; s < 4; ++s) {
        const std::string p = "rec_step" + std::to_string(s) + "_";
        char noise_name[16];
        std::snprintf(noise_name, sizeof noise_name, "noise_%02d", s + 2);
        tc::DdimStep r = tc::ddim_step(d, s, e.get(p + "x_in"), e.get(p + "v_cond"), e.get(p + "v_uncond"), guidance,
                                       e.get(noise_name));
        EXPECT_EQ(r.t, int64_t(e.get(p + "t").to_vector()[0]));
        EXPECT_EQ(r.index, int(e.get(p + "index").to_vector()[0]));
        const double d_cfg = tc::test::max_abs_diff(r.v_cfg, e.get(p + "v_cfg"));
        const double d_res = tc::test::max_abs_diff(r.v_rescaled, e.get(p + "v_rescaled"));
        const double d_x0 = tc::test::max_abs_diff(r.pred_x0, e.get(p + "pred_x0"));
        const double d_xp = tc::test::max_abs_diff(r.x_prev, e.get(p + "x_prev"));
        std::printf("[parity] ddim step %d (t=%lld): max-abs v_cfg %.3g, v_rescaled %.3g, pred_x0 %.3g, x_prev %.3g\n", s,
                    (long long)r.t, d_cfg, d_res, d_x0, d_xp);
        EXPECT_EQ(d_cfg, 0.0);  // elementwise float32, same operation order
        EXPECT_LE(d_res, 1e-5);  // the std reductions may differ in the last bit
        EXPECT_LE(d_x0, 1e-5);
        EXPECT_LE(d_xp, 1e-5);
    }
}

// The sampling loop: a denoiser that replays the recorded v's, the recorded step noise, progress and cancel.
TEST(DdimParity, SampleLoopReplaysRecordedRun) {
    TC_REQUIRE_SHARED(gpath, "golden/tiny/cases/g_ddim_schedule.safetensors");
    TC_REQUIRE_SHARED(epath, "golden/tiny/e2e/e2e.safetensors");
    auto g = tc::SafeTensorsFile::open(gpath);
    auto e = tc::SafeTensorsFile::open(epath);
    const tc::DdimSchedule d = tc::DdimSchedule::make(golden_buffers(g), 4, 1.0);
    int calls = 0;
    tc::Denoiser replay = [&](const tc::Tensor& x, int64_t t, bool need_uncond) -> std::pair<tc::Tensor, tc::Tensor> {
        const std::string p = "rec_step" + std::to_string(calls++) + "_";
        EXPECT_TRUE(need_uncond);
        EXPECT_EQ(t, int64_t(e.get(p + "t").to_vector()[0]));
        EXPECT_LE(tc::test::max_abs_diff(x, e.get(p + "x_in")), 1e-5) << p;
        return {e.get(p + "v_cond"), e.get(p + "v_uncond")};
    };
    std::vector<tc::Tensor> step_noise;
    for (int s = 2; s <= 5; ++s) step_noise.push_back(e.get("noise_0" + std::to_string(s)));
    tc::RecordedNoise noise(step_noise);
    std::vector<std::pair<int, int>> progress;
    tc::SamplerHooks hooks;
    hooks.progress = [&](int step, int total) { progress.emplace_back(step, total); };
    tc::Tensor out = tc::ddim_sample(d, {7.5, 0.7}, e.get("rec_step0_x_in"), replay, noise, hooks);
    const double diff = tc::test::max_abs_diff(out, e.get("final_latent"));
    std::printf("[parity] ddim loop with recorded v: final latent max-abs %.3g\n", diff);
    EXPECT_LE(diff, 1e-5);
    EXPECT_EQ(calls, 4);
    EXPECT_EQ(noise.used(), 4u);
    EXPECT_EQ(progress, (std::vector<std::pair<int, int>>{{1, 4}, {2, 4}, {3, 4}, {4, 4}}));

    // Cancel between steps: asked before each step; the third check says stop.
    calls = 0;
    int checks = 0;
    tc::RecordedNoise noise2(step_noise);
    tc::SamplerHooks cancel_hooks;
    cancel_hooks.cancelled = [&] { return ++checks == 3; };
    EXPECT_THROW(tc::ddim_sample(d, {7.5, 0.7}, e.get("rec_step0_x_in"), replay, noise2, cancel_hooks), tc::Cancelled);
    EXPECT_EQ(calls, 2);
}
