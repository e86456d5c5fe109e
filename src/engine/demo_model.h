// The demo model behind `serve --model demo` (DESIGN.md section 6): a tiny ToonCrafter with random weights,
// built in memory, so that the whole API can be tried without a GPU and without downloading the 10 GB
// checkpoint. Its outputs are noise by construction; callers must say so (banner, /health, response header).
//
// It keeps every code path and every flag of the official model (v-prediction, zero-SNR schedule, hybrid
// conditioning, fps conditioning, image cross-attention, temporal layers, dual-reference VAE decoder) and
// the public shapes that the API exposes: T = 16 frames per segment, 4 UNet and 4 VAE levels (so sides are
// multiples of 64 and the latent is size/8, exactly as for the real model). Only widths and depths shrink.
// The weights are filled like the golden tiny model's (golden/README.md section 2), from one seeded
// generator, and the schedule buffers are computed (pipeline/ddim.h DiffusionSchedule).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/module.h"
#include "io/model_config.h"
#include "models/tooncrafter_model.h"

namespace tc {

// The demo's hyper-parameters (see demo_model.cpp for the choices and their cost).
ToonCrafterConfig demo_model_config();

// Fills every declared Param of `root` (used or not) from one generator seeded with `seed`, in declaration
// order (the state_dict order):
//   schedule buffers (Param::buffer)      the values of DiffusionSchedule::compute(cfg);
//   the Resampler `latents`               N(0,1) / sqrt(dim);
//   tensors of 2 or more dimensions       N(0,1) / sqrt(fan_in), fan_in = numel of one output slice;
//   1-D `*.weight` (GroupNorm/LayerNorm)  1;
//   `*.bias`                              0;
//   `*mix_factor` (VAE blending)          0.5·N(0,1);
//   anything else (class embedding, ...)  0.1·N(0,1).
// Deterministic: the same seed gives the same bits on every machine (SeededNoise is counter-based).
void fill_demo_weights(Module& root, const ToonCrafterConfig& cfg, uint64_t seed);

// demo_model_config() declared and filled: no file is read.
std::unique_ptr<ToonCrafterModel> build_demo_model(uint64_t seed = 0);

// DEMO ONLY stand-in for the CLIP tokenizer, used when the vocabulary file is absent: the prompt's raw bytes,
// not BPE. ids = 49406 (start), byte+1 for each byte, 49407 (end), zeros up to context_length; a longer text
// is cut to context_length with its last id set to 49407 (open_clip's truncation). It has nothing to do with
// the real CLIP ids; with random weights it does not matter, with real weights it would be wrong.
std::vector<int64_t> demo_byte_tokenize(const std::string& text, int context_length = 77);

}  // namespace tc
