// The CUDA tier: runs only where a GPU is present, and says so loudly otherwise.
#include <gtest/gtest.h>

#include "core/tensor.h"
#include "engine/backends.h"

TEST(Cuda, RoundTripThroughDeviceMemory) {
    if (!tc::cuda_available()) GTEST_SKIP() << "skipped: no GPU (CUDA backend not built or no device present)";
    tc::Tensor h = tc::Tensor::from_vector({1.f, -2.f, 3.5f, 0.f, 7.f, 1e-3f}, {2, 3});
    tc::Tensor d = h.to(tc::Device::CUDA);
    EXPECT_EQ(d.device(), tc::Device::CUDA);
    tc::Tensor back = d.to(tc::Device::CPU);
    EXPECT_EQ(back.to_vector(), h.to_vector());
}
