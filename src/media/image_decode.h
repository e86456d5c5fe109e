// Keyframe image decoding (JPEG, PNG, WebP, first frame of a GIF) and high-quality RGB resizing on
// FFmpeg's libraries. Input bytes are untrusted (uploads): the format is sniffed from the magic bytes
// (never from a file name), the byte size is capped, and the dimensions are read from the container
// header by our own code and capped BEFORE any pixel is decoded (FFmpeg's own max_pixels is set too).
//
// Output semantics follow the official loader, PIL's Image.open(...).convert('RGB'):
//  - alpha is DROPPED, not composited (an RGBA pixel (r,g,b,a) gives (r,g,b));
//  - GIF gives its first frame only; a transparent GIF pixel comes out black (FFmpeg clears the
//    transparent palette entry; PIL would give that palette entry's colour);
//  - truncated JPEG/PNG data is an error (PIL's default, LOAD_TRUNCATED_IMAGES = False).
// Unlike plain PIL we apply the JPEG EXIF Orientation tag (values 2..8 flip/rotate the pixels, as
// PIL's ImageOps.exif_transpose does), because phone photos otherwise come out sideways.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace tc::media {

struct DecodeLimits {
    size_t max_bytes = 30u << 20;        // encoded size
    int64_t max_pixels = 40'000'000;     // width * height, checked from the header before decoding
};

// Decodes an image held in memory to a [H, W, 3] U8 RGB tensor. Throws tc::Error on anything else:
// "unsupported image format (expected JPEG, PNG, WebP or GIF)", "image is 100000x100000 = 10 GP, over
// the 40 MP limit", "damaged or truncated JPEG: ...", ...
Tensor decode_image(const uint8_t* data, size_t size, const DecodeLimits& limits = {});
// Reads the file (at most limits.max_bytes) and decodes it; errors name the path.
Tensor decode_image_file(const std::string& path, const DecodeLimits& limits = {});

// Resizes a [H, W, 3] U8 image (any strides) with swscale: SWS_AREA when neither side grows (downscale),
// SWS_LANCZOS otherwise. The three channels are scaled as separate planes (GBRP), so there is no
// colour-space round trip: a flat colour stays exactly that colour.
Tensor resize_rgb8(const Tensor& hwc, int64_t out_h, int64_t out_w);

}  // namespace tc::media
