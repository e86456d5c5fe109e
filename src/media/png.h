// PNG reading and writing through libpng. Reading gives 8-bit RGB in HWC order whatever the file holds
// (palette, gray, gray+alpha, RGBA, 1/2/4/16-bit, interlaced), the way PIL's Image.convert('RGB') does for the
// official loader: alpha is dropped (not composited) and 16-bit samples keep their high byte.
// Input bytes are untrusted: libpng validates the stream, and the pixel count is capped before decoding.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace tc {

struct PngLimits {
    int64_t max_pixels = int64_t(64) << 20;  // 64 Mpixel
};

// Decodes PNG bytes to a [H, W, 3] U8 tensor. Throws tc::Error (with libpng's message) on malformed input.
Tensor decode_png(const uint8_t* data, size_t size, const PngLimits& limits = {});
Tensor read_png(const std::string& path, const PngLimits& limits = {});

// Encodes a [H, W, 3] (RGB) or [H, W, 4] (RGBA) U8 tensor as PNG.
std::vector<uint8_t> encode_png(const Tensor& hwc);
void write_png(const std::string& path, const Tensor& hwc);

}  // namespace tc
