// FILM film_net forward, ported from dajes/frame-interpolation-pytorch (snapshot 33bf477):
// util.py (Conv2d, build_image_pyramid, warp, multiply_pyramid, concatenate_pyramids,
// flow_pyramid_synthesis, pyramid_warp), feature_extractor.py, pyramid_flow_estimator.py, fusion.py,
// interpolator.py. Shapes in comments use the real 64-filter network at H x W input.
#include "models/film.h"

#include <algorithm>

#include "core/error.h"
#include "core/ops.h"
#include "models/film_kernels.h"

namespace tc {
namespace film {

namespace {
// Channels of feature pyramid level i: the concat of sub-tree stages j = 0..min(i, sub_levels-1), F * 2^j each.
int64_t feature_channels(int64_t filters, int sub_levels, int level) {
    return filters * ((int64_t(1) << (std::min(level, sub_levels - 1) + 1)) - 1);
}
}  // namespace

// ------------------------------------------------------------------ util.Conv2d
Conv::Conv(int64_t in, int64_t out, int64_t kernel, bool act) : activation(act) {
    TC_CHECK(kernel == 1 || kernel == 2 || kernel == 3, "FILM conv: unsupported kernel ", kernel);
    conv = &child<Conv2d>("0", in, out, kernel, 1, kernel == 3 ? 1 : 0);
    if (kernel == 2) conv->params.pad = {0, 1, 0, 1};  // TF 'same' for an even kernel: pad bottom/right only
}

Tensor Conv::forward(const Tensor& x) const {
    Tensor y = conv->forward(x);
    return activation ? leaky_relu(y, 0.2f) : y;
}

// ------------------------------------------------------------------ feature_extractor.py
SubTreeExtractor::SubTreeExtractor(int64_t in_channels, int64_t filters, int n_layers) {
    auto& convs = child<ModuleList>("convs");
    int64_t c = in_channels;
    for (int j = 0; j < n_layers; ++j) {
        const int64_t w = filters << j;
        auto& stage = convs.add<ModuleList>();
        stages.push_back({&stage.add<Conv>(c, w, 3, true), &stage.add<Conv>(w, w, 3, true)});
        c = w;
    }
}

std::vector<Tensor> SubTreeExtractor::forward(const Tensor& image, int depth) const {
    std::vector<Tensor> heads;
    Tensor x = image;
    for (int j = 0; j < depth; ++j) {
        if (j > 0) x = avg_pool2x2(x);   // pooled before every stage but the first
        x = stages[size_t(j)][0]->forward(x);
        x = stages[size_t(j)][1]->forward(x);  // [B, F*2^j, h/2^j, w/2^j]
        heads.push_back(x);
    }
    return heads;
}

FeatureExtractor::FeatureExtractor(int64_t in_channels, int64_t filters, int sub)
    : sub_levels(sub) {
    extract_sublevels = &child<SubTreeExtractor>("extract_sublevels", in_channels, filters, sub);
}

std::vector<Tensor> FeatureExtractor::forward(const std::vector<Tensor>& pyr, std::map<std::string, Tensor>* taps,
                                              const std::string& tp) const {
    const int L = int(pyr.size());
    // sub-tree heads of every image level; stage j of level i feeds feature level i + j, so only stages with
    // i + j < L are ever used (the port computes min(L - i, sub_levels) of them; the rest are discarded).
    std::vector<std::vector<Tensor>> sub(static_cast<size_t>(L));
    for (int i = 0; i < L; ++i) {
        sub[size_t(i)] = extract_sublevels->forward(pyr[size_t(i)], std::min(L - i, sub_levels));
        if (taps)
            for (size_t j = 0; j < sub[size_t(i)].size(); ++j)
                (*taps)["subtree" + tp + ".S" + std::to_string(i) + "." + std::to_string(j)] = sub[size_t(i)][j];
    }
    std::vector<Tensor> feats;
    for (int i = 0; i < L; ++i) {
        std::vector<Tensor> parts;
        for (int j = 0; j < sub_levels && j <= i; ++j) parts.push_back(sub[size_t(i - j)][size_t(j)]);
        feats.push_back(parts.size() == 1 ? parts[0] : ops::concat(parts, 1));  // [B, C_i, h_i, w_i]
        if (taps) (*taps)["features" + tp + ".L" + std::to_string(i)] = feats.back();
    }
    return feats;
}

// ------------------------------------------------------------------ pyramid_flow_estimator.py
FlowEstimator::FlowEstimator(int64_t in_channels, int num_convs, int64_t num_filters) {
    auto& list = child<ModuleList>("_convs");
    int64_t c = in_channels;
    for (int k = 0; k < num_convs; ++k) {
        convs.push_back(&list.add<Conv>(c, num_filters, 3, true));
        c = num_filters;
    }
    convs.push_back(&list.add<Conv>(c, num_filters / 2, 1, true));
    convs.push_back(&list.add<Conv>(num_filters / 2, 2, 1, false));  // the flow: no activation
}

Tensor FlowEstimator::forward(const Tensor& a, const Tensor& b) const {
    Tensor net = ops::concat({a, b}, 1);  // [B, 2C, h, w]
    for (const Conv* c : convs) net = c->forward(net);
    return net;  // [B, 2, h, w]
}

PyramidFlowEstimator::PyramidFlowEstimator(int64_t filters, int sub_levels, const std::vector<int>& flow_convs,
                                           const std::vector<int64_t>& flow_filters) {
    TC_CHECK(!flow_convs.empty() && flow_convs.size() == flow_filters.size(),
             "FILM: flow_convs and flow_filters must have the same, non-zero length");
    const int spec = int(flow_convs.size()) - 1;  // levels 0..spec-1 have their own estimator
    predictor = &child<FlowEstimator>("_predictor", 2 * feature_channels(filters, sub_levels, spec), flow_convs.back(),
                                      flow_filters.back());
    auto& list = child<ModuleList>("_predictors");
    for (int i = spec - 1; i >= 0; --i)  // stored coarse to fine
        predictors.push_back(&list.add<FlowEstimator>(2 * feature_channels(filters, sub_levels, i),
                                                      flow_convs[size_t(i)], flow_filters[size_t(i)]));
}

void PyramidFlowEstimator::forward(const std::vector<Tensor>& A, const std::vector<Tensor>& B,
                                   std::vector<Tensor>& residuals, std::vector<Tensor>& flows,
                                   std::map<std::string, Tensor>* taps, const std::string& tp) const {
    const int L = int(A.size());
    const int spec = int(predictors.size());
    auto estimator = [&](int level) -> const FlowEstimator& {
        return level >= spec ? *predictor : *predictors[size_t(spec - 1 - level)];
    };
    residuals.assign(size_t(L), Tensor());
    flows.assign(size_t(L), Tensor());
    // Coarsest level: no warp.
    if (taps) (*taps)[tp + ".L" + std::to_string(L - 1) + ".in_b_warped"] = B[size_t(L - 1)];
    Tensor v = estimator(L - 1).forward(A[size_t(L - 1)], B[size_t(L - 1)]);  // [B, 2, h_6, w_6]
    residuals[size_t(L - 1)] = v;
    flows[size_t(L - 1)] = v;
    for (int i = L - 2; i >= 0; --i) {
        const Tensor& a = A[size_t(i)];
        // Flows are in pixels of their level: double them, then resize to the finer level's size.
        Tensor u = resize_bilinear(ops::scale(v, 2.f), a.size(2), a.size(3));
        Tensor bw = warp(B[size_t(i)], u);
        if (taps) (*taps)[tp + ".L" + std::to_string(i) + ".in_b_warped"] = bw;
        Tensor r = estimator(i).forward(a, bw);
        v = ops::add(u, r);
        residuals[size_t(i)] = r;
        flows[size_t(i)] = v;
    }
}

// ------------------------------------------------------------------ fusion.py
Fusion::Fusion(int n_layers, int specialized, int64_t filters, int sub_levels) {
    auto nf = [&](int level) { return filters << std::min(level, specialized); };  // N_i
    auto pyr_c = [&](int level) { return 2 * feature_channels(filters, sub_levels, level) + 10; };  // 2C_i + 10
    output_conv = &child<Conv2d>("output_conv", filters, 3, 1);
    auto& convs = child<ModuleList>("convs");
    for (int i = n_layers - 2; i >= 0; --i) {
        const int64_t in_up = i == n_layers - 2 ? pyr_c(n_layers - 1) : nf(i + 1);
        auto& lv = convs.add<ModuleList>();
        levels.push_back({&lv.add<Conv>(in_up, nf(i), 2, false), &lv.add<Conv>(pyr_c(i) + nf(i), nf(i), 3, true),
                          &lv.add<Conv>(nf(i), nf(i), 3, true)});
    }
}

Tensor Fusion::forward(const std::vector<Tensor>& pyramid, std::map<std::string, Tensor>* taps) const {
    const int n = int(pyramid.size());
    TC_CHECK(n == int(levels.size()) + 1, "FILM fusion: pyramid has ", n, " levels, expected ", levels.size() + 1);
    Tensor net = pyramid[size_t(n - 1)];  // [B, 1930, H/16, W/16]
    for (int i = n - 2; i >= 0; --i) {
        const auto& lv = levels[size_t(n - 2 - i)];
        const Tensor& level = pyramid[size_t(i)];
        net = resize_nearest(net, level.size(2), level.size(3));
        net = lv[0]->forward(net);  // [B, N_i, h_i, w_i], no activation
        if (taps) (*taps)["fusion_up.L" + std::to_string(i)] = net;
        net = ops::concat({level, net}, 1);  // pyramid first
        net = lv[1]->forward(net);
        net = lv[2]->forward(net);
        if (taps) (*taps)["fusion_level_out.L" + std::to_string(i)] = net;
    }
    return output_conv->forward(net);  // [B, 3, H, W], not clamped
}

}  // namespace film

// ------------------------------------------------------------------ interpolator.py
Film::Film(const FilmConfig& cfg) : cfg_(cfg) {
    TC_CHECK(cfg.pyramid_levels >= 1 && cfg.sub_levels >= 1 && cfg.filters > 0, "FILM: invalid config");
    TC_CHECK(cfg.fusion_pyramid_levels >= 2 && cfg.fusion_pyramid_levels <= cfg.pyramid_levels,
             "FILM: fusion_pyramid_levels must be in [2, pyramid_levels]");
    extract_ = &child<film::FeatureExtractor>("extract", 3, cfg.filters, cfg.sub_levels);
    predict_flow_ = &child<film::PyramidFlowEstimator>("predict_flow", cfg.filters, cfg.sub_levels, cfg.flow_convs,
                                                       cfg.flow_filters);
    fuse_ = &child<film::Fusion>("fuse", cfg.fusion_pyramid_levels, cfg.specialized_levels, cfg.filters,
                                 cfg.sub_levels);
}

Tensor Film::forward(const Tensor& x0, const Tensor& x1, const Tensor& dt) const {
    return forward_debug(x0, x1, dt, nullptr);
}

Tensor Film::forward_debug(const Tensor& x0_, const Tensor& x1_, const Tensor& dt_,
                           std::map<std::string, Tensor>* taps) const {
    TC_CHECK(x0_.dim() == 4 && x0_.size(1) == 3 && x0_.shape() == x1_.shape(), "FILM: x0 ", x0_.describe(),
             " and x1 ", x1_.describe(), " must both be [B, 3, H, W]");
    const int64_t B = x0_.size(0), H = x0_.size(2), W = x0_.size(3);
    const int L = cfg_.pyramid_levels;
    TC_CHECK(H >= (int64_t(1) << (L - 1)) && W >= (int64_t(1) << (L - 1)), "FILM: input ", H, "x", W,
             " is too small for ", L, " pyramid levels (need at least ", int64_t(1) << (L - 1), " per side)");
    TC_CHECK(dt_.numel() == B || dt_.numel() == 1, "FILM: dt ", dt_.describe(), " must hold one value per sample");
    const Tensor x0 = x0_.to(DType::F32).contiguous(), x1 = x1_.to(DType::F32).contiguous();
    const Tensor dt = dt_.to(DType::F32).contiguous().reshape({dt_.numel(), 1, 1, 1});

    // util.build_image_pyramid: I_{k+1} = avg_pool2d(I_k, 2, 2).
    std::vector<Tensor> pyr0{x0}, pyr1{x1};
    for (int k = 1; k < L; ++k) {
        pyr0.push_back(film::avg_pool2x2(pyr0.back()));
        pyr1.push_back(film::avg_pool2x2(pyr1.back()));
    }
    if (taps)
        for (int k = 0; k < L; ++k) {
            (*taps)["image_pyramid0.L" + std::to_string(k)] = pyr0[size_t(k)];
            (*taps)["image_pyramid1.L" + std::to_string(k)] = pyr1[size_t(k)];
        }

    // Siamese feature pyramids, then residual flows both ways (x0 -> x1 "forward", x1 -> x0 "backward").
    const std::vector<Tensor> feat0 = extract_->forward(pyr0, taps, "0");
    const std::vector<Tensor> feat1 = extract_->forward(pyr1, taps, "1");
    std::vector<Tensor> fwd_res, fwd_flow, bwd_res, bwd_flow;
    predict_flow_->forward(feat0, feat1, fwd_res, fwd_flow, taps, "flowest_fwd");
    predict_flow_->forward(feat1, feat0, bwd_res, bwd_flow, taps, "flowest_bwd");
    if (taps)
        for (int k = 0; k < L; ++k) {
            (*taps)["forward_residual_flow.L" + std::to_string(k)] = fwd_res[size_t(k)];
            (*taps)["backward_residual_flow.L" + std::to_string(k)] = bwd_res[size_t(k)];
        }

    // util.flow_pyramid_synthesis (f_i = r_i + up(2 f_{i+1}), numerically the estimator's running v_i),
    // truncated to the fusion levels and scaled by time: image 0 is warped by the backward flow * dt,
    // image 1 by the forward flow * (1 - dt).
    const int F = cfg_.fusion_pyramid_levels;
    const Tensor one_minus_dt = ops::affine_scalar(dt, -1.f, 1.f);
    std::vector<Tensor> aligned;
    for (int i = 0; i < F; ++i) {
        if (taps) {
            (*taps)["forward_flow.L" + std::to_string(i)] = fwd_flow[size_t(i)];
            (*taps)["backward_flow.L" + std::to_string(i)] = bwd_flow[size_t(i)];
        }
        const Tensor bflow = ops::mul(bwd_flow[size_t(i)], dt);            // [B, 2, h_i, w_i]
        const Tensor fflow = ops::mul(fwd_flow[size_t(i)], one_minus_dt);  // [B, 2, h_i, w_i]
        const Tensor p0 = ops::concat({pyr0[size_t(i)], feat0[size_t(i)]}, 1);
        const Tensor p1 = ops::concat({pyr1[size_t(i)], feat1[size_t(i)]}, 1);
        aligned.push_back(ops::concat({film::warp(p0, bflow), film::warp(p1, fflow), bflow, fflow}, 1));  // 2C_i+10
        if (taps) (*taps)["fusion_in.L" + std::to_string(i)] = aligned.back();
    }
    Tensor out = fuse_->forward(aligned, taps);
    if (taps) (*taps)["out_raw"] = out;
    return out;
}

// ------------------------------------------------------------------ inference.py route
Tensor film_interpolate(const Film& model, const Tensor& x0, const Tensor& x1, const Tensor& dt) {
    TC_CHECK(x0.dim() == 4 && x0.shape() == x1.shape(), "film_interpolate: x0 ", x0.describe(), " and x1 ",
             x1.describe(), " must be the same [B, 3, H, W]");
    const int64_t B = x0.size(0), C = x0.size(1), H = x0.size(2), W = x0.size(3);
    const int64_t Hp = (H + 63) / 64 * 64, Wp = (W + 63) / 64 * 64;
    const int64_t top = (Hp - H) >> 1, left = (Wp - W) >> 1;  // util.pad_batch: pad >> 1 before
    Tensor a = x0, b = x1;
    if (Hp != H || Wp != W) {
        a = Tensor::zeros({B, C, Hp, Wp});
        b = Tensor::zeros({B, C, Hp, Wp});
        a.slice(2, top, top + H).slice(3, left, left + W).copy_(x0);
        b.slice(2, top, top + H).slice(3, left, left + W).copy_(x1);
    }
    Tensor t = dt;
    if (dt.numel() == 1 && B > 1) t = Tensor::full({B, 1}, dt.to(DType::F32).item());
    Tensor out = ops::clamp(model.forward(a, b, t), 0.f, 1.f);
    if (Hp != H || Wp != W) out = out.slice(2, top, top + H).slice(3, left, left + W).contiguous();
    return out;
}

}  // namespace tc
