// ToonCrafter's autoencoder: lvdm/models/autoencoder.py AutoencoderKL_Dualref, the KL autoencoder whose
// decoder is the dual-reference VideoDecoder (lvdm/models/autoencoder_dualref.py). Module root =
// "first_stage_model." (encoder.*, decoder.*, quant_conv.*, post_quant_conv.*).
//
// encode() is AutoencoderKL.encode(x, return_hidden_states=True) up to the DiagonalGaussianDistribution
// (mean and clamped logvar); the caller draws the sample and applies scale_factor. decode() is what
// LatentDiffusion.decode_first_stage calls with keyword arguments (ref_context, timesteps), which skips
// post_quant_conv: its weights are in the checkpoint but never used (golden README 4.b).
#pragma once

#include "io/model_config.h"
#include "models/vae_decoder.h"
#include "models/vae_encoder.h"

namespace tc {

class VAE : public Module {
public:
    explicit VAE(const VAEConfig& cfg);

    struct Encoded {
        Tensor mean, logvar;          // [N, embed_dim, h, w] each; logvar already clamped to [-30, 20]
        std::vector<Tensor> hidden;   // 5 hidden states (golden README 4.a): levels 0..3 before
                                      // downsampling, then the conv_in output; [N, C_l, h_l, w_l]
        Tensor moments;               // [N, 2*embed_dim, h, w]: quant_conv output, logvar unclamped
    };
    Encoded encode(const Tensor& x) const;  // x [N, 3, H, W] in [-1, 1]

    // z: [T, 4, h, w] UNSCALED latents (the caller divides by scale_factor); ref_context: 5 tensors
    // [1, C, 2, h', w'] (hidden states of frame 0 and frame T-1, see vae_ref_context) or empty for none;
    // returns [T, 3, H, W], the raw decoder output (not clamped). post_quant_conv is NOT applied.
    Tensor decode(const Tensor& z, const std::vector<Tensor>& ref_context, int64_t timesteps) const;

    const VAEConfig& config() const { return cfg_; }

    VAEEncoder* encoder;
    VAEDecoder* decoder;
    Conv2d* quant_conv;
    Conv2d* post_quant_conv;  // declared (shape-checked, used=false), never run

private:
    VAEConfig cfg_;
};

// The decoder's ref_context from encoder hidden states: for each state [N, C, h, w], frames `first` and
// `last` stacked on a new dim 2 -> [1, C, 2, h, w] (autoencoder.py "hid[:, :, 0:1], hid[:, :, -1:]").
std::vector<Tensor> vae_ref_context(const std::vector<Tensor>& hidden, int64_t first, int64_t last);
// The same from two encodings (frame 0's and frame T-1's, each N = 1).
std::vector<Tensor> vae_ref_context(const std::vector<Tensor>& hidden_first, const std::vector<Tensor>& hidden_last);

}  // namespace tc
