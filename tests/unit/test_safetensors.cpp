// safetensors reader/writer: round trips, the golden tiny model, and hostile files (truncation, bad
// offsets, overlaps, huge lengths and shapes, bad dtypes, invalid JSON) that must give tc::Error.
#include <gtest/gtest.h>

#include <cmath>

#include "ckpt_builder.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace tc {
namespace {

using testutil::TempDir;

// A hand-written safetensors file: 8-byte length, header text, data.
std::string st_bytes(const std::string& header, const std::string& data, uint64_t declared_len = UINT64_MAX) {
    std::string out;
    testutil::put_le(out, declared_len == UINT64_MAX ? header.size() : declared_len, 8);
    return out + header + data;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

std::string parse_error(const std::string& bytes) {
    return error_of([&] {
        SafeTensorsFile::from_bytes({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, nullptr, "t");
    });
}

TEST(SafeTensors, RoundTripAllDtypesScalarAndEmpty) {
    TempDir dir;
    Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
    Tensor h = a.to(DType::F16);
    Tensor bf = a.to(DType::BF16);
    Tensor i = Tensor::from_vector_i64({-1, 0, 1ll << 40}, {3});
    Tensor u = Tensor::zeros({5}, DType::U8);
    u.data<uint8_t>()[2] = 200;
    Tensor s = Tensor::from_vector({2.5f}, {});
    Tensor e = Tensor::zeros({0, 3});
    Tensor tr = a.transpose(0, 1);  // non-contiguous input is written contiguously
    std::string p = dir.file("x.safetensors");
    save_safetensors(p, {{"a", a}, {"h", h}, {"bf", bf}, {"i", i}, {"u", u}, {"scalar", s}, {"empty", e}, {"tr", tr}},
                     {{"format", "pt"}, {"note", "ünïcode"}});
    SafeTensorsFile f = SafeTensorsFile::open(p);
    EXPECT_EQ(f.names(), (std::vector<std::string>{"a", "h", "bf", "i", "u", "scalar", "empty", "tr"}));
    EXPECT_EQ(f.metadata().at("format"), "pt");
    EXPECT_EQ(f.metadata().at("note"), "ünïcode");
    EXPECT_EQ(f.get("a").to_vector(), a.to_vector());
    EXPECT_EQ(f.get("h").dtype(), DType::F16);
    EXPECT_EQ(f.get("h").to_vector(), a.to_vector());
    EXPECT_EQ(f.get("bf").dtype(), DType::BF16);
    EXPECT_EQ(f.get("bf").to_vector(), a.to_vector());
    Tensor gi = f.get("i");
    ASSERT_EQ(gi.dtype(), DType::I64);
    EXPECT_EQ(gi.data<int64_t>()[2], 1ll << 40);
    EXPECT_EQ(f.get("u").data<uint8_t>()[2], 200);
    EXPECT_EQ(f.info("scalar").shape, Shape{});
    EXPECT_EQ(f.get("scalar").item(), 2.5f);
    EXPECT_EQ(f.get("empty").shape(), (Shape{0, 3}));
    EXPECT_EQ(f.get("tr").shape(), (Shape{3, 2}));
    EXPECT_EQ(f.get("tr").to_vector(), tr.to_vector());
    EXPECT_TRUE(f.contains("a"));
    EXPECT_FALSE(f.contains("zz"));
    EXPECT_NE(error_of([&] { f.get("zz"); }).find("no tensor 'zz'"), std::string::npos);
    // No temp file left behind.
    int n = 0;
    for (auto& de : std::filesystem::directory_iterator(dir.path)) (void)de, ++n;
    EXPECT_EQ(n, 1);
}

TEST(SafeTensors, GetIsZeroCopyAndKeepsTheMapAlive) {
    TempDir dir;
    std::string p = dir.file("x.safetensors");
    save_safetensors(p, {{"w", Tensor::from_vector({1, 2, 3, 4}, {4})}});
    Tensor t;
    {
        SafeTensorsFile f = SafeTensorsFile::open(p);
        t = f.get("w");
        Tensor t2 = f.get("w");
        EXPECT_EQ(t.raw_data(), t2.raw_data());  // both view the mapped bytes
    }
    std::filesystem::remove(p);
    EXPECT_EQ(t.to_vector(), (std::vector<float>{1, 2, 3, 4}));  // the mapping outlives the file object
}

TEST(SafeTensors, UnalignedDataIsCopied) {
    // Header of odd length: the F32 data starts at an odd address.
    std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    ASSERT_NE((8 + header.size()) % 4, 0u);
    float v[2] = {1.5f, -2.0f};
    std::string data(reinterpret_cast<const char*>(v), 8);
    std::string bytes = st_bytes(header, data);
    auto f = SafeTensorsFile::from_bytes({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, nullptr);
    EXPECT_EQ(f.get("w").to_vector(), (std::vector<float>{1.5f, -2.0f}));
}

TEST(SafeTensors, OrderIsDataOrderNotHeaderOrder) {
    std::string header =
        R"({"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";
    std::string bytes = st_bytes(header, "abcd");
    auto f = SafeTensorsFile::from_bytes({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, nullptr);
    EXPECT_EQ(f.names(), (std::vector<std::string>{"a", "b"}));
    // Holes in the data section are tolerated.
    std::string holes = st_bytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[3,4]}})", "abcd");
    EXPECT_EQ(parse_error(holes), "");
}

TEST(SafeTensors, EveryTruncationIsAnError) {
    TempDir dir;
    std::string p = dir.file("x.safetensors");
    save_safetensors(p, {{"a", Tensor::from_vector({1, 2, 3}, {3})}, {"b", Tensor::from_vector({4}, {})}},
                     {{"k", "v"}});
    std::ifstream in(p, std::ios::binary);
    std::string full((std::istreambuf_iterator<char>(in)), {});
    for (size_t n = 0; n < full.size(); ++n) {
        std::string cut = full.substr(0, n);
        EXPECT_NE(parse_error(cut), "") << "prefix of " << n << " bytes was accepted";
    }
    EXPECT_EQ(parse_error(full), "");
}

TEST(SafeTensors, HostileHeaders) {
    const std::string d8(8, '\0');
    auto err = [&](const std::string& header, const std::string& data = std::string(8, '\0')) {
        return parse_error(st_bytes(header, data));
    };
    // offsets past the data section
    EXPECT_NE(err(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})").find("outside the data section"),
              std::string::npos);
    EXPECT_NE(err(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})"), "");
    // size does not match the shape
    EXPECT_NE(err(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})").find("needs 4"), std::string::npos);
    // overlapping ranges
    std::string ov = err(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})");
    EXPECT_NE(ov.find("overlap"), std::string::npos) << ov;
    // huge shape: 2^40 x 2^40 overflows; 2^40 alone does not fit
    EXPECT_NE(err(R"({"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,8]}})")
                  .find("too many elements"),
              std::string::npos);
    EXPECT_NE(err(R"({"w":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,8]}})"), "");
    EXPECT_NE(err(R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}})"), "");
    EXPECT_NE(err(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})"), "");
    EXPECT_NE(err(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}})"), "");
    EXPECT_NE(err(R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})"), "");
    EXPECT_NE(err(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})"), "");
    EXPECT_NE(err(R"({"w":{"dtype":"F32","shape":[2]}})"), "");
    EXPECT_NE(err(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})"), "");
    EXPECT_NE(err(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}})"), "");
    // bad dtype: the message names the tensor and the dtype
    std::string bd = err(R"({"weird":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})");
    EXPECT_NE(bd.find("'weird'"), std::string::npos) << bd;
    EXPECT_NE(bd.find("F64"), std::string::npos) << bd;
    EXPECT_NE(err(R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})"), "");
    // invalid JSON, non-object JSON, non-object entries, bad metadata
    EXPECT_NE(err(R"({"w":{"dtype":"F32",)").find("invalid JSON"), std::string::npos);
    EXPECT_NE(err("[1,2,3]"), "");
    EXPECT_NE(err(R"({"w":3})"), "");
    EXPECT_NE(err(R"({"__metadata__":{"a":1}})"), "");
    EXPECT_NE(err(R"({"__metadata__":[]})"), "");
    EXPECT_EQ(err(R"({"__metadata__":{"a":"b"}})"), "");
    EXPECT_EQ(err("{}"), "");
    // more dimensions than anyone needs
    EXPECT_NE(err(R"({"w":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],)"
                  R"("data_offsets":[0,1]}})"),
              "");
}

TEST(SafeTensors, HostileHeaderLengths) {
    std::string header = R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
    // 2^40 declared bytes: refused by the limit before anything is read or allocated
    EXPECT_NE(parse_error(st_bytes(header, "x", 1ull << 40)).find("100 MB"), std::string::npos);
    EXPECT_NE(parse_error(st_bytes(header, "x", UINT64_MAX - 1)), "");
    // longer than the file
    EXPECT_NE(parse_error(st_bytes(header, "x", header.size() + 2)).find("exceeds the file size"), std::string::npos);
    EXPECT_NE(parse_error(""), "");
    EXPECT_NE(parse_error("abc"), "");
}

TEST(SafeTensors, OpenMissingFileAndDirectory) {
    EXPECT_NE(error_of([] { SafeTensorsFile::open("/nonexistent/x.safetensors"); }).find("/nonexistent/x.safetensors"),
              std::string::npos);
    TempDir dir;
    EXPECT_NE(error_of([&] { SafeTensorsFile::open(dir.path.string()); }).find("not a regular file"),
              std::string::npos);
}

TEST(SafeTensors, GoldenTinyModel) {
    TC_REQUIRE_SHARED(p, "golden/tiny/model.safetensors");
    SafeTensorsFile f = SafeTensorsFile::open(p);
    EXPECT_EQ(f.names().size(), 1388u);
    EXPECT_EQ(f.names().front(), "betas");
    EXPECT_EQ(f.info("cond_stage_model.model.logit_scale").shape, Shape{});
    EXPECT_EQ(f.metadata().at("format"), "pt");
    Tensor b = f.get("betas");
    EXPECT_EQ(b.shape(), Shape{1000});
    EXPECT_NEAR(b.to_vector()[0], 0.00085f, 1e-6f);
}

}  // namespace
}  // namespace tc
