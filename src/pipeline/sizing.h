// Output size of a keyframes-to-video request (DESIGN.md section 5, "Size") and the fitting of each keyframe
// to it. The model works on sides that are multiples of 64 (VAE factor 8 x UNet factor 8), so the requested
// max_width x max_height box and image_1's aspect ratio are reconciled like this:
//
//   fit_size rule: the candidates are all (w, h) with w, h multiples of `multiple` (64),
//   multiple <= w <= max_w and multiple <= h <= max_h; a candidate's aspect error is
//   |ln(w/h) - ln(src_w/src_h)| (so 2:1 and 1:2 are equally far from 1:1). Among the candidates whose error
//   is at most ln(1.05) (the crop removes at most ~5% of a side), take the largest area, then the smaller
//   error, then the larger width; when no candidate is that close, take the smallest error (ties: larger area).
//
// Examples (tests/unit/test_sizing.cpp): 1920x1080 in 512x512 -> 448x256 (1.75 vs 1.778; 512x256 would be
// 2.0), in 768x768 -> 768x448, 1080x1920 -> 256x448, 4000x100 in 256x256 -> 256x64 (closest), 640x480 in 512x512 -> 512x384, any square -> 512x512, 1024x1024 in 768x512 ->
// 512x512. The result can be larger than the source (a 64x64 image in 256x256 gives 256x256): never a stretch,
// since the keyframes are centre-cropped to the target aspect first and then resized.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace tc {

struct FrameSize {
    int64_t width = 0, height = 0;
    bool operator==(const FrameSize&) const = default;
};

// The wire contract's allowed max_width / max_height values (reference API: 256 | 512 | 768).
const std::vector<int64_t>& allowed_max_sides();

// Throws tc::Error naming `what` ("max_width") unless v is one of `allowed` (default allowed_max_sides()).
void validate_max_side(const char* what, int64_t v, const std::vector<int64_t>& allowed = allowed_max_sides());

// The rule of the file comment. Throws when a source side is not positive or max_w / max_h < multiple.
FrameSize fit_size(int64_t src_w, int64_t src_h, int64_t max_w, int64_t max_h, int64_t multiple = 64);

// The largest centred window of a [H, W, C] image with the aspect ratio of `size` (a view, no copy; sides
// rounded to the nearest pixel). The engine resizes it with media::resize_rgb8 (pipeline does not link the
// media layer), which completes "centre-crop, then resize, never stretch".
Tensor centre_crop_to_aspect(const Tensor& hwc, FrameSize size);

}  // namespace tc
