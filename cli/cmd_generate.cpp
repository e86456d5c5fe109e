// `tooncrafter generate`: 2..10 keyframes -> a video (MP4 / WebM / GIF / zip of PNG frames) with a local
// checkpoint, on the Engine (engine/engine.h: sizing, batched segments, colour correction, optional loop and
// FILM 2x), with a progress bar on stderr and Ctrl-C cancellation (exit 130).
//
// Test hooks: --noise (replay recorded noise) or --raw-out (save the float frames) select the legacy
// two-keyframe path, pipeline/interpolate.h's interpolate() exactly as the golden CLI test
// (tests/parity/test_generate_cli.cpp) expects: PNG frames in <stem>_frames/ beside OUT, plus the video at OUT.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/paths.h"
#include "core/error.h"
#include "engine/engine.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "io/tensor_source.h"
#include "media/image_decode.h"
#include "media/png.h"
#include "media/video_encode.h"
#include "models/tokenizer.h"
#include "models/tooncrafter_model.h"
#include "pipeline/interpolate.h"
#include "pipeline/segments.h"
#include "pipeline/sizing.h"

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

// Set by SIGINT, read by the engine's cancel callback. A signal handler can only reach global state; this is
// the one flag, lock-free so that the handler may store to it.
std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);
extern "C" void on_sigint(int) { g_interrupted.store(true); }

// Installs on_sigint for the lifetime of the object (restores the previous handler after).
class SigintGuard {
public:
    SigintGuard() { prev_ = std::signal(SIGINT, on_sigint); }
    ~SigintGuard() { std::signal(SIGINT, prev_ == SIG_ERR ? SIG_DFL : prev_); }
    SigintGuard(const SigintGuard&) = delete;
    SigintGuard& operator=(const SigintGuard&) = delete;

private:
    void (*prev_)(int) = SIG_DFL;
};

// --output-format, else OUT's extension (.mp4 .webm .gif .zip), else MP4.
media::VideoFormat output_format(const GenerateOptions& o) {
    if (!o.output_format.empty()) return media::parse_video_format(o.output_format);
    std::string ext = fs::path(o.output).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (ext == ".webm") return media::VideoFormat::WebM;
    if (ext == ".gif") return media::VideoFormat::GIF;
    if (ext == ".zip") return media::VideoFormat::FramesZip;
    return media::VideoFormat::MP4;
}

// The engine's stage names as the user sees them.
std::string stage_label(const std::string& stage) {
    if (stage == "interpolate") return "film";
    return stage;
}

// Progress on stderr: on a terminal one bar line rewritten in place
// (`denoise [#####.....] 12/40 segment 2/3`); otherwise plain lines, one per stage change and every ~10%.
class ProgressPrinter {
public:
    ProgressPrinter(bool quiet, int segments) : quiet_(quiet), tty_(isatty(2) == 1), segments_(segments) {}
    ~ProgressPrinter() { finish_line(); }

    void update(const Progress& p) {
        if (quiet_) return;
        const std::string label = stage_label(p.stage);
        const bool new_stage = label != last_stage_;
        const int pct = p.total > 0 ? int(100LL * p.done / p.total) : 100;
        std::string seg;
        if (p.segment >= 0 && segments_ > 0) seg = " segment " + std::to_string(p.segment + 1) + "/" + std::to_string(segments_);
        if (tty_) {
            constexpr int kWidth = 20;
            const int filled = p.total > 0 ? int(int64_t(kWidth) * p.done / p.total) : kWidth;
            std::string bar(size_t(filled), '#');
            bar.append(size_t(kWidth - filled), '.');
            std::fprintf(stderr, "\r\033[K%-8s [%s] %d/%d%s", label.c_str(), bar.c_str(), p.done, p.total, seg.c_str());
            open_line_ = true;
        } else if (new_stage || pct >= last_pct_ + 10 || (p.done == p.total && last_pct_ < 100)) {
            std::fprintf(stderr, "%-8s %d/%d%s (%.1f s)\n", label.c_str(), p.done, p.total, seg.c_str(), seconds_since(t0_));
            last_pct_ = pct;
        }
        if (new_stage) {
            last_stage_ = label;
            last_pct_ = pct;
        }
        std::fflush(stderr);
    }

    // Ends the bar line (before any other output).
    void finish_line() {
        if (open_line_) std::fputc('\n', stderr);
        open_line_ = false;
        std::fflush(stderr);
    }

private:
    bool quiet_, tty_;
    int segments_;
    std::string last_stage_;
    int last_pct_ = 0;
    bool open_line_ = false;
    Clock::time_point t0_ = Clock::now();
};

// The max_width / max_height values the CLI accepts: the wire contract's 256 | 512 | 768, and for a model
// whose native frame (latent size x VAE factor) is under 256 px (the golden tiny test model) also 64, 128, 192,
// so that such a model can run at its own size.
std::vector<int64_t> cli_allowed_max_sides(const ToonCrafterConfig& cfg) {
    std::vector<int64_t> sides{256, 512, 768};
    const int64_t vae_factor = int64_t(1) << (cfg.vae.ch_mult.size() - 1);
    const int64_t native = int64_t(std::max(cfg.image_size.at(0), cfg.image_size.at(1))) * vae_factor;
    if (native < 256) sides.insert(sides.begin(), {64, 128, 192});
    return sides;
}

// The legacy two-keyframe path (test hooks --noise / --raw-out): interpolate() at an exact size.
int generate_legacy(const GenerateOptions& o, const std::vector<std::string>& images) {
    const auto t_start = Clock::now();
    auto log = [&](const char* fmt, auto... args) {
        if (o.quiet) return;
        std::fprintf(stderr, fmt, args...);
        std::fflush(stderr);
    };
    TC_CHECK(images.size() == 2, "--noise / --raw-out take exactly two keyframes, got ", images.size());
    const media::VideoFormat format = output_format(o);

    const ToonCrafterConfig cfg = o.config.empty() ? ToonCrafterConfig{} : load_model_config(o.config);
    const int64_t vae_factor = int64_t(1) << (cfg.vae.ch_mult.size() - 1);
    const int64_t unet_factor = int64_t(1) << (cfg.unet.channel_mult.size() - 1);
    const int64_t height = o.max_height > 0 ? o.max_height : int64_t(cfg.image_size.at(0)) * vae_factor;
    const int64_t width = o.max_width > 0 ? o.max_width : int64_t(cfg.image_size.at(1)) * vae_factor;
    TC_CHECK(height % (vae_factor * unet_factor) == 0 && width % (vae_factor * unet_factor) == 0,
             "output size ", width, "x", height, " must be a multiple of ", vae_factor * unet_factor, " on each side");

    // Inputs first, so that a bad image fails before the (slow) model load.
    InterpolationInputs in;
    in.keyframe0 = fit_keyframe(keyframe_from_rgb8(read_png(images[0])), height, width);
    in.keyframe1 = fit_keyframe(keyframe_from_rgb8(read_png(images[1])), height, width);
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
    media::encode_video(r.frames_uint8, o.output, {format, o.fps});
    log("wrote %lld frames (%lldx%lld) to %s/ and %s in %.1f s total\n", (long long)T, (long long)width,
        (long long)height, dir.string().c_str(), o.output.c_str(), seconds_since(t_start));
    return 0;
}

// The Engine path.
int generate_engine(const GenerateOptions& o, const std::vector<std::string>& images) {
    const auto t_start = Clock::now();
    auto log = [&](const char* fmt, auto... args) {
        if (o.quiet) return;
        std::fprintf(stderr, fmt, args...);
        std::fflush(stderr);
    };
    const media::VideoFormat format = output_format(o);
    TC_CHECK(!o.interpolate || !o.film_weights.empty(), "--interpolate needs --film-weights FILE");

    // Inputs and their validation first, so that a bad image or size fails before the (slow) model load.
    Request req;
    for (const std::string& path : images) req.keyframes.push_back(media::decode_image_file(path));
    req.prompt = o.prompt;
    req.negative_prompt = o.negative_prompt;
    req.seed = o.seed;
    req.max_width = o.max_width > 0 ? o.max_width : 512;
    req.max_height = o.max_height > 0 ? o.max_height : 512;
    req.loop = o.loop;
    req.interpolate = o.interpolate;
    req.color_correction = !o.no_color_correction;
    req.steps = o.steps;
    req.cfg_scale = o.cfg_scale;
    req.frame_stride = o.frame_stride;
    req.fps = o.fps;
    req.eta = o.eta;
    req.guidance_rescale = o.guidance_rescale;

    EngineConfig ec;
    ec.model_path = o.ckpt;
    ec.config_path = o.config;
    ec.film_path = o.interpolate ? o.film_weights : std::string();
    const ToonCrafterConfig mc = o.config.empty() ? ToonCrafterConfig{} : load_model_config(o.config);
    ec.allowed_max_sides = cli_allowed_max_sides(mc);
    validate_max_side("max_width", req.max_width, ec.allowed_max_sides);
    validate_max_side("max_height", req.max_height, ec.allowed_max_sides);
    ec.vocab_path = !o.vocab.empty() ? o.vocab : find_vocab({fs::absolute(o.ckpt).parent_path().string()});

    log("loading %s\n", o.ckpt.c_str());
    const auto t_load = Clock::now();
    const std::unique_ptr<Engine> engine = Engine::load(ec);
    const RequestPlan plan = engine->plan(req);
    log("loaded in %.1f s; %d segment(s) -> %lld frames %lldx%lld at %g fps\n", seconds_since(t_load), plan.segments,
        (long long)plan.frames, (long long)plan.width, (long long)plan.height, plan.fps);

    g_interrupted.store(false);
    const SigintGuard sigint;
    ProgressPrinter printer(o.quiet, plan.segments);
    Video v;
    try {
        v = engine->run(req, [&](const Progress& p) { printer.update(p); }, [] { return g_interrupted.load(); });
    } catch (const Cancelled&) {
        printer.finish_line();
        std::fprintf(stderr, "error: cancelled\n");
        return 130;
    }
    printer.update(Progress{"encode video", 0, 1, -1});
    media::encode_video(v.frames, o.output, {format, v.fps});
    printer.update(Progress{"encode video", 1, 1, -1});
    printer.finish_line();
    log("wrote %lld frames (%lldx%lld, %g fps, %s) to %s in %.1f s total\n", (long long)v.frames.size(0),
        (long long)v.frames.size(2), (long long)v.frames.size(1), v.fps, media::video_format_name(format).c_str(),
        o.output.c_str(), seconds_since(t_start));
    return 0;
}

}  // namespace

CLI::App* add_generate_command(CLI::App& app, GenerateOptions& o) {
    auto* g = app.add_subcommand(
        "generate",
        "Generate the video through 2..10 keyframes (CPU reference backend) and write it to -o OUT as MP4 "
        "(H.264), WebM (VP9), GIF or a zip of PNG frames. Defaults are the official scripts/run.sh values "
        "(steps 50, cfg-scale 7.5, eta 1, seed 123); the negative prompt defaults to empty, which is the "
        "official unconditional branch. Test hooks: --noise or --raw-out run the legacy two-keyframe path "
        "(exact --max-width/--max-height size, default the config's), which also writes the frames as PNG "
        "files OUT_STEM_frames/frame_XX.png beside OUT.");
    g->add_option("images", o.positional_images, "keyframe images (JPEG, PNG, WebP, GIF), 2..10 in order");
    g->add_option("--image", o.images, "keyframe image (repeatable; after the positional ones)");
    g->add_option("--config", o.config, "model config YAML (official layout); default: the official 512 model");
    g->add_option("--ckpt", o.ckpt, "checkpoint: model.ckpt (torch) or .safetensors")->required();
    g->add_option("--vocab", o.vocab, "bpe_simple_vocab_16e6.txt.gz (default: beside the checkpoint, then the cache)");
    g->add_option("--film-weights", o.film_weights, "FILM weights (film_net_fp32.pt or .safetensors), for --interpolate");
    g->add_flag("--loop", o.loop, "close the loop: a last segment from the last keyframe back to the first");
    g->add_flag("--interpolate", o.interpolate, "FILM 2x frame interpolation (doubles the fps)");
    g->add_flag("--no-color-correction", o.no_color_correction, "skip the per-segment colour correction");
    g->add_option("--max-width", o.max_width,
                  "largest output width: 256, 512 or 768 (default 512; 64, 128, 192 too for models whose native "
                  "size is under 256 px, e.g. the test models)");
    g->add_option("--max-height", o.max_height, "largest output height (as --max-width)");
    // The old names, kept working.
    g->add_option("--width", o.max_width)->group("");
    g->add_option("--height", o.max_height)->group("");
    g->add_option("--fps", o.fps, "frame rate of the generated frames (doubled by --interpolate)")->capture_default_str();
    g->add_option("--output-format", o.output_format,
                  "mp4 | webm | gif | frames_zip (default: from OUT's extension .mp4/.webm/.gif/.zip, else mp4)");
    g->add_option("--prompt", o.prompt, "text prompt")->capture_default_str();
    g->add_option("--negative-prompt", o.negative_prompt,
                  "negative prompt (default empty: the official unconditional branch)");
    g->add_option("--steps", o.steps, "DDIM steps")->capture_default_str()->check(CLI::Range(1, 1000));
    g->add_option("--cfg-scale", o.cfg_scale, "classifier-free guidance scale")->capture_default_str();
    g->add_option("--frame-stride", o.frame_stride, "fs conditioning (smaller = larger motion)")->capture_default_str();
    g->add_option("--eta", o.eta, "DDIM eta (0 = deterministic)")->capture_default_str()->check(CLI::Range(0.0, 10.0));
    g->add_option("--guidance-rescale", o.guidance_rescale, "guidance rescale factor")->capture_default_str();
    g->add_option("--seed", o.seed, "noise seed")->capture_default_str();
    g->add_option("--noise", o.noise_file,
                  "test hook: replay recorded noise_00, noise_01, ... from a safetensors file (legacy two-keyframe path)");
    g->add_option("--raw-out", o.raw_out,
                  "test hook: also save frames [3,T,H,W] F32, frames_uint8 [T,H,W,3] and latent as safetensors "
                  "(legacy two-keyframe path)");
    g->add_flag("--no-middle-fix", o.no_middle_fix, "legacy path: skip the re-decode of the two middle frames");
    g->add_option("-o,--output", o.output, "output file (the legacy path also writes <stem>_frames/frame_XX.png beside it)")
        ->required();
    g->add_flag("-q,--quiet", o.quiet, "no progress output");
    return g;
}

int cmd_generate(const GenerateOptions& o) {
    std::vector<std::string> images = o.positional_images;
    images.insert(images.end(), o.images.begin(), o.images.end());
    TC_CHECK(images.size() >= size_t(kMinKeyframes), "generate needs at least two keyframes (at most ", kMaxKeyframes,
             "): give them as arguments or with --image, got ", images.size());
    TC_CHECK(images.size() <= size_t(kMaxKeyframes), "generate takes at most ", kMaxKeyframes, " keyframes, got ",
             images.size());
    if (!o.noise_file.empty() || !o.raw_out.empty()) return generate_legacy(o, images);
    return generate_engine(o, images);
}

}  // namespace tc::cli
