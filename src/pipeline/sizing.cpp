// Output sizing and keyframe fitting (see sizing.h for the rule).
#include "pipeline/sizing.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace tc {

const std::vector<int64_t>& allowed_max_sides() {
    static const std::vector<int64_t> sides{256, 512, 768};
    return sides;
}

void validate_max_side(const char* what, int64_t v, const std::vector<int64_t>& allowed) {
    if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return;
    std::string list;
    for (int64_t a : allowed) list += (list.empty() ? "" : ", ") + std::to_string(a);
    TC_FAIL(what, " must be one of ", list, ", got ", v);
}

FrameSize fit_size(int64_t src_w, int64_t src_h, int64_t max_w, int64_t max_h, int64_t multiple) {
    TC_CHECK(src_w > 0 && src_h > 0, "image size must be positive, got ", src_w, "x", src_h);
    TC_CHECK(multiple > 0, "size multiple must be positive");
    TC_CHECK(max_w >= multiple && max_h >= multiple, "the maximum size ", max_w, "x", max_h, " is below ", multiple,
             " on a side");
    const double target = std::log(double(src_w) / double(src_h));
    const double tolerance = std::log(1.05) + 1e-12;
    FrameSize near, closest;  // the best within the tolerance, the closest overall
    double near_err = 0, closest_err = 0;
    for (int64_t w = multiple; w <= max_w; w += multiple)
        for (int64_t h = multiple; h <= max_h; h += multiple) {
            const double err = std::abs(std::log(double(w) / double(h)) - target);
            const int64_t area = w * h;
            if (err <= tolerance) {
                const int64_t near_area = near.width * near.height;
                const bool better = near.width == 0 || area > near_area ||
                                    (area == near_area && (err < near_err - 1e-12 ||
                                                           (err <= near_err + 1e-12 && w > near.width)));
                if (better) {
                    near = {w, h};
                    near_err = err;
                }
            }
            const bool better = closest.width == 0 || err < closest_err - 1e-12 ||
                                (err <= closest_err + 1e-12 && area > closest.width * closest.height);
            if (better) {
                closest = {w, h};
                closest_err = err;
            }
        }
    return near.width != 0 ? near : closest;
}

Tensor centre_crop_to_aspect(const Tensor& hwc, FrameSize size) {
    TC_CHECK(hwc.dim() == 3, "image must be [H, W, C], got ", hwc.describe());
    TC_CHECK(size.width > 0 && size.height > 0, "target size must be positive");
    const int64_t H = hwc.size(0), W = hwc.size(1);
    int64_t ch = H, cw = W;
    if (H * size.width > W * size.height) ch = std::max<int64_t>(1, (W * size.height + size.width / 2) / size.width);
    else cw = std::max<int64_t>(1, (H * size.width + size.height / 2) / size.height);
    ch = std::min(ch, H);
    cw = std::min(cw, W);
    const int64_t top = (H - ch) / 2, left = (W - cw) / 2;
    return hwc.slice(0, top, top + ch).slice(1, left, left + cw);
}

}  // namespace tc
