// Golden parity of the text conditioning (golden README 4c, 5.3): ClipTextEmbedder on the tiny model's
// weights against FrozenOpenCLIPEmbedder's output for three prompts (token ids recorded in the case file).
#include <iostream>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "io/weight_map.h"
#include "models/clip_text.h"
#include "test_util.h"

TEST(ClipTextParity, PenultimateContextMatchesGolden) {
    TC_REQUIRE_SHARED(yaml, "golden/tiny/tiny.yaml");
    TC_REQUIRE_SHARED(weights, "golden/tiny/model.safetensors");
    TC_REQUIRE_SHARED(case_path, "golden/tiny/cases/c_clip_text.safetensors");
    tc::ToonCrafterConfig cfg = tc::load_model_config(yaml);
    tc::ClipTextEmbedder text(cfg.cond_stage);
    tc::SafeTensorsFile file = tc::SafeTensorsFile::open(weights);
    tc::bind_weights(text, file, tc::BindOptions{.prefix = "cond_stage_model.model.", .strict_unused = false});

    tc::SafeTensorsFile c = tc::SafeTensorsFile::open(case_path);
    tc::Tensor ids = c.get("token_ids");  // [3, 77] I64
    tc::Tensor ref = c.get("context");    // [3, 77, 16]
    tc::Tensor got = text.forward(ids);
    double e = tc::test::rel_err(got, ref);
    std::cout << "[parity] c_clip_text rel_err=" << e << "\n";
    EXPECT_LE(e, 1e-4);

    // One prompt at a time gives the same rows (no cross-batch leakage).
    tc::Tensor one = text.forward(ids.slice(0, 2, 3));
    double e1 = tc::test::rel_err(one, ref.slice(0, 2, 3));
    std::cout << "[parity] c_clip_text (prompt 2 alone) rel_err=" << e1 << "\n";
    EXPECT_LE(e1, 1e-4);
}
