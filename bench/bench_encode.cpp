// Benchmark: MP4 (libx264, crf 19, x264's default preset and threads) encode time per frame for a
// 61-frame clip at 512x320 and 512x512, the median of 5 runs, through encode_video_bytes (temp file and
// read-back included). Built with -DTC_BENCH=ON; run: build/bench/bench_encode [runs]
// The frames are a moving smooth gradient with some texture, a stand-in for decoded animation frames.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "media/video_encode.h"

namespace {

tc::Tensor make_clip(int64_t T, int64_t H, int64_t W) {
    tc::Tensor t = tc::Tensor::empty({T, H, W, 3}, tc::DType::U8);
    uint8_t* p = t.data<uint8_t>();
    for (int64_t f = 0; f < T; ++f)
        for (int64_t y = 0; y < H; ++y)
            for (int64_t x = 0; x < W; ++x) {
                uint8_t* q = p + ((f * H + y) * W + x) * 3;
                const int64_t xs = x + 3 * f, ys = y + 2 * f;  // pans right and down
                q[0] = uint8_t((xs * 255) / W);
                q[1] = uint8_t((ys * 255) / H);
                q[2] = uint8_t(((xs / 16 + ys / 16) & 1) ? 200 : 60);  // checkerboard edges
            }
    return t;
}

}  // namespace

int main(int argc, char** argv) {
    const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
    const int64_t T = 61;
    std::printf("| format | size | frames | median total (ms) | per frame (ms) | output (KiB) |\n");
    std::printf("|---|---|---|---|---|---|\n");
    for (auto [W, H] : {std::pair<int64_t, int64_t>{512, 320}, {512, 512}}) {
        const tc::Tensor clip = make_clip(T, H, W);
        tc::media::EncodeOptions o;  // MP4, crf 19
        o.fps = 8;
        std::vector<double> ms;
        size_t bytes = 0;
        for (int r = 0; r < runs; ++r) {
            const auto t0 = std::chrono::steady_clock::now();
            bytes = tc::media::encode_video_bytes(clip, o).size();
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(ms.begin(), ms.end());
        const double med = ms[ms.size() / 2];
        std::printf("| mp4 (h264 crf 19) | %lldx%lld | %lld | %.1f | %.2f | %.1f |\n", (long long)W, (long long)H,
                    (long long)T, med, med / double(T), double(bytes) / 1024.0);
    }
    return 0;
}
