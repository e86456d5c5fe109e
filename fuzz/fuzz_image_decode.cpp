// libFuzzer target: keyframe image decoding (media/image_decode) on arbitrary bytes. Every input must either
// decode to a sane [H, W, 3] U8 tensor or throw tc::Error; ASan/UBSan check the header readers, the EXIF
// walk and FFmpeg's decoders behind them. A small pixel cap keeps each run fast.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "media/image_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    tc::media::DecodeLimits limits;
    limits.max_pixels = 1 << 20;
    try {
        tc::Tensor t = tc::media::decode_image(data, size, limits);
        if (t.dim() != 3 || t.size(2) != 3 || t.numel() > 3 * limits.max_pixels) __builtin_trap();
        const uint8_t* p = t.data<uint8_t>();
        volatile uint8_t first = p[0], last = p[t.numel() - 1];  // in bounds
        (void)first;
        (void)last;
    } catch (const tc::Error&) {
    }
    return 0;
}
