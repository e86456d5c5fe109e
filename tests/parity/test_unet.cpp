// Golden parity of the video UNet (golden README section 4, cases f_unet and f_unet_intermediates): the
// tiny model's weights, the recorded inputs, and the official outputs of UNetModel.forward, plus every
// block's output for case 0. Errors are max-abs over the reference's max-abs (1e-4 allowed; the README's
// float64 analysis puts the float32 golden itself within 5e-5 absolute of exact at the worst block).
#include <cstdio>
#include <map>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "io/weight_map.h"
#include "models/unet3d.h"
#include "test_util.h"

namespace {

constexpr double kTolerance = 1e-4;

struct TinyUNet {
    explicit TinyUNet(const std::string& dir)
        : cfg(tc::load_model_config(dir + "/tiny.yaml").unet),
          unet(cfg),
          weights(tc::SafeTensorsFile::open(dir + "/model.safetensors")) {
        tc::BindOptions opt;
        opt.prefix = "model.diffusion_model.";
        opt.strict_unused = false;
        tc::bind_weights(unet, weights, opt);
    }
    tc::UNetConfig cfg;
    tc::UNet3D unet;
    tc::SafeTensorsFile weights;
};

}  // namespace

TEST(UNetParity, OutputBothCases) {
    TC_REQUIRE_SHARED(cases, "golden/tiny/cases/f_unet.safetensors");
    TC_REQUIRE_SHARED(yaml, "golden/tiny/tiny.yaml");
    TinyUNet m(tc::test::shared_dir() + "/golden/tiny");
    auto file = tc::SafeTensorsFile::open(cases);
    for (int c = 0; c < 2; ++c) {
        const std::string p = "case" + std::to_string(c) + "_";
        // DiffusionWrapper("hybrid"): the UNet input is cat([x_t, c_concat], dim=1).
        tc::Tensor x = tc::ops::concat({file.get(p + "x_t"), file.get(p + "c_concat")}, 1);
        ASSERT_EQ(tc::test::max_abs_diff(x, file.get(p + "unet_input")), 0.0);
        tc::Tensor t = file.get(p + "timestep").to(tc::DType::F32);
        tc::Tensor fs = file.get(p + "fs").to(tc::DType::F32);
        tc::Tensor y = m.unet.forward(x, t, file.get(p + "context"), fs);
        double err = tc::test::rel_err(y, file.get(p + "output"));
        std::printf("[parity] f_unet case%d rel_err=%.3g (max_abs=%.3g)\n", c, err,
                    tc::test::max_abs_diff(y, file.get(p + "output")));
        EXPECT_LT(err, kTolerance) << "case " << c;
    }
}

TEST(UNetParity, EveryBlockCase0) {
    TC_REQUIRE_SHARED(cases, "golden/tiny/cases/f_unet.safetensors");
    TC_REQUIRE_SHARED(inter, "golden/tiny/cases/f_unet_intermediates.safetensors");
    TinyUNet m(tc::test::shared_dir() + "/golden/tiny");
    auto file = tc::SafeTensorsFile::open(cases);
    auto ref = tc::SafeTensorsFile::open(inter);

    std::map<std::string, tc::Tensor> seen;
    std::vector<std::string> order;
    tc::UNet3D::Observer observe = [&](const std::string& name, const tc::Tensor& v) {
        seen[name] = v;
        order.push_back(name);
    };
    tc::Tensor y = m.unet.forward(file.get("case0_unet_input"), file.get("case0_timestep").to(tc::DType::F32),
                                  file.get("case0_context"), file.get("case0_fs").to(tc::DType::F32), &observe);
    EXPECT_LT(tc::test::rel_err(y, file.get("case0_output")), kTolerance);

    // Every recorded block must have been observed, in forward order.
    std::vector<std::string> want = ref.names();
    EXPECT_EQ(seen.size(), want.size());
    for (const std::string& name : want) {
        ASSERT_TRUE(seen.count(name)) << "block " << name << " was not observed";
        tc::Tensor r = ref.get(name);
        // Per-frame tensors [B*T, C, h, w] are stored as [B, T, C, h, w] (same memory order).
        tc::Tensor g = seen[name].reshape(r.shape());
        double err = tc::test::rel_err(g, r);
        std::printf("[parity] unet block %s rel_err=%.3g (max_abs=%.3g)\n", name.c_str(), err,
                    tc::test::max_abs_diff(g, r));
        EXPECT_LT(err, kTolerance) << "block " << name;
    }
}
