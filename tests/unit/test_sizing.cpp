// Output sizing (pipeline/sizing.h): the fit rule and the centre crop.
#include <gtest/gtest.h>

#include "core/error.h"
#include "pipeline/sizing.h"

namespace {

using tc::FrameSize;
using tc::fit_size;

TEST(Sizing, FitsAspectInsideBox) {
    EXPECT_EQ(fit_size(1920, 1080, 512, 512), (FrameSize{448, 256}));  // 1.75 is the closest to 16:9
    EXPECT_EQ(fit_size(1080, 1920, 512, 512), (FrameSize{256, 448}));
    EXPECT_EQ(fit_size(640, 480, 512, 512), (FrameSize{512, 384}));    // 4:3 exactly, largest
    EXPECT_EQ(fit_size(300, 300, 512, 512), (FrameSize{512, 512}));     // square, upscaled
    EXPECT_EQ(fit_size(1024, 1024, 768, 512), (FrameSize{512, 512}));
    EXPECT_EQ(fit_size(1024, 640, 512, 512), (FrameSize{512, 320}));    // 1.6 exactly
    EXPECT_EQ(fit_size(1920, 1080, 768, 768), (FrameSize{768, 448}));   // 1.714: within 5%, largest (576x320 = 1.8 is closer)
    EXPECT_EQ(fit_size(4000, 100, 256, 256), (FrameSize{256, 64}));     // extreme: the widest allowed
    EXPECT_EQ(fit_size(100, 4000, 256, 768), (FrameSize{64, 768}));
    EXPECT_EQ(fit_size(64, 64, 256, 256), (FrameSize{256, 256}));
}

TEST(Sizing, AlwaysMultipleOf64InsideBox) {
    for (int64_t mw : {256, 512, 768})
        for (int64_t mh : {256, 512, 768})
            for (int64_t w = 37; w < 3000; w += 211)
                for (int64_t h = 41; h < 3000; h += 197) {
                    const FrameSize s = fit_size(w, h, mw, mh);
                    ASSERT_TRUE(s.width % 64 == 0 && s.height % 64 == 0 && s.width >= 64 && s.height >= 64);
                    ASSERT_TRUE(s.width <= mw && s.height <= mh);
                }
}

TEST(Sizing, ValidatesMaxSides) {
    EXPECT_NO_THROW(tc::validate_max_side("max_width", 256));
    EXPECT_NO_THROW(tc::validate_max_side("max_width", 768));
    EXPECT_THROW(tc::validate_max_side("max_width", 640), tc::Error);
    EXPECT_THROW(tc::validate_max_side("max_height", 0), tc::Error);
    EXPECT_THROW(fit_size(0, 10, 512, 512), tc::Error);
    EXPECT_THROW(fit_size(10, 10, 32, 512), tc::Error);
}

TEST(Sizing, CentreCropKeepsTargetAspect) {
    tc::Tensor img = tc::Tensor::zeros({1080, 1920, 3}, tc::DType::U8);
    tc::Tensor c = tc::centre_crop_to_aspect(img, {448, 256});
    EXPECT_EQ(c.size(0), 1080);
    EXPECT_EQ(c.size(1), 1890);  // 1080 * 448 / 256
    tc::Tensor d = tc::centre_crop_to_aspect(img, {256, 256});
    EXPECT_EQ(d.size(0), 1080);
    EXPECT_EQ(d.size(1), 1080);
    tc::Tensor e = tc::centre_crop_to_aspect(tc::Tensor::zeros({1000, 500, 3}, tc::DType::U8), {512, 512});
    EXPECT_EQ(e.size(0), 500);
    EXPECT_EQ(e.size(1), 500);
}

}  // namespace
