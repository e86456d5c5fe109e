// Element types and devices of tensors, plus exact f16/bf16 <-> f32 conversion (round-to-nearest-even).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace tc {

enum class DType : uint8_t { F32, F16, BF16, I64, U8 };
enum class Device : uint8_t { CPU, CUDA };

size_t dtype_size(DType t);
const char* dtype_name(DType t);       // "F32", "F16", "BF16", "I64", "U8" (the safetensors spellings)
DType dtype_from_name(const std::string& name);  // throws on unknown names
const char* device_name(Device d);

// IEEE binary16 -> binary32; exact for every input, including subnormals, inf and NaN.
inline float f16_to_f32(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else {  // subnormal: normalise the mantissa
            int e = -1;
            do { ++e; man <<= 1; } while ((man & 0x400u) == 0);
            bits = sign | uint32_t(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | man << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | man << 13;
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// binary32 -> binary16 with round-to-nearest-even; overflow gives inf, NaN stays NaN (quiet).
inline uint16_t f32_to_f16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) return uint16_t(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
    if (absx >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // rounds to >= 65520: inf
    if (absx < 0x38800000u) {                                     // result is subnormal or zero
        if (absx < 0x33000000u) return uint16_t(sign);             // < 2^-25 rounds to zero
        uint32_t man = (absx & 0x7fffffu) | 0x800000u;
        int shift = 126 - int(absx >> 23);  // 14 + (113 - exp)
        uint32_t half_bits = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (half_bits & 1u))) ++half_bits;
        return uint16_t(sign | half_bits);
    }
    uint32_t bits = absx - 0x38000000u;  // rebias exponent 127 -> 15
    uint32_t half_bits = bits >> 13;
    uint32_t rem = bits & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half_bits & 1u))) ++half_bits;  // may carry into the exponent: correct
    return uint16_t(sign | half_bits);
}

inline float bf16_to_f32(uint16_t b) {
    uint32_t bits = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline uint16_t f32_to_bf16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);  // quiet NaN
    uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);                           // nearest-even
    return uint16_t((x + rounding) >> 16);
}

}  // namespace tc
