// Diffusion schedule and DDIM sampling; see ddim.h for the sources and the numerics.
#include "pipeline/ddim.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace tc {

namespace {

// torch.linspace(a, b, n, dtype=float64) (aten RangeFactoriesKernel): the first half counts up from a,
// the second half counts down from b, so both ends are exact.
std::vector<double> torch_linspace(double a, double b, int n) {
    std::vector<double> v(size_t(std::max(n, 0)));
    if (n == 1) v[0] = a;
    if (n <= 1) return v;
    const double step = (b - a) / double(n - 1);
    const int halfway = n / 2;
    for (int i = 0; i < n; ++i) v[size_t(i)] = i < halfway ? a + step * i : b - step * (n - 1 - i);
    return v;
}

// numpy.linspace(a, b, n): i·step + a, with the last element set to b.
std::vector<double> numpy_linspace(double a, double b, int n) {
    std::vector<double> v(size_t(std::max(n, 0)));
    if (n == 1) v[0] = a;
    if (n <= 1) return v;
    const double step = (b - a) / double(n - 1);
    for (int i = 0; i < n; ++i) v[size_t(i)] = double(i) * step + a;
    v[size_t(n - 1)] = b;
    return v;
}

std::vector<double> cumprod(const std::vector<double>& x) {
    std::vector<double> out(x.size());
    double acc = 1.0;
    for (size_t i = 0; i < x.size(); ++i) out[i] = acc = acc * x[i];
    return out;
}

std::vector<float> to_f32(const std::vector<double>& x) {
    return std::vector<float>(x.begin(), x.end());
}

// rescale_zero_terminal_snr (utils_diffusion.py; arXiv 2305.08891 Algorithm 1), numpy float64.
std::vector<double> rescale_zero_terminal_snr(const std::vector<double>& betas) {
    std::vector<double> alphas(betas.size());
    for (size_t i = 0; i < betas.size(); ++i) alphas[i] = 1.0 - betas[i];
    std::vector<double> s = cumprod(alphas);
    for (double& v : s) v = std::sqrt(v);
    const double s0 = s.front(), sT = s.back();
    for (double& v : s) v -= sT;
    const double k = s0 / (s0 - sT);
    for (double& v : s) v *= k;
    std::vector<double> abar(s.size());
    for (size_t i = 0; i < s.size(); ++i) abar[i] = s[i] * s[i];
    std::vector<double> out(betas.size());
    for (size_t i = 0; i < abar.size(); ++i) out[i] = 1.0 - (i == 0 ? abar[0] : abar[i] / abar[i - 1]);
    return out;
}

}  // namespace

double float_as_decimal(float f) {
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf - 1, f);
    *res.ptr = '\0';
    return std::strtod(buf, nullptr);
}

// ---------------------------------------------------------------- DiffusionSchedule

DiffusionSchedule DiffusionSchedule::compute(const ToonCrafterConfig& cfg) {
    TC_CHECK(cfg.timesteps >= 2, "timesteps must be at least 2, got ", cfg.timesteps);
    const int T = cfg.timesteps;
    // make_beta_schedule("linear"): torch.linspace(start**0.5, end**0.5, T, float64)**2.
    std::vector<double> betas = torch_linspace(std::pow(cfg.linear_start, 0.5), std::pow(cfg.linear_end, 0.5), T);
    for (double& b : betas) b = b * b;
    if (cfg.rescale_betas_zero_snr) betas = rescale_zero_terminal_snr(betas);

    // DDPM.register_schedule (ddpm3d.py), v_posterior = 0.
    std::vector<double> alphas(static_cast<size_t>(T)), ac, acp(static_cast<size_t>(T));
    for (int i = 0; i < T; ++i) alphas[size_t(i)] = 1.0 - betas[size_t(i)];
    ac = cumprod(alphas);
    acp[0] = 1.0;
    for (int i = 1; i < T; ++i) acp[size_t(i)] = ac[size_t(i - 1)];

    DiffusionSchedule s;
    s.betas = to_f32(betas);
    s.alphas_cumprod = to_f32(ac);
    s.alphas_cumprod_prev = to_f32(acp);
    const bool v_param = cfg.parameterization == "v";
    std::vector<double> pv(static_cast<size_t>(T));
    for (int i = 0; i < T; ++i) {
        const double b = betas[size_t(i)], a = ac[size_t(i)], ap = acp[size_t(i)];
        s.sqrt_alphas_cumprod.push_back(float(std::sqrt(a)));
        s.sqrt_one_minus_alphas_cumprod.push_back(float(std::sqrt(1.0 - a)));
        s.log_one_minus_alphas_cumprod.push_back(float(std::log(1.0 - a)));
        // v-parameterisation registers these two as zeros.
        s.sqrt_recip_alphas_cumprod.push_back(v_param ? 0.f : float(std::sqrt(1.0 / a)));
        s.sqrt_recipm1_alphas_cumprod.push_back(v_param ? 0.f : float(std::sqrt(1.0 / a - 1.0)));
        pv[size_t(i)] = (1.0 - 0.0) * b * (1.0 - ap) / (1.0 - a) + 0.0 * b;
        s.posterior_variance.push_back(float(pv[size_t(i)]));
        s.posterior_log_variance_clipped.push_back(float(std::log(std::max(pv[size_t(i)], 1e-20))));
        s.posterior_mean_coef1.push_back(float(b * std::sqrt(ap) / (1.0 - a)));
        s.posterior_mean_coef2.push_back(float((1.0 - ap) * std::sqrt(alphas[size_t(i)]) / (1.0 - a)));
    }

    // LatentDiffusion.__init__: linspace(1, base_scale, turning_step = 400) then full(T, base_scale).
    const double base = float_as_decimal(cfg.base_scale);  // the YAML's 0.7, not double(0.7f)
    std::vector<double> sa = numpy_linspace(1.0, base, 400);
    sa.resize(sa.size() + size_t(T), base);
    s.scale_arr = to_f32(sa);
    return s;
}

std::vector<std::pair<std::string, const std::vector<float>*>> DiffusionSchedule::named() const {
    return {{"betas", &betas},
            {"alphas_cumprod", &alphas_cumprod},
            {"alphas_cumprod_prev", &alphas_cumprod_prev},
            {"sqrt_alphas_cumprod", &sqrt_alphas_cumprod},
            {"sqrt_one_minus_alphas_cumprod", &sqrt_one_minus_alphas_cumprod},
            {"log_one_minus_alphas_cumprod", &log_one_minus_alphas_cumprod},
            {"sqrt_recip_alphas_cumprod", &sqrt_recip_alphas_cumprod},
            {"sqrt_recipm1_alphas_cumprod", &sqrt_recipm1_alphas_cumprod},
            {"posterior_variance", &posterior_variance},
            {"posterior_log_variance_clipped", &posterior_log_variance_clipped},
            {"posterior_mean_coef1", &posterior_mean_coef1},
            {"posterior_mean_coef2", &posterior_mean_coef2},
            {"scale_arr", &scale_arr}};
}

std::vector<std::pair<std::string, std::vector<float>*>> DiffusionSchedule::named() {
    std::vector<std::pair<std::string, std::vector<float>*>> out;
    for (auto& [n, p] : static_cast<const DiffusionSchedule&>(*this).named())
        out.emplace_back(n, const_cast<std::vector<float>*>(p));
    return out;
}

// ---------------------------------------------------------------- DDIM schedule

std::vector<int64_t> ddim_timesteps_uniform_trailing(int steps, int num_train) {
    TC_CHECK(steps >= 1 && steps <= num_train, "DDIM steps must be in [1, ", num_train, "], got ", steps);
    // numpy.arange(num_train, 0, -c) with c = num_train / steps: length ceil((stop - start) / step), and the
    // fill uses start + i·delta with delta = (start + step) - start, as numpy's float fill does.
    const double start = double(num_train), step = -(double(num_train) / double(steps));
    const int64_t n = int64_t(std::ceil((0.0 - start) / step));
    std::vector<double> vals;
    if (n >= 1) vals.push_back(start);
    const double delta = (start + step) - start;
    for (int64_t i = 1; i < n; ++i) vals.push_back(start + double(i) * delta);
    // For 62 step counts (61, 103, 121, ...) 1000 / (1000 / S) rounds above S, numpy's arange yields one more
    // value, ~1e-13, which becomes timestep -1, and the official sampler fails on it (gather with index -1).
    // Deviation: we keep the S values that are real timesteps.
    if (int64_t(vals.size()) == int64_t(steps) + 1 && std::nearbyint(vals.back()) == 0.0) vals.pop_back();
    TC_CHECK(int64_t(vals.size()) == steps, "uniform_trailing gave ", vals.size(), " timesteps for ", steps, " steps");
    std::vector<int64_t> ts;
    for (auto it = vals.rbegin(); it != vals.rend(); ++it) ts.push_back(int64_t(std::nearbyint(*it)) - 1);  // half to even
    return ts;
}

DdimSchedule DdimSchedule::make(const DiffusionSchedule& buf, int steps, double eta, bool dynamic_rescale) {
    const int T = int(buf.alphas_cumprod.size());
    TC_CHECK(T >= 2 && buf.sqrt_alphas_cumprod.size() == size_t(T) && buf.sqrt_one_minus_alphas_cumprod.size() == size_t(T),
             "DDIM: schedule buffers are missing or of different lengths");
    TC_CHECK(eta >= 0.0, "DDIM eta must be >= 0, got ", eta);
    DdimSchedule s;
    s.steps = steps;
    s.eta = eta;
    s.dynamic_rescale = dynamic_rescale;
    s.timesteps = ddim_timesteps_uniform_trailing(steps, T);
    if (dynamic_rescale)
        TC_CHECK(buf.scale_arr.size() >= size_t(T), "DDIM: scale_arr has ", buf.scale_arr.size(), " entries");
    const auto& ac = buf.alphas_cumprod;
    for (int k = 0; k < steps; ++k) {
        const int64_t t = s.timesteps[size_t(k)];
        TC_CHECK(t >= 0 && t < T, "DDIM timestep ", t, " out of range");
        // make_ddim_sampling_parameters: alphas is a float32 torch tensor, alphas_prev a float64 numpy array.
        const float a = ac[size_t(t)];
        const double ap = k == 0 ? double(ac[0]) : double(ac[size_t(s.timesteps[size_t(k - 1)])]);
        // sigmas = eta * np.sqrt((1 - alphas_prev) / (1 - alphas) * (1 - alphas / alphas_prev)).
        // (1 - alphas) is a float32 tensor, and ndarray / tensor dispatches to Tensor.__rtruediv__, which is
        // reciprocal() (float32) times the float64 array; the remaining arithmetic is float64.
        const float one_minus_a = 1.0f - a;
        const double recip = double(1.0f / one_minus_a);
        const double sigma = eta * std::sqrt(recip * (1.0 - ap) * (1.0 - double(a) / ap));
        s.alphas.push_back(a);
        s.alphas_prev.push_back(ap);
        s.sigmas.push_back(sigma);

        // p_sample_ddim: torch.full(size, value) -> float32 scalars; then float32 arithmetic.
        const float a_prev = float(ap), sig = float(sigma);
        const float arg = (1.0f - a_prev) - sig * sig;
        s.a_t.push_back(a);
        s.a_prev.push_back(a_prev);
        s.sigma.push_back(sig);
        s.sqrt_a_prev.push_back(std::sqrt(a_prev));
        s.dir_arg.push_back(arg);
        // Deviation from the official code (which yields NaN here): clamp a negative argument at 0.
        s.dir_coef.push_back(std::sqrt(std::max(arg, 0.0f)));
        s.sqrt_alphas_cumprod_t.push_back(buf.sqrt_alphas_cumprod[size_t(t)]);
        s.sqrt_one_minus_alphas_cumprod_t.push_back(buf.sqrt_one_minus_alphas_cumprod[size_t(t)]);
        const float sc = dynamic_rescale ? buf.scale_arr[size_t(t)] : 1.0f;
        s.scale_t.push_back(sc);
    }
    // ddim_scale_arr_prev = cat([scale[0:1], scale[:-1]]).
    for (int k = 0; k < steps; ++k) s.scale_prev.push_back(s.scale_t[size_t(k == 0 ? 0 : k - 1)]);
    return s;
}

std::vector<int> DdimSchedule::clamped_indices() const {
    std::vector<int> out;
    for (size_t k = 0; k < dir_arg.size(); ++k)
        if (dir_arg[k] < 0.0f) out.push_back(int(k));
    return out;
}

// ---------------------------------------------------------------- one step

namespace {

Tensor cpu_f32(const Tensor& x) {
    Tensor c = x.device() == Device::CPU ? x : x.to(Device::CPU);
    return c.to(DType::F32).contiguous();
}

// torch.std(dim=all but batch, unbiased) of each batch item; torch accumulates in double on the CPU.
std::vector<float> unbiased_std_per_item(const Tensor& x) {
    const int64_t B = x.size(0), n = x.numel() / std::max<int64_t>(B, 1);
    TC_CHECK(n >= 2, "guidance rescale needs at least 2 elements per item");
    const float* p = x.data<float>();
    std::vector<float> out;
    for (int64_t b = 0; b < B; ++b) {
        const float* q = p + b * n;
        double mean = 0;
        for (int64_t i = 0; i < n; ++i) mean += q[i];
        mean /= double(n);
        double ss = 0;
        for (int64_t i = 0; i < n; ++i) ss += (q[i] - mean) * (q[i] - mean);
        out.push_back(float(std::sqrt(ss / double(n - 1))));
    }
    return out;
}

}  // namespace

DdimStep ddim_step(const DdimSchedule& sched, int i, const Tensor& x_any, const Tensor& v_cond_any,
                   const Tensor& v_uncond_any, const GuidanceParams& g, const Tensor& noise_any) {
    TC_CHECK(i >= 0 && i < sched.steps, "DDIM step ", i, " out of range (", sched.steps, " steps)");
    DdimStep r;
    r.i = i;
    r.index = sched.steps - 1 - i;
    const size_t k = size_t(r.index);
    r.t = sched.timesteps[k];

    r.x_in = cpu_f32(x_any);
    r.v_cond = cpu_f32(v_cond_any);
    const Shape& shape = r.x_in.shape();
    TC_CHECK(r.v_cond.shape() == shape, "DDIM: v_cond ", shape_str(r.v_cond.shape()), " vs x ", shape_str(shape));
    Tensor noise = cpu_f32(noise_any);
    TC_CHECK(noise.shape() == shape, "DDIM: noise ", shape_str(noise.shape()), " vs x ", shape_str(shape));
    const int64_t N = r.x_in.numel(), B = shape.empty() ? 1 : shape[0], per = N / std::max<int64_t>(B, 1);
    const float* x = r.x_in.data<float>();
    const float* vc = r.v_cond.data<float>();

    // 1-3. Classifier-free guidance and guidance rescale (p_sample_ddim, rescale_noise_cfg).
    // The Python scalars are cast to float32 by torch's scalar ops.
    const bool guided = g.cfg_scale != 1.0 && v_uncond_any.defined();
    Tensor v;
    if (!guided) {
        r.v_cfg = r.v_cond;
        r.v_rescaled = r.v_cond;
        v = r.v_cond;
    } else {
        r.v_uncond = cpu_f32(v_uncond_any);
        TC_CHECK(r.v_uncond.shape() == shape, "DDIM: v_uncond shape ", shape_str(r.v_uncond.shape()));
        const float* vu = r.v_uncond.data<float>();
        r.v_cfg = Tensor::empty(shape);
        float* vg = r.v_cfg.data<float>();
        const float cfg = float(g.cfg_scale);
        for (int64_t j = 0; j < N; ++j) vg[j] = vu[j] + cfg * (vc[j] - vu[j]);
        if (g.guidance_rescale > 0.0) {
            const std::vector<float> std_text = unbiased_std_per_item(r.v_cond);
            const std::vector<float> std_cfg = unbiased_std_per_item(r.v_cfg);
            const float w = float(g.guidance_rescale), w1 = float(1.0 - g.guidance_rescale);
            r.v_rescaled = Tensor::empty(shape);
            float* vr = r.v_rescaled.data<float>();
            for (int64_t b = 0; b < B; ++b) {
                const float ratio = std_text[size_t(b)] / std_cfg[size_t(b)];
                for (int64_t j = b * per; j < (b + 1) * per; ++j) {
                    const float rescaled = vg[j] * ratio;
                    vr[j] = w * rescaled + w1 * vg[j];
                }
            }
        } else {
            r.v_rescaled = r.v_cfg;
        }
        v = r.v_rescaled;
    }

    // 4-6. v-prediction to eps and x0 with the model buffers at t, dynamic rescale, DDIM update.
    const float sa = sched.sqrt_alphas_cumprod_t[k], s1a = sched.sqrt_one_minus_alphas_cumprod_t[k];
    const float rescale = sched.scale_prev[k] / sched.scale_t[k];
    const float sqrt_a_prev = sched.sqrt_a_prev[k], dir_coef = sched.dir_coef[k], sigma = sched.sigma[k];
    const float* vv = v.data<float>();
    const float* nz = noise.data<float>();
    r.pred_x0 = Tensor::empty(shape);
    r.x_prev = Tensor::empty(shape);
    float* px0 = r.pred_x0.data<float>();
    float* xp = r.x_prev.data<float>();
    for (int64_t j = 0; j < N; ++j) {
        const float e_t = sa * vv[j] + s1a * x[j];   // predict_eps_from_z_and_v
        float x0 = sa * x[j] - s1a * vv[j];          // predict_start_from_z_and_v
        if (sched.dynamic_rescale) x0 = x0 * rescale;
        px0[j] = x0;
        const float dir_xt = dir_coef * e_t;
        const float n = sigma * nz[j];
        xp[j] = sqrt_a_prev * x0 + dir_xt + n;
    }
    return r;
}

Tensor ddim_sample(const DdimSchedule& sched, const GuidanceParams& guidance, Tensor x, const Denoiser& model,
                   NoiseSource& noise, const SamplerHooks& hooks) {
    const bool need_uncond = guidance.cfg_scale != 1.0;
    for (int i = 0; i < sched.steps; ++i) {
        if (hooks.cancelled && hooks.cancelled()) throw Cancelled();
        const int64_t t = sched.timesteps[size_t(sched.steps - 1 - i)];
        auto [v_cond, v_uncond] = model(x, t, need_uncond);
        Tensor n = noise.next(x.shape());
        DdimStep step = ddim_step(sched, i, x, v_cond, v_uncond, guidance, n);
        x = step.x_prev;
        if (hooks.on_step) hooks.on_step(step);
        if (hooks.progress) hooks.progress(i + 1, sched.steps);
    }
    return x;
}

}  // namespace tc
