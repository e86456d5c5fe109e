// Elementwise ops on the CPU: add/sub/mul/div with numpy broadcasting, x*scale+shift, clamp, concat and
// the strided-to-contiguous copy. Strided operands are read in place: a small loop nest walks the output
// in row-major order with one stride vector per operand (0 on broadcast dims), after merging the dims
// that are contiguous for every operand, so that the inner loop is as long as possible.
#include <array>
#include <cstring>

#include "cpu/kernels.h"

namespace tc::cpu {

namespace {

// Calls f(offsets, inner_strides, n) once per innermost line of `shape`, where offsets[k] is where the line
// starts in operand k (in elements) and inner_strides[k] its step. Lines run in parallel when large.
template <size_t K, typename F>
void for_each_line(const Shape& shape, const std::array<Shape, K>& strides, F f) {
    if (shape_numel(shape) == 0) return;
    // Drop size-1 dims, then merge an outer dim into the next one when every operand allows it.
    Shape dims;
    std::array<Shape, K> st;
    for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] == 1) continue;
        const bool merge = !dims.empty() && [&] {
            for (size_t k = 0; k < K; ++k)
                if (st[k].back() != strides[k][d] * shape[d]) return false;
            return true;
        }();
        if (merge) {
            dims.back() *= shape[d];
            for (size_t k = 0; k < K; ++k) st[k].back() = strides[k][d];
        } else {
            dims.push_back(shape[d]);
            for (size_t k = 0; k < K; ++k) st[k].push_back(strides[k][d]);
        }
    }
    if (dims.empty()) {  // a single element
        dims.push_back(1);
        for (size_t k = 0; k < K; ++k) st[k].push_back(0);
    }
    const int64_t nd = int64_t(dims.size());
    const int64_t n = dims.back();
    const int64_t lines = shape_numel(dims) / n;
    std::array<int64_t, K> inner;
    for (size_t k = 0; k < K; ++k) inner[k] = st[k].back();
#pragma omp parallel for if (lines * n > 32768)
    for (int64_t line = 0; line < lines; ++line) {
        std::array<int64_t, K> off{};
        int64_t rem = line;
        for (int64_t d = nd - 2; d >= 0; --d) {
            const int64_t i = rem % dims[size_t(d)];
            rem /= dims[size_t(d)];
            for (size_t k = 0; k < K; ++k) off[k] += i * st[k][size_t(d)];
        }
        f(off, inner, n);
    }
}

// Strides of `t` seen through the broadcast `out` shape: aligned right, 0 where t has size 1 or no dim.
Shape broadcast_strides(const Tensor& t, const Shape& out) {
    Shape st(out.size(), 0);
    const size_t lead = out.size() - size_t(t.dim());
    for (size_t d = 0; d < size_t(t.dim()); ++d)
        if (t.shape()[d] != 1) st[lead + d] = t.strides()[d];
    return st;
}

template <typename Op>
void binary_loop(const Tensor& a, const Tensor& b, Tensor& y, Op op) {
    const float* A = a.data<float>();
    const float* B = b.data<float>();
    float* Y = y.data<float>();
    std::array<Shape, 3> strides{y.strides(), broadcast_strides(a, y.shape()), broadcast_strides(b, y.shape())};
    for_each_line<3>(y.shape(), strides, [&](const std::array<int64_t, 3>& off, const std::array<int64_t, 3>& st,
                                             int64_t n) {
        float* yo = Y + off[0];
        const float* ao = A + off[1];
        const float* bo = B + off[2];
        for (int64_t i = 0; i < n; ++i) yo[i * st[0]] = op(ao[i * st[1]], bo[i * st[2]]);
    });
}

template <typename F>
Tensor map_strided(const Tensor& x, F f) {  // y = f(x) elementwise, x any strides
    Tensor y = Tensor::empty(x.shape());
    const float* X = x.data<float>();
    float* Y = y.data<float>();
    for_each_line<2>(y.shape(), {y.strides(), x.strides()},
                     [&](const std::array<int64_t, 2>& off, const std::array<int64_t, 2>& st, int64_t n) {
                         for (int64_t i = 0; i < n; ++i) Y[off[0] + i * st[0]] = f(X[off[1] + i * st[1]]);
                     });
    return y;
}

const char* binary_name(BinaryOp op) {
    switch (op) {
        case BinaryOp::Add: return "add";
        case BinaryOp::Sub: return "sub";
        case BinaryOp::Mul: return "mul";
        case BinaryOp::Div: return "div";
    }
    return "binary";
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
    const size_t nd = std::max(a.size(), b.size());
    Shape out(nd);
    for (size_t i = 0; i < nd; ++i) {  // i counts from the last dim
        const int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
        const int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
        TC_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
                 " cannot be broadcast (dim ", int64_t(nd - 1 - i), ": ", da, " vs ", db, ")");
        out[nd - 1 - i] = da == 1 ? db : da;
    }
    return out;
}

Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op) {
    const char* name = binary_name(op);
    check_f32(a, name, "a");
    check_f32(b, name, "b");
    Tensor y = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), name));
    switch (op) {
        case BinaryOp::Add: binary_loop(a, b, y, [](float u, float v) { return u + v; }); break;
        case BinaryOp::Sub: binary_loop(a, b, y, [](float u, float v) { return u - v; }); break;
        case BinaryOp::Mul: binary_loop(a, b, y, [](float u, float v) { return u * v; }); break;
        case BinaryOp::Div: binary_loop(a, b, y, [](float u, float v) { return u / v; }); break;
    }
    return y;
}

Tensor affine_scalar(const Tensor& x, float scale, float shift) {
    check_f32(x, "affine_scalar", "input");
    return map_strided(x, [scale, shift](float v) { return v * scale + shift; });
}

Tensor clamp(const Tensor& x, float lo, float hi) {
    check_f32(x, "clamp", "input");
    TC_CHECK(!(lo > hi), "clamp: lower bound ", lo, " is above the upper bound ", hi);
    // NaN stays NaN (both comparisons are false), as in torch.clamp.
    return map_strided(x, [lo, hi](float v) { return v < lo ? lo : (v > hi ? hi : v); });
}

Tensor contiguous(const Tensor& x) {
    check_f32(x, "contiguous", "input");
    if (x.is_contiguous()) return x;
    return map_strided(x, [](float v) { return v; });
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
    TC_CHECK(!xs.empty(), "concat: no tensors given");
    for (size_t i = 0; i < xs.size(); ++i) check_f32(xs[i], "concat", i == 0 ? "input 0" : "an input");
    const Shape& ref = xs[0].shape();
    const int64_t nd = int64_t(ref.size());
    TC_CHECK(nd >= 1, "concat: cannot concatenate 0-d tensors");
    const int64_t d = dim < 0 ? dim + nd : dim;
    TC_CHECK(d >= 0 && d < nd, "concat: dim ", dim, " out of range for ", nd, "-d inputs");
    Shape out_shape = ref;
    out_shape[size_t(d)] = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
        const Shape& s = xs[i].shape();
        bool ok = int64_t(s.size()) == nd;
        for (int64_t k = 0; ok && k < nd; ++k) ok = k == d || s[size_t(k)] == ref[size_t(k)];
        TC_CHECK(ok, "concat: input ", i, " ", shape_str(s), " does not match input 0 ", shape_str(ref),
                 " outside dim ", d);
        out_shape[size_t(d)] += s[size_t(d)];
    }

    Tensor y = Tensor::empty(out_shape);
    int64_t outer = 1, inner = 1;
    for (int64_t k = 0; k < d; ++k) outer *= ref[size_t(k)];
    for (int64_t k = d + 1; k < nd; ++k) inner *= ref[size_t(k)];
    const int64_t total = out_shape[size_t(d)];
    float* Y = y.data<float>();
    int64_t start = 0;  // where this input begins along dim d
    for (const Tensor& t : xs) {
        const Tensor x = contiguous(t);
        const int64_t len = x.size(d);
        const float* X = x.data<float>();
        if (len * inner > 0) {
#pragma omp parallel for if (outer * len * inner > 65536)
            for (int64_t o = 0; o < outer; ++o)
                std::memcpy(Y + (o * total + start) * inner, X + o * len * inner, size_t(len * inner) * sizeof(float));
        }
        start += len;
    }
    return y;
}

}  // namespace tc::cpu
