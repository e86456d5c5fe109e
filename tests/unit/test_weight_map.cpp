// Strict weight binding: a match binds zero-copy (or converts F16/BF16), and every problem - missing,
// unused, mismatched - is listed in one error, capped per list.
#include <gtest/gtest.h>

#include <functional>

#include "ckpt_builder.h"
#include "core/module.h"
#include "io/safetensors.h"
#include "io/weight_map.h"
#include "test_util.h"

namespace tc {
namespace {

using testutil::TempDir;

struct Block : Module {
    Param& weight;
    Param& bias;
    Block() : weight(param("weight", {2, 3})), bias(param("bias", {2})) {}
};

struct Net : Module {
    Block& proj;
    Param& logit_scale;
    Param& spare;
    explicit Net() : proj(child<Block>("proj")), logit_scale(param("logit_scale", {})), spare(param("spare", {4}, false)) {}
};

std::string key(char letter, int i) {
    std::string k(1, letter);
    k += std::to_string(i);
    return k;
}

struct Wide : Module {
    explicit Wide(int n) {
        for (int i = 0; i < n; ++i) param(key('p', i), {1});
    }
};

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

std::vector<std::pair<std::string, Tensor>> net_tensors(const std::string& prefix = "", DType dt = DType::F32) {
    return {{prefix + "proj.weight", Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}).to(dt)},
            {prefix + "proj.bias", Tensor::from_vector({7, 8}, {2}).to(dt)},
            {prefix + "logit_scale", Tensor::from_vector({4.5f}, {}).to(dt)},
            {prefix + "spare", Tensor::from_vector({0, 0, 0, 0}, {4}).to(dt)}};
}

TEST(WeightMap, BindsZeroCopyAndSkipsUnusedParams) {
    TempDir dir;
    std::string p = dir.file("w.safetensors");
    save_safetensors(p, net_tensors());
    SafeTensorsFile f = SafeTensorsFile::open(p);
    Net net;
    bind_weights(net, f);
    EXPECT_EQ(net.proj.weight.value.to_vector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(net.proj.bias.value.to_vector(), (std::vector<float>{7, 8}));
    EXPECT_EQ(net.logit_scale.value.shape(), Shape{});
    EXPECT_EQ(net.logit_scale.value.item(), 4.5f);
    EXPECT_FALSE(net.spare.value.defined());  // used=false: checked, not materialised
    EXPECT_EQ(net.proj.weight.value.raw_data(), f.get("proj.weight").raw_data());  // zero-copy view
}

TEST(WeightMap, ConvertsHalfAndBFloat16) {
    for (DType dt : {DType::F16, DType::BF16}) {
        TempDir dir;
        std::string p = dir.file("w.safetensors");
        save_safetensors(p, net_tensors("", dt));
        auto src = open_tensor_source(p);
        Net net;
        bind_weights(net, *src);
        EXPECT_EQ(net.proj.weight.value.dtype(), DType::F32);
        EXPECT_EQ(net.proj.weight.value.to_vector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
        EXPECT_EQ(net.logit_scale.value.item(), 4.5f);
    }
}

TEST(WeightMap, PrefixAndNonStrictUnused) {
    TempDir dir;
    std::string p = dir.file("w.safetensors");
    auto ts = net_tensors("model.diffusion_model.");
    ts.push_back({"first_stage_model.x", Tensor::from_vector({1}, {1})});
    save_safetensors(p, ts);
    SafeTensorsFile f = SafeTensorsFile::open(p);
    Net net;
    bind_weights(net, f, BindOptions{.prefix = "model.diffusion_model.", .strict_unused = false});
    EXPECT_EQ(net.proj.bias.value.to_vector(), (std::vector<float>{7, 8}));
    // keys outside the prefix are never "unused"; inside it they are, when strict
    Net net2;
    bind_weights(net2, f, BindOptions{.prefix = "model.diffusion_model."});
    auto extra = ts;
    extra.push_back({"model.diffusion_model.ghost", Tensor::from_vector({1}, {1})});
    save_safetensors(p, extra);
    SafeTensorsFile g = SafeTensorsFile::open(p);
    Net net3;
    std::string e = error_of([&] { bind_weights(net3, g, BindOptions{.prefix = "model.diffusion_model."}); });
    EXPECT_NE(e.find("model.diffusion_model.ghost"), std::string::npos) << e;
    EXPECT_EQ(e.find("first_stage_model.x"), std::string::npos) << e;
}

TEST(WeightMap, OneErrorListsEverything) {
    TempDir dir;
    std::string p = dir.file("w.safetensors");
    save_safetensors(p, {{"proj.weight", Tensor::zeros({3, 2})},  // transposed shape
                         {"logit_scale", Tensor::zeros({1})},     // [1] is not a scalar []
                         {"extra.thing", Tensor::zeros({1})}});
    SafeTensorsFile f = SafeTensorsFile::open(p);
    Net net;
    std::string e = error_of([&] { bind_weights(net, f); });
    EXPECT_NE(e.find("missing"), std::string::npos) << e;
    EXPECT_NE(e.find("proj.bias"), std::string::npos) << e;
    EXPECT_NE(e.find("spare"), std::string::npos) << e;  // unused params must still be present
    EXPECT_NE(e.find("proj.weight: file [3,2] vs model [2,3]"), std::string::npos) << e;
    EXPECT_NE(e.find("logit_scale: file [1] vs model []"), std::string::npos) << e;
    EXPECT_NE(e.find("extra.thing"), std::string::npos) << e;
    EXPECT_FALSE(net.proj.weight.value.defined());  // nothing bound on failure
}

TEST(WeightMap, CheckWeightsReportAndCaps) {
    Wide w(50);
    std::vector<std::pair<std::string, Shape>> avail;
    for (int i = 0; i < 25; ++i) avail.push_back({key('p', i), {1}});
    for (int i = 0; i < 30; ++i) avail.push_back({key('q', i), {1}});
    avail.push_back({"p49", {2}});
    WeightReport r = check_weights(w, avail);
    EXPECT_EQ(r.missing.size(), 24u);  // p25..p48
    EXPECT_EQ(r.unused.size(), 30u);
    EXPECT_EQ(r.mismatched.size(), 1u);
    EXPECT_FALSE(r.ok());
    std::string msg = r.message();
    EXPECT_NE(msg.find("24 missing"), std::string::npos) << msg;
    EXPECT_NE(msg.find("... and 4 more"), std::string::npos) << msg;
    EXPECT_NE(msg.find("30 unused"), std::string::npos) << msg;
    EXPECT_NE(msg.find("... and 10 more"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("p48"), std::string::npos) << "list not capped";
    EXPECT_EQ(r.message(false).find("unused"), std::string::npos);
}

}  // namespace
}  // namespace tc
