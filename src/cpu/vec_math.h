// Branch-free float exp for the CPU backend's hot loops (softmax, SiLU, sigmoid), written so that the
// compiler vectorises the loops that call it (libm's expf is an opaque call that keeps them scalar; glibc
// offers vector variants only under -ffast-math, which the reference backend must not use).
// Method: Cody-Waite range reduction x = n ln2 + r with |r| <= ln2/2, the degree-6 minimax polynomial of the
// Cephes library's expf for e^r (about 1 ulp), and 2^n built in the exponent bits. Inputs below -87.33
// give 0 (expf gives a denormal there: below 1.2e-38, nothing we compute can see it), above 88.72 +inf,
// NaN stays NaN.
#pragma once

#include <bit>
#include <cstdint>

namespace tc::cpu {

inline float exp_f(float x) {
    const bool underflow = x < -87.33654f;
    float c = x < -87.33654f ? -87.33654f : x;
    c = c > 88.72284f ? 88.72284f : c;  // (NaN compares false both times and stays NaN)
    // n = round(c / ln2), by the 1.5*2^23 trick (exact for |n| < 2^22; no call, so it vectorises).
    const float shifter = 12582912.f;
    const float n = (c * 1.44269504088896341f + shifter) - shifter;
    // r = c - n ln2, ln2 split in a short high part (exact product) and the rest.
    const float r = (c - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.f;
    const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // 2^n (n in [-126, 128]; 128 gives +inf)
    const float scale = std::bit_cast<float>(bits);
    return underflow ? 0.f : p * scale;
}

}  // namespace tc::cpu
