// Convolutions on the CPU as im2col + sgemm (torch.nn.Conv2d / Conv3d semantics: cross-correlation,
// zero padding). One routine does the work for every variant: it correlates one 2-D frame [C, H, W] with
// a weight matrix [O, C*kh*kw] and accumulates into an output frame [O, Ho, Wo]. conv2d calls it per image
// and group, conv3d per output frame and temporal tap (kernel (kt, kh, kw) = kt 2-D convs summed), and the
// temporal conv (kernel (kt, 1, 1)) is conv3d whose 1x1 taps need no im2col at all.
// The column buffer is built for a band of output rows at a time so that its size stays bounded
// (a 3x3 conv of 128 channels at 320x512 would otherwise need a 755 MB column matrix).
#include <algorithm>
#include <vector>

#include "core/cpu_block_cache.h"
#include "cpu/kernels.h"

namespace tc::cpu {

namespace {

// 1 MB of column buffer per band: the band stays in L2 between im2col and sgemm; 64 MB bands made the
// demo request's CPU time 29.3 s instead of 24.2 s (bench/bench_demo, 2-core dev VM).
constexpr int64_t kMaxColumnFloats = int64_t(256) << 10;

struct Frame2d {              // one input frame: channel c of it starts at data + c * chan_stride
    const float* data;
    int64_t chan_stride, C, H, W;
};

struct Geometry2d {           // kernel, stride, padding (top, left) and output size of one 2-D correlation
    int64_t kh, kw, sh, sw, pt, pl, Ho, Wo;
    bool is_pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0; }
};

// col[(c*kh + i)*kw + j][(oh - oh0)*Wo + ow] = x[c][oh*sh - pt + i][ow*sw - pl + j] (0 outside the frame),
// for output rows oh in [oh0, oh1): the column matrix of that band, [C*kh*kw, (oh1-oh0)*Wo].
void im2col_band(const Frame2d& x, const Geometry2d& g, int64_t oh0, int64_t oh1, float* col) {
    const int64_t rows = x.C * g.kh * g.kw;
    const int64_t width = (oh1 - oh0) * g.Wo;
#pragma omp parallel for if (rows * width > 65536)
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t c = r / (g.kh * g.kw), i = (r / g.kw) % g.kh, j = r % g.kw;
        const float* plane = x.data + c * x.chan_stride;
        float* dst = col + r * width;
        for (int64_t oh = oh0; oh < oh1; ++oh, dst += g.Wo) {
            const int64_t ih = oh * g.sh - g.pt + i;
            if (ih < 0 || ih >= x.H) {
                std::fill(dst, dst + g.Wo, 0.f);
                continue;
            }
            const float* src_row = plane + ih * x.W;
            if (g.sw == 1) {  // the common case: one contiguous run of the input row, zeros at the edges
                const int64_t lo = std::clamp<int64_t>(g.pl - j, 0, g.Wo);          // first ow with iw >= 0
                const int64_t hi = std::clamp<int64_t>(x.W + g.pl - j, lo, g.Wo);   // first ow with iw >= W
                std::fill(dst, dst + lo, 0.f);
                if (hi > lo) std::copy(src_row + (lo - g.pl + j), src_row + (hi - g.pl + j), dst + lo);
                std::fill(dst + hi, dst + g.Wo, 0.f);
                continue;
            }
            for (int64_t ow = 0; ow < g.Wo; ++ow) {
                const int64_t iw = ow * g.sw - g.pl + j;
                dst[ow] = (iw >= 0 && iw < x.W) ? src_row[iw] : 0.f;
            }
        }
    }
}

// out[o][oh][ow] += sum_r wmat[o][r] * col[r][oh*Wo + ow]; out channel o starts at out + o * out_chan_stride.
void correlate_accumulate(const Frame2d& x, const float* wmat, int64_t O, const Geometry2d& g, float* out,
                          int64_t out_chan_stride, CpuScratch& col) {
    const int64_t K = x.C * g.kh * g.kw;
    if (g.is_pointwise()) {  // the frame itself is the column matrix (ldb = channel stride)
        sgemm(false, false, O, g.Ho * g.Wo, K, 1.f, wmat, K, x.data, x.chan_stride, 1.f, out, out_chan_stride);
        return;
    }
    const int64_t band = std::clamp<int64_t>(kMaxColumnFloats / std::max<int64_t>(K * g.Wo, 1), 1, g.Ho);
    float* cols = col.reserve(size_t(K * band * g.Wo));
    for (int64_t oh0 = 0; oh0 < g.Ho; oh0 += band) {
        const int64_t oh1 = std::min(oh0 + band, g.Ho);
        const int64_t n = (oh1 - oh0) * g.Wo;
        im2col_band(x, g, oh0, oh1, cols);
        sgemm(false, false, O, n, K, 1.f, wmat, K, cols, n, 1.f, out + oh0 * g.Wo, out_chan_stride);
    }
}

// Fills each output channel plane with its bias (or zero): the accumulation starts from there.
void init_with_bias(Tensor& out, const Tensor* b, int64_t N, int64_t O) {
    float* y = out.data<float>();
    const int64_t plane = N * O == 0 ? 0 : out.numel() / (N * O);
    const float* bias = b ? b->data<float>() : nullptr;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < O; ++o) std::fill_n(y + (n * O + o) * plane, plane, bias ? bias[o] : 0.f);
}

void check_bias(const Tensor* b, int64_t O, const char* op) {
    if (b) TC_CHECK(b->dim() == 1 && b->size(0) == O, op, ": bias ", shape_str(b->shape()), " does not match ", O,
                    " output channels");
}

// Output length of a correlation: (in + pads - k) / stride + 1, checked to be at least 1.
int64_t out_len(int64_t in, int64_t pads, int64_t k, int64_t stride, const char* op, const char* axis) {
    TC_CHECK(in + pads >= k, op, ": kernel ", k, " is larger than the padded ", axis, " ", in + pads);
    return (in + pads - k) / stride + 1;
}

}  // namespace

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor* b_in, const Conv2dParams& p) {
    Tensor x = f32_input(x_in, "conv2d", "input");
    Tensor w = f32_input(w_in, "conv2d", "weight");
    Tensor b_keep;
    const Tensor* b = f32_optional(b_in, "conv2d", "bias", b_keep);
    TC_CHECK(x.dim() == 4, "conv2d: input must be [N, C, H, W], got ", shape_str(x.shape()));
    TC_CHECK(w.dim() == 4, "conv2d: weight must be [O, C/groups, kh, kw], got ", shape_str(w.shape()));
    const int64_t G = p.groups;
    const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t O = w.size(0), kh = w.size(2), kw = w.size(3);
    TC_CHECK(G >= 1 && C % G == 0 && O % G == 0, "conv2d: groups = ", G, " must divide input channels ", C,
             " and output channels ", O);
    TC_CHECK(w.size(1) == C / G, "conv2d: weight [O, C/g, kh, kw] = ", shape_str(w.shape()),
             " does not match input channels ", C, " with groups ", G);
    TC_CHECK(kh >= 1 && kw >= 1, "conv2d: empty kernel ", shape_str(w.shape()));
    TC_CHECK(p.stride[0] >= 1 && p.stride[1] >= 1, "conv2d: stride must be >= 1, got (", p.stride[0], ", ",
             p.stride[1], ")");
    for (int64_t v : p.pad) TC_CHECK(v >= 0, "conv2d: negative padding ", v);
    check_bias(b, O, "conv2d");

    Geometry2d g{kh, kw, p.stride[0], p.stride[1], p.pad[0], p.pad[2], 0, 0};
    g.Ho = out_len(H, p.pad[0] + p.pad[1], kh, g.sh, "conv2d", "height");
    g.Wo = out_len(W, p.pad[2] + p.pad[3], kw, g.sw, "conv2d", "width");

    Tensor y = Tensor::empty({N, O, g.Ho, g.Wo});  // [N, O, Ho, Wo]
    init_with_bias(y, b, N, O);
    const int64_t Cg = C / G, Og = O / G, K = Cg * kh * kw;
    const float* X = x.data<float>();
    const float* Wt = w.data<float>();  // per group a row-major [Og, Cg*kh*kw] matrix
    float* Y = y.data<float>();
    CpuScratch col;  // reused across frames, from the block cache
    for (int64_t n = 0; n < N; ++n)
        for (int64_t gi = 0; gi < G; ++gi) {
            Frame2d frame{X + (n * C + gi * Cg) * H * W, H * W, Cg, H, W};
            correlate_accumulate(frame, Wt + gi * Og * K, Og, g, Y + (n * O + gi * Og) * g.Ho * g.Wo,
                                 g.Ho * g.Wo, col);
        }
    return y;
}

Tensor conv3d(const Tensor& x_in, const Tensor& w_in, const Tensor* b_in, std::array<int64_t, 3> pad) {
    Tensor x = f32_input(x_in, "conv3d", "input");
    Tensor w = f32_input(w_in, "conv3d", "weight");
    Tensor b_keep;
    const Tensor* b = f32_optional(b_in, "conv3d", "bias", b_keep);
    TC_CHECK(x.dim() == 5, "conv3d: input must be [N, C, T, H, W], got ", shape_str(x.shape()));
    TC_CHECK(w.dim() == 5, "conv3d: weight must be [O, C, kt, kh, kw], got ", shape_str(w.shape()));
    const int64_t N = x.size(0), C = x.size(1), T = x.size(2), H = x.size(3), W = x.size(4);
    const int64_t O = w.size(0), kt = w.size(2), kh = w.size(3), kw = w.size(4);
    TC_CHECK(w.size(1) == C, "conv3d: weight [O, C, kt, kh, kw] = ", shape_str(w.shape()),
             " does not match input channels ", C);
    TC_CHECK(kt >= 1 && kh >= 1 && kw >= 1, "conv3d: empty kernel ", shape_str(w.shape()));
    for (int64_t v : pad) TC_CHECK(v >= 0, "conv3d: negative padding ", v);
    check_bias(b, O, "conv3d");

    const int64_t To = out_len(T, 2 * pad[0], kt, 1, "conv3d", "time");
    Geometry2d g{kh, kw, 1, 1, pad[1], pad[2], 0, 0};
    g.Ho = out_len(H, 2 * pad[1], kh, 1, "conv3d", "height");
    g.Wo = out_len(W, 2 * pad[2], kw, 1, "conv3d", "width");

    // Repack the weight [O, C, kt, kh, kw] as kt matrices [O, C*kh*kw], one per temporal tap.
    const int64_t K = C * kh * kw;
    std::vector<float> taps(size_t(kt * O * K));
    const float* Wt = w.data<float>();
    for (int64_t o = 0; o < O; ++o)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t dt = 0; dt < kt; ++dt)
                for (int64_t s = 0; s < kh * kw; ++s)
                    taps[size_t((dt * O + o) * K + c * kh * kw + s)] = Wt[((o * C + c) * kt + dt) * kh * kw + s];

    Tensor y = Tensor::empty({N, O, To, g.Ho, g.Wo});  // [N, O, T', H', W']
    init_with_bias(y, b, N, O);
    const float* X = x.data<float>();
    float* Y = y.data<float>();
    const int64_t out_frame = g.Ho * g.Wo;
    CpuScratch col;  // reused across frames, from the block cache
    for (int64_t n = 0; n < N; ++n)
        for (int64_t t = 0; t < To; ++t)
            for (int64_t dt = 0; dt < kt; ++dt) {
                const int64_t ti = t + dt - pad[0];
                if (ti < 0 || ti >= T) continue;  // zero padding in time contributes nothing
                Frame2d frame{X + (n * C * T + ti) * H * W, T * H * W, C, H, W};
                correlate_accumulate(frame, taps.data() + dt * O * K, O, g, Y + (n * O * To + t) * out_frame,
                                     To * out_frame, col);
            }
    return y;
}

Tensor conv3d_temporal(const Tensor& x, const Tensor& w, const Tensor* b, int64_t pad_t) {
    TC_CHECK(x.defined() && x.dim() == 5, "conv3d_temporal: input must be [N, C, T, H, W], got ",
             x.defined() ? shape_str(x.shape()) : std::string("an undefined tensor"));
    TC_CHECK(w.defined() && w.dim() == 5 && w.size(3) == 1 && w.size(4) == 1,
             "conv3d_temporal: weight must be [O, C, kt, 1, 1], got ", shape_str(w.shape()));
    TC_CHECK(pad_t >= 0, "conv3d_temporal: negative padding ", pad_t);
    // With 1x1 spatial taps every tap is a plain [O, C] x [C, H*W] product of one input frame.
    return conv3d(x, w, b, {pad_t, 0, 0});
}

}  // namespace tc::cpu
