// Structure of the video UNet: the names and shapes UNet3D declares must be exactly the official
// `model.diffusion_model.*` state_dict rows, in state_dict order (golden/full_keys.tsv for the published
// 512 model built from the default UNetConfig, golden/tiny/keys.tsv for the tiny model; no weights), and the
// batch/frame bookkeeping of the forward pass on random weights.
#include <cmath>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "models/unet3d.h"
#include "key_table.h"
#include "test_util.h"

namespace {

using Rows = tc::test::KeyRows;
using tc::test::expect_same_rows;

const char* kPrefix = "model.diffusion_model.";

// model.params.unet_config.params of golden/tiny/tiny.yaml (the rest are the defaults).
tc::UNetConfig tiny_unet_config() {
    tc::UNetConfig c;
    c.model_channels = 32;
    c.num_res_blocks = 1;
    c.channel_mult = {1, 1, 2, 2};
    c.num_head_channels = 16;
    c.context_dim = 16;
    c.temporal_length = 8;
    return c;
}

}  // namespace

TEST(UNetStructure, FullModelKeysMatchOfficial) {
    TC_REQUIRE_SHARED(path, "golden/full_keys.tsv");
    tc::UNet3D unet(tc::UNetConfig{});  // defaults = the published 512 model
    expect_same_rows(tc::test::declared_rows(unet), tc::test::key_table_rows(path, kPrefix), "model.diffusion_model");
    EXPECT_EQ(unet.param_count(), 1516);  // golden README section 3
    int64_t numel = 0;
    unet.visit_params([&](const std::string&, const tc::Param& p) { numel += tc::shape_numel(p.shape); });
    EXPECT_EQ(numel, 1438854980);
}

TEST(UNetStructure, TinyModelKeysMatchGolden) {
    TC_REQUIRE_SHARED(path, "golden/tiny/keys.tsv");
    tc::UNet3D unet(tiny_unet_config());
    expect_same_rows(tc::test::declared_rows(unet), tc::test::key_table_rows(path, kPrefix), "model.diffusion_model (tiny)");
}

TEST(UNetStructure, ConfigVariants) {
    // Without fps conditioning, init_attn, temporal layers or the image branch the matching tensors vanish.
    tc::UNetConfig c = tiny_unet_config();
    c.fs_condition = false;
    c.addition_attention = false;
    c.temporal_attention = false;
    c.temporal_conv = false;
    c.image_cross_attention = false;
    c.use_linear = false;
    tc::UNet3D unet(c);
    bool fps = false, init = false, temporal = false, ip = false, conv_proj = false;
    unet.visit_params([&](const std::string& n, const tc::Param& p) {
        fps |= n.rfind("fps_embedding", 0) == 0;
        init |= n.rfind("init_attn", 0) == 0;
        temporal |= n.find("temopral_conv") != std::string::npos;
        ip |= n.find("to_k_ip") != std::string::npos;
        if (n == "input_blocks.1.1.proj_in.weight") conv_proj = p.shape == tc::Shape{32, 32, 1, 1};
    });
    EXPECT_FALSE(fps);
    EXPECT_FALSE(init);
    EXPECT_FALSE(temporal);
    EXPECT_FALSE(ip);
    EXPECT_TRUE(conv_proj) << "use_linear=false must declare Conv2d 1x1 projections";
}

TEST(UNetStructure, RejectsUnsupportedConfig) {
    tc::UNetConfig c = tiny_unet_config();
    c.use_relative_position = true;
    EXPECT_THROW(tc::UNet3D{c}, tc::Error);
    c = tiny_unet_config();
    c.num_head_channels = 24;  // 32 channels not divisible into heads of 24
    EXPECT_THROW(tc::UNet3D{c}, tc::Error);
    c = tiny_unet_config();
    c.num_head_channels = -1;
    EXPECT_THROW(tc::UNet3D{c}, tc::Error);
}

// ---------------------------------------------------------------------------------------------- forward
// The golden cases have batch 1; these check the batch and frame bookkeeping (per-frame context split,
// embedding repeat, temporal regrouping) on a random-weight UNet: each batch item must come out as if it
// had been run alone. The UNet here is shallower than the tiny golden one (two levels, lowest resolution
// 4x4): at 1x1 a 64-channel GroupNorm normalises groups of 2 values, which amplifies rounding differences
// by orders of magnitude for some inputs (golden README section 8) and would blur a bookkeeping test.
namespace {

void randomize(tc::Module& m, uint32_t seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> n01(0.f, 1.f);
    m.visit_params([&](const std::string& name, tc::Param& p) {
        const int64_t numel = tc::shape_numel(p.shape);
        std::vector<float> v(static_cast<size_t>(numel));
        // As the golden tiny model: N(0,1)/sqrt(fan_in) for matrices and kernels, 1 + 0.1 N for the (1-D)
        // norm gains, 0.1 N for biases.
        const bool gain = p.shape.size() == 1 && name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0;
        const float fan_in = p.shape.size() >= 2 ? float(numel / p.shape[0]) : 1.f;
        for (auto& x : v) {
            const float r = n01(gen);
            x = p.shape.size() >= 2 ? r / std::sqrt(fan_in) : gain ? 1.f + 0.1f * r : 0.1f * r;
        }
        p.value = tc::Tensor::from_vector(v, p.shape);
    });
}

tc::UNetConfig shallow_unet_config() {
    tc::UNetConfig c = tiny_unet_config();
    c.channel_mult = {1, 2};
    c.attention_resolutions = {1, 2};
    return c;
}

tc::Tensor random_tensor(const tc::Shape& s, uint32_t seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> n01(0.f, 1.f);
    std::vector<float> v(static_cast<size_t>(tc::shape_numel(s)));
    for (auto& x : v) x = n01(gen);
    return tc::Tensor::from_vector(v, s);
}

void check_batch_independence(int64_t context_len) {
    const int64_t B = 2, T = 3, h = 8, w = 8;
    tc::UNetConfig cfg = shallow_unet_config();
    tc::UNet3D unet(cfg);
    randomize(unet, 7);
    tc::Tensor x = random_tensor({B, cfg.in_channels, T, h, w}, 1);
    tc::Tensor ctx = random_tensor({B, context_len, cfg.context_dim}, 2);
    tc::Tensor t = tc::Tensor::from_vector({749.f, 3.f}, {B});
    tc::Tensor fs = tc::Tensor::from_vector({10.f, 24.f}, {B});
    tc::Tensor y = unet.forward(x, t, ctx, fs);
    ASSERT_EQ(y.shape(), (tc::Shape{B, cfg.out_channels, T, h, w}));
    for (int64_t b = 0; b < B; ++b) {
        tc::Tensor yb = unet.forward(x.slice(0, b, b + 1).contiguous(), t.slice(0, b, b + 1).contiguous(),
                                     ctx.slice(0, b, b + 1).contiguous(), fs.slice(0, b, b + 1).contiguous());
        EXPECT_LT(tc::test::rel_err(y.slice(0, b, b + 1).contiguous(), yb), 1e-5) << "batch item " << b;
    }
}

}  // namespace

TEST(UNetForward, BatchItemsIndependentPerFrameContext) { check_batch_independence(77 + 16 * 3); }

TEST(UNetForward, BatchItemsIndependentRepeatedContext) { check_batch_independence(90); }

TEST(UNetForward, PerFrameContextSplit) {
    // With every temporal layer switched off the UNet works frame by frame, so with L = 77 + 16 T frame f must
    // equal a one-frame run whose context is the 77 text tokens plus image tokens [16 f, 16 f + 16).
    const int64_t T = 3, D = 16;
    tc::UNetConfig cfg = shallow_unet_config();
    cfg.temporal_attention = false;
    cfg.temporal_conv = false;
    cfg.addition_attention = false;
    tc::UNet3D unet(cfg);
    randomize(unet, 9);
    tc::Tensor x = random_tensor({1, cfg.in_channels, T, 8, 8}, 3);
    tc::Tensor ctx = random_tensor({1, 77 + 16 * T, D}, 4);
    tc::Tensor t = tc::Tensor::from_vector({500.f}, {1});
    tc::Tensor y = unet.forward(x, t, ctx, tc::Tensor());  // fs undefined: default_fs
    for (int64_t f = 0; f < T; ++f) {
        tc::Tensor ctx_f = tc::ops::concat({ctx.slice(1, 0, 77), ctx.slice(1, 77 + 16 * f, 77 + 16 * (f + 1))}, 1);
        tc::Tensor yf = unet.forward(x.slice(2, f, f + 1).contiguous(), t, ctx_f, tc::Tensor());
        EXPECT_LT(tc::test::rel_err(y.slice(2, f, f + 1).contiguous(), yf), 1e-5) << "frame " << f;
    }
    // A context of only text tokens leaves the image branch nothing to attend to.
    EXPECT_THROW(unet.forward(x, t, random_tensor({1, 77, D}, 5), tc::Tensor()), tc::Error);
}
