// Sinusoidal timestep embedding on the CPU (lvdm/models/utils_diffusion.py timestep_embedding):
//   freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / half)
//   args  = timesteps[:, None].float() * freqs[None]
//   emb   = cat([cos(args), sin(args)], -1)  (+ one zero column when dim is odd)
// Each step is a float32 operation in that order, as torch evaluates it, so the arguments of cos/sin
// (up to ~1000 for t = 999) carry exactly the same rounding as the official ones.
#include <cmath>

#include "cpu/kernels.h"

namespace tc::cpu {

Tensor timestep_embedding(const Tensor& t_in, int64_t dim, float max_period) {
    TC_CHECK(t_in.defined() && t_in.device() == Device::CPU, "timestep_embedding: t must be a defined CPU tensor");
    TC_CHECK(t_in.dtype() == DType::F32 || t_in.dtype() == DType::I64, "timestep_embedding: t has dtype ",
             dtype_name(t_in.dtype()), ", expected F32 (or I64 timesteps, converted as .float() does)");
    TC_CHECK(t_in.dim() == 1, "timestep_embedding: t must be [N], got ", shape_str(t_in.shape()));
    TC_CHECK(dim >= 1, "timestep_embedding: dim must be positive, got ", dim);
    TC_CHECK(max_period > 0.f, "timestep_embedding: max_period must be positive, got ", max_period);
    const std::vector<float> t = t_in.to_vector();  // timesteps.float()
    const int64_t N = int64_t(t.size()), half = dim / 2;

    // -math.log(max_period) is a Python float; multiplying the float32 arange rounds it to float32 first.
    const float neg_log = float(-std::log(double(max_period)));
    std::vector<float> freqs(static_cast<size_t>(half));
    for (int64_t k = 0; k < half; ++k) {
        const float scaled = float(k) * neg_log;       // arange * (-log(max_period))
        freqs[size_t(k)] = std::exp(scaled / float(half));  // / half, then exp, all float32
    }

    Tensor y = Tensor::zeros({N, dim});  // the odd-dim padding column stays 0
    float* Y = y.data<float>();
    for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < half; ++k) {
            const float arg = t[size_t(n)] * freqs[size_t(k)];
            Y[n * dim + k] = std::cos(arg);
            Y[n * dim + half + k] = std::sin(arg);
        }
    return y;
}

}  // namespace tc::cpu
