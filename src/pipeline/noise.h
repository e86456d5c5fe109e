// Where the sampler's Gaussian noise comes from. The official code draws N(0,1) tensors with torch's
// generator at three places, in this order (golden README section 7, `noise_tags`):
//   1. the VAE posterior sample of every input frame (lvdm/distributions.py DiagonalGaussianDistribution.sample),
//   2. the initial latent x_T (lvdm/models/samplers/ddim.py DDIMSampler.ddim_sampling),
//   3. one tensor per DDIM step, including the last (lvdm/common.py noise_like).
// The pipeline asks a NoiseSource for each of these in that order. SeededNoise is our own generator
// (deterministic for a seed; it does not reproduce torch's numbers). RecordedNoise replays tensors saved
// by the reference run, which is how the parity tests and `generate --noise FILE` feed the official noise.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace tc {

class NoiseSource {
public:
    virtual ~NoiseSource() = default;
    // The next N(0,1) tensor, F32 on the CPU, of exactly `shape`.
    virtual Tensor next(const Shape& shape) = 0;
};

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) keyed by the seed,
// with Box-Muller for the normal transform. Element k of the n-th draw uses counter (k/4, n), so a draw's
// values depend only on (seed, n, k): the same seed gives the same noise whatever the thread count or the
// order in which the elements are filled.
class SeededNoise : public NoiseSource {
public:
    explicit SeededNoise(uint64_t seed) : seed_(seed) {}
    Tensor next(const Shape& shape) override;
    uint64_t seed() const { return seed_; }
    int64_t draws() const { return draws_; }

    // One Philox4x32-10 block (exposed for tests).
    static std::array<uint32_t, 4> philox(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

private:
    uint64_t seed_;
    uint64_t draws_ = 0;
};

// Replays `noise_00`, `noise_01`, ... of a safetensors file in order. A draw whose shape differs from the
// recorded tensor's, or a draw past the last recorded tensor, is an error (it means the pipeline and the
// recording disagree about the call sequence).
class RecordedNoise : public NoiseSource {
public:
    explicit RecordedNoise(const std::string& safetensors_path);
    // From tensors already in memory (tests): draw i returns tensors[i].
    explicit RecordedNoise(std::vector<Tensor> tensors, std::string origin = "memory");
    Tensor next(const Shape& shape) override;
    size_t size() const { return tensors_.size(); }
    size_t used() const { return next_; }

private:
    std::vector<Tensor> tensors_;
    std::string origin_;
    size_t next_ = 0;
};

}  // namespace tc
