// Keyframes to segments (DESIGN.md section 5): N keyframes (2..10; with `loop` keyframe 0 is appended) give
// S segments (N-1, or N with loop), segment s interpolating keyframes (s, s+1) over T frames (T = the
// model's temporal_length: 16 for the released model, 8 for the golden tiny one). Joined, the keyframe two
// segments share appears once: F = (T-1)·S + 1 frames, or (T-1)·S with loop (the final frame, keyframe 0
// again, is dropped so the video loops seamlessly).
//
// All segments are denoised together: one UNet batch of S segments (x2 with both guidance branches), or,
// when max_batch_segments is smaller, the fewest batches of at most that many. The result equals running
// tc::interpolate once per segment: every segment has its own NoiseSource, drawn in the official order
// (posterior, x_T, one tensor per step; see pipeline/interpolate.h) whatever the batching, each segment is
// conditioned on its own first keyframe (the CLIP image of image_guided_synthesis is frame 0 of the clip),
// and every op of the UNet and of the DDIM step (incl. the guidance rescale's std) is per batch item.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/interpolate.h"

namespace tc {

inline constexpr int kMinKeyframes = 2;
inline constexpr int kMaxKeyframes = 10;

struct SegmentPlan {
    int keyframes = 0;                          // N (as given, without the loop's repeat)
    bool loop = false;
    int64_t frames_per_segment = 0;             // T
    std::vector<std::pair<int, int>> pairs;     // (first, last) keyframe index of each segment
    int segments() const { return int(pairs.size()); }
    // (T-1)·S + 1, or (T-1)·S with loop.
    int64_t output_frames() const;
};

// Throws tc::Error unless 2 <= n_keyframes <= 10 and T >= 2.
SegmentPlan plan_segments(int n_keyframes, bool loop, int64_t frames_per_segment);

// The seed of segment s's SeededNoise: segment 0 uses `seed` itself (so a two-keyframe request is exactly
// tc::interpolate with SeededNoise(seed)); the others a SplitMix64 mix of (seed, s).
uint64_t segment_seed(uint64_t seed, int segment);

struct SegmentsParams {
    InterpolationParams interp;
    int max_batch_segments = 0;  // segments per UNet batch; 0 = all of them
};

struct SegmentHooks {
    // stage "encode" (done/total segments), "denoise" (steps of the batch starting at `segment`),
    // "decode" (done/total segments); `segment` is the segment (or first segment of the batch) concerned.
    std::function<void(const std::string& stage, int done, int total, int segment)> progress;
    std::function<bool()> cancelled;  // checked between stages and DDIM steps; true throws tc::Cancelled
};

// Runs every segment of `plan`. keyframes: N tensors [3, H, W] F32 in [-1, 1] of one size; noise_for(s) is
// segment s's noise source (called once per segment, kept by the caller). Returns per segment the raw
// decoder frames [3, T, H, W] F32 (after the middle-frame fix), as tc::interpolate's `frames`.
std::vector<Tensor> generate_segments(const ToonCrafterModel& model, const std::vector<Tensor>& keyframes,
                                      const SegmentPlan& plan, const std::vector<int64_t>& prompt_ids,
                                      const std::vector<int64_t>& negative_ids, const SegmentsParams& params,
                                      const std::function<NoiseSource&(int segment)>& noise_for,
                                      const SegmentHooks& hooks = {});

// Joins per-segment frames [T, H, W, 3] U8 into the video [F, H, W, 3] U8: every segment after the first
// drops its first frame (the shared keyframe); with loop the last frame of the last segment is dropped too.
Tensor join_segments(const std::vector<Tensor>& segments, bool loop);

}  // namespace tc
