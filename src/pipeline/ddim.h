// The diffusion schedule and the DDIM sampler of ToonCrafter, ported from
//   lvdm/models/ddpm3d.py           DDPM.register_schedule, LatentDiffusion.__init__ (scale_arr),
//                                   predict_eps_from_z_and_v / predict_start_from_z_and_v
//   lvdm/models/utils_diffusion.py  make_beta_schedule, rescale_zero_terminal_snr, make_ddim_timesteps,
//                                   make_ddim_sampling_parameters, rescale_noise_cfg
//   lvdm/models/samplers/ddim.py    DDIMSampler.make_schedule / ddim_sampling / p_sample_ddim
// for the configuration ToonCrafter ships with: v-prediction, zero-terminal-SNR betas, 'uniform_trailing'
// timesteps, classifier-free guidance with guidance rescale, and dynamic rescale of x0.
//
// Numerics: the official sampler mixes float64 (numpy) and float32 (torch) arithmetic. Every scalar that
// enters the per-element update is reproduced bit for bit here (golden README 5.1, 5.2; checked against
// tiny/cases/g_ddim_schedule), and the per-element update is written as the same sequence of float32
// operations the official code performs. Two deliberate differences, both where the official code fails:
//  - where 1 - a_prev - sigma^2 is negative in float32 (the first step for S in {7, 11, 14, 15, 20, 25, 33,
//    34, 35, 37, 38, 39} with eta 1), the official code takes sqrt of a negative number and the whole video
//    becomes NaN. We clamp the argument at 0 (it is -5.96e-8, one rounding step from the exact value 0);
//  - for 62 step counts (61, 103, 121, ...) numpy's arange yields an extra timestep -1 that the official
//    sampler cannot run; we drop it (ddim_timesteps_uniform_trailing).
// So every step count from 1 to 1000 works, and every other step count gives the official numbers.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "io/model_config.h"
#include "pipeline/noise.h"

namespace tc {

// Thrown by the sampler when its cancel check says stop (checked between steps).
class Cancelled : public Error {
public:
    Cancelled() : Error("cancelled") {}
};

// The Python float a YAML decimal was read as, recovered from our float32 config field: the shortest decimal
// that round-trips the float is the YAML text ("0.7", "0.18215"), and parsing it gives the official double.
double float_as_decimal(float f);

// The 13 schedule buffers of LatentVisualDiffusion as float32 tables (the order is the state_dict's).
struct DiffusionSchedule {
    std::vector<float> betas, alphas_cumprod, alphas_cumprod_prev, sqrt_alphas_cumprod,
        sqrt_one_minus_alphas_cumprod, log_one_minus_alphas_cumprod, sqrt_recip_alphas_cumprod,
        sqrt_recipm1_alphas_cumprod, posterior_variance, posterior_log_variance_clipped, posterior_mean_coef1,
        posterior_mean_coef2, scale_arr;

    // Computes the buffers as the official constructor does: float64 numpy arithmetic, then cast to float32.
    // (The checkpoint stores the same values; the pipeline uses the checkpoint's, as the official code does.)
    static DiffusionSchedule compute(const ToonCrafterConfig& cfg);

    // (name, table) in state_dict order; the names are the official buffer names.
    std::vector<std::pair<std::string, const std::vector<float>*>> named() const;
    std::vector<std::pair<std::string, std::vector<float>*>> named();
};

// make_ddim_timesteps(..., 'uniform_trailing'): round(flip(arange(T, 0, -T/S))) - 1, ascending.
// S = 4 gives [249, 499, 749, 999]. For S in {61, 103, 121, ...} numpy's arange gives S+1 values, the last
// one being timestep -1, on which the official sampler fails; we return the S real ones (see ddim.cpp).
std::vector<int64_t> ddim_timesteps_uniform_trailing(int steps, int num_train_timesteps = 1000);

// DDIMSampler.make_schedule(S, 'uniform_trailing', eta) plus the float32 scalars p_sample_ddim builds for
// each index (index = S-1-i at walking step i; index S-1 is t = 999, the first step).
struct DdimSchedule {
    int steps = 0;
    double eta = 0.0;
    bool dynamic_rescale = true;
    std::vector<int64_t> timesteps;  // ascending
    std::vector<float> alphas;       // ᾱ[ts] (float32, torch tensor in the sampler)
    std::vector<double> alphas_prev; // [ᾱ[0], ᾱ[ts[:-1]]] (float64 in the sampler)
    std::vector<double> sigmas;      // eta·sqrt((1-a_prev)/(1-a)·(1-a/a_prev)) (float64 in the sampler)

    // float32 scalars of p_sample_ddim (torch.full(..., value) rounds the float64 ones to float32).
    std::vector<float> a_t, a_prev, sigma, sqrt_a_prev;
    std::vector<float> dir_arg;   // 1 - a_prev - sigma² in float32 (may be -5.96e-8, see the file comment)
    std::vector<float> dir_coef;  // sqrt(max(dir_arg, 0))
    std::vector<float> scale_t, scale_prev;  // dynamic rescale: scale_arr[ts], shifted by one (1 when off)
    // The model buffers predict_{eps,start}_from_z_and_v index with t (not the DDIM arrays).
    std::vector<float> sqrt_alphas_cumprod_t, sqrt_one_minus_alphas_cumprod_t;

    static DdimSchedule make(const DiffusionSchedule& buffers, int steps, double eta, bool dynamic_rescale = true);

    // Indices whose dir_arg was negative and is clamped to 0 (empty for S = 4, 10, 50 and most others).
    std::vector<int> clamped_indices() const;
};

// Classifier-free guidance and guidance rescale (p_sample_ddim, rescale_noise_cfg).
struct GuidanceParams {
    double cfg_scale = 7.5;         // unconditional_guidance_scale; 1 runs the conditional branch only
    double guidance_rescale = 0.7;  // 0 disables the rescale
};

// Everything one DDIM step computed (what the golden run recorded as rec_step{s}_*).
struct DdimStep {
    int i = 0;          // walking step, 0 = the first (t = 999)
    int index = 0;      // S-1-i, the index into the schedule arrays
    int64_t t = 0;
    Tensor x_in, v_cond, v_uncond, v_cfg, v_rescaled, pred_x0, x_prev;  // [B, C, T, h, w]
};

// The model: v-predictions of the conditional and (when need_uncond) unconditional branch for latent x at t.
using Denoiser = std::function<std::pair<Tensor, Tensor>(const Tensor& x, int64_t t, bool need_uncond)>;

// One DDIM step from given model outputs and the step's noise draw (a pure function of its inputs).
// v_uncond may be undefined when guidance is off (cfg_scale == 1).
DdimStep ddim_step(const DdimSchedule& sched, int i, const Tensor& x, const Tensor& v_cond, const Tensor& v_uncond,
                   const GuidanceParams& guidance, const Tensor& noise);

struct SamplerHooks {
    std::function<void(int step, int total)> progress;  // after each step: step = 1..total
    std::function<bool()> cancelled;                   // asked before each step; true throws Cancelled
    std::function<void(const DdimStep&)> on_step;      // full record of each step (tests, debugging)
};

// DDIMSampler.ddim_sampling from x_T: walks the timesteps from 999 down, drawing one noise tensor of x's shape
// per step (also when eta = 0, to keep the draw sequence of the official code).
Tensor ddim_sample(const DdimSchedule& sched, const GuidanceParams& guidance, Tensor x_T, const Denoiser& model,
                   NoiseSource& noise, const SamplerHooks& hooks = {});

}  // namespace tc
