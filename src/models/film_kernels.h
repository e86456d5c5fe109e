// The few FILM-specific primitives that tc::Backend (core/ops.h) does not have: LeakyReLU, 2x2 average
// pooling, bilinear and legacy-nearest resize to an explicit size, and the backward warp
// (grid_sample bilinear, border padding, align_corners=False). Each reproduces the PyTorch op the port
// calls (dajes/frame-interpolation-pytorch util.py, feature_extractor.py, fusion.py), including its float32
// rounding order where that is cheap, so the golden figures hold to ~1e-6.
//
// CPU-only for now, fp32, single-threaded plain loops: they are a few percent of FILM's cost (the convs
// go through ops::conv2d). The CUDA backend will need twins of these before FILM can run on the GPU.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace tc::film {

// max(x, slope * x) elementwise (torch.nn.LeakyReLU(0.2)).
Tensor leaky_relu(const Tensor& x, float slope = 0.2f);

// torch.nn.functional.avg_pool2d(x, 2, 2): x[N, C, H, W] -> [N, C, H/2, W/2] (odd sizes floored).
Tensor avg_pool2x2(const Tensor& x);

// F.interpolate(x, size=(oh, ow), mode='bilinear', align_corners=False), no antialias.
Tensor resize_bilinear(const Tensor& x, int64_t oh, int64_t ow);

// F.interpolate(x, size=(oh, ow), mode='nearest') (legacy nearest: src = min(floor(dst * in/out), in - 1)).
Tensor resize_nearest(const Tensor& x, int64_t oh, int64_t ow);

// util.warp(image, flow): image[N, C, H, W] sampled at (x + flow[:, 0], y + flow[:, 1]) with bilinear
// weights and border padding, computed through grid_sample's normalised grid as the port does.
Tensor warp(const Tensor& image, const Tensor& flow);

}  // namespace tc::film
