// tc::Tensor core: construction, metadata, views (view/reshape/permute/transpose/slice/select/
// unsqueeze/squeeze), contiguous/clone, copy_ across strides and dtypes, to(dtype), from_blob and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "core/tensor.h"

namespace tc {
namespace {

Tensor arange(const Shape& shape) {
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    std::iota(v.begin(), v.end(), 0.f);
    return Tensor::from_vector(v, shape);
}

TEST(Tensor, ConstructionAndMetadata) {
    Tensor e;
    EXPECT_FALSE(e.defined());
    Tensor z = Tensor::zeros({2, 3});
    EXPECT_TRUE(z.defined());
    EXPECT_EQ(z.numel(), 6);
    EXPECT_EQ(z.dim(), 2);
    EXPECT_EQ(z.strides(), (Shape{3, 1}));
    EXPECT_EQ(z.nbytes(), 24u);
    EXPECT_EQ(z.to_vector(), std::vector<float>(6, 0.f));
    EXPECT_EQ(z.describe(), "F32[2, 3] cpu");
    EXPECT_EQ(z.size(-1), 3);
    EXPECT_THROW(z.size(2), Error);
    EXPECT_EQ(Tensor::empty({4}, DType::F16).nbytes(), 8u);
    EXPECT_EQ(Tensor::full({2}, 1.5f).to_vector(), (std::vector<float>{1.5f, 1.5f}));
    EXPECT_THROW(Tensor::from_vector({1, 2, 3}, {2, 2}), Error);
    EXPECT_THROW(Tensor::zeros({2, -1}), Error);
    EXPECT_EQ(Tensor::from_vector_i64({7, -8}, {2}).to_vector(), (std::vector<float>{7, -8}));
    EXPECT_EQ(Tensor::zeros({3, 0}).numel(), 0);
    EXPECT_EQ(shape_str({2, 3, 4}), "[2, 3, 4]");
    EXPECT_FLOAT_EQ(Tensor::full({1, 1}, 2.5f).item(), 2.5f);
    EXPECT_THROW(Tensor::zeros({2}).item(), Error);
    EXPECT_THROW(Tensor::zeros({2}).data<double>(), Error);
}

TEST(Tensor, ViewAndReshape) {
    Tensor x = arange({2, 3, 4});
    Tensor v = x.view({6, -1});
    EXPECT_EQ(v.shape(), (Shape{6, 4}));
    EXPECT_EQ(v.storage(), x.storage());  // no copy
    EXPECT_EQ(v.to_vector(), x.to_vector());
    EXPECT_THROW(x.view({5, -1}), Error);
    EXPECT_THROW(x.view({-1, -1}), Error);
    EXPECT_THROW(x.view({7, 4}), Error);
    Tensor t = x.transpose(0, 2);  // not contiguous
    EXPECT_FALSE(t.is_contiguous());
    EXPECT_THROW(t.view({24}), Error);
    Tensor r = t.reshape({24});  // copies
    EXPECT_NE(r.storage(), x.storage());
    EXPECT_EQ(r.to_vector(), t.to_vector());
}

TEST(Tensor, PermuteAndTranspose) {
    Tensor x = arange({2, 3, 4});
    Tensor p = x.permute({2, 0, 1});
    EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
    EXPECT_EQ(p.strides(), (Shape{1, 12, 4}));
    auto P = p.to_vector();
    for (int64_t k = 0; k < 4; ++k)
        for (int64_t i = 0; i < 2; ++i)
            for (int64_t j = 0; j < 3; ++j) ASSERT_EQ(P[size_t((k * 2 + i) * 3 + j)], float(i * 12 + j * 4 + k));
    EXPECT_EQ(x.permute({-1, 0, 1}).shape(), p.shape());
    EXPECT_THROW(x.permute({0, 0, 1}), Error);
    EXPECT_THROW(x.permute({0, 1}), Error);
    Tensor t = x.transpose(-1, -2);
    EXPECT_EQ(t.shape(), (Shape{2, 4, 3}));
    EXPECT_EQ(t.to_vector()[1], 4.f);
    EXPECT_THROW(x.transpose(0, 3), Error);
}

TEST(Tensor, SliceSelectUnsqueezeSqueeze) {
    Tensor x = arange({3, 4});
    Tensor s = x.slice(1, 1, 3);
    EXPECT_EQ(s.shape(), (Shape{3, 2}));
    EXPECT_EQ(s.offset(), 1);
    EXPECT_FALSE(s.is_contiguous());
    EXPECT_EQ(s.to_vector(), (std::vector<float>{1, 2, 5, 6, 9, 10}));
    Tensor rows = x.slice(0, 1, 3);  // an offset view that is still contiguous
    EXPECT_TRUE(rows.is_contiguous());
    EXPECT_EQ(rows.data<float>()[0], 4.f);
    EXPECT_EQ(x.slice(0, 2, 2).numel(), 0);
    EXPECT_THROW(x.slice(0, 2, 4), Error);
    EXPECT_THROW(x.slice(0, 2, 1), Error);
    EXPECT_EQ(x.select(1, 3).to_vector(), (std::vector<float>{3, 7, 11}));
    EXPECT_EQ(x.select(-2, 1).to_vector(), (std::vector<float>{4, 5, 6, 7}));
    Tensor u = x.unsqueeze(1);
    EXPECT_EQ(u.shape(), (Shape{3, 1, 4}));
    EXPECT_TRUE(u.is_contiguous());
    EXPECT_EQ(x.unsqueeze(-1).shape(), (Shape{3, 4, 1}));
    EXPECT_EQ(u.squeeze(1).shape(), (Shape{3, 4}));
    EXPECT_THROW(x.squeeze(0), Error);
    // A slice of a permuted view composes offsets and strides.
    Tensor c = arange({2, 3, 4}).permute({2, 1, 0}).slice(0, 1, 3).select(2, 1);  // [2, 3]: x[1, j, 1 + i]
    EXPECT_EQ(c.to_vector(), (std::vector<float>{13, 17, 21, 14, 18, 22}));
}

TEST(Tensor, ContiguousAndClone) {
    Tensor x = arange({2, 3});
    EXPECT_EQ(x.contiguous().storage(), x.storage());  // already contiguous: itself
    Tensor t = x.transpose(0, 1);
    Tensor c = t.contiguous();
    EXPECT_TRUE(c.is_contiguous());
    EXPECT_NE(c.storage(), x.storage());
    EXPECT_EQ(c.to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
    Tensor k = x.clone();
    k.data<float>()[0] = 42.f;
    EXPECT_EQ(x.data<float>()[0], 0.f);  // independent
}

TEST(Tensor, CopyIntoStridedViewsAndAcrossDtypes) {
    Tensor dst = Tensor::zeros({3, 4});
    dst.slice(1, 1, 3).copy_(arange({3, 2}));
    EXPECT_EQ(dst.to_vector(), (std::vector<float>{0, 0, 1, 0, 0, 2, 3, 0, 0, 4, 5, 0}));
    Tensor d2 = Tensor::zeros({2, 3});
    d2.transpose(0, 1).copy_(arange({3, 2}));  // write through a transposed view
    EXPECT_EQ(d2.to_vector(), (std::vector<float>{0, 2, 4, 1, 3, 5}));
    EXPECT_THROW(dst.copy_(arange({4, 3})), Error);
    Tensor h = Tensor::empty({2}, DType::F16);
    h.copy_(Tensor::from_vector({1.f, 1.f + std::ldexp(1.f, -11)}, {2}));  // the second one is a tie -> 1
    EXPECT_EQ(h.data<uint16_t>()[0], 0x3c00);
    EXPECT_EQ(h.data<uint16_t>()[1], 0x3c00);
    Tensor u8 = Tensor::empty({3}, DType::U8);
    u8.data<uint8_t>()[0] = 0;
    u8.data<uint8_t>()[1] = 128;
    u8.data<uint8_t>()[2] = 255;
    Tensor i64 = Tensor::empty({3}, DType::I64);
    i64.copy_(u8);
    EXPECT_EQ(i64.data<int64_t>()[2], 255);
    EXPECT_EQ(u8.to_vector(), (std::vector<float>{0, 128, 255}));
}

TEST(Tensor, ToDtype) {
    Tensor x = Tensor::from_vector({0.1f, -2.5f, 65504.f, 1e6f, 3.9f}, {5});
    EXPECT_EQ(x.to(DType::F32).storage(), x.storage());  // same dtype: itself
    Tensor h = x.to(DType::F16);
    EXPECT_EQ(h.dtype(), DType::F16);
    auto hv = h.to_vector();
    EXPECT_EQ(hv[0], f16_to_f32(f32_to_f16(0.1f)));
    EXPECT_EQ(hv[1], -2.5f);
    EXPECT_EQ(hv[2], 65504.f);
    EXPECT_TRUE(std::isinf(hv[3]));  // overflow
    Tensor b = x.to(DType::BF16);
    EXPECT_EQ(b.to_vector()[1], -2.5f);
    EXPECT_EQ(b.to(DType::F32).to_vector(), b.to_vector());
    Tensor i = x.to(DType::I64);
    EXPECT_EQ(i.data<int64_t>()[4], 3);   // truncation toward zero, as torch .long()
    EXPECT_EQ(i.data<int64_t>()[1], -2);
    // Strided source: the conversion follows logical order.
    Tensor t = arange({2, 3}).transpose(0, 1).to(DType::F16);
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_EQ(t.to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(Tensor, FromBlobKeepsOwnerAlive) {
    auto owner = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4, 5, 6});
    std::weak_ptr<std::vector<float>> watch = owner;
    Tensor t = Tensor::from_blob(owner->data(), {2, 3}, DType::F32, owner);
    owner.reset();
    EXPECT_FALSE(watch.expired());  // the tensor holds it
    EXPECT_EQ(t.select(0, 1).to_vector(), (std::vector<float>{4, 5, 6}));
    t = Tensor();
    EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace tc
