// The image encoder of ToonCrafter's autoencoder: lvdm/modules/networks/ae_modules.py Encoder (the
// LDM/pytorch_diffusion encoder with no time embedding), extended with the hidden states that the
// dual-reference decoder consumes. Names below `first_stage_model.encoder.`:
// conv_in, down.N.{block.M, attn.M, downsample}, mid.{block_1, attn_1, block_2}, norm_out, conv_out.
#pragma once

#include "io/model_config.h"
#include "models/vae_blocks.h"

namespace tc {

// One resolution level of the encoder: `block` (ResnetBlocks), `attn` (AttnBlocks at the attn_resolutions,
// none in the official config) and `downsample` on every level but the last.
class VAEEncoderLevel : public Module {
public:
    VAEEncoderLevel(int64_t block_in, int64_t block_out, int num_res_blocks, bool with_attn, bool with_downsample);
    ModuleList* block;
    ModuleList* attn;
    Downsample* downsample = nullptr;
};

// The middle of the encoder and of the decoder: ResBlock, single-head attention, ResBlock.
template <typename Block>
class VAEMid : public Module {
public:
    explicit VAEMid(int64_t channels) {
        block_1 = &child<Block>("block_1", channels, channels);
        attn_1 = &child<AttnBlock>("attn_1", channels);
        block_2 = &child<Block>("block_2", channels, channels);
    }
    Block* block_1;
    AttnBlock* attn_1;
    Block* block_2;
};

class VAEEncoder : public Module {
public:
    explicit VAEEncoder(const VAEConfig& cfg);

    struct Output {
        Tensor h;                    // [N, 2*z_channels, H/2^(L-1), W/2^(L-1)] conv_out output
        std::vector<Tensor> hidden;  // per level the last block's output (before downsampling), then conv_in's
    };
    // x [N, in_channels, H, W] in [-1, 1].
    Output forward(const Tensor& x) const;

    int num_resolutions, num_res_blocks;
    Conv2d* conv_in;
    ModuleList* down;
    VAEMid<ResnetBlock>* mid;
    GroupNorm* norm_out;
    Conv2d* conv_out;
};

}  // namespace tc
