// dtype names and sizes, and the f16/bf16 <-> f32 conversions of core/dtype.h: exhaustive f16 and bf16
// round trips, every f16 rounding midpoint (ties to even), subnormals, overflow to inf and NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/dtype.h"
#include "core/error.h"

namespace tc {
namespace {

float bits_to_f32(uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}
uint32_t f32_bits(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    return b;
}
bool f16_is_nan(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; }

// Independent decoding of an IEEE binary16 value through ldexp.
double f16_value(uint16_t h) {
    const int sign = (h & 0x8000u) ? -1 : 1;
    const int exp = (h >> 10) & 0x1f;
    const int man = h & 0x3ff;
    if (exp == 0) return sign * std::ldexp(double(man), -24);
    if (exp == 31) return man ? std::numeric_limits<double>::quiet_NaN() : sign * std::numeric_limits<double>::infinity();
    return sign * std::ldexp(double(1024 + man), exp - 25);
}

TEST(DType, NamesAndSizes) {
    EXPECT_EQ(dtype_size(DType::F32), 4u);
    EXPECT_EQ(dtype_size(DType::F16), 2u);
    EXPECT_EQ(dtype_size(DType::BF16), 2u);
    EXPECT_EQ(dtype_size(DType::I64), 8u);
    EXPECT_EQ(dtype_size(DType::U8), 1u);
    for (DType t : {DType::F32, DType::F16, DType::BF16, DType::I64, DType::U8})
        EXPECT_EQ(dtype_from_name(dtype_name(t)), t);
    EXPECT_THROW(dtype_from_name("F64"), Error);
    EXPECT_STREQ(device_name(Device::CPU), "cpu");
    EXPECT_STREQ(device_name(Device::CUDA), "cuda");
}

TEST(F16, DecodesEveryValueExactly) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = f16_to_f32(uint16_t(h));
        const double want = f16_value(uint16_t(h));
        if (std::isnan(want)) {
            ASSERT_TRUE(std::isnan(f)) << std::hex << h;
        } else {
            ASSERT_EQ(double(f), want) << std::hex << h;
            ASSERT_EQ(std::signbit(f), (h & 0x8000u) != 0) << std::hex << h;  // -0 stays -0
        }
    }
    EXPECT_EQ(f16_to_f32(0x3c00), 1.f);
    EXPECT_EQ(f16_to_f32(0xc000), -2.f);
    EXPECT_EQ(f16_to_f32(0x7bff), 65504.f);
    EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.f, -24));  // smallest subnormal
    EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.f, -14));  // smallest normal
    EXPECT_EQ(f16_to_f32(0x7c00), std::numeric_limits<float>::infinity());
    EXPECT_EQ(f16_to_f32(0xfc00), -std::numeric_limits<float>::infinity());
}

TEST(F16, ExhaustiveRoundTrip) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const uint16_t back = f32_to_f16(f16_to_f32(uint16_t(h)));
        if (f16_is_nan(uint16_t(h))) {
            ASSERT_TRUE(f16_is_nan(back)) << std::hex << h;
            ASSERT_EQ(back & 0x8000u, h & 0x8000u) << std::hex << h;
        } else {
            ASSERT_EQ(back, h) << std::hex << h;
        }
    }
}

TEST(F16, EveryMidpointRoundsToNearestEven) {
    // Between consecutive non-negative f16 values a < b (bit patterns h, h+1), the midpoint is exact in
    // float32. It must round to the one with an even mantissa; one float ulp either side decides.
    for (uint32_t h = 0; h < 0x7bff; ++h) {  // the 65504 | inf tie is a hand case below
        const float a = f16_to_f32(uint16_t(h)), b = f16_to_f32(uint16_t(h + 1));
        const float mid = float((double(a) + double(b)) / 2);
        ASSERT_EQ(double(mid), (double(a) + double(b)) / 2) << "midpoint not exact at " << std::hex << h;
        const uint16_t even = (h & 1u) ? uint16_t(h + 1) : uint16_t(h);
        ASSERT_EQ(f32_to_f16(mid), even) << std::hex << h;
        ASSERT_EQ(f32_to_f16(std::nextafter(mid, 0.f)), h) << std::hex << h;
        ASSERT_EQ(f32_to_f16(std::nextafter(mid, 1e30f)), h + 1) << std::hex << h;
        ASSERT_EQ(f32_to_f16(-mid), uint16_t(even | 0x8000u)) << std::hex << h;  // symmetric for negatives
    }
}

TEST(F16, HandPickedCases) {
    EXPECT_EQ(f32_to_f16(1.f + std::ldexp(1.f, -11)), 0x3c00);      // tie -> even (down)
    EXPECT_EQ(f32_to_f16(1.f + 3 * std::ldexp(1.f, -11)), 0x3c02);  // tie -> even (up)
    EXPECT_EQ(f32_to_f16(65504.f), 0x7bff);
    EXPECT_EQ(f32_to_f16(65519.996f), 0x7bff);  // just below the tie with 65536
    EXPECT_EQ(f32_to_f16(65520.f), 0x7c00);     // the tie rounds to even: 65536 = inf
    EXPECT_EQ(f32_to_f16(1e10f), 0x7c00);
    EXPECT_EQ(f32_to_f16(-1e10f), 0xfc00);
    EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
    EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::max()), 0x7c00);
    EXPECT_EQ(f32_to_f16(std::ldexp(1.f, -24)), 0x0001);         // smallest subnormal
    EXPECT_EQ(f32_to_f16(std::ldexp(1.f, -25)), 0x0000);         // tie between 0 and 2^-24 -> 0
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0001f, -25)), 0x0001);     // just above that tie
    EXPECT_EQ(f32_to_f16(3 * std::ldexp(1.f, -25)), 0x0002);     // tie between 1 and 2 ulps -> 2
    EXPECT_EQ(f32_to_f16(std::ldexp(1.f, -14) - std::ldexp(1.f, -25)), 0x0400);  // subnormal max/normal min tie
    EXPECT_EQ(f32_to_f16(std::ldexp(1.f, -30)), 0x0000);         // underflow to +0
    EXPECT_EQ(f32_to_f16(-std::ldexp(1.f, -30)), 0x8000);        // and to -0
    EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
    EXPECT_EQ(f32_to_f16(-0.f), 0x8000);
    EXPECT_TRUE(f16_is_nan(f32_to_f16(std::numeric_limits<float>::quiet_NaN())));
    EXPECT_TRUE(f16_is_nan(f32_to_f16(bits_to_f32(0x7f800001u))));  // signalling NaN with a low payload
    EXPECT_TRUE(f16_is_nan(f32_to_f16(bits_to_f32(0xffc00000u))));
}

TEST(BF16, ExhaustiveRoundTripAndRounding) {
    for (uint32_t b = 0; b < 65536; ++b) {
        const float f = bf16_to_f32(uint16_t(b));
        ASSERT_EQ(f32_bits(f), b << 16);
        const uint16_t back = f32_to_bf16(f);
        if (std::isnan(f))
            ASSERT_TRUE(std::isnan(bf16_to_f32(back))) << std::hex << b;
        else
            ASSERT_EQ(back, b) << std::hex << b;
    }
    EXPECT_EQ(f32_to_bf16(1.f), 0x3f80);
    EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3f808000u)), 0x3f80);  // tie -> even (down)
    EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3f818000u)), 0x3f82);  // tie -> even (up)
    EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3f808001u)), 0x3f81);  // above the tie
    EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3f807fffu)), 0x3f80);  // below the tie
    EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // overflows to inf
    EXPECT_EQ(f32_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(bits_to_f32(0x7f800001u)))));  // NaN must not become inf
    EXPECT_EQ(f32_to_bf16(bits_to_f32(0x00008000u)), 0x0000);  // subnormal tie -> even
    EXPECT_EQ(f32_to_bf16(bits_to_f32(0x00018000u)), 0x0002);
}

}  // namespace
}  // namespace tc
