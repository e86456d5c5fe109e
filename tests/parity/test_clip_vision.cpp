// Golden parity of the image conditioning (golden README 4d, 4d2, 5.3): ClipImageEmbedder on the tiny model's
// weights against FrozenOpenCLIPImageEmbedderV2, for 64x64 keyframes (upscaling resize), the all-zero image
// (the unconditional input) and a 320x512 photo (downscaling: the anti-alias blur branch).
#include <iostream>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "io/weight_map.h"
#include "models/clip_vision.h"
#include "test_util.h"

namespace {

struct TinyImageEmbedder {
    tc::ToonCrafterConfig cfg;
    tc::SafeTensorsFile file;
    std::unique_ptr<tc::ClipImageEmbedder> embedder;

    TinyImageEmbedder(const std::string& yaml, const std::string& weights)
        : cfg(tc::load_model_config(yaml)), file(tc::SafeTensorsFile::open(weights)) {
        embedder = std::make_unique<tc::ClipImageEmbedder>(cfg.img_cond_stage);
        tc::bind_weights(*embedder, file, tc::BindOptions{.prefix = "embedder.model.", .strict_unused = false});
    }
};

// i2v_test_application.get_image: (u8.permute(2, 0, 1).float() / 255 - 0.5) * 2, in float32 step by step.
tc::Tensor image_from_u8_hwc(const tc::Tensor& u8) {
    const int64_t H = u8.size(0), W = u8.size(1), C = u8.size(2);
    tc::Tensor src = u8.contiguous();
    const uint8_t* p = src.data<uint8_t>();
    std::vector<float> v(size_t(C * H * W));
    for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < H; ++y)
            for (int64_t x = 0; x < W; ++x) {
                float f = float(p[(y * W + x) * C + c]) / 255.f;
                v[size_t((c * H + y) * W + x)] = (f - 0.5f) * 2.f;
            }
    return tc::Tensor::from_vector(v, {1, C, H, W});
}

}  // namespace

TEST(ClipVisionParity, KeyframeAndZeroImageTokens) {
    TC_REQUIRE_SHARED(yaml, "golden/tiny/tiny.yaml");
    TC_REQUIRE_SHARED(weights, "golden/tiny/model.safetensors");
    TC_REQUIRE_SHARED(case_path, "golden/tiny/cases/d_clip_image.safetensors");
    TinyImageEmbedder m(yaml, weights);
    tc::SafeTensorsFile c = tc::SafeTensorsFile::open(case_path);

    tc::Tensor got = m.embedder->forward(c.get("images"));  // [2, 257, 64]
    double e = tc::test::rel_err(got, c.get("tokens"));
    std::cout << "[parity] d_clip_image images rel_err=" << e << "\n";
    EXPECT_LE(e, 1e-4);

    tc::Tensor got0 = m.embedder->forward(c.get("zero_image"));  // [1, 257, 64]
    double e0 = tc::test::rel_err(got0, c.get("zero_image_tokens"));
    std::cout << "[parity] d_clip_image zero_image rel_err=" << e0 << "\n";
    EXPECT_LE(e0, 1e-4);
}

TEST(ClipVisionParity, DownscalePreprocessAndTokens) {
    TC_REQUIRE_SHARED(yaml, "golden/tiny/tiny.yaml");
    TC_REQUIRE_SHARED(weights, "golden/tiny/model.safetensors");
    TC_REQUIRE_SHARED(case_path, "golden/tiny/cases/d2_clip_preprocess_downscale.safetensors");
    TinyImageEmbedder m(yaml, weights);
    tc::SafeTensorsFile c = tc::SafeTensorsFile::open(case_path);

    tc::Tensor x = image_from_u8_hwc(c.get("image_uint8_hwc"));  // [1, 3, 320, 512] in [-1, 1]
    tc::Tensor pre = m.embedder->preprocess(x);                    // [1, 3, 224, 224]
    double ep = tc::test::rel_err(pre, c.get("preprocessed"));
    std::cout << "[parity] d2_clip_preprocess_downscale preprocessed rel_err=" << ep
              << " max_abs=" << tc::test::max_abs_diff(pre, c.get("preprocessed")) << "\n";
    EXPECT_LE(ep, 1e-4);

    tc::Tensor tok = m.embedder->forward(x);  // [1, 257, 64]
    double et = tc::test::rel_err(tok, c.get("tokens"));
    std::cout << "[parity] d2_clip_preprocess_downscale tokens rel_err=" << et << "\n";
    EXPECT_LE(et, 1e-4);

    // The tower alone on the recorded preprocessed input isolates it from the resize.
    tc::Tensor tok_ref_in = m.embedder->forward_preprocessed(c.get("preprocessed"));
    double ef = tc::test::rel_err(tok_ref_in, c.get("tokens"));
    std::cout << "[parity] d2_clip_preprocess_downscale tokens(from recorded preprocessed) rel_err=" << ef << "\n";
    EXPECT_LE(ef, 1e-4);
}
