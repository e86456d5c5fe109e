// FILM 2x over a frame sequence (see frame_interpolation.h).
#include "pipeline/frame_interpolation.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "pipeline/ddim.h"  // tc::Cancelled

namespace tc {

namespace {

// [n, H, W, 3] U8 frames (given by index) -> [n, 3, H, W] F32 in [0, 1].
Tensor to_film_input(const Tensor& frames, const std::vector<int64_t>& idx) {
    const int64_t H = frames.size(1), W = frames.size(2), n = int64_t(idx.size());
    Tensor out = Tensor::empty({n, 3, H, W});
    float* dst = out.data<float>();
    const uint8_t* src = frames.data<uint8_t>();
    for (int64_t b = 0; b < n; ++b) {
        const uint8_t* f = src + idx[size_t(b)] * H * W * 3;
        for (int64_t c = 0; c < 3; ++c)
            for (int64_t p = 0; p < H * W; ++p) dst[(b * 3 + c) * H * W + p] = float(f[p * 3 + c]) / 255.0f;
    }
    return out;
}

}  // namespace

Tensor film_double_frames(const Film& film, const Tensor& frames_any, bool loop, const FilmSequenceHooks& hooks,
                          int pairs_per_batch) {
    TC_CHECK(frames_any.dim() == 4 && frames_any.size(3) == 3 && frames_any.dtype() == DType::U8,
             "FILM needs frames [F, H, W, 3] U8, got ", frames_any.describe());
    const Tensor frames = frames_any.contiguous();
    const int64_t F = frames.size(0), H = frames.size(1), W = frames.size(2);
    TC_CHECK(F >= 2, "FILM needs at least 2 frames, got ", F);
    const int64_t pairs = loop ? F : F - 1;  // pair k = (k, (k+1) mod F)
    const int64_t out_frames = F + pairs;
    const int64_t frame_bytes = H * W * 3;
    Tensor out = Tensor::empty({out_frames, H, W, 3}, DType::U8);
    uint8_t* dst = out.data<uint8_t>();
    const uint8_t* src = frames.data<uint8_t>();
    for (int64_t k = 0; k < F; ++k) std::memcpy(dst + 2 * k * frame_bytes, src + k * frame_bytes, size_t(frame_bytes));

    const int64_t per = std::max(1, pairs_per_batch);
    for (int64_t p0 = 0; p0 < pairs; p0 += per) {
        if (hooks.cancelled && hooks.cancelled()) throw Cancelled();
        const int64_t p1 = std::min(pairs, p0 + per), n = p1 - p0;
        std::vector<int64_t> a, b;
        for (int64_t k = p0; k < p1; ++k) {
            a.push_back(k);
            b.push_back((k + 1) % F);
        }
        const Tensor mid = film_interpolate(film, to_film_input(frames, a), to_film_input(frames, b),
                                            Tensor::full({1, 1}, 0.5f));  // [n, 3, H, W] in [0, 1]
        const Tensor m = (mid.device() == Device::CPU ? mid : mid.to(Device::CPU)).to(DType::F32).contiguous();
        const float* q = m.data<float>();
        for (int64_t i = 0; i < n; ++i) {
            uint8_t* o = dst + (2 * (p0 + i) + 1) * frame_bytes;
            for (int64_t c = 0; c < 3; ++c)
                for (int64_t p = 0; p < H * W; ++p) {
                    const float v = q[(i * 3 + c) * H * W + p];
                    o[p * 3 + c] = uint8_t(std::isnan(v) ? 0.0f : std::clamp(std::nearbyint(v * 255.0f), 0.0f, 255.0f));
                }
        }
        if (hooks.progress) hooks.progress(int(p1), int(pairs));
    }
    return out;
}

}  // namespace tc
