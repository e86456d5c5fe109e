// Noise sources: our seeded Philox generator and the replay of recorded reference noise.
#include "pipeline/noise.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "io/safetensors.h"

namespace tc {

// ---------------------------------------------------------------- SeededNoise

std::array<uint32_t, 4> SeededNoise::philox(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
    // Constants of Philox4x32 (Random123): round multipliers and Weyl key increments.
    constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
    constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k[0] += kW0;
            k[1] += kW1;
        }
        uint64_t p0 = uint64_t(kM0) * c[0];
        uint64_t p1 = uint64_t(kM1) * c[2];
        uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
        uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
        c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
    }
    return c;
}

Tensor SeededNoise::next(const Shape& shape) {
    Tensor out = Tensor::empty(shape, DType::F32);
    float* y = out.data<float>();
    const int64_t n = out.numel();
    const std::array<uint32_t, 2> key{uint32_t(seed_), uint32_t(seed_ >> 32)};
    const uint64_t draw = draws_++;
    constexpr double kTwoPi = 6.283185307179586476925286766559;
    constexpr double k2pow32 = 4294967296.0;
    for (int64_t block = 0; block * 4 < n; ++block) {
        auto r = philox({uint32_t(block), uint32_t(uint64_t(block) >> 32), uint32_t(draw), uint32_t(draw >> 32)},
                        key);
        float z[4];
        for (int pair = 0; pair < 2; ++pair) {
            // Box-Muller: u1 in (0, 1] so the log is finite, u2 in [0, 1).
            double u1 = (double(r[2 * pair]) + 1.0) / k2pow32;
            double u2 = double(r[2 * pair + 1]) / k2pow32;
            double radius = std::sqrt(-2.0 * std::log(u1));
            z[2 * pair] = float(radius * std::cos(kTwoPi * u2));
            z[2 * pair + 1] = float(radius * std::sin(kTwoPi * u2));
        }
        for (int64_t j = 0; j < 4 && block * 4 + j < n; ++j) y[block * 4 + j] = z[j];
    }
    return out;
}

// ---------------------------------------------------------------- RecordedNoise

RecordedNoise::RecordedNoise(const std::string& path) : origin_(path) {
    auto file = SafeTensorsFile::open(path);
    std::vector<std::string> names = file.names();
    std::set<std::string> present(names.begin(), names.end());
    for (int i = 0;; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "noise_%02d", i);
        if (!present.count(name)) break;
        // Copy out of the mapped file so the source does not keep the whole file alive.
        tensors_.push_back(file.get(name).to(DType::F32).clone());
    }
    TC_CHECK(!tensors_.empty(), "noise file ", path, " has no tensor named noise_00");
}

RecordedNoise::RecordedNoise(std::vector<Tensor> tensors, std::string origin)
    : tensors_(std::move(tensors)), origin_(std::move(origin)) {}

Tensor RecordedNoise::next(const Shape& shape) {
    TC_CHECK(next_ < tensors_.size(), "recorded noise (", origin_, ") exhausted: draw ", next_, " of shape ",
             shape_str(shape), " asked for, but only ", tensors_.size(), " tensors were recorded");
    const Tensor& t = tensors_[next_];
    TC_CHECK(t.shape() == shape, "recorded noise (", origin_, ") draw ", next_, " has shape ", shape_str(t.shape()),
             " but the pipeline asks for ", shape_str(shape));
    ++next_;
    return t.clone();
}

}  // namespace tc
