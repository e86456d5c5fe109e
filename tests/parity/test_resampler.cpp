// Golden parity of the image-context projector (golden README 4e, 5.3): Resampler on the tiny model's weights
// against image_proj_model for two keyframes' CLIP tokens and for the zero image's tokens.
#include <iostream>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "io/weight_map.h"
#include "models/resampler.h"
#include "test_util.h"

TEST(ResamplerParity, ImageContextMatchesGolden) {
    TC_REQUIRE_SHARED(yaml, "golden/tiny/tiny.yaml");
    TC_REQUIRE_SHARED(weights, "golden/tiny/model.safetensors");
    TC_REQUIRE_SHARED(case_path, "golden/tiny/cases/e_resampler.safetensors");
    tc::ToonCrafterConfig cfg = tc::load_model_config(yaml);
    tc::Resampler resampler(cfg.image_proj);
    tc::SafeTensorsFile file = tc::SafeTensorsFile::open(weights);
    tc::bind_weights(resampler, file, tc::BindOptions{.prefix = "image_proj_model.", .strict_unused = false});
    tc::SafeTensorsFile c = tc::SafeTensorsFile::open(case_path);

    tc::Tensor got = resampler.forward(c.get("image_tokens"));  // [2, 128, 16]
    double e = tc::test::rel_err(got, c.get("image_context"));
    std::cout << "[parity] e_resampler image_tokens rel_err=" << e << "\n";
    EXPECT_LE(e, 1e-4);

    tc::Tensor got0 = resampler.forward(c.get("zero_image_tokens"));  // [1, 128, 16]
    double e0 = tc::test::rel_err(got0, c.get("zero_image_context"));
    std::cout << "[parity] e_resampler zero_image_tokens rel_err=" << e0 << "\n";
    EXPECT_LE(e0, 1e-4);
}
