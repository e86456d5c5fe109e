// The keyframes-to-video engine: what the CLI (`tooncrafter generate a.png b.png c.png --loop ...`) and the
// server call. One Engine holds the loaded ToonCrafter model, the CLIP tokenizer and (optionally) FILM, and
// runs requests with the semantics of DESIGN.md sections 3 and 5:
//   size (pipeline/sizing.h) -> keyframes centre-cropped and resized -> segments denoised as one batch
//   (pipeline/segments.h) -> colour correction (pipeline/color_correction.h) -> joined video -> FILM 2x
//   (pipeline/frame_interpolation.h).
// run() may be called repeatedly; concurrent run() calls on one Engine are not verified safe: serialise them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/tensor_source.h"
#include "models/film.h"
#include "models/tokenizer.h"
#include "models/tooncrafter_model.h"
#include "pipeline/ddim.h"  // tc::Cancelled, thrown by run() when CancelFn says stop

namespace tc {

struct EngineConfig {
    std::string model_path;   // model.ckpt or .safetensors (picked by magic bytes)
    std::string config_path;  // model YAML; empty = the official 512 model (ToonCrafterConfig{})
    std::string vocab_path;   // bpe_simple_vocab_16e6.txt.gz
    std::string film_path;    // FILM weights (.pt TorchScript or .safetensors); empty = interpolate unavailable
    // Segments per UNet batch (x2 for the guidance branches); 0 = all segments of a request at once.
    int max_batch_segments = 0;
    // The accepted max_width / max_height values (the wire contract's 256 | 512 | 768); tests of small
    // models widen this.
    std::vector<int64_t> allowed_max_sides{256, 512, 768};
};

// One generation request: DESIGN.md section 3's parameters, images already decoded.
struct Request {
    std::vector<Tensor> keyframes;  // 2..10 images [H, W, 3] U8 (image_1 first), any sizes
    std::string prompt = "cartoon character animation";
    std::string negative_prompt = "low quality";
    uint64_t seed = 42;
    int64_t max_width = 512, max_height = 512;
    bool loop = false;
    bool interpolate = false;        // FILM 2x (needs EngineConfig::film_path)
    bool color_correction = true;
    int steps = 20;
    double cfg_scale = 7.0;
    double frame_stride = 10;
    int frames_per_segment = 0;      // 0 = the model's temporal_length; any other value must equal it
    double fps = 8;                  // of the generated frames; doubled when interpolated
    // Sampler details not on the wire (official run.sh values).
    double eta = 1.0;
    double guidance_rescale = 0.7;
};

struct Video {
    Tensor frames;  // [F, H, W, 3] U8
    double fps = 0;
};

struct Progress {
    std::string stage;  // "prepare", "encode", "denoise", "decode", "color", "interpolate", "done"
    int done = 0, total = 0;
    int segment = -1;   // the segment concerned (first of the batch for "denoise"); -1 when none
};
using ProgressFn = std::function<void(const Progress&)>;
using CancelFn = std::function<bool()>;  // true = stop: run() throws tc::Cancelled at the next check

// What a request will produce, computed without running it (for validation and the status API).
struct RequestPlan {
    int64_t width = 0, height = 0;
    int segments = 0;
    int64_t frames = 0;  // after FILM when interpolated
    double fps = 0;
};

class Engine {
public:
    static std::unique_ptr<Engine> load(const EngineConfig& cfg);

    // `--model demo`: the tiny random-weight model of engine/demo_model.h, built in memory (no weight file).
    // Its videos are noise. With an existing `vocab_path` the real CLIP tokenizer is used; otherwise (and by
    // default) the demo-only byte tokenizer demo_byte_tokenize. No FILM (interpolate is refused).
    static std::unique_ptr<Engine> load_demo(uint64_t seed = 0, const std::string& vocab_path = "");

    // Validates the request (throws tc::Error with a message fit for a 400 response) and plans it.
    RequestPlan plan(const Request& req) const;

    // Runs the request. Cancellation is checked between denoising steps (and stages).
    Video run(const Request& req, const ProgressFn& progress = {}, const CancelFn& cancelled = {}) const;

    const ToonCrafterModel& model() const { return *model_; }
    bool has_film() const { return film_ != nullptr; }
    const EngineConfig& config() const { return cfg_; }
    bool is_demo() const { return demo_; }

private:
    Engine() = default;
    // The prompt's 77 token ids: the CLIP tokenizer, or the demo's byte stand-in when it has none.
    std::vector<int64_t> tokenize(const std::string& text) const;

    EngineConfig cfg_;
    bool demo_ = false;
    std::unique_ptr<TensorSource> weights_;  // the model's tensors may be views into it
    std::unique_ptr<ToonCrafterModel> model_;
    std::unique_ptr<ClipTokenizer> tokenizer_;  // null for a demo engine without a vocabulary
    std::unique_ptr<Film> film_;
};

}  // namespace tc
