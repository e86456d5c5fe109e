// The torch.nn building blocks the ported models are made of: each declares the parameters its torch
// twin has (same names, same shapes) and forwards through core/ops. Weights must be bound (io/weight_map)
// before forward() is called.
#pragma once

#include "core/module.h"
#include "core/ops.h"

namespace tc {

// Returns the bound tensor of a declared parameter, with a clear error when it was never loaded.
const Tensor& weight_of(const Param& p, const char* what);

class Linear : public Module {
public:
    Linear(int64_t in, int64_t out, bool bias = true);
    Tensor forward(const Tensor& x, Activation act = Activation::None) const;  // [..., in] -> [..., out]
    int64_t in, out;
    Param* weight;
    Param* bias = nullptr;
};

class Conv2d : public Module {
public:
    // Symmetric padding as torch.nn.Conv2d(padding=pad); use forward(x, params) for anything else.
    Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t pad = 0, bool bias = true);
    Tensor forward(const Tensor& x) const;  // [N, in, H, W] -> [N, out, Ho, Wo]
    Tensor forward(const Tensor& x, const Conv2dParams& p) const;
    int64_t in, out, kernel;
    Conv2dParams params;
    Param* weight;
    Param* bias = nullptr;
};

// torch.nn.Conv3d with kernel (kt, kh, kw) and symmetric padding (pt, ph, pw), stride 1.
class Conv3d : public Module {
public:
    Conv3d(int64_t in, int64_t out, std::array<int64_t, 3> kernel, std::array<int64_t, 3> pad, bool bias = true);
    Tensor forward(const Tensor& x) const;  // [N, in, T, H, W] -> [N, out, T', H', W']
    int64_t in, out;
    std::array<int64_t, 3> kernel, pad;
    Param* weight;
    Param* bias = nullptr;
};

class GroupNorm : public Module {
public:
    GroupNorm(int64_t groups, int64_t channels, float eps, bool affine = true);
    Tensor forward(const Tensor& x, Activation act = Activation::None) const;  // [N, C, *]
    int64_t groups, channels;
    float eps;
    Param* weight = nullptr;
    Param* bias = nullptr;
};

class LayerNorm : public Module {
public:
    LayerNorm(int64_t dim, float eps, bool affine = true);
    Tensor forward(const Tensor& x) const;  // over the last dim
    int64_t dim;
    float eps;
    Param* weight = nullptr;
    Param* bias = nullptr;
};

}  // namespace tc
