// Request body validation (server/params.h): defaults of the Segmind reference, strict types, ranges,
// unknown keys, image presence.
#include <gtest/gtest.h>

#include "server/http_error.h"
#include "server/params.h"

namespace {

using nlohmann::json;
using tc::server::GenerationParams;
using tc::server::HttpError;
using tc::server::parse_params;

json minimal() { return json{{"image_1", "aGVsbG8="}, {"image_2", "https://example.com/b.png"}}; }

// The message of the 400 that parse_params throws for `body`.
std::string error_of(const json& body) {
    try {
        parse_params(body);
    } catch (const HttpError& e) {
        EXPECT_EQ(e.status, 400);
        return e.what();
    }
    ADD_FAILURE() << "no error for " << body.dump();
    return "";
}

TEST(Params, DefaultsOfTheReference) {
    const GenerationParams p = parse_params(minimal());
    EXPECT_EQ(p.images.size(), 2u);
    EXPECT_EQ(p.prompt, "cartoon character animation");
    EXPECT_EQ(p.negative_prompt, "low quality");
    EXPECT_EQ(p.seed, 42u);
    EXPECT_FALSE(p.seed_random);
    EXPECT_EQ(p.max_width, 512);
    EXPECT_EQ(p.max_height, 512);
    EXPECT_FALSE(p.loop);
    EXPECT_FALSE(p.interpolate);
    EXPECT_TRUE(p.color_correction);
    EXPECT_EQ(p.steps, 20);
    EXPECT_DOUBLE_EQ(p.cfg_scale, 7.0);
    EXPECT_DOUBLE_EQ(p.frame_stride, 10);
    EXPECT_EQ(p.frames_per_segment, 0);  // = the model's (16 for the official one)
    EXPECT_EQ(p.fps, 0);                 // = 8, or 16 interpolated
    EXPECT_EQ(p.output_format, "mp4");
    EXPECT_FALSE(p.base64);
    EXPECT_TRUE(p.webhook.empty());
}

TEST(Params, AllFieldsAndRoundTrip) {
    json b = minimal();
    for (int i = 3; i <= 10; ++i) b["image_" + std::to_string(i)] = "aGVsbG8=";
    b.update(json{{"prompt", "p"}, {"negative_prompt", ""}, {"seed", 7}, {"max_width", 256}, {"max_height", 768},
                  {"loop", true}, {"interpolate", true}, {"color_correction", false}, {"steps", 3},
                  {"cfg_scale", 2.5}, {"frame_stride", 5}, {"frames_per_segment", 16}, {"fps", 12},
                  {"output_format", "gif"}, {"base64", true}, {"webhook", "https://hook.example/x"},
                  {"webhook_events_filter", {"completed"}}});
    const GenerationParams p = parse_params(b);
    EXPECT_EQ(p.images.size(), 10u);
    EXPECT_EQ(p.seed, 7u);
    EXPECT_EQ(p.max_width, 256);
    EXPECT_EQ(p.max_height, 768);
    EXPECT_EQ(p.output_format, "gif");
    const GenerationParams q = tc::server::params_from_json(tc::server::params_to_json(p));
    EXPECT_EQ(tc::server::params_to_json(q), tc::server::params_to_json(p));
}

TEST(Params, NullMeansDefaultAndNullSeedIsRandom) {
    json b = minimal();
    b["seed"] = nullptr;
    b["prompt"] = nullptr;
    b["image_3"] = nullptr;
    const GenerationParams p = parse_params(b);
    EXPECT_TRUE(p.seed_random);
    EXPECT_EQ(p.prompt, "cartoon character animation");
    EXPECT_EQ(p.images.size(), 2u);
}

TEST(Params, OnlyPresentImagesAreUsed) {
    json b = minimal();
    b["image_5"] = "Zm9v";
    const GenerationParams p = parse_params(b);
    ASSERT_EQ(p.images.size(), 3u);
    EXPECT_EQ(p.images[2], "Zm9v");
}

TEST(Params, ErrorsNameTheField) {
    EXPECT_NE(error_of(json{{"image_1", "x"}}).find("image_2 is required"), std::string::npos);
    EXPECT_NE(error_of(json::object()).find("image_1"), std::string::npos);
    json b = minimal();
    b["imgae_3"] = "x";
    EXPECT_NE(error_of(b).find("unknown parameter 'imgae_3'"), std::string::npos);
    b = minimal();
    b["image_11"] = "x";
    EXPECT_NE(error_of(b).find("image_11"), std::string::npos);
    auto with = [](const char* k, json v) {
        json b = minimal();
        b[k] = std::move(v);
        return b;
    };
    EXPECT_NE(error_of(with("seed", "42")).find("seed must be an integer"), std::string::npos);
    EXPECT_NE(error_of(with("seed", -1)).find("seed"), std::string::npos);
    EXPECT_NE(error_of(with("seed", 1.5)).find("seed"), std::string::npos);
    EXPECT_NE(error_of(with("max_width", 500)).find("max_width must be one of 256, 512, 768"), std::string::npos);
    EXPECT_NE(error_of(with("max_height", "512")).find("max_height"), std::string::npos);
    EXPECT_NE(error_of(with("loop", 1)).find("loop must be a boolean"), std::string::npos);
    EXPECT_NE(error_of(with("prompt", 3)).find("prompt must be a string"), std::string::npos);
    EXPECT_NE(error_of(with("steps", 0)).find("steps"), std::string::npos);
    EXPECT_NE(error_of(with("cfg_scale", "7")).find("cfg_scale"), std::string::npos);
    EXPECT_NE(error_of(with("output_format", "avi")).find("output_format"), std::string::npos);
    EXPECT_NE(error_of(with("image_1", 5)).find("image_1 must be a string"), std::string::npos);
    EXPECT_NE(error_of(with("image_2", "")).find("image_2"), std::string::npos);
    EXPECT_NE(error_of(with("webhook", "ftp://x")).find("webhook"), std::string::npos);
    EXPECT_NE(error_of(with("webhook_events_filter", "completed")).find("webhook_events_filter"), std::string::npos);
    EXPECT_NE(error_of(json::array()).find("JSON object"), std::string::npos);
}

TEST(Params, WholeNumberFloatIsAnInteger) {
    json b = minimal();
    b["max_width"] = 256.0;
    EXPECT_EQ(parse_params(b).max_width, 256);
}

TEST(Params, AllowedSidesOverride) {
    json b = minimal();
    b["max_width"] = 64;
    b["max_height"] = 64;
    tc::server::ParamLimits lim;
    lim.allowed_max_sides = {64, 128};
    EXPECT_EQ(parse_params(b, lim).max_width, 64);
    EXPECT_THROW(parse_params(b), HttpError);
}

}  // namespace
