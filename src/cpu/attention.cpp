// Scaled dot-product attention on the CPU: out = softmax(q k^T * scale + mask) v for every (batch, head).
// This is what the official code computes in all its branches (the einsum path of lvdm/modules/attention.py
// CrossAttention and xformers.ops.memory_efficient_attention, golden/README.md section 9).
// Memory stays linear in the key length: the queries are processed in chunks so that one thread holds a
// single [chunk, Lk] score block (the spatial self-attention of the 512 model has Lk = 2560..8192).
#include <algorithm>
#include <vector>

#include "core/cpu_block_cache.h"
#include "cpu/kernels.h"

namespace tc::cpu {

namespace {
constexpr int64_t kMaxScoreFloats = int64_t(1) << 20;  // 4 MB of scores per thread
}

Tensor attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Tensor* mask_in, float scale) {
    Tensor q = f32_input(q_in, "attention", "q");
    Tensor k = f32_input(k_in, "attention", "k");
    Tensor v = f32_input(v_in, "attention", "v");
    Tensor mask_keep;
    const Tensor* mask = f32_optional(mask_in, "attention", "mask", mask_keep);
    TC_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention: q, k, v must be [B, H, L, D], got q ",
             shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ", shape_str(v.shape()));
    const int64_t B = q.size(0), H = q.size(1), Lq = q.size(2), D = q.size(3);
    const int64_t Lk = k.size(2), Dv = v.size(3);
    TC_CHECK(k.size(0) == B && k.size(1) == H && k.size(3) == D, "attention: k ", shape_str(k.shape()),
             " does not match q ", shape_str(q.shape()), " (expected [", B, ", ", H, ", Lk, ", D, "])");
    TC_CHECK(v.size(0) == B && v.size(1) == H && v.size(2) == Lk, "attention: v ", shape_str(v.shape()),
             " does not match k ", shape_str(k.shape()), " (expected [", B, ", ", H, ", ", Lk, ", Dv])");
    if (mask)
        TC_CHECK(mask->dim() == 2 && mask->size(0) == Lq && mask->size(1) == Lk, "attention: mask ",
                 shape_str(mask->shape()), " must be [Lq, Lk] = [", Lq, ", ", Lk, "]");

    Tensor out = Tensor::empty({B, H, Lq, Dv});  // [B, H, Lq, Dv]
    if (out.numel() == 0) return out;
    const int64_t chunk = std::clamp<int64_t>(kMaxScoreFloats / std::max<int64_t>(Lk, 1), 1, Lq);
    const int64_t chunks = (Lq + chunk - 1) / chunk;
    const float* Q = q.data<float>();
    const float* K = k.data<float>();
    const float* V = v.data<float>();
    const float* M = mask ? mask->data<float>() : nullptr;
    float* O = out.data<float>();

#pragma omp parallel
    {
        CpuScratch scores;  // this thread's [chunk, Lk] block (not zeroed: sgemm with beta 0 writes it)
        float* S = scores.reserve(size_t(chunk * Lk));
#pragma omp for schedule(dynamic)
        for (int64_t task = 0; task < B * H * chunks; ++task) {
            const int64_t bh = task / chunks, i0 = (task % chunks) * chunk;
            const int64_t rows = std::min(chunk, Lq - i0);
            // S = (q_chunk k^T) * scale: [rows, Lk]
            sgemm(false, true, rows, Lk, D, scale, Q + (bh * Lq + i0) * D, D, K + bh * Lk * D, D, 0.f, S, Lk);
            for (int64_t i = 0; i < rows; ++i) {
                float* row = S + i * Lk;
                if (M) {
                    const float* mrow = M + (i0 + i) * Lk;
                    for (int64_t j = 0; j < Lk; ++j) row[j] += mrow[j];
                }
                softmax_row(row, Lk);
            }
            // out_chunk = P v: [rows, Dv]
            sgemm(false, false, rows, Dv, Lk, 1.f, S, Lk, V + bh * Lk * Dv, Dv, 0.f, O + (bh * Lq + i0) * Dv, Dv);
        }
    }
    return out;
}

}  // namespace tc::cpu
