// FILM 2x over a whole video (DESIGN.md section 5, "Interpolate"): one new frame at t = 0.5 between each
// pair of consecutive frames, so F frames become 2F-1; with loop also the seam pair (last, first), giving 2F
// frames that loop seamlessly. The frame rate doubles (the caller's business). Each pair goes through
// film_interpolate (models/film.h: the port's pad-to-64 / clamp / crop route); frames enter as u8 / 255 in
// float32 like the port's util.load_image, and leave rounded to nearest (the port's inference.py truncates
// with .byte(), which darkens by half a level on average).
#pragma once

#include <functional>

#include "core/tensor.h"
#include "models/film.h"

namespace tc {

struct FilmSequenceHooks {
    std::function<void(int done, int total)> progress;  // in-between frames made so far
    std::function<bool()> cancelled;                    // checked between batches; true throws tc::Cancelled
};

// frames [F, H, W, 3] U8 with F >= 2 -> [2F-1 or 2F (loop), H, W, 3] U8.
// `pairs_per_batch` in-betweens are computed per FILM call (memory vs speed).
Tensor film_double_frames(const Film& film, const Tensor& frames, bool loop, const FilmSequenceHooks& hooks = {},
                          int pairs_per_batch = 4);

}  // namespace tc
