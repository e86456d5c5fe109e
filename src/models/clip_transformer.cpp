// open_clip's residual attention transformer (open_clip/transformer.py, version 2.22.0).
#include "models/clip_transformer.h"

#include <cmath>
#include <limits>

namespace tc {

// ---------------------------------------------------------------------------------------------- embedding

ClipTokenEmbedding::ClipTokenEmbedding(int64_t n, int64_t d, bool used) : num(n), dim(d) {
    weight = &param("weight", {num, dim}, used);
}

Tensor ClipTokenEmbedding::forward(const Tensor& ids) const {
    TC_CHECK(ids.dim() == 2 && ids.dtype() == DType::I64, "ClipTokenEmbedding: expected ids [B, L] I64, got ",
             ids.describe());
    const Tensor& table = weight_of(*weight, "token_embedding");
    Tensor host = ids.to(Device::CPU).contiguous();
    const int64_t* id = host.data<int64_t>();
    const int64_t B = ids.size(0), L = ids.size(1);
    // A gather written as row views of the table joined by concat, so it runs on whatever device the
    // table lives on (there is no gather op; B*L is at most a few hundred rows).
    std::vector<Tensor> rows;
    rows.reserve(size_t(B * L));
    for (int64_t i = 0; i < B * L; ++i) {
        TC_CHECK(id[i] >= 0 && id[i] < num, "ClipTokenEmbedding: token id ", id[i], " outside [0, ", num, ")");
        rows.push_back(table.slice(0, id[i], id[i] + 1));
    }
    return ops::concat(rows, 0).view({B, L, dim});  // [B, L, dim]
}

// ---------------------------------------------------------------------------------------------- attention

ClipMultiheadAttention::ClipMultiheadAttention(int64_t w, int64_t h) : width(w), heads(h) {
    TC_CHECK(h > 0 && w % h == 0, "MultiheadAttention: width ", w, " not divisible into ", h, " heads");
    in_proj_weight = &param("in_proj_weight", {3 * w, w});
    in_proj_bias = &param("in_proj_bias", {3 * w});
    out_proj = &child<Linear>("out_proj", w, w);
}

Tensor ClipMultiheadAttention::forward(const Tensor& x, const Tensor* mask) const {
    TC_CHECK(x.dim() == 3 && x.size(2) == width, "MultiheadAttention(", width, "): input ", x.describe());
    const int64_t B = x.size(0), L = x.size(1), D = width / heads;
    // torch.nn.functional.multi_head_attention_forward: one packed projection, then q, k, v in that order.
    Tensor qkv = ops::linear(x, weight_of(*in_proj_weight, "in_proj_weight"),
                             weight_of(*in_proj_bias, "in_proj_bias"));  // [B, L, 3W]
    Tensor split = qkv.view({B, L, 3, heads, D}).permute({2, 0, 3, 1, 4});  // [3, B, H, L, D]
    Tensor q = split.select(0, 0), k = split.select(0, 1), v = split.select(0, 2);
    // q is multiplied by head_dim^-0.5 before q k^T (the same product as scaling the logits).
    Tensor o = ops::attention(q, k, v, mask, 1.0f / std::sqrt(float(D)));  // [B, H, L, D]
    o = o.permute({0, 2, 1, 3}).reshape({B, L, width});                     // [B, L, W]
    return out_proj->forward(o);
}

// ---------------------------------------------------------------------------------------------- mlp

ClipMlp::ClipMlp(int64_t width, int64_t mlp_width) {
    c_fc = &child<Linear>("c_fc", width, mlp_width);
    // the "gelu" entry of the open_clip OrderedDict between them has no parameters
    c_proj = &child<Linear>("c_proj", mlp_width, width);
}

Tensor ClipMlp::forward(const Tensor& x) const {
    return c_proj->forward(c_fc->forward(x, Activation::GELU));  // nn.GELU(): exact erf form
}

// ---------------------------------------------------------------------------------------------- block

ClipResidualBlock::ClipResidualBlock(int64_t width, int64_t heads, int64_t mlp_width) {
    ln_1 = &child<LayerNorm>("ln_1", width, 1e-5f);
    attn = &child<ClipMultiheadAttention>("attn", width, heads);
    ln_2 = &child<LayerNorm>("ln_2", width, 1e-5f);
    mlp = &child<ClipMlp>("mlp", width, mlp_width);
}

Tensor ClipResidualBlock::forward(const Tensor& x, const Tensor* mask) const {
    Tensor h = ops::add(x, attn->forward(ln_1->forward(x), mask));  // x + attn(ln_1(x))
    return ops::add(h, mlp->forward(ln_2->forward(h)));             // x + mlp(ln_2(x))
}

// ---------------------------------------------------------------------------------------------- transformer

ClipTransformer::ClipTransformer(int64_t width, int64_t layers, int64_t heads, int64_t mlp_width) {
    TC_CHECK(layers >= 0, "ClipTransformer: negative layer count ", layers);
    resblocks = &child<ModuleList>("resblocks");
    for (int64_t i = 0; i < layers; ++i) resblocks->add<ClipResidualBlock>(width, heads, mlp_width);
}

Tensor ClipTransformer::forward(const Tensor& x, const Tensor* mask, int64_t n_blocks) const {
    const int64_t n = n_blocks < 0 ? layers() : n_blocks;
    TC_CHECK(n <= layers(), "ClipTransformer: asked for ", n, " blocks of ", layers());
    Tensor h = x;
    for (int64_t i = 0; i < n; ++i) h = resblocks->at<ClipResidualBlock>(size_t(i)).forward(h, mask);
    return h;
}

Tensor clip_causal_mask(int64_t length, Device device) {
    std::vector<float> m(size_t(length * length), 0.f);
    for (int64_t i = 0; i < length; ++i)
        for (int64_t j = i + 1; j < length; ++j) m[size_t(i * length + j)] = -std::numeric_limits<float>::infinity();
    return Tensor::from_vector(m, {length, length}).to(device);
}

}  // namespace tc
