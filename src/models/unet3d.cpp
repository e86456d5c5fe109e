// UNetModel of lvdm/modules/networks/openaimodel3d.py (Doubiiu/ToonCrafter), inference only.
#include "models/unet3d.h"

namespace tc {

namespace {
// torch repeat_interleave(repeats=n, dim=0): [B, ...] -> [B*n, ...], each row repeated n times in a row.
Tensor repeat_rows(const Tensor& x, int64_t n) {
    Shape shape = x.shape();
    shape[0] *= n;
    Tensor row = x.unsqueeze(1);  // [B, 1, ...]
    return ops::concat(std::vector<Tensor>(size_t(n), row), 1).view(shape);
}

// The fixed split of the ToonCrafter context (openaimodel3d.py UNetModel.forward: "HARD CODE here").
constexpr int64_t kTextTokens = 77;
constexpr int64_t kImageTokensPerFrame = 16;
}  // namespace

// ---------------------------------------------------------------------------------------------- TimestepEmbedSequential

Tensor TimestepEmbedSequential::forward(const Tensor& x, const Tensor& emb, const Tensor& context,
                                        int64_t batch_size) const {
    Tensor h = x;
    for (const auto& [kind, m] : layers_) {
        switch (kind) {
            case Kind::Conv: h = static_cast<const Conv2d*>(m)->forward(h); break;
            case Kind::Res: h = static_cast<const ResBlock*>(m)->forward(h, emb, batch_size); break;
            case Kind::Spatial: h = static_cast<const SpatialTransformer*>(m)->forward(h, context); break;
            case Kind::Temporal: h = static_cast<const TemporalTransformer*>(m)->forward(h, batch_size); break;
            case Kind::Down: h = static_cast<const UNetDownsample*>(m)->forward(h); break;
            case Kind::Up: h = static_cast<const UNetUpsample*>(m)->forward(h); break;
        }
    }
    return h;
}

// ---------------------------------------------------------------------------------------------- construction

UNet3D::UNet3D(const UNetConfig& cfg) : cfg_(cfg) {
    // Variants the official constructor supports but ToonCrafter never builds are refused, not guessed.
    TC_CHECK(cfg.num_head_channels > 0, "UNet: num_head_channels must be set (got ", cfg.num_head_channels, ")");
    TC_CHECK(!cfg.use_relative_position, "UNet: use_relative_position is not supported");
    TC_CHECK(!cfg.use_causal_attention, "UNet: use_causal_attention is not supported");
    TC_CHECK(cfg.temporal_selfatt_only || !cfg.addition_attention,
             "UNet: init_attn with temporal_selfatt_only=false is not supported");
    TC_CHECK(cfg.model_channels > 0 && cfg.num_res_blocks > 0 && !cfg.channel_mult.empty() &&
                 cfg.transformer_depth > 0 && cfg.context_dim > 0,
             "UNet: invalid configuration");

    const int64_t mc = cfg.model_channels, emb_dim = 4 * mc, nhc = cfg.num_head_channels;
    const int64_t depth = cfg.transformer_depth, ctx_dim = cfg.context_dim;
    auto has_attention = [&](int64_t ds) {
        for (int r : cfg.attention_resolutions)
            if (r == ds) return true;
        return false;
    };
    auto heads_for = [&](int64_t ch) {
        TC_CHECK(ch % nhc == 0, "UNet: ", ch, " channels not divisible by num_head_channels ", nhc);
        return ch / nhc;
    };
    // SpatialTransformer (+ TemporalTransformer), appended after a ResBlock wherever attention runs.
    auto add_attention = [&](TimestepEmbedSequential& blk, int64_t ch) {
        const int64_t heads = heads_for(ch);
        blk.append<SpatialTransformer>(ch, heads, nhc, depth, ctx_dim, cfg.use_linear, cfg.image_cross_attention);
        if (cfg.temporal_attention) blk.append<TemporalTransformer>(ch, heads, nhc, depth, cfg.use_linear);
    };

    auto& time_embed = child<ModuleList>("time_embed");
    time_embed_0_ = &time_embed.add<Linear>(mc, emb_dim);
    time_embed.skip();  // nn.SiLU
    time_embed_2_ = &time_embed.add<Linear>(emb_dim, emb_dim);
    if (cfg.fs_condition) {
        auto& fps = child<ModuleList>("fps_embedding");
        fps_embed_0_ = &fps.add<Linear>(mc, emb_dim);
        fps.skip();
        fps_embed_2_ = &fps.add<Linear>(emb_dim, emb_dim);
    }

    auto& input_blocks = child<ModuleList>("input_blocks");
    auto new_input_block = [&]() -> TimestepEmbedSequential& {
        auto& b = input_blocks.add<TimestepEmbedSequential>();
        input_blocks_.push_back(&b);
        return b;
    };
    new_input_block().append<Conv2d>(cfg.in_channels, mc, 3, 1, 1);
    if (cfg.addition_attention) {
        // init_attn: a TemporalTransformer with 8 heads x num_head_channels and Conv1d projections
        // (use_linear left at its default False).
        init_attn_ = &child<TimestepEmbedSequential>("init_attn");
        init_attn_->append<TemporalTransformer>(mc, 8, nhc, depth, false);
    }

    std::vector<int64_t> input_block_chans{mc};
    int64_t ch = mc, ds = 1;
    const size_t levels = cfg.channel_mult.size();
    for (size_t level = 0; level < levels; ++level) {
        for (int r = 0; r < cfg.num_res_blocks; ++r) {
            auto& blk = new_input_block();
            blk.append<ResBlock>(ch, emb_dim, cfg.channel_mult[level] * mc, cfg.temporal_conv);
            ch = cfg.channel_mult[level] * mc;
            if (has_attention(ds)) add_attention(blk, ch);
            input_block_chans.push_back(ch);
        }
        if (level + 1 != levels) {
            new_input_block().append<UNetDownsample>(ch, ch);
            input_block_chans.push_back(ch);
            ds *= 2;
        }
    }

    middle_block_ = &child<TimestepEmbedSequential>("middle_block");
    middle_block_->append<ResBlock>(ch, emb_dim, ch, cfg.temporal_conv);
    add_attention(*middle_block_, ch);  // the middle block always has attention
    middle_block_->append<ResBlock>(ch, emb_dim, ch, cfg.temporal_conv);

    auto& output_blocks = child<ModuleList>("output_blocks");
    for (size_t level = levels; level-- > 0;) {
        for (int i = 0; i <= cfg.num_res_blocks; ++i) {
            const int64_t ich = input_block_chans.back();
            input_block_chans.pop_back();
            auto& blk = output_blocks.add<TimestepEmbedSequential>();
            output_blocks_.push_back(&blk);
            blk.append<ResBlock>(ch + ich, emb_dim, cfg.channel_mult[level] * mc, cfg.temporal_conv);
            ch = cfg.channel_mult[level] * mc;
            if (has_attention(ds)) add_attention(blk, ch);
            if (level > 0 && i == cfg.num_res_blocks) {
                blk.append<UNetUpsample>(ch, ch);
                ds /= 2;
            }
        }
    }

    auto& out = child<ModuleList>("out");
    out_norm_ = &out.add<GroupNorm>(32, ch, 1e-5f);  // normalization(ch)
    out.skip();                                     // nn.SiLU
    out_conv_ = &out.add<Conv2d>(mc, cfg.out_channels, 3, 1, 1);
}

// ---------------------------------------------------------------------------------------------- forward

Tensor UNet3D::per_frame_context(const Tensor& context, int64_t T) const {
    const int64_t B = context.size(0), L = context.size(1), D = context.size(2);
    if (L != kTextTokens + kImageTokensPerFrame * T) return repeat_rows(context, T);  // [B*T, L, D]
    Tensor text = repeat_rows(context.slice(1, 0, kTextTokens), T);                   // [B*T, 77, D]
    // 'b (t l) c -> (b t) l c'
    Tensor image = context.slice(1, kTextTokens, L).reshape({B * T, kImageTokensPerFrame, D});
    return ops::concat({text, image}, 1);  // [B*T, 77 + 16, D]
}

Tensor UNet3D::forward(const Tensor& x, const Tensor& timesteps, const Tensor& context, const Tensor& fs,
                       const Observer* observe) const {
    TC_CHECK(x.dim() == 5 && x.size(1) == cfg_.in_channels, "UNet: expected x [B, ", cfg_.in_channels,
             ", T, h, w], got ", x.describe());
    const int64_t B = x.size(0), T = x.size(2);
    TC_CHECK(timesteps.dim() == 1 && timesteps.size(0) == B, "UNet: timesteps ", timesteps.describe(), " for batch ", B);
    TC_CHECK(context.dim() == 3 && context.size(0) == B && context.size(2) == cfg_.context_dim,
             "UNet: expected context [", B, ", L, ", cfg_.context_dim, "], got ", context.describe());
    auto notify = [&](const char* name, const Tensor& v) {
        if (observe && *observe) (*observe)(name, v);
    };

    // emb = time_embed(timestep_embedding(t)) (+ fps_embedding(timestep_embedding(fs))), cos first.
    const int64_t mc = cfg_.model_channels;
    Tensor t_emb = ops::timestep_embedding(timesteps.to(DType::F32), mc);                  // [B, mc]
    Tensor emb = time_embed_2_->forward(time_embed_0_->forward(t_emb, Activation::SiLU));  // [B, 4 mc]
    notify("time_embed", emb);
    if (cfg_.fs_condition) {
        Tensor f = fs.defined() ? fs.to(DType::F32) : Tensor::full({B}, float(cfg_.default_fs)).to(x.device());
        TC_CHECK(f.dim() == 1 && f.size(0) == B, "UNet: fs ", f.describe(), " for batch ", B);
        Tensor fs_emb = ops::timestep_embedding(f, mc);
        Tensor fs_embed = fps_embed_2_->forward(fps_embed_0_->forward(fs_emb, Activation::SiLU));
        notify("fps_embedding", fs_embed);
        // The official code repeats both per frame and then adds; adding first is the same sum.
        emb = ops::add(emb, fs_embed);
    }
    emb = repeat_rows(emb, T);                          // [B*T, 4 mc]
    Tensor ctx = per_frame_context(context, T);         // [B*T, L', context_dim]
    Tensor h = unet::to_frames(x);                      // 'b c t h w -> (b t) c h w'

    std::vector<Tensor> hs;
    hs.reserve(input_blocks_.size());
    for (size_t id = 0; id < input_blocks_.size(); ++id) {
        h = input_blocks_[id]->forward(h, emb, ctx, B);
        notify(("input_blocks_" + std::to_string(id)).c_str(), h);
        if (id == 0 && init_attn_) {
            h = init_attn_->forward(h, emb, ctx, B);
            notify("init_attn", h);
        }
        hs.push_back(h);
    }

    h = middle_block_->forward(h, emb, ctx, B);
    notify("middle_block", h);
    for (size_t id = 0; id < output_blocks_.size(); ++id) {
        h = ops::concat({h, hs.back()}, 1);  // torch.cat([h, hs.pop()], dim=1)
        hs.pop_back();
        h = output_blocks_[id]->forward(h, emb, ctx, B);
        notify(("output_blocks_" + std::to_string(id)).c_str(), h);
    }

    Tensor y = out_conv_->forward(out_norm_->forward(h, Activation::SiLU));  // [B*T, out, h, w]
    notify("out", y);
    return unet::to_video(y, B);  // '(b t) c h w -> b c t h w'
}

}  // namespace tc
