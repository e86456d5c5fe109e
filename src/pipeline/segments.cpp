// Multi-keyframe generation: the segments of a request denoised as one batch (see segments.h).
#include "pipeline/segments.h"

#include <algorithm>
#include <cstring>

namespace tc {

namespace {

void check_cancel(const SegmentHooks& hooks) {
    if (hooks.cancelled && hooks.cancelled()) throw Cancelled();
}

// The noise of a batch of segments: a draw of shape [B, ...] is B draws of [1, ...], one from each
// segment's source, so batching never changes what a segment sees.
class BatchNoise : public NoiseSource {
public:
    explicit BatchNoise(std::vector<NoiseSource*> sources) : sources_(std::move(sources)) {}
    Tensor next(const Shape& shape) override {
        TC_CHECK(!shape.empty() && shape[0] == int64_t(sources_.size()), "batch noise: draw of ", shape_str(shape),
                 " for ", sources_.size(), " segments");
        Shape one = shape;
        one[0] = 1;
        std::vector<Tensor> parts;
        for (NoiseSource* s : sources_) parts.push_back(s->next(one));
        return parts.size() == 1 ? parts[0] : ops::concat(parts, 0);
    }

private:
    std::vector<NoiseSource*> sources_;
};

Tensor cat0(const std::vector<Tensor>& xs) { return xs.size() == 1 ? xs[0] : ops::concat(xs, 0); }

}  // namespace

int64_t SegmentPlan::output_frames() const {
    const int64_t S = segments();
    return (frames_per_segment - 1) * S + (loop ? 0 : 1);
}

SegmentPlan plan_segments(int n_keyframes, bool loop, int64_t frames_per_segment) {
    TC_CHECK(n_keyframes >= kMinKeyframes && n_keyframes <= kMaxKeyframes, "between ", kMinKeyframes, " and ",
             kMaxKeyframes, " keyframes are needed, got ", n_keyframes);
    TC_CHECK(frames_per_segment >= 2, "a segment needs at least 2 frames, got ", frames_per_segment);
    SegmentPlan p;
    p.keyframes = n_keyframes;
    p.loop = loop;
    p.frames_per_segment = frames_per_segment;
    for (int k = 0; k + 1 < n_keyframes; ++k) p.pairs.emplace_back(k, k + 1);
    if (loop) p.pairs.emplace_back(n_keyframes - 1, 0);
    return p;
}

uint64_t segment_seed(uint64_t seed, int segment) {
    if (segment == 0) return seed;
    // SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014) of
    // seed + segment·golden gamma.
    uint64_t z = seed + uint64_t(segment) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

std::vector<Tensor> generate_segments(const ToonCrafterModel& model, const std::vector<Tensor>& keyframes,
                                      const SegmentPlan& plan, const std::vector<int64_t>& prompt_ids,
                                      const std::vector<int64_t>& negative_ids, const SegmentsParams& params,
                                      const std::function<NoiseSource&(int segment)>& noise_for,
                                      const SegmentHooks& hooks) {
    const ToonCrafterConfig& cfg = model.config();
    TC_CHECK(cfg.parameterization == "v", "only the v-parameterisation is supported, the config has '",
             cfg.parameterization, "'");
    TC_CHECK(int(keyframes.size()) == plan.keyframes, "the plan is for ", plan.keyframes, " keyframes, got ",
             keyframes.size());
    TC_CHECK(plan.frames_per_segment == cfg.frames(), "frames per segment (", plan.frames_per_segment,
             ") must equal the model's temporal_length (", cfg.frames(), ")");
    const InterpolationParams& ip = params.interp;
    const GuidanceParams guidance{ip.cfg_scale, ip.guidance_rescale};
    const bool need_uncond = ip.cfg_scale != 1.0;
    const DdimSchedule sched = DdimSchedule::make(model_schedule(model), ip.steps, ip.eta, cfg.use_dynamic_rescale);
    const int S = plan.segments();
    const int per_batch = params.max_batch_segments > 0 ? std::min(params.max_batch_segments, S) : S;
    const float fs = float(ip.frame_stride);
    const DiffusionWrapper& net = *model.model;

    std::vector<Tensor> out(static_cast<size_t>(S));
    int encoded = 0, decoded = 0;
    for (int b0 = 0; b0 < S; b0 += per_batch) {
        const int b1 = std::min(S, b0 + per_batch), B = b1 - b0;
        // 1. Conditioning of each segment, drawing its posterior noise from its own source.
        std::vector<Conditioning> conds;
        std::vector<NoiseSource*> sources;
        for (int s = b0; s < b1; ++s) {
            check_cancel(hooks);
            InterpolationInputs in;
            in.keyframe0 = keyframes[size_t(plan.pairs[size_t(s)].first)];
            in.keyframe1 = keyframes[size_t(plan.pairs[size_t(s)].second)];
            in.prompt_ids = prompt_ids;
            in.negative_ids = negative_ids;
            NoiseSource& noise = noise_for(s);
            sources.push_back(&noise);
            conds.push_back(prepare_conditioning(model, in, noise, need_uncond));
            if (hooks.progress) hooks.progress("encode", ++encoded, S, s);
        }
        BatchNoise noise(sources);

        // 2. The batch's conditioning tensors, segment after segment along dim 0.
        std::vector<Tensor> cc, ctx, uctx;
        for (const Conditioning& c : conds) {
            cc.push_back(c.c_concat);
            ctx.push_back(c.context);
            if (need_uncond) uctx.push_back(c.uncond_context);
        }
        const Tensor c_concat = cat0(cc), context = cat0(ctx);           // [B, 4, T, h, w], [B, L, ctx]
        const Tensor uncond_context = need_uncond ? cat0(uctx) : Tensor();
        const bool batch_cfg = ip.batch_cfg;
        Denoiser denoiser = [&](const Tensor& x, int64_t t, bool uncond) -> std::pair<Tensor, Tensor> {
            if (!uncond) return {net.forward(x, c_concat, Tensor::full({B}, float(t)), context, Tensor::full({B}, fs)), Tensor()};
            if (batch_cfg) {
                // [conditional of every segment, unconditional of every segment]: one UNet batch of 2B.
                Tensor v = net.forward(ops::concat({x, x}, 0), ops::concat({c_concat, c_concat}, 0),
                                       Tensor::full({2 * B}, float(t)), ops::concat({context, uncond_context}, 0),
                                       Tensor::full({2 * B}, fs));
                return {v.slice(0, 0, B).contiguous(), v.slice(0, B, 2 * B).contiguous()};
            }
            Tensor v_c = net.forward(x, c_concat, Tensor::full({B}, float(t)), context, Tensor::full({B}, fs));
            Tensor v_u = net.forward(x, c_concat, Tensor::full({B}, float(t)), uncond_context, Tensor::full({B}, fs));
            return {v_c, v_u};
        };

        // 3. DDIM from x_T = one [1, 4, T, h, w] draw per segment.
        check_cancel(hooks);
        const Tensor& z0 = conds[0].z_first;
        const Tensor x_T = noise.next({B, int64_t(cfg.unet.out_channels), plan.frames_per_segment, z0.size(2), z0.size(3)});
        SamplerHooks sh;
        sh.cancelled = hooks.cancelled;
        if (hooks.progress) sh.progress = [&](int step, int total) { hooks.progress("denoise", step, total, b0); };
        const Tensor latent = ddim_sample(sched, guidance, x_T, denoiser, noise, sh);  // [B, 4, T, h, w]

        // 4. Decode each segment with its own reference context.
        for (int i = 0; i < B; ++i) {
            check_cancel(hooks);
            out[size_t(b0 + i)] = decode_video(model, latent.slice(0, i, i + 1).contiguous(), conds[size_t(i)].ref_context,
                                               ip.middle_frame_fix);
            if (hooks.progress) hooks.progress("decode", ++decoded, S, b0 + i);
        }
    }
    return out;
}

Tensor join_segments(const std::vector<Tensor>& segments, bool loop) {
    TC_CHECK(!segments.empty(), "no segments to join");
    const Tensor& first = segments[0];
    TC_CHECK(first.dim() == 4 && first.size(3) == 3 && first.dtype() == DType::U8, "segment frames must be [T, H, W, 3] U8, got ",
             first.describe());
    const int64_t T = first.size(0), H = first.size(1), W = first.size(2);
    TC_CHECK(T >= 2, "a segment needs at least 2 frames");
    for (const Tensor& s : segments)
        TC_CHECK(s.shape() == first.shape() && s.dtype() == DType::U8, "segments differ: ", s.describe(), " vs ",
                 first.describe());
    const int64_t S = int64_t(segments.size());
    const int64_t F = (T - 1) * S + (loop ? 0 : 1);
    const int64_t frame_bytes = H * W * 3;
    Tensor out = Tensor::empty({F, H, W, 3}, DType::U8);
    int64_t f = 0;
    for (int64_t s = 0; s < S; ++s) {
        const Tensor seg = segments[size_t(s)].contiguous();
        const int64_t begin = s == 0 ? 0 : 1;
        const int64_t end = (loop && s == S - 1) ? T - 1 : T;
        for (int64_t k = begin; k < end; ++k, ++f)
            std::memcpy(out.data<uint8_t>() + f * frame_bytes, seg.data<uint8_t>() + k * frame_bytes, size_t(frame_bytes));
    }
    TC_CHECK(f == F, "join_segments: wrote ", f, " frames, expected ", F);
    return out;
}

}  // namespace tc
