// Generative interpolation between two keyframes: scripts/evaluation/inference.py image_guided_synthesis
// with interp=True, as scripts/run.sh calls it (golden README section 7), split into stages so that the
// parity tests can check each one:
//   1. prepare_conditioning: text context of the prompt (and of the negative prompt, "" = the official
//      unconditional text), CLIP image tokens of keyframe 0 (and of a zero image) through the Resampler,
//      VAE encoding of the two keyframes with the posterior SAMPLED, c_concat and the decoder ref_context;
//   2. sampling: DDIM (pipeline/ddim.h) from x_T with both guidance branches;
//   3. decode_video: per-frame VAE decode with the dual reference and the middle-frame re-decode.
// The noise is drawn from a NoiseSource in the official order: posterior [T,4,h,w], x_T [1,4,T,h,w], then
// one [1,4,T,h,w] per step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/tooncrafter_model.h"
#include "pipeline/ddim.h"
#include "pipeline/noise.h"

namespace tc {

struct InterpolationParams {
    int steps = 50;                 // DDIM steps (run.sh: 50)
    double eta = 1.0;               // run.sh: 1.0
    double cfg_scale = 7.5;         // unconditional_guidance_scale (run.sh: 7.5)
    double guidance_rescale = 0.7;  // run.sh: 0.7
    double frame_stride = 10;       // fs (run.sh FS=10)
    bool middle_frame_fix = true;   // image_guided_synthesis re-decodes the two middle frames (README 5.4)
    bool batch_cfg = true;          // run both guidance branches as one UNet batch of 2 (same math)
};

struct InterpolationInputs {
    Tensor keyframe0, keyframe1;           // [3, H, W] F32 in [-1, 1]; H, W multiples of 8·2^(levels-1)
    std::vector<int64_t> prompt_ids;       // 77 CLIP token ids of the prompt
    std::vector<int64_t> negative_ids;     // 77 ids of the negative prompt ("" gives the official uncond)
};

// Everything the sampler and the decoder are conditioned on.
struct Conditioning {
    Tensor text_context, uncond_text_context;            // [1, 77, ctx]
    Tensor clip_image_tokens, uncond_clip_image_tokens;  // [1, 257, Wv]
    Tensor image_context, uncond_image_context;          // [1, 16·T, ctx]
    Tensor context, uncond_context;                      // [1, 77 + 16·T, ctx]
    Tensor z_first, z_last;                              // [1, 4, h, w]: scaled sampled latents of frames 0, T-1
    Tensor c_concat;                                     // [1, 4, T, h, w]: z_first, zeros, z_last
    std::vector<Tensor> ref_context;                     // 5 x [1, C, 2, h', w']
    int64_t frames = 0;                                  // T
};

Conditioning prepare_conditioning(const ToonCrafterModel& model, const InterpolationInputs& in, NoiseSource& noise,
                                  bool need_uncond = true);

// The v-prediction model of the sampler: DiffusionWrapper with c_concat, fs, and the two contexts.
Denoiser make_denoiser(const ToonCrafterModel& model, const Conditioning& cond, double frame_stride, bool batch_cfg);

// The model's schedule buffers (as loaded) and the DDIM schedule for `steps`, `eta`.
DiffusionSchedule model_schedule(const ToonCrafterModel& model);

// decode_first_stage per frame with ref_context, then (middle_fix) the re-decode of all frames but 1 and T-2
// whose frames T/2-2, T/2-1 replace frames T/2-1, T/2. z: [1, 4, T, h, w] scaled -> [3, T, H, W] raw.
// `sub_out`, when given, receives the second decode [3, T-2, H, W].
Tensor decode_video(const ToonCrafterModel& model, const Tensor& z, const std::vector<Tensor>& ref_context,
                    bool middle_fix, Tensor* sub_out = nullptr);

// load_data_prompts' ToTensor + Normalize(0.5, 0.5) on an RGB image: [H, W, 3] U8 -> [3, H, W] F32 in [-1, 1]
// ((u / 255 - 0.5) / 0.5 in float32, as torchvision computes it).
Tensor keyframe_from_rgb8(const Tensor& hwc);

// Brings a [3, H, W] keyframe to exactly height x width: centre-crop to the target aspect ratio, then the
// bicubic antialiased resize of ops::resize_bicubic_aa. A keyframe already of that size is returned as is.
// (The official loader uses PIL Resize + CenterCrop; our crop-then-resize never pads.)
Tensor fit_keyframe(const Tensor& chw, int64_t height, int64_t width);

// save_results_seperate: clamp(-1, 1), (x + 1) / 2 · 255, truncated to uint8; [3, T, H, W] -> [T, H, W, 3] U8.
Tensor frames_to_uint8(const Tensor& frames);

struct InterpolationResult {
    Tensor frames;        // [3, T, H, W] F32, the raw decoder output (after the middle-frame fix)
    Tensor frames_uint8;  // [T, H, W, 3] U8
    Tensor latent;        // [1, 4, T, h, w], the sampler output
};

// Stage callbacks: progress reports (stage, done, total) with stage "encode", "denoise", "decode".
struct InterpolationHooks {
    std::function<void(const std::string& stage, int done, int total)> progress;
    std::function<bool()> cancelled;  // checked between stages and between DDIM steps; true throws Cancelled
    std::function<void(const DdimStep&)> on_step;
    std::function<void(const Conditioning&)> on_conditioning;
};

InterpolationResult interpolate(const ToonCrafterModel& model, const InterpolationInputs& in,
                                const InterpolationParams& params, NoiseSource& noise,
                                const InterpolationHooks& hooks = {});

}  // namespace tc
