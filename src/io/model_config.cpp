// Reads the official YAML layout (configs/inference_512_v1.0.yaml) into ToonCrafterConfig with yaml-cpp,
// and the open_clip architecture json (open_clip/model_configs/*.json layout) with nlohmann-json.
// Values are parsed strictly (a quoted "32" is a string, not an integer, as PyYAML would read it) and every
// error names the key path. yaml-cpp and nlohmann exceptions never escape: they become tc::Error.
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "io/model_config.h"

namespace tc {

namespace {

constexpr size_t kMaxConfigBytes = 4u << 20;

std::string read_small_file(const std::string& path, const char* what) {
    std::error_code ec;
    TC_CHECK(std::filesystem::is_regular_file(path, ec), "cannot read ", what, " '", path, "': no such file");
    auto size = std::filesystem::file_size(path, ec);
    TC_CHECK(!ec && size <= kMaxConfigBytes, "cannot read ", what, " '", path, "': ",
             ec ? ec.message() : "larger than 4 MB");
    std::ifstream f(path, std::ios::binary);
    TC_CHECK(f, "cannot read ", what, " '", path, "'");
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// ---------------------------------------------------------------- YAML scalars, strictly
// A YAML map node with its key path, for messages.
struct YNode {
    YAML::Node node;
    std::string path;

    // The child at `key`, or an undefined node when absent. This node must be a map (or absent).
    YNode operator[](const std::string& key) const {
        std::string p = path.empty() ? key : path + "." + key;
        if (!node.IsDefined() || node.IsNull()) return {YAML::Node(YAML::NodeType::Undefined), p};
        TC_CHECK(node.IsMap(), path, ": expected a mapping");
        return {node[key], p};
    }
    bool present() const { return node.IsDefined() && !node.IsNull(); }
    bool plain_scalar() const { return node.IsScalar() && node.Tag() != "!"; }  // "!" = quoted
};

bool parse_int(const std::string& s, int64_t& out) {
    if (s.empty() || s.size() > 20) return false;
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (i == s.size()) return false;
    for (size_t j = i; j < s.size(); ++j)
        if (s[j] < '0' || s[j] > '9') return false;
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno != 0 || *end != '\0') return false;
    out = v;
    return true;
}

int yaml_int_value(const YNode& n, int64_t lo, int64_t hi) {
    int64_t v = 0;
    TC_CHECK(n.plain_scalar() && parse_int(n.node.Scalar(), v), n.path, ": expected an integer");
    TC_CHECK(v >= lo && v <= hi, n.path, ": ", v, " is out of range [", lo, ", ", hi, "]");
    return int(v);
}

void get_int(const YNode& m, const std::string& key, int& out, int64_t lo = 1, int64_t hi = 1 << 20) {
    YNode n = m[key];
    if (n.present()) out = yaml_int_value(n, lo, hi);
}

void get_bool(const YNode& m, const std::string& key, bool& out) {
    YNode n = m[key];
    if (!n.present()) return;
    const std::string s = n.plain_scalar() ? n.node.Scalar() : std::string();
    if (s == "true" || s == "True" || s == "TRUE") out = true;
    else if (s == "false" || s == "False" || s == "FALSE") out = false;
    else TC_FAIL(n.path, ": expected true or false");
}

template <typename F>
void get_float(const YNode& m, const std::string& key, F& out, double lo, double hi) {
    YNode n = m[key];
    if (!n.present()) return;
    TC_CHECK(n.plain_scalar(), n.path, ": expected a number");
    const std::string& s = n.node.Scalar();
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(s.c_str(), &end);
    TC_CHECK(!s.empty() && end && *end == '\0' && errno == 0 && std::isfinite(v), n.path, ": expected a number");
    TC_CHECK(v >= lo && v <= hi, n.path, ": ", v, " is out of range [", lo, ", ", hi, "]");
    out = F(v);
}

void get_string(const YNode& m, const std::string& key, std::string& out) {
    YNode n = m[key];
    if (!n.present()) return;
    TC_CHECK(n.node.IsScalar(), n.path, ": expected a string");
    out = n.node.Scalar();
}

void get_int_list(const YNode& m, const std::string& key, std::vector<int>& out, int64_t lo, int64_t hi,
                  bool allow_empty = true, size_t max_len = 64) {
    YNode n = m[key];
    if (!n.present()) return;
    TC_CHECK(n.node.IsSequence() && n.node.size() <= max_len, n.path, ": expected a list of integers");
    std::vector<int> v;
    for (size_t i = 0; i < n.node.size(); ++i) {
        YNode e{n.node[i], n.path + "[" + std::to_string(i) + "]"};
        TC_CHECK(e.plain_scalar(), n.path, ": expected a list of integers");
        v.push_back(yaml_int_value(e, lo, hi));
    }
    TC_CHECK(allow_empty || !v.empty(), n.path, ": the list must not be empty");
    out = std::move(v);
}

// The `params` mapping of a `{target, params}` sub-config; undefined when the sub-config is absent.
YNode params_of(const YNode& parent, const std::string& key) {
    YNode cfg = parent[key];
    if (!cfg.present()) return cfg;
    return cfg["params"];
}

// ---------------------------------------------------------------- open_clip architecture json
using json = nlohmann::json;

int json_int(const json& obj, const std::string& obj_path, const char* key, const std::string& file,
             std::optional<int> dflt, int64_t lo = 1, int64_t hi = 1 << 20) {
    auto it = obj.find(key);
    if (it == obj.end()) {
        TC_CHECK(dflt.has_value(), file, ": ", obj_path, key, ": missing");
        return *dflt;
    }
    TC_CHECK(it->is_number_integer(), file, ": ", obj_path, key, ": expected an integer");
    int64_t v = it->get<int64_t>();
    TC_CHECK(v >= lo && v <= hi, file, ": ", obj_path, key, ": ", v, " is out of range [", lo, ", ", hi, "]");
    return int(v);
}

float json_float(const json& obj, const std::string& obj_path, const char* key, const std::string& file, float dflt) {
    auto it = obj.find(key);
    if (it == obj.end()) return dflt;
    TC_CHECK(it->is_number(), file, ": ", obj_path, key, ": expected a number");
    double v = it->get<double>();
    TC_CHECK(std::isfinite(v) && v > 0 && v <= 64, file, ": ", obj_path, key, ": ", v, " is out of range (0, 64]");
    return float(v);
}

// Reads open_clip's model config layout; defaults are those of open_clip's CLIPVisionCfg / CLIPTextCfg.
OpenClipConfig parse_open_clip_json(const std::string& text, const std::string& file) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        TC_FAIL(file, ": invalid JSON: ", e.what());
    }
    TC_CHECK(j.is_object(), file, ": expected a JSON object");
    OpenClipConfig c;
    c.embed_dim = json_int(j, "", "embed_dim", file, std::nullopt);
    auto v = j.find("vision_cfg");
    auto t = j.find("text_cfg");
    TC_CHECK(v != j.end() && v->is_object(), file, ": vision_cfg: expected an object");
    TC_CHECK(t != j.end() && t->is_object(), file, ": text_cfg: expected an object");
    c.vision_image_size = json_int(*v, "vision_cfg.", "image_size", file, 224);
    c.vision_layers = json_int(*v, "vision_cfg.", "layers", file, std::nullopt, 1, 1024);
    c.vision_width = json_int(*v, "vision_cfg.", "width", file, std::nullopt);
    c.vision_head_width = json_int(*v, "vision_cfg.", "head_width", file, 64);
    c.vision_patch_size = json_int(*v, "vision_cfg.", "patch_size", file, std::nullopt);
    c.vision_mlp_ratio = json_float(*v, "vision_cfg.", "mlp_ratio", file, 4.0f);
    TC_CHECK(c.vision_width % c.vision_head_width == 0, file, ": vision_cfg.width ", c.vision_width,
             " is not a multiple of head_width ", c.vision_head_width);
    TC_CHECK(c.vision_image_size % c.vision_patch_size == 0, file, ": vision_cfg.image_size ", c.vision_image_size,
             " is not a multiple of patch_size ", c.vision_patch_size);
    c.text_context_length = json_int(*t, "text_cfg.", "context_length", file, 77);
    c.text_vocab_size = json_int(*t, "text_cfg.", "vocab_size", file, 49408);
    c.text_width = json_int(*t, "text_cfg.", "width", file, std::nullopt);
    c.text_heads = json_int(*t, "text_cfg.", "heads", file, std::nullopt);
    c.text_layers = json_int(*t, "text_cfg.", "layers", file, std::nullopt, 1, 1024);
    c.text_mlp_ratio = json_float(*t, "text_cfg.", "mlp_ratio", file, 4.0f);
    TC_CHECK(c.text_width % c.text_heads == 0, file, ": text_cfg.width ", c.text_width,
             " is not a multiple of heads ", c.text_heads);
    return c;
}

// ViT-H-14 is built in (open_clip model_configs/ViT-H-14.json = OpenClipConfig{}); any other arch is read from
// <base_dir>/open_clip_arch.json, or <base_dir>/<arch>.json when that one is absent.
OpenClipConfig resolve_arch(const std::string& arch, const std::string& base_dir, const std::string& path,
                            std::map<std::string, OpenClipConfig>& cache) {
    if (arch == "ViT-H-14") return OpenClipConfig{};
    if (auto it = cache.find(arch); it != cache.end()) return it->second;
    TC_CHECK(!arch.empty() && arch.find('/') == std::string::npos && arch.find('\\') == std::string::npos &&
                 arch[0] != '.',
             path, ": '", arch, "' is not a valid open_clip architecture name");
    namespace fs = std::filesystem;
    std::string file = (fs::path(base_dir) / "open_clip_arch.json").string();
    std::error_code ec;
    if (!fs::exists(file, ec)) {
        std::string alt = (fs::path(base_dir) / (arch + ".json")).string();
        TC_CHECK(fs::exists(alt, ec), path, ": architecture '", arch, "' is not built in (only ViT-H-14) and neither '",
                 file, "' nor '", alt, "' exists");
        file = alt;
    }
    OpenClipConfig c = parse_open_clip_json(read_small_file(file, "open_clip architecture"), file);
    cache[arch] = c;
    return c;
}

ToonCrafterConfig parse_yaml(const YAML::Node& doc, const std::string& base_dir) {
    ToonCrafterConfig c;
    YNode root{doc, ""};
    TC_CHECK(doc.IsMap(), "the config is not a YAML mapping (expected model.params)");
    YNode p = root["model"]["params"];
    TC_CHECK(p.present(), "model.params: missing (not a ToonCrafter model config)");
    TC_CHECK(p.node.IsMap(), "model.params: expected a mapping");

    // model.params (lvdm/models/ddpm3d.py LatentVisualDiffusion / DDPM)
    get_bool(p, "rescale_betas_zero_snr", c.rescale_betas_zero_snr);
    get_string(p, "parameterization", c.parameterization);
    TC_CHECK(c.parameterization == "v" || c.parameterization == "eps", "model.params.parameterization: '",
             c.parameterization, "' is not supported (v or eps)");
    get_float(p, "linear_start", c.linear_start, 0.0, 1.0);
    get_float(p, "linear_end", c.linear_end, 0.0, 1.0);
    get_int(p, "timesteps", c.timesteps, 1, 100000);
    get_string(p, "conditioning_key", c.conditioning_key);
    get_int_list(p, "image_size", c.image_size, 1, 1 << 14, false, 2);
    TC_CHECK(c.image_size.size() == 2, "model.params.image_size: expected [height, width]");
    get_int(p, "channels", c.channels, 1, 1024);
    get_float(p, "scale_factor", c.scale_factor, 0.0, 1e6);
    get_string(p, "uncond_type", c.uncond_type);
    get_bool(p, "use_dynamic_rescale", c.use_dynamic_rescale);
    get_float(p, "base_scale", c.base_scale, 0.0, 1e6);
    get_string(p, "fps_condition_type", c.fps_condition_type);
    get_bool(p, "perframe_ae", c.perframe_ae);
    get_bool(p, "loop_video", c.loop_video);

    // unet_config (lvdm/modules/networks/openaimodel3d.py UNetModel)
    if (YNode u = params_of(p, "unet_config"); u.present()) {
        UNetConfig& n = c.unet;
        get_int(u, "in_channels", n.in_channels);
        get_int(u, "out_channels", n.out_channels);
        get_int(u, "model_channels", n.model_channels);
        get_int_list(u, "attention_resolutions", n.attention_resolutions, 1, 1 << 10);
        get_int(u, "num_res_blocks", n.num_res_blocks, 1, 64);
        get_int_list(u, "channel_mult", n.channel_mult, 1, 64, false, 16);
        get_float(u, "dropout", n.dropout, 0.0, 1.0);
        get_int(u, "num_head_channels", n.num_head_channels);
        get_int(u, "transformer_depth", n.transformer_depth, 1, 64);
        get_int(u, "context_dim", n.context_dim);
        get_bool(u, "use_linear", n.use_linear);
        get_bool(u, "use_checkpoint", n.use_checkpoint);
        get_bool(u, "temporal_conv", n.temporal_conv);
        get_bool(u, "temporal_attention", n.temporal_attention);
        get_bool(u, "temporal_selfatt_only", n.temporal_selfatt_only);
        get_bool(u, "use_relative_position", n.use_relative_position);
        get_bool(u, "use_causal_attention", n.use_causal_attention);
        get_int(u, "temporal_length", n.temporal_length, 1, 1024);
        get_bool(u, "addition_attention", n.addition_attention);
        get_bool(u, "image_cross_attention", n.image_cross_attention);
        get_int(u, "default_fs", n.default_fs, 0, 1 << 20);
        get_bool(u, "fs_condition", n.fs_condition);
    }

    // first_stage_config (lvdm/models/autoencoder.py AutoencoderKL_Dualref) and its ddconfig
    if (YNode v = params_of(p, "first_stage_config"); v.present()) {
        VAEConfig& n = c.vae;
        get_int(v, "embed_dim", n.embed_dim);
        if (YNode d = v["ddconfig"]; d.present()) {
            get_bool(d, "double_z", n.double_z);
            get_int(d, "z_channels", n.z_channels);
            get_int(d, "resolution", n.resolution);
            get_int(d, "in_channels", n.in_channels);
            get_int(d, "out_ch", n.out_ch);
            get_int(d, "ch", n.ch);
            get_int_list(d, "ch_mult", n.ch_mult, 1, 64, false, 16);
            get_int(d, "num_res_blocks", n.num_res_blocks, 1, 64);
            get_int_list(d, "attn_resolutions", n.attn_resolutions, 1, 1 << 14);
            get_float(d, "dropout", n.dropout, 0.0, 1.0);
        }
    }

    // cond_stage_config / img_cond_stage_config (lvdm/modules/encoders/condition.py)
    std::map<std::string, OpenClipConfig> arch_cache;
    auto read_clip = [&](const std::string& key, ClipEmbedderConfig& e, bool text) {
        YNode n = params_of(p, key);
        if (n.present()) {
            get_string(n, "arch", e.arch);
            if (text) get_string(n, "layer", e.layer);
        }
        if (text)
            TC_CHECK(e.layer == "last" || e.layer == "penultimate", "model.params.", key, ".params.layer: '", e.layer,
                     "' is not supported (last or penultimate)");
        e.model = resolve_arch(e.arch, base_dir, "model.params." + key + ".params.arch", arch_cache);
    };
    read_clip("cond_stage_config", c.cond_stage, true);
    read_clip("img_cond_stage_config", c.img_cond_stage, false);

    // image_proj_stage_config (lvdm/modules/encoders/resampler.py Resampler)
    if (YNode r = params_of(p, "image_proj_stage_config"); r.present()) {
        ResamplerConfig& n = c.image_proj;
        get_int(r, "dim", n.dim);
        get_int(r, "depth", n.depth, 1, 64);
        get_int(r, "dim_head", n.dim_head);
        get_int(r, "heads", n.heads, 1, 1024);
        get_int(r, "num_queries", n.num_queries, 1, 1 << 16);
        get_int(r, "embedding_dim", n.embedding_dim);
        get_int(r, "output_dim", n.output_dim);
        get_int(r, "ff_mult", n.ff_mult, 1, 64);
        get_int(r, "video_length", n.video_length, 1, 1024);
    }
    return c;
}

}  // namespace

ToonCrafterConfig parse_model_config(const std::string& yaml_text, const std::string& base_dir) {
    YAML::Node doc;
    try {
        doc = YAML::Load(yaml_text);
    } catch (const YAML::Exception& e) {
        TC_FAIL("invalid YAML: ", e.what());
    }
    try {
        return parse_yaml(doc, base_dir);
    } catch (const YAML::Exception& e) {  // e.g. a subscript of an unexpected node kind
        TC_FAIL("malformed config: ", e.what());
    }
}

ToonCrafterConfig load_model_config(const std::string& yaml_path) {
    std::string text = read_small_file(yaml_path, "model config");
    std::string dir = std::filesystem::path(yaml_path).parent_path().string();
    try {
        return parse_model_config(text, dir.empty() ? "." : dir);
    } catch (const Error& e) {
        throw Error(yaml_path + ": " + e.what());
    }
}

}  // namespace tc
