// Structure of the autoencoder: the names and shapes VAE declares must be exactly the official
// `first_stage_model.*` state_dict rows (golden/full_keys.tsv for the published 512 model built from the
// default VAEConfig, golden/tiny/keys.tsv for the tiny one), in state_dict order. No weights are loaded.
#include <fstream>
#include <set>
#include <sstream>

#include "io/model_config.h"
#include "models/vae.h"
#include "key_table.h"
#include "test_util.h"

namespace {

using Rows = tc::test::KeyRows;
using tc::test::expect_same_rows;

// golden/tiny/tiny.yaml first_stage_config.params.ddconfig.
tc::VAEConfig tiny_vae_config() {
    tc::VAEConfig c;
    c.embed_dim = 4;
    c.z_channels = 4;
    c.resolution = 256;
    c.in_channels = 3;
    c.out_ch = 3;
    c.ch = 32;
    c.ch_mult = {1, 1, 2, 2};
    c.num_res_blocks = 1;
    c.attn_resolutions = {};
    return c;
}

}  // namespace

TEST(VaeStructure, DefaultConfigMatchesFullKeys) {
    TC_REQUIRE_SHARED(path, "golden/full_keys.tsv");
    tc::VAE vae{tc::VAEConfig{}};
    expect_same_rows(tc::test::declared_rows(vae), tc::test::key_table_rows(path, "first_stage_model."), "VAE (512 model)");
}

TEST(VaeStructure, TinyConfigMatchesTinyKeys) {
    TC_REQUIRE_SHARED(path, "golden/tiny/keys.tsv");
    tc::VAE vae{tiny_vae_config()};
    expect_same_rows(tc::test::declared_rows(vae), tc::test::key_table_rows(path, "first_stage_model."), "VAE (tiny model)");
}

TEST(VaeStructure, OnlyPostQuantConvIsUnused) {
    tc::VAE vae{tc::VAEConfig{}};
    std::set<std::string> unused;
    vae.visit_params([&](const std::string& n, const tc::Param& p) {
        if (!p.used) unused.insert(n);
        EXPECT_FALSE(p.buffer) << n;
    });
    EXPECT_EQ(unused, (std::set<std::string>{"post_quant_conv.weight", "post_quant_conv.bias"}));
}

TEST(VaeStructure, DecoderRefinementKinds) {
    tc::VAE vae{tc::VAEConfig{}};
    // Levels 2 and 3 use fusion attention (8 heads x 64 = 512 inner), levels 0 and 1 and the final one a Combiner.
    EXPECT_FALSE(vae.decoder->is_fusion_level(0));
    EXPECT_FALSE(vae.decoder->is_fusion_level(1));
    EXPECT_TRUE(vae.decoder->is_fusion_level(2));
    EXPECT_TRUE(vae.decoder->is_fusion_level(3));
    EXPECT_EQ(vae.decoder->attn_refinement->size(), 5u);
    const auto& f = vae.decoder->attn_refinement->at<tc::FusionCrossAttention>(2);
    EXPECT_EQ(f.heads, 8);
    EXPECT_EQ(f.dim_head, 64);
}

TEST(VaeStructure, RejectsSingleZ) {
    tc::VAEConfig c;
    c.double_z = false;
    EXPECT_THROW(tc::VAE{c}, tc::Error);
}

// Combiner semantics on hand-set weights (identity 1x1 conv, zero bias): frame 0 gets ref map 0, frame T-1
// gets ref map 1, the frames between are untouched, and a single frame gets both.
TEST(VaeBlocks, CombinerAddsToFirstAndLastFrame) {
    tc::Combiner comb(2);
    comb.conv->weight->value = tc::Tensor::from_vector({1, 0, 0, 1}, {2, 2, 1, 1});
    comb.conv->bias->value = tc::Tensor::zeros({2});
    // context [1, C=2, 2, 1, 1]: map 0 = (10, 20), map 1 = (100, 200)
    const tc::Tensor ctx = tc::Tensor::from_vector({10, 100, 20, 200}, {1, 2, 2, 1, 1});
    const tc::Tensor x = tc::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2, 1, 1});  // 3 frames
    EXPECT_EQ(comb.forward(x, ctx).to_vector(), (std::vector<float>{11, 22, 3, 4, 105, 206}));
    const tc::Tensor one = tc::Tensor::from_vector({1, 2}, {1, 2, 1, 1});
    EXPECT_EQ(comb.forward(one, ctx).to_vector(), (std::vector<float>{111, 222}));
    EXPECT_THROW(comb.forward(tc::Tensor::zeros({3, 3, 1, 1}), ctx), tc::Error);  // channel mismatch
}

TEST(VaeBlocks, RefContextStacksFirstAndLastFrame) {
    const tc::Tensor h = tc::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2, 1, 1});  // 3 frames, 2 channels
    const auto rc = tc::vae_ref_context({h}, 0, 2);
    ASSERT_EQ(rc.size(), 1u);
    EXPECT_EQ(rc[0].shape(), (tc::Shape{1, 2, 2, 1, 1}));
    EXPECT_EQ(rc[0].to_vector(), (std::vector<float>{1, 5, 2, 6}));  // [c][frame]
    const auto rc2 = tc::vae_ref_context({h.slice(0, 0, 1)}, {h.slice(0, 2, 3)});
    EXPECT_EQ(rc2[0].to_vector(), rc[0].to_vector());
    EXPECT_THROW(tc::vae_ref_context({h}, 0, 3), tc::Error);
}
