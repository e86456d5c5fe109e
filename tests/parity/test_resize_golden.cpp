// Golden parity of the CLIP image preprocess on the downscale path (golden case d2): a 512x320 image
// resized to 224x224 by kornia resize(..., 'bicubic', align_corners=True, antialias=True), which blurs
// before the bicubic, then (x + 1) / 2 and the CLIP mean/std normalisation
// (FrozenOpenCLIPImageEmbedderV2.preprocess, lvdm/modules/encoders/condition.py).
#include <cstdio>

#include "core/ops.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace tc::test {
namespace {

TEST(ParityResize, ClipPreprocessDownscale) {
    TC_REQUIRE_SHARED(path, "golden/tiny/cases/d2_clip_preprocess_downscale.safetensors");
    SafeTensorsFile file = SafeTensorsFile::open(path);
    Tensor image = file.get("image_uint8_hwc");  // [320, 512, 3] u8
    Tensor want = file.get("preprocessed");      // [1, 3, 224, 224]
    ASSERT_EQ(image.shape(), (Shape{320, 512, 3}));

    // i2v_test_application.get_image: (u8.permute(2, 0, 1).float() / 255 - 0.5) * 2, each step in float32.
    Tensor x = image.permute({2, 0, 1}).unsqueeze(0).to(DType::F32);  // [1, 3, 320, 512]
    x = ops::div(x, Tensor::full({1}, 255.f));
    x = ops::scale(ops::add_scalar(x, -0.5f), 2.f);

    Tensor y = ops::resize_bicubic_aa(x, 224, 224);  // [1, 3, 224, 224]
    y = ops::scale(ops::add_scalar(y, 1.f), 0.5f);   // (x + 1) / 2 (halving is exact either way)
    const Tensor mean = Tensor::from_vector({0.48145466f, 0.4578275f, 0.40821073f}, {1, 3, 1, 1});
    const Tensor stdev = Tensor::from_vector({0.26862954f, 0.26130258f, 0.27577711f}, {1, 3, 1, 1});
    y = ops::div(ops::sub(y, mean), stdev);  // kornia.enhance.normalize

    const double err = rel_err(y, want.to(DType::F32));
    std::printf("d2_clip_preprocess_downscale: rel err %.3g (max-abs %.3g)\n", err, max_abs_diff(y, want));
    EXPECT_LT(err, 1e-4);
}

}  // namespace
}  // namespace tc::test
