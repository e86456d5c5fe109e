// Structure of the conditioning models: the names and shapes ClipTextEmbedder, ClipImageEmbedder and
// Resampler declare must be exactly the official state_dict rows (golden/full_keys.tsv for the published
// ViT-H-14 model, golden/tiny/keys.tsv for the tiny one), in state_dict order. No weights are loaded.
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "io/model_config.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"
#include "models/resampler.h"
#include "key_table.h"
#include "test_util.h"

namespace {

using Rows = tc::test::KeyRows;
using tc::test::expect_same_rows;

std::set<std::string> unused_names(const tc::Module& m) {
    std::set<std::string> s;
    m.visit_params([&](const std::string& n, const tc::Param& p) {
        if (!p.used) s.insert(n);
    });
    return s;
}

}  // namespace

TEST(ClipStructure, FullModelKeysMatchOfficial) {
    TC_REQUIRE_SHARED(path, "golden/full_keys.tsv");
    tc::ToonCrafterConfig cfg;  // defaults = the published 512 model (ViT-H-14)
    tc::ClipTextEmbedder text(cfg.cond_stage);
    tc::ClipImageEmbedder image(cfg.img_cond_stage);
    tc::Resampler resampler(cfg.image_proj);
    expect_same_rows(tc::test::declared_rows(text), tc::test::key_table_rows(path, "cond_stage_model.model."), "cond_stage_model.model");
    expect_same_rows(tc::test::declared_rows(image), tc::test::key_table_rows(path, "embedder.model."), "embedder.model");
    expect_same_rows(tc::test::declared_rows(resampler), tc::test::key_table_rows(path, "image_proj_model."), "image_proj_model");
    // golden README section 3: cond_stage_model 294 entries, embedder 398, image_proj_model 51
    EXPECT_EQ(text.param_count(), 294);
    EXPECT_EQ(image.param_count(), 398);
    EXPECT_EQ(resampler.param_count(), 51);
}

TEST(ClipStructure, TinyModelKeysMatchGolden) {
    TC_REQUIRE_SHARED(path, "golden/tiny/keys.tsv");
    TC_REQUIRE_SHARED(yaml, "golden/tiny/tiny.yaml");
    tc::ToonCrafterConfig cfg = tc::load_model_config(yaml);  // ToonCrafterTiny-A via open_clip_arch.json
    tc::ClipTextEmbedder text(cfg.cond_stage);
    tc::ClipImageEmbedder image(cfg.img_cond_stage);
    tc::Resampler resampler(cfg.image_proj);
    expect_same_rows(tc::test::declared_rows(text), tc::test::key_table_rows(path, "cond_stage_model.model."), "cond_stage_model.model");
    expect_same_rows(tc::test::declared_rows(image), tc::test::key_table_rows(path, "embedder.model."), "embedder.model");
    expect_same_rows(tc::test::declared_rows(resampler), tc::test::key_table_rows(path, "image_proj_model."), "image_proj_model");
}

TEST(ClipStructure, UnusedTensorsAreMarked) {
    tc::ToonCrafterConfig cfg;
    tc::ClipTextEmbedder text(cfg.cond_stage);
    tc::ClipImageEmbedder image(cfg.img_cond_stage);
    tc::Resampler resampler(cfg.image_proj);
    EXPECT_EQ(unused_names(text), (std::set<std::string>{"text_projection", "logit_scale"}));
    EXPECT_EQ(unused_names(image),
              (std::set<std::string>{"positional_embedding", "text_projection", "logit_scale", "visual.proj",
                                     "visual.ln_post.weight", "visual.ln_post.bias", "token_embedding.weight",
                                     "ln_final.weight", "ln_final.bias"}));
    EXPECT_TRUE(unused_names(resampler).empty());
    // "penultimate": 23 of the 24 ViT-H-14 text blocks run
    EXPECT_EQ(text.transformer->layers(), 24);
    EXPECT_EQ(text.blocks_run, 23);
    EXPECT_EQ(resampler.queries, 16 * 16);
}

TEST(ClipStructure, RejectsBadConfig) {
    tc::ClipEmbedderConfig c;
    c.layer = "middle";
    EXPECT_THROW(tc::ClipTextEmbedder{c}, tc::Error);
    tc::ClipEmbedderConfig v;
    v.model.vision_head_width = 77;  // 1280 is not a multiple of 77
    EXPECT_THROW(tc::ClipImageEmbedder{v}, tc::Error);
}

TEST(ClipStructure, TokenEmbeddingGathersRowsAndRejectsBadIds) {
    tc::ClipTokenEmbedding emb(4, 2);
    emb.weight->value = tc::Tensor::from_vector({0, 1, 10, 11, 20, 21, 30, 31}, {4, 2});
    tc::Tensor out = emb.forward(tc::Tensor::from_vector_i64({3, 0, 2, 2}, {2, 2}));
    EXPECT_EQ(out.shape(), (tc::Shape{2, 2, 2}));
    EXPECT_EQ(out.to_vector(), (std::vector<float>{30, 31, 0, 1, 20, 21, 20, 21}));
    EXPECT_THROW(emb.forward(tc::Tensor::from_vector_i64({4}, {1, 1})), tc::Error);
    EXPECT_THROW(emb.forward(tc::Tensor::from_vector_i64({-1}, {1, 1})), tc::Error);
    EXPECT_THROW(emb.forward(tc::Tensor::from_vector({1.f}, {1, 1})), tc::Error);  // ids must be I64
}

TEST(ClipStructure, CausalMaskIsMinusInfAboveDiagonal) {
    std::vector<float> m = tc::clip_causal_mask(3, tc::Device::CPU).to_vector();
    const float inf = std::numeric_limits<float>::infinity();
    EXPECT_EQ(m, (std::vector<float>{0, -inf, -inf, 0, 0, -inf, 0, 0, 0}));
}

TEST(ClipStructure, UnboundWeightsGiveAClearError) {
    tc::ResamplerConfig rc{8, 1, 4, 2, 2, 6, 4, 2, 3};
    tc::Resampler r(rc);
    EXPECT_THROW(r.forward(tc::Tensor::zeros({1, 5, 6})), tc::Error);
    EXPECT_THROW(r.forward(tc::Tensor::zeros({1, 5, 7})), tc::Error);  // wrong embedding_dim
}
