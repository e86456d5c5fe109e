// The keyframes-to-video engine (see engine.h).
#include "engine/engine.h"

#include <filesystem>

#include "engine/demo_model.h"
#include "io/model_config.h"
#include "media/image_decode.h"
#include "pipeline/color_correction.h"
#include "pipeline/frame_interpolation.h"
#include "pipeline/interpolate.h"
#include "pipeline/segments.h"
#include "pipeline/sizing.h"

namespace tc {

namespace {

// The side multiple of the model: VAE downsampling x UNet downsampling (64 for the released model).
int64_t size_multiple(const ToonCrafterConfig& cfg) {
    return (int64_t(1) << (cfg.vae.ch_mult.size() - 1)) * (int64_t(1) << (cfg.unet.channel_mult.size() - 1));
}

}  // namespace

std::unique_ptr<Engine> Engine::load(const EngineConfig& cfg) {
    TC_CHECK(!cfg.model_path.empty(), "engine: no model path");
    TC_CHECK(!cfg.vocab_path.empty(), "engine: no CLIP vocabulary path");
    std::unique_ptr<Engine> e(new Engine());
    e->cfg_ = cfg;
    const ToonCrafterConfig mc = cfg.config_path.empty() ? ToonCrafterConfig{} : load_model_config(cfg.config_path);
    e->tokenizer_ = std::make_unique<ClipTokenizer>(ClipTokenizer::from_file(cfg.vocab_path));
    e->weights_ = open_tensor_source(cfg.model_path);
    e->model_ = ToonCrafterModel::load(mc, *e->weights_);
    if (!cfg.film_path.empty()) e->film_ = load_film(cfg.film_path);
    return e;
}

std::unique_ptr<Engine> Engine::load_demo(uint64_t seed, const std::string& vocab_path) {
    std::unique_ptr<Engine> e(new Engine());
    e->demo_ = true;
    e->cfg_.model_path = "demo";
    std::error_code ec;
    if (!vocab_path.empty() && std::filesystem::is_regular_file(vocab_path, ec)) {
        e->cfg_.vocab_path = vocab_path;
        e->tokenizer_ = std::make_unique<ClipTokenizer>(ClipTokenizer::from_file(vocab_path));
    }
    e->model_ = build_demo_model(seed);
    return e;
}

std::vector<int64_t> Engine::tokenize(const std::string& text) const {
    if (tokenizer_) return tokenizer_->tokenize(text);
    TC_CHECK(demo_, "engine: no CLIP tokenizer loaded");
    return demo_byte_tokenize(text);
}

RequestPlan Engine::plan(const Request& req) const {
    const ToonCrafterConfig& mc = model_->config();
    const int n = int(req.keyframes.size());
    TC_CHECK(n >= kMinKeyframes && n <= kMaxKeyframes, "between ", kMinKeyframes, " and ", kMaxKeyframes,
             " images are needed, got ", n);
    for (int i = 0; i < n; ++i) {
        const Tensor& k = req.keyframes[size_t(i)];
        TC_CHECK(k.defined() && k.dim() == 3 && k.size(2) == 3 && k.dtype() == DType::U8 && k.size(0) > 0 && k.size(1) > 0,
                 "image_", i + 1, " must be a decoded [H, W, 3] U8 image, got ", k.defined() ? k.describe() : "nothing");
    }
    validate_max_side("max_width", req.max_width, cfg_.allowed_max_sides);
    validate_max_side("max_height", req.max_height, cfg_.allowed_max_sides);
    TC_CHECK(req.steps >= 1 && req.steps <= 1000, "steps must be between 1 and 1000, got ", req.steps);
    TC_CHECK(req.cfg_scale >= 0 && req.cfg_scale <= 50, "cfg_scale must be between 0 and 50, got ", req.cfg_scale);
    TC_CHECK(req.frame_stride >= 1 && req.frame_stride <= 1000, "frame_stride must be between 1 and 1000, got ",
             req.frame_stride);
    TC_CHECK(req.fps > 0 && req.fps <= 120, "fps must be in (0, 120], got ", req.fps);
    TC_CHECK(req.eta >= 0 && req.eta <= 10, "eta must be between 0 and 10, got ", req.eta);
    TC_CHECK(req.guidance_rescale >= 0 && req.guidance_rescale <= 1, "guidance_rescale must be between 0 and 1");
    const int64_t T = mc.frames();
    TC_CHECK(req.frames_per_segment == 0 || req.frames_per_segment == T, "frames_per_segment must be ", T,
             " for this model (its temporal_length), got ", req.frames_per_segment);
    TC_CHECK(!req.interpolate || film_, "interpolate needs the FILM model, which this server has not loaded");

    const SegmentPlan sp = plan_segments(n, req.loop, T);
    const Tensor& k0 = req.keyframes[0];
    const FrameSize size = fit_size(k0.size(1), k0.size(0), req.max_width, req.max_height, size_multiple(mc));
    RequestPlan p;
    p.width = size.width;
    p.height = size.height;
    p.segments = sp.segments();
    p.frames = sp.output_frames();
    p.fps = req.fps;
    if (req.interpolate) {
        p.frames = req.loop ? 2 * p.frames : 2 * p.frames - 1;
        p.fps *= 2;
    }
    return p;
}

Video Engine::run(const Request& req, const ProgressFn& progress, const CancelFn& cancelled) const {
    const RequestPlan rp = plan(req);
    const ToonCrafterModel& model = *model_;
    const int64_t T = model.config().frames();
    auto report = [&](const std::string& stage, int done, int total, int segment) {
        if (progress) progress(Progress{stage, done, total, segment});
    };
    auto check_cancel = [&] {
        if (cancelled && cancelled()) throw Cancelled();
    };

    // 1. Keyframes at the output size: centre-crop to the aspect, then resize (never stretch).
    report("prepare", 0, 1, -1);
    const FrameSize size{rp.width, rp.height};
    std::vector<Tensor> fitted_u8, fitted;  // [H, W, 3] U8 and [3, H, W] F32 in [-1, 1]
    for (const Tensor& k : req.keyframes) {
        const Tensor crop = centre_crop_to_aspect(k, size);
        Tensor f = (crop.size(0) == size.height && crop.size(1) == size.width) ? crop.contiguous()
                                                                               : media::resize_rgb8(crop, size.height, size.width);
        fitted.push_back(keyframe_from_rgb8(f));
        fitted_u8.push_back(std::move(f));
    }
    const std::vector<int64_t> prompt_ids = tokenize(req.prompt);
    const std::vector<int64_t> negative_ids = tokenize(req.negative_prompt);
    report("prepare", 1, 1, -1);
    check_cancel();

    // 2. All segments, batched.
    const SegmentPlan sp = plan_segments(int(req.keyframes.size()), req.loop, T);
    SegmentsParams params;
    params.interp.steps = req.steps;
    params.interp.eta = req.eta;
    params.interp.cfg_scale = req.cfg_scale;
    params.interp.guidance_rescale = req.guidance_rescale;
    params.interp.frame_stride = req.frame_stride;
    params.max_batch_segments = cfg_.max_batch_segments;
    std::vector<std::unique_ptr<SeededNoise>> noises;
    for (int s = 0; s < sp.segments(); ++s) noises.push_back(std::make_unique<SeededNoise>(segment_seed(req.seed, s)));
    SegmentHooks hooks;
    hooks.cancelled = cancelled;
    hooks.progress = [&](const std::string& stage, int done, int total, int segment) { report(stage, done, total, segment); };
    std::vector<Tensor> raw = generate_segments(model, fitted, sp, prompt_ids, negative_ids, params,
                                                [&](int s) -> NoiseSource& { return *noises[size_t(s)]; }, hooks);

    // 3. To uint8, colour-corrected against each segment's two keyframes, then joined.
    std::vector<Tensor> segs;
    for (int s = 0; s < sp.segments(); ++s) {
        Tensor u8 = frames_to_uint8(raw[size_t(s)]);  // [T, H, W, 3]
        raw[size_t(s)] = Tensor();
        if (req.color_correction) {
            check_cancel();
            const auto [a, b] = sp.pairs[size_t(s)];
            u8 = color_correct_segment(u8, color_stats(fitted_u8[size_t(a)]), color_stats(fitted_u8[size_t(b)]));
            report("color", s + 1, sp.segments(), s);
        }
        segs.push_back(std::move(u8));
    }
    Video v;
    v.frames = join_segments(segs, req.loop);
    v.fps = req.fps;

    // 4. FILM 2x.
    if (req.interpolate) {
        check_cancel();
        FilmSequenceHooks fh;
        fh.cancelled = cancelled;
        fh.progress = [&](int done, int total) { report("interpolate", done, total, -1); };
        v.frames = film_double_frames(*film_, v.frames, req.loop, fh);
        v.fps *= 2;
    }
    TC_CHECK(v.frames.size(0) == rp.frames, "engine: produced ", v.frames.size(0), " frames, planned ", rp.frames);
    report("done", 1, 1, -1);
    return v;
}

}  // namespace tc
