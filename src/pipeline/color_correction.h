// Colour correction of generated frames (DESIGN.md section 5): the Monge-Kantorovich linear ("mkl") colour
// transfer. A frame's pixel colours x (RGB in 0..255) with mean mu_s and 3x3 covariance Ss are mapped to
//     out = T (x - mu_s) + mu_r,   T = Ss^-1/2 (Ss^1/2 Sr Ss^1/2)^1/2 Ss^-1/2,
// the linear map that carries N(mu_s, Ss) onto N(mu_r, Sr) with least displacement (Pitie & Kokaram,
// "The linear Monge-Kantorovitch linear colour mapping for example-based colour transfer", CVMP 2007).
// Square roots are of symmetric PSD matrices through a 3x3 Jacobi eigen-decomposition, eigenvalues floored
// at kEigenFloor (a flat-coloured frame has Ss = 0). The result is rounded and clamped to [0, 255].
//
// The hosted service matches every frame to image_1. We match frame k of a segment to statistics
// interpolated between the segment's two keyframes at k / (T - 1) (means and covariances linearly), so a
// red keyframe followed by a blue one stays red at the start and blue at the end.
#pragma once

#include <array>
#include <cstdint>

#include "core/tensor.h"

namespace tc {

struct ColorStats {
    std::array<double, 3> mean{};  // per channel, 0..255
    std::array<double, 9> cov{};   // row-major 3x3 population covariance
};

// Eigenvalue floor (in squared 0..255 units) for the matrix square roots.
inline constexpr double kEigenFloor = 1e-2;

// Statistics of a [H, W, 3] U8 image (any strides).
ColorStats color_stats(const Tensor& hwc);

// (1 - t) a + t b for means and covariances.
ColorStats lerp_stats(const ColorStats& a, const ColorStats& b, double t);

// The 3x3 matrix T of the file comment (row-major), mapping source statistics onto the reference's.
std::array<double, 9> mkl_matrix(const ColorStats& src, const ColorStats& ref);

// The transfer of one [H, W, 3] U8 image: statistics of the image itself as source -> [H, W, 3] U8.
Tensor mkl_transfer(const Tensor& hwc, const ColorStats& ref);

// Corrects a segment's frames [T, H, W, 3] U8 against its first and last keyframes' statistics (frame k
// against lerp_stats(first, last, k / (T - 1))); returns a new tensor.
Tensor color_correct_segment(const Tensor& frames, const ColorStats& first, const ColorStats& last);

}  // namespace tc
