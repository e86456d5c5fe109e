// Golden parity of the autoencoder (golden README 4.a and 4.b) on the tiny random-weight model:
// a_vae_encode (moments, mean, clamped logvar, std, the sampled and mode latents, the 5 hidden states) and
// b_vae_decode (the dual-reference decode of 8 frames and of the 6-frame subset of the interpolation trick).
#include <iostream>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "io/weight_map.h"
#include "models/vae.h"
#include "test_util.h"

namespace {

constexpr float kScaleFactor = 0.18215f;  // tiny.yaml model.params.scale_factor
constexpr double kTol = 1e-4;             // max-abs error / max-abs of the reference

struct TinyVae {
    explicit TinyVae(const std::string& yaml, const std::string& weights)
        : vae(tc::load_model_config(yaml).vae), file(tc::SafeTensorsFile::open(weights)) {
        tc::BindOptions opt;
        opt.prefix = "first_stage_model.";
        opt.strict_unused = false;
        tc::bind_weights(vae, file, opt);
    }
    tc::VAE vae;
    tc::SafeTensorsFile file;
};

double report(const char* label, const tc::Tensor& got, const tc::Tensor& ref) {
    const double e = tc::test::rel_err(got, ref);
    std::cout << "[parity] " << label << " rel_err=" << e << " max_abs=" << tc::test::max_abs_diff(got, ref)
              << std::endl;
    return e;
}

}  // namespace

TEST(VaeParity, EncodeCaseA) {
    TC_REQUIRE_SHARED(yaml, "golden/tiny/tiny.yaml");
    TC_REQUIRE_SHARED(weights, "golden/tiny/model.safetensors");
    TC_REQUIRE_SHARED(case_a, "golden/tiny/cases/a_vae_encode.safetensors");
    TC_REQUIRE_SHARED(case_b, "golden/tiny/cases/b_vae_decode.safetensors");
    TinyVae m(yaml, weights);
    auto a = tc::SafeTensorsFile::open(case_a);
    auto b = tc::SafeTensorsFile::open(case_b);

    const tc::VAE::Encoded enc = m.vae.encode(a.get("x"));
    EXPECT_LT(report("a_vae_encode moments", enc.moments, a.get("moments")), kTol);
    EXPECT_LT(report("a_vae_encode mean", enc.mean, a.get("mean")), kTol);
    EXPECT_LT(report("a_vae_encode logvar_clamped", enc.logvar, a.get("logvar_clamped")), kTol);

    // DiagonalGaussianDistribution: std = exp(0.5 logvar); sample = mean + std * noise; z = scale_factor * sample.
    const tc::Tensor std_ = tc::ops::exp(tc::ops::scale(enc.logvar, 0.5f));
    EXPECT_LT(report("a_vae_encode std", std_, a.get("std")), kTol);
    const tc::Tensor sample = tc::ops::add(enc.mean, tc::ops::mul(std_, a.get("posterior_noise")));
    EXPECT_LT(report("a_vae_encode z_scaled", tc::ops::scale(sample, kScaleFactor), a.get("z_scaled")), kTol);
    EXPECT_LT(report("a_vae_encode z_mode_scaled", tc::ops::scale(enc.mean, kScaleFactor), a.get("z_mode_scaled")),
              kTol);

    // The hidden states of keyframe k are stored in case b as ref_context_i[:, :, k].
    ASSERT_EQ(enc.hidden.size(), 5u);
    const std::vector<tc::Tensor> ref = tc::vae_ref_context(enc.hidden, 0, 1);
    for (size_t i = 0; i < ref.size(); ++i) {
        const std::string name = "ref_context_" + std::to_string(i);
        EXPECT_LT(report(("a_vae_encode hidden " + name).c_str(), ref[i], b.get(name)), kTol);
    }
}

TEST(VaeParity, DecodeCaseB) {
    TC_REQUIRE_SHARED(yaml, "golden/tiny/tiny.yaml");
    TC_REQUIRE_SHARED(weights, "golden/tiny/model.safetensors");
    TC_REQUIRE_SHARED(case_b, "golden/tiny/cases/b_vae_decode.safetensors");
    TinyVae m(yaml, weights);
    auto b = tc::SafeTensorsFile::open(case_b);

    std::vector<tc::Tensor> ref_context;
    for (int i = 0; i < 5; ++i) ref_context.push_back(b.get("ref_context_" + std::to_string(i)));

    // decode_first_stage: z / scale_factor, "b c t h w -> (b t) c h w", decode(z, ref_context, timesteps=T),
    // then "(b t) c h w -> b c t h w" (models/vae_blocks.h layout helpers).
    const tc::Tensor z = b.get("z");  // [1, 4, T, h, w], scaled
    const int64_t T = z.size(2);
    const tc::Tensor zf = tc::ops::scale(tc::video_to_frames(z), 1.0f / kScaleFactor);
    const tc::Tensor frames = m.vae.decode(zf, ref_context, T);  // [T, 3, H, W]
    EXPECT_LT(report("b_vae_decode frames", tc::frames_to_video(frames, T), b.get("frames")), kTol);

    // The interpolation trick's second decode: frames sub_index of z with timesteps = 6.
    const std::vector<float> idx = b.get("sub_index").to_vector();
    std::vector<tc::Tensor> picked;
    for (float f : idx) picked.push_back(zf.slice(0, int64_t(f), int64_t(f) + 1));
    const tc::Tensor zs = tc::ops::concat(picked, 0);
    const tc::Tensor frames_sub = m.vae.decode(zs, ref_context, int64_t(idx.size()));
    EXPECT_LT(report("b_vae_decode frames_sub", tc::frames_to_video(frames_sub, int64_t(idx.size())),
                     b.get("frames_sub")),
              kTol);
}

TEST(VaeParity, DecodeRejectsBadRefContext) {
    TC_REQUIRE_SHARED(yaml, "golden/tiny/tiny.yaml");
    TC_REQUIRE_SHARED(weights, "golden/tiny/model.safetensors");
    TinyVae m(yaml, weights);
    const tc::Tensor z = tc::Tensor::zeros({4, 4, 8, 8});
    EXPECT_THROW(m.vae.decode(z, {tc::Tensor::zeros({1, 32, 2, 64, 64})}, 4), tc::Error);  // 1 map, not 5
    EXPECT_THROW(m.vae.decode(z, {}, 3), tc::Error);  // 4 frames are not a multiple of 3
}
