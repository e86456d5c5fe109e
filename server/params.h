// The JSON body of POST /v1/tooncrafter and /v2/tooncrafter (DESIGN.md section 3), parsed and validated into a
// GenerationParams. Every parameter of the Segmind reference (reference/segmind-tooncrafter-api.txt) with its
// default, plus our documented extensions. Types are strict (a string "42" is not a seed), unknown keys are a
// 400 naming the key, and every error names its field: {"error": "max_width must be one of 256, 512, 768"}.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tc::server {

inline constexpr int kMaxImages = 10;

struct GenerationParams {
    std::vector<std::string> images;  // the values of image_1..image_10 that are present, in order
    std::string prompt = "cartoon character animation";
    std::string negative_prompt = "low quality";
    uint64_t seed = 42;
    bool seed_random = false;         // the request sent "seed": null (seed then holds the drawn value)
    int max_width = 512, max_height = 512;
    bool loop = false;
    bool interpolate = false;
    bool color_correction = true;
    // Extensions.
    int steps = 20;
    double cfg_scale = 7.0;
    double frame_stride = 10;
    int frames_per_segment = 0;       // absent = the model's temporal length (16 for the official model)
    double fps = 0;                   // absent = 8 (16 when interpolated: the engine doubles it)
    std::string output_format = "mp4";
    bool base64 = false;
    std::string webhook;
    std::vector<std::string> webhook_events_filter;  // empty = all events
};

struct ParamLimits {
    std::vector<int64_t> allowed_max_sides{256, 512, 768};
    size_t max_prompt_chars = 4000;
};

// Parses a request body. Throws HttpError 400 naming the field (or the unknown key).
GenerationParams parse_params(const nlohmann::json& body, const ParamLimits& limits = {});

// The canonical stored form (after defaults and the seed draw), and back: what the job store keeps and the
// worker runs. from_stored trusts its input (it was validated by parse_params).
nlohmann::json params_to_json(const GenerationParams& p);
GenerationParams params_from_json(const nlohmann::json& j);

}  // namespace tc::server
