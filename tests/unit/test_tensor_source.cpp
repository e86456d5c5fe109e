// open_tensor_source() picks the reader by the file's bytes: safetensors, torch.save zip checkpoints and
// TorchScript archives (the published FILM weights) all open through it, so `inspect` lists each of them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "io/tensor_source.h"
#include "test_util.h"

TEST(TensorSource, TorchScriptArchiveOpensAndEqualsSafetensors) {
    TC_REQUIRE_SHARED(pt, "golden/film/film_tiny.pt");
    TC_REQUIRE_SHARED(st, "golden/film/film_tiny.safetensors");
    auto a = tc::open_tensor_source(pt);
    auto b = tc::open_tensor_source(st);
    EXPECT_EQ(a->format_name(), "TorchScript archive");
    ASSERT_EQ(a->names().size(), 82u);
    std::vector<std::string> bn = b->names();
    std::sort(bn.begin(), bn.end());
    for (const std::string& n : a->names()) {
        ASSERT_TRUE(std::binary_search(bn.begin(), bn.end(), n)) << n;
        tc::Tensor x = a->get(n), y = b->get(n);
        ASSERT_EQ(x.shape(), y.shape()) << n;
        ASSERT_EQ(x.dtype(), y.dtype()) << n;
        EXPECT_EQ(0, std::memcmp(x.contiguous().raw_data(), y.contiguous().raw_data(), x.nbytes())) << n;
    }
}

TEST(TensorSource, UnknownBytesGiveAClearError) {
    std::string p = ::testing::TempDir() + "/not_a_checkpoint.bin";
    FILE* f = std::fopen(p.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fputs("hello, this is not a checkpoint", f);
    std::fclose(f);
    try {
        tc::open_tensor_source(p);
        FAIL() << "expected tc::Error";
    } catch (const tc::Error& e) {
        EXPECT_NE(std::string(e.what()).find("neither a safetensors file nor a torch zip"), std::string::npos) << e.what();
    }
}
