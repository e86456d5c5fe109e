// The denoising network of ToonCrafter: UNetModel of lvdm/modules/networks/openaimodel3d.py (DynamiCrafter's
// video UNet with ToonCrafter's image cross-attention). Module root = "model.diffusion_model.":
// time_embed, fps_embedding, input_blocks, init_attn, middle_block, output_blocks, out.
// Activations run per frame, [B*T, C, h, w]; ResBlocks' temporal convs and the TemporalTransformers regroup
// them over time internally.
#pragma once

#include <functional>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include "io/model_config.h"
#include "models/unet_attention.h"
#include "models/unet_blocks.h"

namespace tc {

// TimestepEmbedSequential (openaimodel3d.py): a numbered sequence of layers, each fed what it needs
// (the embedding for ResBlocks, the per-frame context for SpatialTransformers, the batch size for the
// temporal layers).
class TimestepEmbedSequential : public ModuleList {
public:
    template <typename M, typename... Args>
    M& append(Args&&... args) {
        M& m = add<M>(std::forward<Args>(args)...);
        layers_.push_back({kind_of<M>(), &m});
        return m;
    }
    // x [B*T, C, h, w], emb [B*T, E], context [B*T, L, context_dim] -> [B*T, C', h', w'].
    Tensor forward(const Tensor& x, const Tensor& emb, const Tensor& context, int64_t batch_size) const;

private:
    enum class Kind { Conv, Res, Spatial, Temporal, Down, Up };
    template <typename M>
    static constexpr Kind kind_of() {
        if constexpr (std::is_same_v<M, Conv2d>) return Kind::Conv;
        else if constexpr (std::is_same_v<M, ResBlock>) return Kind::Res;
        else if constexpr (std::is_same_v<M, SpatialTransformer>) return Kind::Spatial;
        else if constexpr (std::is_same_v<M, TemporalTransformer>) return Kind::Temporal;
        else if constexpr (std::is_same_v<M, UNetDownsample>) return Kind::Down;
        else {
            static_assert(std::is_same_v<M, UNetUpsample>, "TimestepEmbedSequential: unsupported layer type");
            return Kind::Up;
        }
    }
    std::vector<std::pair<Kind, const Module*>> layers_;
};

class UNet3D : public Module {
public:
    explicit UNet3D(const UNetConfig& cfg);

    // Optional per-block observer for parity tests: called with names "time_embed", "fps_embedding",
    // "input_blocks_0", "init_attn", "input_blocks_1".., "middle_block", "output_blocks_0".., "out" and the
    // tensor as computed (time_embed/fps_embedding [B, E] before the per-frame repeat; the blocks and out per
    // frame, [B*T, C, h, w]).
    using Observer = std::function<void(const std::string& name, const Tensor& value)>;

    // x [B, in_channels, T, h, w] (x_t and c_concat already concatenated on dim 1), timesteps [B] F32,
    // context [B, L, context_dim], fs [B] F32 (undefined: default_fs) -> [B, out_channels, T, h, w].
    Tensor forward(const Tensor& x, const Tensor& timesteps, const Tensor& context, const Tensor& fs,
                   const Observer* observe = nullptr) const;

    const UNetConfig& config() const { return cfg_; }

private:
    // The per-frame cross-attention context: with L == 77 + 16 T, frame f gets the 77 text tokens and image
    // tokens [16 f, 16 f + 16); otherwise every frame gets the whole context. [B, L, D] -> [B*T, L', D].
    Tensor per_frame_context(const Tensor& context, int64_t frames) const;

    UNetConfig cfg_;
    Linear* time_embed_0_;
    Linear* time_embed_2_;
    Linear* fps_embed_0_ = nullptr;
    Linear* fps_embed_2_ = nullptr;
    std::vector<TimestepEmbedSequential*> input_blocks_;
    TimestepEmbedSequential* init_attn_ = nullptr;
    TimestepEmbedSequential* middle_block_;
    std::vector<TimestepEmbedSequential*> output_blocks_;
    GroupNorm* out_norm_;
    Conv2d* out_conv_;
};

}  // namespace tc
