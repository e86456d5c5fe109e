// `tooncrafter generate`: interpolates between two keyframes with a local checkpoint on the CPU reference
// backend (scripts/evaluation/inference.py with the scripts/run.sh settings). Until the media layer encodes
// video, the frames are written as PNG files into `<out>_frames/`; `--raw-out` saves the float frames.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/paths.h"
#include "core/error.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "io/tensor_source.h"
#include "media/png.h"
#include "models/tokenizer.h"
#include "models/tooncrafter_model.h"
#include "pipeline/interpolate.h"

namespace tc::cli {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// out.mp4 -> out_frames (beside it).
fs::path frames_dir_for(const std::string& output) {
    fs::path p(output);
    return p.parent_path() / (p.stem().string() + "_frames");
}

}  // namespace

CLI::App* add_generate_command(CLI::App& app, GenerateOptions& o) {
    auto* g = app.add_subcommand(
        "generate",
        "Interpolate between two keyframes (CPU reference backend). -o OUT currently writes the frames as "
        "PNG files OUT_STEM_frames/frame_XX.png beside OUT; MP4 encoding arrives with the media layer.");
    g->add_option("--config", o.config, "model config YAML (official layout); default: the official 512 model");
    g->add_option("--ckpt", o.ckpt, "checkpoint: model.ckpt (torch) or .safetensors")->required();
    g->add_option("--image", o.images, "keyframe PNG; give exactly two: --image A --image B")->required();
    g->add_option("--prompt", o.prompt, "text prompt")->capture_default_str();
    g->add_option("--negative-prompt", o.negative_prompt, "negative prompt (default empty: the official unconditional branch)");
    g->add_option("--steps", o.steps, "DDIM steps")->capture_default_str()->check(CLI::Range(1, 1000));
    g->add_option("--cfg-scale", o.cfg_scale, "classifier-free guidance scale")->capture_default_str();
    g->add_option("--frame-stride", o.frame_stride, "fs conditioning (smaller = larger motion)")->capture_default_str();
    g->add_option("--eta", o.eta, "DDIM eta (0 = deterministic)")->capture_default_str()->check(CLI::Range(0.0, 10.0));
    g->add_option("--guidance-rescale", o.guidance_rescale, "guidance rescale factor")->capture_default_str();
    g->add_option("--seed", o.seed, "noise seed")->capture_default_str();
    g->add_option("--noise", o.noise_file, "replay recorded noise_00, noise_01, ... from a safetensors file (testing)");
    g->add_option("--raw-out", o.raw_out, "also save frames [3,T,H,W] F32, frames_uint8 [T,H,W,3] and latent as safetensors");
    g->add_flag("--no-middle-fix", o.no_middle_fix, "skip the re-decode of the two middle frames");
    g->add_option("--width", o.width, "output width in pixels (default: the config's)");
    g->add_option("--height", o.height, "output height in pixels (default: the config's)");
    g->add_option("--vocab", o.vocab, "bpe_simple_vocab_16e6.txt.gz (default: beside the checkpoint, then the cache)");
    g->add_option("-o,--output", o.output, "output path; frames go to <stem>_frames/frame_XX.png beside it")->required();
    g->add_flag("-q,--quiet", o.quiet, "no progress output");
    return g;
}

int cmd_generate(const GenerateOptions& o) {
    const auto t_start = Clock::now();
    auto log = [&](const char* fmt, auto... args) {
        if (o.quiet) return;
        std::fprintf(stderr, fmt, args...);
        std::fflush(stderr);
    };
    TC_CHECK(o.images.size() == 2, "generate takes exactly two keyframes (--image A --image B), got ", o.images.size());

    const ToonCrafterConfig cfg = o.config.empty() ? ToonCrafterConfig{} : load_model_config(o.config);
    const int64_t vae_factor = int64_t(1) << (cfg.vae.ch_mult.size() - 1);
    const int64_t unet_factor = int64_t(1) << (cfg.unet.channel_mult.size() - 1);
    const int64_t height = o.height > 0 ? o.height : int64_t(cfg.image_size.at(0)) * vae_factor;
    const int64_t width = o.width > 0 ? o.width : int64_t(cfg.image_size.at(1)) * vae_factor;
    TC_CHECK(height % (vae_factor * unet_factor) == 0 && width % (vae_factor * unet_factor) == 0,
             "output size ", width, "x", height, " must be a multiple of ", vae_factor * unet_factor, " on each side");

    // Inputs first, so that a bad image fails before the (slow) model load.
    InterpolationInputs in;
    in.keyframe0 = fit_keyframe(keyframe_from_rgb8(read_png(o.images[0])), height, width);
    in.keyframe1 = fit_keyframe(keyframe_from_rgb8(read_png(o.images[1])), height, width);
    const std::string vocab =
        !o.vocab.empty() ? o.vocab : find_vocab({fs::absolute(o.ckpt).parent_path().string()});
    const ClipTokenizer tokenizer = ClipTokenizer::from_file(vocab);
    in.prompt_ids = tokenizer.tokenize(o.prompt);
    in.negative_ids = tokenizer.tokenize(o.negative_prompt);

    log("loading %s\n", o.ckpt.c_str());
    const auto t_load = Clock::now();
    std::unique_ptr<TensorSource> weights = open_tensor_source(o.ckpt);
    std::unique_ptr<ToonCrafterModel> model = ToonCrafterModel::load(cfg, *weights);
    log("loaded %lld tensors in %.1f s\n", (long long)model->param_count(), seconds_since(t_load));

    std::unique_ptr<NoiseSource> noise;
    if (!o.noise_file.empty()) noise = std::make_unique<RecordedNoise>(o.noise_file);
    else noise = std::make_unique<SeededNoise>(o.seed);

    InterpolationParams params;
    params.steps = o.steps;
    params.eta = o.eta;
    params.cfg_scale = o.cfg_scale;
    params.guidance_rescale = o.guidance_rescale;
    params.frame_stride = o.frame_stride;
    params.middle_frame_fix = !o.no_middle_fix;
    const DdimSchedule sched = DdimSchedule::make(model_schedule(*model), o.steps, o.eta, cfg.use_dynamic_rescale);
    if (!sched.clamped_indices().empty())
        log("note: with %d steps the official sampler produces NaN at its first step (sqrt of -6e-8); "
            "this implementation clamps that argument to 0\n", o.steps);

    InterpolationHooks hooks;
    auto t_stage = Clock::now();
    hooks.progress = [&](const std::string& stage, int done, int total) {
        if (done == 0) t_stage = Clock::now();
        else log("%-7s %d/%d  (%.1f s)\n", stage.c_str(), done, total, seconds_since(t_stage));
    };
    const InterpolationResult r = interpolate(*model, in, params, *noise, hooks);

    const fs::path dir = frames_dir_for(o.output);
    fs::create_directories(dir);
    const int64_t T = r.frames_uint8.size(0);
    for (int64_t t = 0; t < T; ++t) {
        char name[32];
        std::snprintf(name, sizeof name, "frame_%02lld.png", (long long)t);
        write_png((dir / name).string(), r.frames_uint8.select(0, t));
    }
    if (!o.raw_out.empty())
        save_safetensors(o.raw_out, {{"frames", r.frames}, {"frames_uint8_thwc", r.frames_uint8}, {"latent", r.latent}},
                         {{"prompt", o.prompt}, {"steps", std::to_string(o.steps)}});
    log("wrote %lld frames (%lldx%lld) to %s/ in %.1f s total (MP4 output is not implemented yet)\n", (long long)T,
        (long long)width, (long long)height, dir.string().c_str(), seconds_since(t_start));
    return 0;
}

}  // namespace tc::cli
