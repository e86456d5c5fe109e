// Two-keyframe generative interpolation (scripts/evaluation/inference.py image_guided_synthesis, interp=True).
#include "pipeline/interpolate.h"

#include <algorithm>
#include <cmath>

namespace tc {

namespace {

void check_cancel(const InterpolationHooks& hooks) {
    if (hooks.cancelled && hooks.cancelled()) throw Cancelled();
}

Tensor token_tensor(const std::vector<int64_t>& ids, int64_t context_length, const char* what) {
    TC_CHECK(int64_t(ids.size()) == context_length, what, ": expected ", context_length, " token ids, got ",
             ids.size());
    return Tensor::from_vector_i64(ids, {1, context_length});
}

}  // namespace

Conditioning prepare_conditioning(const ToonCrafterModel& model, const InterpolationInputs& in, NoiseSource& noise,
                                  bool need_uncond) {
    const ToonCrafterConfig& cfg = model.config();
    TC_CHECK(cfg.conditioning_key == "hybrid", "interpolation needs conditioning_key 'hybrid', the config has '",
             cfg.conditioning_key, "'");
    const int64_t T = cfg.frames();
    TC_CHECK(T >= 2, "interpolation needs at least 2 frames, the config has ", T);
    TC_CHECK(cfg.image_proj.video_length == T, "image_proj video_length (", cfg.image_proj.video_length,
             ") must equal the UNet temporal_length (", T, ")");
    TC_CHECK(in.keyframe0.defined() && in.keyframe1.defined() && in.keyframe0.dim() == 3 && in.keyframe0.size(0) == 3 &&
                 in.keyframe0.shape() == in.keyframe1.shape(),
             "keyframes must be two [3, H, W] tensors of the same size");
    const int64_t ctx_len = cfg.cond_stage.model.text_context_length;

    Conditioning c;
    c.frames = T;
    // img = videos[:, :, 0]: keyframe 0; the image embedder and the Resampler give the image context.
    const Tensor img = in.keyframe0.to(DType::F32).unsqueeze(0).contiguous();  // [1, 3, H, W]
    c.clip_image_tokens = model.clip_image_tokens(img);                      // [1, 257, Wv]
    c.image_context = model.image_context(c.clip_image_tokens);              // [1, 16·T, ctx]
    c.text_context = model.text_context(token_tensor(in.prompt_ids, ctx_len, "prompt"));  // [1, 77, ctx]
    c.context = ops::concat({c.text_context, c.image_context}, 1);           // [1, 77 + 16·T, ctx]

    // get_latent_z_with_hidden_states: the encoder runs per frame, and only frames 0 and T-1 are used (the
    // others only feed c_concat's zeros), so encoding the two keyframes gives the same z and hidden states.
    // The posterior noise is still drawn for all T frames, as the official code does.
    const Tensor x = ops::concat({img, in.keyframe1.to(DType::F32).unsqueeze(0)}, 0);  // [2, 3, H, W]
    VAE::Encoded enc = model.first_stage_model->encode(x);
    const int64_t zc = enc.mean.size(1), h = enc.mean.size(2), w = enc.mean.size(3);
    const Tensor eps = noise.next({T, zc, h, w});
    // DiagonalGaussianDistribution.sample: mean + exp(0.5·logvar)·eps; get_first_stage_encoding: ·scale_factor.
    const float sf = float(float_as_decimal(cfg.scale_factor));
    const Tensor stdev = ops::exp(ops::scale(enc.logvar, 0.5f));  // [2, 4, h, w]
    auto sample = [&](int64_t k, int64_t frame) {
        Tensor z = ops::add(enc.mean.slice(0, k, k + 1), ops::mul(stdev.slice(0, k, k + 1), eps.slice(0, frame, frame + 1)));
        return ops::scale(z, sf);  // [1, 4, h, w]
    };
    c.z_first = sample(0, 0);
    c.z_last = sample(1, T - 1);
    // Hidden states of frame 0 and frame T-1 -> [1, C, 2, h', w'].
    c.ref_context = vae_ref_context(enc.hidden, 0, 1);

    // img_cat_cond: zeros with frame 0 = z_0 and frame T-1 = z_{T-1}.
    std::vector<Tensor> parts{c.z_first.unsqueeze(2)};
    if (T > 2) parts.push_back(Tensor::zeros({1, zc, T - 2, h, w}));
    parts.push_back(c.z_last.unsqueeze(2));
    c.c_concat = ops::concat(parts, 2);  // [1, 4, T, h, w]

    if (need_uncond) {
        // uncond_type "empty_seq": the text of the (negative) prompt, "" officially; "zero_embed": zeros.
        if (cfg.uncond_type == "zero_embed") {
            c.uncond_text_context = Tensor::zeros(c.text_context.shape());
        } else {
            TC_CHECK(cfg.uncond_type == "empty_seq", "unsupported uncond_type '", cfg.uncond_type, "'");
            c.uncond_text_context = model.text_context(token_tensor(in.negative_ids, ctx_len, "negative prompt"));
        }
        c.uncond_clip_image_tokens = model.clip_image_tokens(Tensor::zeros(img.shape()));  // a zero image
        c.uncond_image_context = model.image_context(c.uncond_clip_image_tokens);
        c.uncond_context = ops::concat({c.uncond_text_context, c.uncond_image_context}, 1);
    }
    return c;
}

Denoiser make_denoiser(const ToonCrafterModel& model, const Conditioning& cond, double frame_stride, bool batch_cfg) {
    const float fs = float(frame_stride);
    return [&model, &cond, fs, batch_cfg](const Tensor& x, int64_t t, bool need_uncond) -> std::pair<Tensor, Tensor> {
        const DiffusionWrapper& net = *model.model;
        if (!need_uncond) {
            Tensor v = net.forward(x, cond.c_concat, Tensor::full({1}, float(t)), cond.context, Tensor::full({1}, fs));
            return {v, Tensor()};
        }
        TC_CHECK(cond.uncond_context.defined(), "denoiser: guidance needs the unconditional context");
        if (batch_cfg) {
            // Both branches in one batch: same math per item (every op is per batch item).
            Tensor v = net.forward(ops::concat({x, x}, 0), ops::concat({cond.c_concat, cond.c_concat}, 0),
                                   Tensor::full({2}, float(t)), ops::concat({cond.context, cond.uncond_context}, 0),
                                   Tensor::full({2}, fs));
            return {v.slice(0, 0, 1).contiguous(), v.slice(0, 1, 2).contiguous()};
        }
        Tensor v_c = net.forward(x, cond.c_concat, Tensor::full({1}, float(t)), cond.context, Tensor::full({1}, fs));
        Tensor v_u = net.forward(x, cond.c_concat, Tensor::full({1}, float(t)), cond.uncond_context, Tensor::full({1}, fs));
        return {v_c, v_u};
    };
}

DiffusionSchedule model_schedule(const ToonCrafterModel& model) {
    // The sampler uses the model's (checkpoint's) buffers, as DDIMSampler.make_schedule does.
    DiffusionSchedule s;
    s.alphas_cumprod = model.buffer_values("alphas_cumprod");
    s.sqrt_alphas_cumprod = model.buffer_values("sqrt_alphas_cumprod");
    s.sqrt_one_minus_alphas_cumprod = model.buffer_values("sqrt_one_minus_alphas_cumprod");
    if (model.config().use_dynamic_rescale) s.scale_arr = model.buffer_values("scale_arr");
    return s;
}

Tensor decode_video(const ToonCrafterModel& model, const Tensor& z, const std::vector<Tensor>& ref_context,
                    bool middle_fix, Tensor* sub_out) {
    TC_CHECK(z.dim() == 5 && z.size(0) == 1, "decode_video: z must be [1, 4, T, h, w], got ", shape_str(z.shape()));
    const int64_t T = z.size(2);
    // decode_core: rearrange 'b c t h w -> (b t) c h w', then z = 1. / scale_factor * z (a float32 multiply).
    const float inv_sf = float(1.0 / float_as_decimal(model.config().scale_factor));
    const Tensor zt = ops::scale(z.select(0, 0).permute({1, 0, 2, 3}), inv_sf);  // [T, 4, h, w]
    // perframe_ae decodes chunks of temporal_length frames; a video of T <= temporal_length is one chunk.
    Tensor frames = model.first_stage_model->decode(zt, ref_context, T);  // [T, 3, H, W]

    if (middle_fix && T >= 4) {
        // image_guided_synthesis: decode again without frames 1 and T-2 (timesteps = T-2), and take that
        // decode's frames T/2-2, T/2-1 for frames T/2-1, T/2.
        std::vector<Tensor> keep;
        for (int64_t f = 0; f < T; ++f)
            if (f != 1 && f != T - 2) keep.push_back(zt.slice(0, f, f + 1));
        Tensor sub = model.first_stage_model->decode(ops::concat(keep, 0), ref_context, T - 2);  // [T-2, 3, H, W]
        const int64_t m = T / 2;
        frames = ops::concat({frames.slice(0, 0, m - 1), sub.slice(0, m - 2, m), frames.slice(0, m + 1, T)}, 0);
        if (sub_out) *sub_out = sub.permute({1, 0, 2, 3}).contiguous();
    }
    return frames.permute({1, 0, 2, 3}).contiguous();  // [3, T, H, W]
}

Tensor keyframe_from_rgb8(const Tensor& hwc_any) {
    TC_CHECK(hwc_any.dim() == 3 && hwc_any.size(2) == 3 && hwc_any.dtype() == DType::U8,
             "keyframe must be a [H, W, 3] U8 image, got ", hwc_any.describe());
    const Tensor hwc = hwc_any.contiguous();
    const int64_t H = hwc.size(0), W = hwc.size(1);
    Tensor out = Tensor::empty({3, H, W});
    const uint8_t* src = hwc.data<uint8_t>();
    float* dst = out.data<float>();
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t p = 0; p < H * W; ++p) dst[c * H * W + p] = (float(src[p * 3 + c]) / 255.0f - 0.5f) / 0.5f;
    return out;
}

Tensor fit_keyframe(const Tensor& chw, int64_t height, int64_t width) {
    TC_CHECK(chw.dim() == 3 && chw.size(0) == 3, "keyframe must be [3, H, W], got ", shape_str(chw.shape()));
    TC_CHECK(height > 0 && width > 0, "target size must be positive");
    const int64_t H = chw.size(1), W = chw.size(2);
    if (H == height && W == width) return chw;
    // The largest centred window of the target aspect ratio.
    int64_t ch = H, cw = W;
    if (H * width > W * height) ch = std::max<int64_t>(1, (W * height + width / 2) / width);
    else cw = std::max<int64_t>(1, (H * width + height / 2) / height);
    const int64_t top = (H - ch) / 2, left = (W - cw) / 2;
    Tensor crop = chw.slice(1, top, top + ch).slice(2, left, left + cw).unsqueeze(0).contiguous();  // [1, 3, ch, cw]
    return ops::resize_bicubic_aa(crop, height, width).select(0, 0).contiguous();
}

Tensor frames_to_uint8(const Tensor& frames_any) {
    TC_CHECK(frames_any.dim() == 4 && frames_any.size(0) == 3, "frames must be [3, T, H, W], got ",
             shape_str(frames_any.shape()));
    const Tensor f = (frames_any.device() == Device::CPU ? frames_any : frames_any.to(Device::CPU)).to(DType::F32).contiguous();
    const int64_t T = f.size(1), H = f.size(2), W = f.size(3);
    Tensor out = Tensor::empty({T, H, W, 3}, DType::U8);
    const float* src = f.data<float>();
    uint8_t* dst = out.data<uint8_t>();
    for (int64_t c = 0; c < 3; ++c)
        for (int64_t t = 0; t < T; ++t)
            for (int64_t p = 0; p < H * W; ++p) {
                // torch.clamp(-1, 1); (x + 1.0) / 2.0; (x * 255).to(uint8), which truncates. (NaN, which the
                // float-to-integer conversion leaves undefined, becomes 0.)
                const float v = src[(c * T + t) * H * W + p];
                const float x = std::isnan(v) ? -1.0f : std::clamp(v, -1.0f, 1.0f);
                const float y = ((x + 1.0f) / 2.0f) * 255.0f;
                dst[(t * H * W + p) * 3 + c] = uint8_t(y);
            }
    return out;
}

InterpolationResult interpolate(const ToonCrafterModel& model, const InterpolationInputs& in,
                                const InterpolationParams& params, NoiseSource& noise, const InterpolationHooks& hooks) {
    const ToonCrafterConfig& cfg = model.config();
    TC_CHECK(cfg.parameterization == "v", "only the v-parameterisation is supported, the config has '",
             cfg.parameterization, "'");
    const GuidanceParams guidance{params.cfg_scale, params.guidance_rescale};
    const bool need_uncond = params.cfg_scale != 1.0;
    const DdimSchedule sched = DdimSchedule::make(model_schedule(model), params.steps, params.eta, cfg.use_dynamic_rescale);

    check_cancel(hooks);
    if (hooks.progress) hooks.progress("encode", 0, 1);
    Conditioning cond = prepare_conditioning(model, in, noise, need_uncond);
    if (hooks.on_conditioning) hooks.on_conditioning(cond);
    if (hooks.progress) hooks.progress("encode", 1, 1);

    check_cancel(hooks);
    // ddim_sampling: x_T = randn(noise_shape) with noise_shape [1, out_channels, T, h, w].
    const Tensor x_T = noise.next({1, int64_t(cfg.unet.out_channels), cond.frames, cond.z_first.size(2), cond.z_first.size(3)});
    SamplerHooks sh;
    sh.cancelled = hooks.cancelled;
    sh.on_step = hooks.on_step;
    if (hooks.progress) sh.progress = [&](int step, int total) { hooks.progress("denoise", step, total); };
    InterpolationResult r;
    r.latent = ddim_sample(sched, guidance, x_T, make_denoiser(model, cond, params.frame_stride, params.batch_cfg), noise, sh);

    check_cancel(hooks);
    if (hooks.progress) hooks.progress("decode", 0, 1);
    r.frames = decode_video(model, r.latent, cond.ref_context, params.middle_frame_fix);
    r.frames_uint8 = frames_to_uint8(r.frames);
    if (hooks.progress) hooks.progress("decode", 1, 1);
    return r;
}

}  // namespace tc
