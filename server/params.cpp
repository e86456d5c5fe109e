// Request body validation (see params.h). The checks here are the wire contract's; model-dependent checks
// (frames_per_segment equal to the model's temporal length, FILM loaded for interpolate) are Engine::plan's.
#include "server/params.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "server/http_error.h"

namespace tc::server {
namespace {

using json = nlohmann::json;

const std::set<std::string>& known_keys() {
    static const std::set<std::string> keys = [] {
        std::set<std::string> k{"prompt", "negative_prompt", "seed", "max_width", "max_height", "loop",
                                "interpolate", "color_correction", "steps", "cfg_scale", "frame_stride",
                                "frames_per_segment", "fps", "output_format", "base64", "webhook",
                                "webhook_events_filter"};
        for (int i = 1; i <= kMaxImages; ++i) k.insert("image_" + std::to_string(i));
        return k;
    }();
    return keys;
}

bool get_bool(const json& body, const char* key, bool dflt) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return dflt;
    if (!it->is_boolean()) bad_request(std::string(key) + " must be a boolean");
    return it->get<bool>();
}

std::string get_string(const json& body, const char* key, const std::string& dflt, size_t max_chars) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return dflt;
    if (!it->is_string()) bad_request(std::string(key) + " must be a string");
    std::string s = it->get<std::string>();
    if (s.size() > max_chars)
        bad_request(std::string(key) + " is too long (" + std::to_string(s.size()) + " bytes, at most " +
                    std::to_string(max_chars) + ")");
    return s;
}

int64_t get_int(const json& body, const char* key, int64_t dflt, int64_t lo, int64_t hi) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return dflt;
    // JSON has one number type; accept 16.0 as 16 but never 16.5 or "16".
    int64_t v = 0;
    if (it->is_number_integer()) {
        v = it->get<int64_t>();
    } else if (it->is_number_float() && std::isfinite(it->get<double>()) && std::floor(it->get<double>()) == it->get<double>() &&
               std::abs(it->get<double>()) < 9e15) {
        v = int64_t(it->get<double>());
    } else {
        bad_request(std::string(key) + " must be an integer");
    }
    if (v < lo || v > hi)
        bad_request(std::string(key) + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                    ", got " + std::to_string(v));
    return v;
}

double get_number(const json& body, const char* key, double dflt, double lo, double hi) {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return dflt;
    if (!it->is_number()) bad_request(std::string(key) + " must be a number");
    const double v = it->get<double>();
    if (!(v >= lo && v <= hi)) {
        std::ostringstream m;
        m << key << " must be between " << lo << " and " << hi << ", got " << v;
        bad_request(m.str());
    }
    return v;
}

int get_max_side(const json& body, const char* key, const std::vector<int64_t>& allowed) {
    const int64_t v = get_int(body, key, 512, 1, 1 << 16);
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
        std::string list;
        for (size_t i = 0; i < allowed.size(); ++i) list += (i ? ", " : "") + std::to_string(allowed[i]);
        bad_request(std::string(key) + " must be one of " + list + ", got " + std::to_string(v));
    }
    return int(v);
}

uint64_t random_seed() {
    uint64_t s = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&s), sizeof s) != 1) throw_http(500, "random generator failed");
    return s >> 1;  // keep it representable as a non-negative JSON int64
}

}  // namespace

GenerationParams parse_params(const json& body, const ParamLimits& limits) {
    if (!body.is_object()) bad_request("the request body must be a JSON object");
    for (const auto& [key, value] : body.items()) {
        (void)value;
        if (!known_keys().count(key)) bad_request("unknown parameter '" + key + "'");
    }
    GenerationParams p;
    for (int i = 1; i <= kMaxImages; ++i) {
        const std::string key = "image_" + std::to_string(i);
        auto it = body.find(key);
        if (it == body.end() || it->is_null()) {
            if (i <= 2) bad_request(key + " is required");
            continue;
        }
        if (!it->is_string()) bad_request(key + " must be a string (an http(s) URL, a data: URI or base64)");
        if (it->get_ref<const std::string&>().empty()) bad_request(key + " must not be empty");
        p.images.push_back(it->get<std::string>());
    }
    p.prompt = get_string(body, "prompt", p.prompt, limits.max_prompt_chars);
    p.negative_prompt = get_string(body, "negative_prompt", p.negative_prompt, limits.max_prompt_chars);
    {
        auto it = body.find("seed");
        if (it != body.end() && it->is_null()) {
            p.seed = random_seed();
            p.seed_random = true;
        } else if (it != body.end()) {
            if (it->is_number_unsigned()) {
                p.seed = it->get<uint64_t>();
            } else {
                p.seed = uint64_t(get_int(body, "seed", 42, 0, INT64_MAX));
            }
        }
    }
    p.max_width = get_max_side(body, "max_width", limits.allowed_max_sides);
    p.max_height = get_max_side(body, "max_height", limits.allowed_max_sides);
    p.loop = get_bool(body, "loop", p.loop);
    p.interpolate = get_bool(body, "interpolate", p.interpolate);
    p.color_correction = get_bool(body, "color_correction", p.color_correction);
    p.steps = int(get_int(body, "steps", p.steps, 1, 200));
    p.cfg_scale = get_number(body, "cfg_scale", p.cfg_scale, 0, 30);
    p.frame_stride = get_number(body, "frame_stride", p.frame_stride, 1, 100);
    p.frames_per_segment = int(get_int(body, "frames_per_segment", 0, 2, 64));
    p.fps = get_number(body, "fps", 0, 1, 60);
    p.output_format = get_string(body, "output_format", p.output_format, 32);
    if (p.output_format != "mp4" && p.output_format != "webm" && p.output_format != "gif" &&
        p.output_format != "frames_zip")
        bad_request("output_format must be one of mp4, webm, gif, frames_zip, got '" + p.output_format + "'");
    p.base64 = get_bool(body, "base64", p.base64);
    p.webhook = get_string(body, "webhook", "", 2048);
    if (!p.webhook.empty() && p.webhook.rfind("http://", 0) != 0 && p.webhook.rfind("https://", 0) != 0)
        bad_request("webhook must be an http(s) URL");
    if (auto it = body.find("webhook_events_filter"); it != body.end() && !it->is_null()) {
        if (!it->is_array()) bad_request("webhook_events_filter must be an array of strings");
        for (const auto& e : *it) {
            if (!e.is_string()) bad_request("webhook_events_filter must be an array of strings");
            const std::string ev = e.get<std::string>();
            if (ev != "completed" && ev != "failed" && ev != "start" && ev != "progress")
                bad_request("webhook_events_filter: unknown event '" + ev + "' (completed, failed, start, progress)");
            p.webhook_events_filter.push_back(ev);
        }
    }
    return p;
}

json params_to_json(const GenerationParams& p) {
    return json{{"images", p.images},
                {"prompt", p.prompt},
                {"negative_prompt", p.negative_prompt},
                {"seed", p.seed},
                {"seed_random", p.seed_random},
                {"max_width", p.max_width},
                {"max_height", p.max_height},
                {"loop", p.loop},
                {"interpolate", p.interpolate},
                {"color_correction", p.color_correction},
                {"steps", p.steps},
                {"cfg_scale", p.cfg_scale},
                {"frame_stride", p.frame_stride},
                {"frames_per_segment", p.frames_per_segment},
                {"fps", p.fps},
                {"output_format", p.output_format},
                {"base64", p.base64},
                {"webhook", p.webhook},
                {"webhook_events_filter", p.webhook_events_filter}};
}

GenerationParams params_from_json(const json& j) {
    GenerationParams p;
    p.images = j.at("images").get<std::vector<std::string>>();
    p.prompt = j.at("prompt").get<std::string>();
    p.negative_prompt = j.at("negative_prompt").get<std::string>();
    p.seed = j.at("seed").get<uint64_t>();
    p.seed_random = j.value("seed_random", false);
    p.max_width = j.at("max_width").get<int>();
    p.max_height = j.at("max_height").get<int>();
    p.loop = j.at("loop").get<bool>();
    p.interpolate = j.at("interpolate").get<bool>();
    p.color_correction = j.at("color_correction").get<bool>();
    p.steps = j.at("steps").get<int>();
    p.cfg_scale = j.at("cfg_scale").get<double>();
    p.frame_stride = j.at("frame_stride").get<double>();
    p.frames_per_segment = j.at("frames_per_segment").get<int>();
    p.fps = j.at("fps").get<double>();
    p.output_format = j.at("output_format").get<std::string>();
    p.base64 = j.at("base64").get<bool>();
    p.webhook = j.value("webhook", std::string());
    p.webhook_events_filter = j.value("webhook_events_filter", std::vector<std::string>{});
    return p;
}

}  // namespace tc::server
