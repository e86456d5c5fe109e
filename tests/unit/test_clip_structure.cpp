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
#include "test_util.h"

namespace {

using Rows = std::vector<std::pair<std::string, std::string>>;  // (key without prefix, shape like "1280x3x14x14")

std::string shape_col(const tc::Shape& s) {
    if (s.empty()) return "scalar";
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) out += (i ? "x" : "") + std::to_string(s[i]);
    return out;
}

// Rows of a keys.tsv whose key starts with `prefix`, the prefix stripped.
Rows tsv_rows(const std::string& path, const std::string& prefix) {
    std::ifstream in(path);
    EXPECT_TRUE(in.good()) << path;
    Rows rows;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        std::string key, shape;
        std::getline(ls, key, '\t');
        std::getline(ls, shape, '\t');
        if (key.rfind(prefix, 0) == 0) rows.emplace_back(key.substr(prefix.size()), shape);
    }
    return rows;
}

Rows declared(const tc::Module& m) {
    Rows rows;
    m.visit_params([&](const std::string& n, const tc::Param& p) { rows.emplace_back(n, shape_col(p.shape)); });
    return rows;
}

void expect_same_rows(const Rows& got, const Rows& want, const std::string& what) {
    ASSERT_FALSE(want.empty()) << what << ": no rows in the key file";
    std::set<std::pair<std::string, std::string>> g(got.begin(), got.end()), w(want.begin(), want.end());
    for (const auto& r : w)
        if (!g.count(r)) ADD_FAILURE() << what << ": missing " << r.first << " " << r.second;
    for (const auto& r : g)
        if (!w.count(r)) ADD_FAILURE() << what << ": unexpected " << r.first << " " << r.second;
    EXPECT_EQ(got.size(), want.size()) << what;
    EXPECT_TRUE(got == want) << what << ": same entries but not in state_dict order";
}

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
    expect_same_rows(declared(text), tsv_rows(path, "cond_stage_model.model."), "cond_stage_model.model");
    expect_same_rows(declared(image), tsv_rows(path, "embedder.model."), "embedder.model");
    expect_same_rows(declared(resampler), tsv_rows(path, "image_proj_model."), "image_proj_model");
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
    expect_same_rows(declared(text), tsv_rows(path, "cond_stage_model.model."), "cond_stage_model.model");
    expect_same_rows(declared(image), tsv_rows(path, "embedder.model."), "embedder.model");
    expect_same_rows(declared(resampler), tsv_rows(path, "image_proj_model."), "image_proj_model");
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
