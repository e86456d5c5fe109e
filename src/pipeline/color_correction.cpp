// Monge-Kantorovich linear colour transfer (see color_correction.h).
#include "pipeline/color_correction.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace tc {

namespace {

using Mat3 = std::array<double, 9>;

Mat3 matmul(const Mat3& a, const Mat3& b) {
    Mat3 c{};
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
            for (int k = 0; k < 3; ++k) c[size_t(i * 3 + j)] += a[size_t(i * 3 + k)] * b[size_t(k * 3 + j)];
    return c;
}

// Cyclic Jacobi eigen-decomposition of a symmetric 3x3 matrix: a = V diag(w) V^T (columns of V).
void jacobi_eigen(Mat3 a, std::array<double, 3>& w, Mat3& v) {
    v = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    for (int sweep = 0; sweep < 50; ++sweep) {
        const double off = a[1] * a[1] + a[2] * a[2] + a[5] * a[5];
        const double diag = a[0] * a[0] + a[4] * a[4] + a[8] * a[8];
        if (off <= 1e-30 * std::max(diag, 1e-300)) break;
        for (int p = 0; p < 2; ++p)
            for (int q = p + 1; q < 3; ++q) {
                const double apq = a[size_t(p * 3 + q)];
                if (apq == 0.0) continue;
                const double app = a[size_t(p * 3 + p)], aqq = a[size_t(q * 3 + q)];
                // The rotation that zeroes a[p][q] (Numerical Recipes' formulation of theta).
                const double theta = (aqq - app) / (2.0 * apq);
                const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1.0));
                const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
                for (int k = 0; k < 3; ++k) {  // a = a G (columns p, q)
                    const double akp = a[size_t(k * 3 + p)], akq = a[size_t(k * 3 + q)];
                    a[size_t(k * 3 + p)] = c * akp - s * akq;
                    a[size_t(k * 3 + q)] = s * akp + c * akq;
                }
                for (int k = 0; k < 3; ++k) {  // a = G^T a (rows p, q)
                    const double apk = a[size_t(p * 3 + k)], aqk = a[size_t(q * 3 + k)];
                    a[size_t(p * 3 + k)] = c * apk - s * aqk;
                    a[size_t(q * 3 + k)] = s * apk + c * aqk;
                }
                for (int k = 0; k < 3; ++k) {  // v = v G
                    const double vkp = v[size_t(k * 3 + p)], vkq = v[size_t(k * 3 + q)];
                    v[size_t(k * 3 + p)] = c * vkp - s * vkq;
                    v[size_t(k * 3 + q)] = s * vkp + c * vkq;
                }
            }
    }
    w = {a[0], a[4], a[8]};
}

// V diag(f(max(w, floor))) V^T of a symmetric PSD matrix.
template <class F>
Mat3 spectral(const Mat3& m, F f) {
    std::array<double, 3> w;
    Mat3 v;
    jacobi_eigen(m, w, v);
    Mat3 out{};
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j)
            for (int k = 0; k < 3; ++k)
                out[size_t(i * 3 + j)] += v[size_t(i * 3 + k)] * f(std::max(w[size_t(k)], kEigenFloor)) * v[size_t(j * 3 + k)];
    return out;
}

Mat3 symmetrise(const Mat3& m) {
    Mat3 s = m;
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) s[size_t(i * 3 + j)] = 0.5 * (m[size_t(i * 3 + j)] + m[size_t(j * 3 + i)]);
    return s;
}

void check_image(const Tensor& hwc) {
    TC_CHECK(hwc.dim() == 3 && hwc.size(2) == 3 && hwc.dtype() == DType::U8 && hwc.device() == Device::CPU,
             "colour correction needs a [H, W, 3] U8 CPU image, got ", hwc.describe());
    TC_CHECK(hwc.numel() > 0, "colour correction of an empty image");
}

}  // namespace

ColorStats color_stats(const Tensor& hwc_any) {
    check_image(hwc_any);
    const Tensor hwc = hwc_any.contiguous();
    const int64_t n = hwc.size(0) * hwc.size(1);
    const uint8_t* p = hwc.data<uint8_t>();
    ColorStats s;
    for (int64_t i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c) s.mean[size_t(c)] += p[i * 3 + c];
    for (double& m : s.mean) m /= double(n);
    for (int64_t i = 0; i < n; ++i) {
        const double d[3] = {p[i * 3] - s.mean[0], p[i * 3 + 1] - s.mean[1], p[i * 3 + 2] - s.mean[2]};
        for (int a = 0; a < 3; ++a)
            for (int b = a; b < 3; ++b) s.cov[size_t(a * 3 + b)] += d[a] * d[b];
    }
    for (int a = 0; a < 3; ++a)
        for (int b = a; b < 3; ++b) {
            s.cov[size_t(a * 3 + b)] /= double(n);
            s.cov[size_t(b * 3 + a)] = s.cov[size_t(a * 3 + b)];
        }
    return s;
}

ColorStats lerp_stats(const ColorStats& a, const ColorStats& b, double t) {
    ColorStats r;
    for (size_t i = 0; i < 3; ++i) r.mean[i] = (1.0 - t) * a.mean[i] + t * b.mean[i];
    for (size_t i = 0; i < 9; ++i) r.cov[i] = (1.0 - t) * a.cov[i] + t * b.cov[i];
    return r;
}

std::array<double, 9> mkl_matrix(const ColorStats& src, const ColorStats& ref) {
    const Mat3 ss = symmetrise(src.cov), sr = symmetrise(ref.cov);
    const Mat3 ss_half = spectral(ss, [](double x) { return std::sqrt(x); });
    const Mat3 ss_inv_half = spectral(ss, [](double x) { return 1.0 / std::sqrt(x); });
    const Mat3 mid = spectral(symmetrise(matmul(matmul(ss_half, sr), ss_half)), [](double x) { return std::sqrt(x); });
    return matmul(matmul(ss_inv_half, mid), ss_inv_half);
}

Tensor mkl_transfer(const Tensor& hwc_any, const ColorStats& ref) {
    check_image(hwc_any);
    const Tensor hwc = hwc_any.contiguous();
    const ColorStats src = color_stats(hwc);
    const Mat3 t = mkl_matrix(src, ref);
    const int64_t n = hwc.size(0) * hwc.size(1);
    Tensor out = Tensor::empty(hwc.shape(), DType::U8);
    const uint8_t* p = hwc.data<uint8_t>();
    uint8_t* q = out.data<uint8_t>();
    for (int64_t i = 0; i < n; ++i) {
        const double d[3] = {p[i * 3] - src.mean[0], p[i * 3 + 1] - src.mean[1], p[i * 3 + 2] - src.mean[2]};
        for (int c = 0; c < 3; ++c) {
            const double v = t[size_t(c * 3)] * d[0] + t[size_t(c * 3 + 1)] * d[1] + t[size_t(c * 3 + 2)] * d[2] +
                             ref.mean[size_t(c)];
            q[i * 3 + c] = uint8_t(std::clamp(std::nearbyint(v), 0.0, 255.0));
        }
    }
    return out;
}

Tensor color_correct_segment(const Tensor& frames, const ColorStats& first, const ColorStats& last) {
    TC_CHECK(frames.dim() == 4 && frames.size(3) == 3 && frames.dtype() == DType::U8,
             "colour correction needs frames [T, H, W, 3] U8, got ", frames.describe());
    const int64_t T = frames.size(0);
    Tensor out = Tensor::empty(frames.shape(), DType::U8);
    const int64_t per = frames.numel() / std::max<int64_t>(T, 1);
    for (int64_t k = 0; k < T; ++k) {
        const double pos = T > 1 ? double(k) / double(T - 1) : 0.0;
        const Tensor f = mkl_transfer(frames.select(0, k), lerp_stats(first, last, pos));
        std::memcpy(out.data<uint8_t>() + k * per, f.data<uint8_t>(), size_t(per));
    }
    return out;
}

}  // namespace tc
