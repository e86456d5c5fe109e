// The in-memory random-weight demo model (see demo_model.h).
#include "engine/demo_model.h"

#include <cmath>
#include <map>

#include "core/error.h"
#include "pipeline/ddim.h"
#include "pipeline/noise.h"

namespace tc {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ToonCrafterConfig demo_model_config() {
    // The golden tiny model's sizes (golden/README.md section 2) with the real model's T = 16, so that
    // frame counts are those of the real API. Every channel count stays a multiple of 32 (GroupNorm uses 32
    // groups), and both the UNet and the VAE keep 4 levels: the output sizes (multiples of 64) and the
    // latent (size/8) are those of the real model.
    ToonCrafterConfig c;  // flags and schedule: the official model's
    c.image_size = {32, 32};

    c.unet.model_channels = 32;
    c.unet.channel_mult = {1, 1, 2, 2};
    c.unet.num_res_blocks = 1;
    c.unet.num_head_channels = 8;
    c.unet.context_dim = 16;
    c.unet.temporal_length = 16;
    // Spatial and temporal transformers only at ds 4 (and in the middle block): at ds 1 a 256x256 request has
    // 32x32 = 1024 tokens per frame, and that attention alone would take most of the CPU time budget; ds 2 as
    // well cost ~2 s of the 20 steps (bench/RESULTS.md). The code path is the same at every level. Heads of
    // 8 channels: the UNet's init_attn temporal transformer (8 heads x num_head_channels, at the full latent
    // resolution) was ~40% of the denoising time with 16.
    c.unet.attention_resolutions = {4};

    c.vae.ch = 32;
    c.vae.ch_mult = {1, 1, 2, 2};
    c.vae.num_res_blocks = 1;
    c.vae.attn_resolutions = {};
    // The VAE decoder's fusion cross-attention (levels 2 and 3) is 8 heads x 64 in the official code. At
    // 256x256 its level 2 lets 16·64·64 queries attend to 2·64·64 keys: with 8 x 64 that is ~1.1 TFLOP and
    // 4.3 G softmax entries per segment, minutes on 2 CPU cores. One head of 16 keeps the code path and cuts
    // both by 32x and 8x (bench/bench_demo.cpp measures the whole request).
    c.vae.fusion_heads = 1;
    c.vae.fusion_dim_head = 16;

    OpenClipConfig clip;
    clip.embed_dim = 16;
    clip.vision_image_size = 224;
    clip.vision_layers = 2;
    clip.vision_width = 64;
    clip.vision_head_width = 16;
    clip.vision_patch_size = 14;
    clip.text_context_length = 77;
    clip.text_vocab_size = 49408;
    clip.text_width = 16;
    clip.text_heads = 2;
    clip.text_layers = 3;
    c.cond_stage.arch = "ToonCrafterDemo";
    c.cond_stage.layer = "penultimate";
    c.cond_stage.model = clip;
    c.img_cond_stage.arch = "ToonCrafterDemo";
    c.img_cond_stage.model = clip;

    c.image_proj.dim = 32;
    c.image_proj.depth = 2;
    c.image_proj.dim_head = 16;
    c.image_proj.heads = 3;
    c.image_proj.num_queries = 16;
    c.image_proj.embedding_dim = 64;
    c.image_proj.output_dim = 16;
    c.image_proj.ff_mult = 4;
    c.image_proj.video_length = 16;
    return c;
}

void fill_demo_weights(Module& root, const ToonCrafterConfig& cfg, uint64_t seed) {
    const DiffusionSchedule schedule = DiffusionSchedule::compute(cfg);
    std::map<std::string, const std::vector<float>*> tables;
    for (const auto& [name, table] : schedule.named()) tables[name] = table;

    SeededNoise gen(seed);
    root.visit_params([&](const std::string& name, Param& p) {
        if (p.buffer) {
            const auto it = tables.find(name);
            TC_CHECK(it != tables.end(), "demo model: no computed value for buffer '", name, "'");
            TC_CHECK(int64_t(it->second->size()) == shape_numel(p.shape), "demo model: buffer '", name, "' has ",
                     it->second->size(), " values, declared ", shape_numel(p.shape));
            p.value = Tensor::from_vector(*it->second, p.shape);
            return;
        }
        const int64_t n = shape_numel(p.shape);
        float scale = 0.f, offset = 0.f;  // value = offset + scale·N(0,1)
        if (ends_with(name, "latents")) {
            scale = 1.f / std::sqrt(float(p.shape.back()));
        } else if (p.shape.size() >= 2) {
            scale = 1.f / std::sqrt(float(n / p.shape[0]));
        } else if (ends_with(name, ".bias")) {
            scale = 0.f;
        } else if (ends_with(name, ".weight")) {
            offset = 1.f;  // the 1-D weights of the tree are GroupNorm / LayerNorm gains
        } else if (ends_with(name, "mix_factor")) {
            scale = 0.5f;
        } else {
            scale = 0.1f;
        }
        if (scale == 0.f) {
            p.value = Tensor::full(p.shape, offset);
            return;
        }
        Tensor t = gen.next(p.shape).contiguous();
        float* d = t.data<float>();
        for (int64_t i = 0; i < n; ++i) d[i] = offset + scale * d[i];
        p.value = t;
    });
}

std::unique_ptr<ToonCrafterModel> build_demo_model(uint64_t seed) {
    const ToonCrafterConfig cfg = demo_model_config();
    auto m = std::make_unique<ToonCrafterModel>(cfg);
    fill_demo_weights(*m, cfg, seed);
    return m;
}

std::vector<int64_t> demo_byte_tokenize(const std::string& text, int context_length) {
    TC_CHECK(context_length >= 1, "demo tokenizer: context_length must be at least 1, got ", context_length);
    constexpr int64_t kStart = 49406, kEnd = 49407;  // <start_of_text>, <end_of_text> of the CLIP vocabulary
    std::vector<int64_t> ids{kStart};
    for (unsigned char b : text) ids.push_back(int64_t(b) + 1);
    ids.push_back(kEnd);
    if (ids.size() > size_t(context_length)) {
        ids.resize(size_t(context_length));
        ids.back() = kEnd;
    }
    ids.resize(size_t(context_length), 0);
    return ids;
}

}  // namespace tc
