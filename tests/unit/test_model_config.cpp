// The official-layout YAML config: the golden tiny.yaml, the built-in ViT-H-14, and errors naming the key.
#include <gtest/gtest.h>

#include <functional>

#include "ckpt_builder.h"
#include "io/model_config.h"
#include "test_util.h"

namespace tc {
namespace {

using testutil::TempDir;

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

const char* kMinimal = R"(model:
  params:
    parameterization: v
    unet_config:
      params:
        model_channels: 64
        channel_mult: [1, 2]
)";

TEST(ModelConfig, GoldenTinyYaml) {
    TC_REQUIRE_SHARED(p, "golden/tiny/tiny.yaml");
    ToonCrafterConfig c = load_model_config(p);
    EXPECT_EQ(c.parameterization, "v");
    EXPECT_TRUE(c.rescale_betas_zero_snr);
    EXPECT_EQ(c.image_size, (std::vector<int>{8, 8}));
    EXPECT_FLOAT_EQ(c.scale_factor, 0.18215f);
    EXPECT_TRUE(c.loop_video);
    EXPECT_EQ(c.unet.model_channels, 32);
    EXPECT_EQ(c.unet.channel_mult, (std::vector<int>{1, 1, 2, 2}));
    EXPECT_EQ(c.unet.attention_resolutions, (std::vector<int>{4, 2, 1}));
    EXPECT_EQ(c.unet.num_res_blocks, 1);
    EXPECT_EQ(c.unet.num_head_channels, 16);
    EXPECT_EQ(c.unet.temporal_length, 8);
    EXPECT_EQ(c.frames(), 8);
    EXPECT_EQ(c.unet.context_dim, 16);
    EXPECT_EQ(c.vae.ch, 32);
    EXPECT_EQ(c.vae.ch_mult, (std::vector<int>{1, 1, 2, 2}));
    EXPECT_EQ(c.vae.num_res_blocks, 1);
    EXPECT_TRUE(c.vae.attn_resolutions.empty());
    EXPECT_EQ(c.vae.z_channels, 4);
    EXPECT_EQ(c.cond_stage.arch, "ToonCrafterTiny-A");
    EXPECT_EQ(c.cond_stage.layer, "penultimate");
    EXPECT_EQ(c.cond_stage.model.embed_dim, 16);
    EXPECT_EQ(c.cond_stage.model.text_width, 16);
    EXPECT_EQ(c.cond_stage.model.text_heads, 2);
    EXPECT_EQ(c.cond_stage.model.text_layers, 3);
    EXPECT_EQ(c.cond_stage.model.text_context_length, 77);
    EXPECT_EQ(c.cond_stage.model.text_vocab_size, 49408);
    EXPECT_EQ(c.img_cond_stage.model.vision_width, 64);
    EXPECT_EQ(c.img_cond_stage.model.vision_head_width, 16);
    EXPECT_EQ(c.img_cond_stage.model.vision_layers, 2);
    EXPECT_EQ(c.img_cond_stage.model.vision_patch_size, 14);
    EXPECT_EQ(c.img_cond_stage.model.vision_image_size, 224);
    EXPECT_FLOAT_EQ(c.img_cond_stage.model.vision_mlp_ratio, 4.0f);
    EXPECT_EQ(c.image_proj.dim, 32);
    EXPECT_EQ(c.image_proj.depth, 2);
    EXPECT_EQ(c.image_proj.dim_head, 16);
    EXPECT_EQ(c.image_proj.heads, 3);
    EXPECT_EQ(c.image_proj.num_queries, 16);
    EXPECT_EQ(c.image_proj.embedding_dim, 64);
    EXPECT_EQ(c.image_proj.output_dim, 16);
    EXPECT_EQ(c.image_proj.video_length, 8);
}

TEST(ModelConfig, DefaultsAreTheOfficialModelWithViTH14) {
    ToonCrafterConfig c = parse_model_config(kMinimal);
    EXPECT_EQ(c.unet.model_channels, 64);
    EXPECT_EQ(c.unet.channel_mult, (std::vector<int>{1, 2}));
    EXPECT_EQ(c.unet.context_dim, 1024);  // untouched default
    EXPECT_EQ(c.cond_stage.arch, "ViT-H-14");
    EXPECT_EQ(c.cond_stage.model.text_width, 1024);
    EXPECT_EQ(c.img_cond_stage.model.vision_width, 1280);
    EXPECT_EQ(c.img_cond_stage.model.vision_head_width, 80);
}

TEST(ModelConfig, WrongTypesNameTheKey) {
    auto err = [](const std::string& y) { return error_of([&] { parse_model_config(y); }); };
    std::string e = err("model:\n  params:\n    unet_config:\n      params:\n        channel_mult: abc\n");
    EXPECT_NE(e.find("model.params.unet_config.params.channel_mult: expected a list of integers"), std::string::npos)
        << e;
    e = err("model:\n  params:\n    unet_config:\n      params:\n        channel_mult: [1, x]\n");
    EXPECT_NE(e.find("model.params.unet_config.params.channel_mult"), std::string::npos) << e;
    e = err("model:\n  params:\n    unet_config:\n      params:\n        model_channels: '32'\n");
    EXPECT_NE(e.find("model.params.unet_config.params.model_channels: expected an integer"), std::string::npos) << e;
    e = err("model:\n  params:\n    unet_config:\n      params:\n        model_channels: 3.5\n");
    EXPECT_NE(e.find("model_channels: expected an integer"), std::string::npos) << e;
    e = err("model:\n  params:\n    unet_config:\n      params:\n        model_channels: -4\n");
    EXPECT_NE(e.find("out of range"), std::string::npos) << e;
    e = err("model:\n  params:\n    unet_config:\n      params:\n        use_linear: maybe\n");
    EXPECT_NE(e.find("model.params.unet_config.params.use_linear: expected true or false"), std::string::npos) << e;
    e = err("model:\n  params:\n    first_stage_config:\n      params:\n        ddconfig:\n          dropout: [1]\n");
    EXPECT_NE(e.find("model.params.first_stage_config.params.ddconfig.dropout: expected a number"), std::string::npos)
        << e;
    e = err("model:\n  params:\n    image_size: [8]\n");
    EXPECT_NE(e.find("model.params.image_size"), std::string::npos) << e;
    e = err("model:\n  params:\n    unet_config: 5\n");
    EXPECT_NE(e.find("model.params.unet_config: expected a mapping"), std::string::npos) << e;
    e = err("model:\n  target: x\n");
    EXPECT_NE(e.find("model.params: missing"), std::string::npos) << e;
    EXPECT_NE(err("[1, 2]"), "");
    EXPECT_NE(err("model: [unclosed").find("invalid YAML"), std::string::npos);
    EXPECT_NE(err(""), "");
    EXPECT_NE(err(std::string(300, '[')), "");
}

TEST(ModelConfig, OpenClipArchJson) {
    TempDir dir;
    std::string yaml = std::string(kMinimal) +
                       "    cond_stage_config:\n      params:\n        arch: Mine\n        layer: last\n"
                       "    img_cond_stage_config:\n      params:\n        arch: Mine\n";
    std::string y = dir.write("m.yaml", yaml);
    std::string e = error_of([&] { load_model_config(y); });
    EXPECT_NE(e.find("open_clip_arch.json"), std::string::npos) << e;
    dir.write("open_clip_arch.json",
              R"({"embed_dim": 8, "vision_cfg": {"image_size": 28, "layers": 1, "width": 32, "head_width": 8,
                  "patch_size": 14, "mlp_ratio": 2.0},
                  "text_cfg": {"context_length": 77, "vocab_size": 100, "width": 8, "heads": 2, "layers": 1}})");
    ToonCrafterConfig c = load_model_config(y);
    EXPECT_EQ(c.cond_stage.layer, "last");
    EXPECT_EQ(c.cond_stage.model.text_vocab_size, 100);
    EXPECT_EQ(c.img_cond_stage.model.vision_width, 32);
    EXPECT_FLOAT_EQ(c.img_cond_stage.model.vision_mlp_ratio, 2.0f);
    dir.write("open_clip_arch.json", R"({"embed_dim": 8, "vision_cfg": {"width": "wide"}, "text_cfg": {}})");
    e = error_of([&] { load_model_config(y); });
    EXPECT_NE(e.find("vision_cfg.layers: missing"), std::string::npos) << e;
    dir.write("open_clip_arch.json", "{not json");
    e = error_of([&] { load_model_config(y); });
    EXPECT_NE(e.find("invalid JSON"), std::string::npos) << e;
    std::string bad = std::string(kMinimal) + "    cond_stage_config:\n      params:\n        arch: ../../etc/x\n";
    e = error_of([&] { parse_model_config(bad, dir.path.string()); });
    EXPECT_NE(e.find("not a valid open_clip architecture"), std::string::npos) << e;
}

TEST(ModelConfig, MissingFile) {
    std::string e = error_of([] { load_model_config("/nonexistent/dir/cfg.yaml"); });
    EXPECT_NE(e.find("/nonexistent/dir/cfg.yaml"), std::string::npos) << e;
    EXPECT_NE(e.find("no such file"), std::string::npos) << e;
}

}  // namespace
}  // namespace tc
