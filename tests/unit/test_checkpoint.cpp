// torch.save zip checkpoints: layouts, strided views, storage bounds, hostile archives, format sniffing,
// `inspect`, and the golden tiny model (the .ckpt and the .safetensors must agree bit for bit).
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>

#include "ckpt_builder.h"
#include "io/safetensors.h"
#include "io/torch_checkpoint.h"
#include "test_util.h"

namespace tc {
namespace {

using testutil::CkptTensor;
using testutil::floats_bytes;
using testutil::TempDir;
using testutil::torch_pickle;
using testutil::torch_zip;

ByteSpan span(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// Parses a copy of `s` that the checkpoint (and its tensors) keep alive.
TorchCheckpoint from_string(const std::string& s) {
    auto owned = std::make_shared<std::string>(s);
    return TorchCheckpoint::from_bytes(span(*owned), owned, "t.ckpt");
}

// storage "0": 12 floats 0..11; "1": 1 float
std::vector<std::pair<std::string, std::string>> storages() {
    std::vector<float> a(12);
    for (int i = 0; i < 12; ++i) a[size_t(i)] = float(i);
    return {{"0", floats_bytes(a)}, {"1", floats_bytes({3.25f})}};
}

std::vector<CkptTensor> sample_tensors() {
    return {
        {"w", "0", 0, {3, 4}, {4, 1}},             // dense
        {"wt", "0", 0, {4, 3}, {1, 4}},            // transposed view of the same storage
        {"tail", "0", 8, {4}, {1}},                // offset view
        {"logit_scale", "1", 0, {}, {}},           // scalar
        {"empty", "0", 12, {0, 5}, {5, 1}},        // empty at the end of the storage
    };
}

TEST(TorchCheckpoint, StateDictLayoutAndViews) {
    for (bool deflate : {false, true}) {
        for (bool zip64 : {false, true}) {
            std::string bytes = torch_zip(torch_pickle(sample_tensors(), storages()), storages(), deflate, zip64);
            TorchCheckpoint c = TorchCheckpoint::from_bytes(span(bytes), nullptr, "t.ckpt");  // bytes outlive c
            EXPECT_EQ(c.layout(), "state_dict");
            EXPECT_EQ(c.archive_name(), "archive");
            EXPECT_EQ(c.names(), (std::vector<std::string>{"w", "wt", "tail", "logit_scale", "empty"}));
            Tensor w = c.get("w");
            EXPECT_EQ(w.shape(), (Shape{3, 4}));
            EXPECT_EQ(w.to_vector()[5], 5.f);
            if (!deflate) {  // zero-copy over the archive bytes
                EXPECT_GE(static_cast<const char*>(w.raw_data()), bytes.data());
                EXPECT_LT(static_cast<const char*>(w.raw_data()), bytes.data() + bytes.size());
            }
            EXPECT_EQ(c.get("wt").to_vector(), (std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
            EXPECT_EQ(c.get("tail").to_vector(), (std::vector<float>{8, 9, 10, 11}));
            EXPECT_EQ(c.info("logit_scale").shape, Shape{});
            EXPECT_EQ(c.get("logit_scale").item(), 3.25f);
            EXPECT_EQ(c.get("empty").numel(), 0);
            EXPECT_NE(error_of([&] { c.get("nope"); }).find("no tensor 'nope'"), std::string::npos);
        }
    }
}

TEST(TorchCheckpoint, DeepspeedModuleAndBareDictLayouts) {
    std::vector<CkptTensor> ts = {{"_forward_module.model.w", "1", 0, {1}, {1}}};
    TorchCheckpoint m = from_string(torch_zip(torch_pickle(ts, storages(), "module"), storages()));
    EXPECT_EQ(m.layout(), "module");
    EXPECT_EQ(m.names(), (std::vector<std::string>{"model.w"}));  // first 16 characters stripped
    std::vector<CkptTensor> bare = {{"a", "1", 0, {}, {}}};
    TorchCheckpoint d = from_string(torch_zip(torch_pickle(bare, storages(), "dict"), storages()));
    EXPECT_EQ(d.layout(), "dict");
    EXPECT_EQ(d.get("a").item(), 3.25f);
    std::vector<CkptTensor> short_key = {{"short", "1", 0, {1}, {1}}};
    EXPECT_NE(error_of([&] { from_string(torch_zip(torch_pickle(short_key, storages(), "module"), storages())); })
                  .find("too short"),
              std::string::npos);
}

TEST(TorchCheckpoint, HalfStorage) {
    std::string h(4, '\0');
    uint16_t v[2] = {f32_to_f16(1.5f), f32_to_f16(-2.f)};
    std::memcpy(h.data(), v, 4);
    std::vector<std::pair<std::string, std::string>> st = {{"0", h}};
    CkptTensor t{"h", "0", 0, {2}, {1}, "HalfStorage"};
    TorchCheckpoint c = from_string(torch_zip(torch_pickle({t}, st), st));
    EXPECT_EQ(c.info("h").dtype, DType::F16);
    EXPECT_EQ(c.get("h").to_vector(), (std::vector<float>{1.5f, -2.f}));
}

TEST(TorchCheckpoint, StorageBoundsAreChecked) {
    auto err = [](std::vector<CkptTensor> ts) {
        return error_of([&] { from_string(torch_zip(torch_pickle(ts, storages()), storages())); });
    };
    // numel beyond the storage
    EXPECT_NE(err({{"x", "0", 0, {13}, {1}}}).find("storage '0'"), std::string::npos);
    // stride beyond the storage
    EXPECT_NE(err({{"x", "0", 0, {3, 4}, {5, 1}}}), "");
    // offset beyond the storage
    EXPECT_NE(err({{"x", "0", 10, {4}, {1}}}), "");
    EXPECT_NE(err({{"x", "0", 13, {0}, {1}}}), "");
    // zero strides may not describe more elements than the storage holds (no unbounded materialisation)
    EXPECT_NE(err({{"x", "1", 0, {1 << 20, 1 << 20}, {0, 0}}}).find("more elements"), std::string::npos);
    // overflowing size / stride
    EXPECT_NE(err({{"x", "0", 0, {1ll << 40, 1ll << 40}, {1, 1}}}), "");
    EXPECT_NE(err({{"x", "0", 0, {2, 2}, {1ll << 62, 1ll << 62}}}), "");
    // rank mismatch, negative values
    EXPECT_NE(err({{"x", "0", 0, {2, 2}, {1}}}), "");
    EXPECT_NE(err({{"x", "0", -1, {2}, {1}}}), "");
    EXPECT_NE(err({{"x", "0", 0, {-2}, {1}}}), "");
    // the storage numel in the pickle is larger than its zip entry
    CkptTensor big{"x", "1", 0, {2}, {1}};
    big.storage_numel = 2;
    std::string e = err({big});
    EXPECT_NE(e.find("archive/data/1"), std::string::npos) << e;
    // the storage entry does not exist
    CkptTensor missing{"x", "7", 0, {1}, {1}};
    missing.storage_numel = 1;
    EXPECT_NE(err({missing}).find("no entry 'archive/data/7'"), std::string::npos);
    // an unsupported storage type is named
    CkptTensor d{"x", "0", 0, {1}, {1}, "DoubleStorage"};
    EXPECT_NE(err({d}).find("DoubleStorage"), std::string::npos);
}

TEST(TorchCheckpoint, ForbiddenGlobalInDataPkl) {
    testutil::PickleWriter w;
    w.proto(2).global("os", "system").str("touch /tmp/tc_pwned").op('\x85').reduce().stop();
    std::string e = error_of([&] { from_string(torch_zip(w.b, {})); });
    EXPECT_NE(e.find("pickle references forbidden global 'os.system'"), std::string::npos) << e;
    // a forbidden global hidden inside a state dict entry
    testutil::PickleWriter x;
    x.proto(2).empty_dict().str("state_dict").empty_dict().str("k");
    x.global("builtins", "getattr").empty_tuple().reduce().setitem().setitem().stop();
    e = error_of([&] { from_string(torch_zip(x.b, {})); });
    EXPECT_NE(e.find("forbidden global 'builtins.getattr'"), std::string::npos) << e;
}

TEST(TorchCheckpoint, NotACheckpoint) {
    // a zip without data.pkl, a dict with a non-tensor, a list at the root
    testutil::ZipWriter z;
    z.add("x/y", "1");
    EXPECT_NE(error_of([&] { from_string(z.finish()); }).find("data.pkl"), std::string::npos);
    testutil::PickleWriter w;
    w.proto(2).empty_dict().str("state_dict").empty_dict().str("k").integer(3).setitem().setitem().stop();
    EXPECT_NE(error_of([&] { from_string(torch_zip(w.b, {})); }).find("not a tensor"), std::string::npos);
    testutil::PickleWriter l;
    l.proto(2).empty_list().stop();
    EXPECT_NE(error_of([&] { from_string(torch_zip(l.b, {})); }).find("not a dict"), std::string::npos);
}

TEST(TorchCheckpoint, TruncatedAndCorruptArchives) {
    std::string bytes = torch_zip(torch_pickle(sample_tensors(), storages()), storages());
    for (size_t cut : {size_t(0), size_t(3), size_t(30), bytes.size() / 3, bytes.size() / 2, bytes.size() - 100,
                       bytes.size() - 22, bytes.size() - 1}) {
        std::string c = bytes.substr(0, cut);
        EXPECT_NE(error_of([&] { from_string(c); }), "") << "cut at " << cut;
    }
    // every single-byte flip of the data.pkl entry either loads or fails cleanly
    std::string pkl = torch_pickle(sample_tensors(), storages());
    for (size_t i = 0; i < pkl.size(); ++i) {
        std::string p = pkl;
        p[i] = char(p[i] ^ 0x5a);
        std::string b = torch_zip(p, storages());
        try {
            TorchCheckpoint c = from_string(b);
            for (const std::string& n : c.names()) c.get(n);
        } catch (const Error&) {
        }
    }
}

TEST(TorchCheckpoint, SniffingIgnoresExtensions) {
    TempDir dir;
    std::string ck = dir.write("weights.safetensors", torch_zip(torch_pickle(sample_tensors(), storages()), storages()));
    auto a = open_tensor_source(ck);
    EXPECT_EQ(a->format_name(), "torch zip checkpoint");
    std::string st = dir.file("weights.ckpt");
    save_safetensors(st, {{"x", Tensor::from_vector({1}, {1})}});
    EXPECT_EQ(open_tensor_source(st)->format_name(), "safetensors");
    std::string junk = dir.write("junk.ckpt", "hello, this is not a checkpoint");
    EXPECT_NE(error_of([&] { open_tensor_source(junk); }).find("neither"), std::string::npos);
    std::string legacy = dir.write("legacy.pt", std::string("\x80\x02}q\x00.", 6));
    EXPECT_NE(error_of([&] { open_tensor_source(legacy); }).find("legacy"), std::string::npos);
    EXPECT_NE(error_of([&] { open_tensor_source(dir.file("missing.ckpt")); }).find("missing.ckpt"), std::string::npos);
}

TEST(TorchCheckpoint, FormatInspect) {
    TorchCheckpoint c = from_string(torch_zip(torch_pickle(sample_tensors(), storages()), storages()));
    EXPECT_EQ(format_inspect(c),
              "5 tensors, 29 elements, 116 bytes\n"
              "w F32 [3,4]\n"
              "wt F32 [4,3]\n"
              "tail F32 [4]\n"
              "logit_scale F32 []\n"
              "empty F32 [0,5]\n");
}

TEST(TorchCheckpoint, InspectCommandExitCodes) {
    std::string bin = std::string(TC_BINARY_DIR) + "/tooncrafter";
    if (!std::filesystem::exists(bin)) GTEST_SKIP() << "CLI not built: " << bin;
    TempDir dir;
    std::string bad = dir.write("bad.ckpt", "PK\x03\x04 truncated");
    std::string cmd = bin + " inspect " + bad + " > " + dir.file("out") + " 2> " + dir.file("err");
    int rc = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(rc));
    EXPECT_EQ(WEXITSTATUS(rc), 2);
    std::ifstream ef(dir.file("err"));
    std::string err((std::istreambuf_iterator<char>(ef)), {});
    EXPECT_EQ(err.rfind("error: ", 0), 0u) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    std::string good = dir.write("good.ckpt", torch_zip(torch_pickle(sample_tensors(), storages()), storages()));
    rc = std::system((bin + " inspect " + good + " > " + dir.file("out")).c_str());
    ASSERT_TRUE(WIFEXITED(rc));
    EXPECT_EQ(WEXITSTATUS(rc), 0);
    std::ifstream of(dir.file("out"));
    std::string out((std::istreambuf_iterator<char>(of)), {});
    EXPECT_EQ(out.rfind("5 tensors, 29 elements, 116 bytes\n", 0), 0u) << out;
}

// ---------------------------------------------------------------- golden
TEST(TorchCheckpoint, GoldenCkptEqualsSafetensors) {
    TC_REQUIRE_SHARED(ckpt_path, "golden/tiny/model.ckpt");
    TC_REQUIRE_SHARED(st_path, "golden/tiny/model.safetensors");
    auto ck = open_tensor_source(ckpt_path);
    auto st = open_tensor_source(st_path);
    EXPECT_EQ(ck->format_name(), "torch zip checkpoint");
    EXPECT_EQ(st->format_name(), "safetensors");
    std::string a = format_inspect(*ck), b = format_inspect(*st);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.rfind("1388 tensors, ", 0), 0u) << a.substr(0, 80);
    EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 1389);
    EXPECT_NE(a.find("\ncond_stage_model.model.logit_scale F32 []\n"), std::string::npos);
    for (const std::string& n : ck->names()) {
        Tensor x = ck->get(n), y = st->get(n);
        ASSERT_EQ(x.shape(), y.shape()) << n;
        ASSERT_EQ(x.dtype(), y.dtype()) << n;
        ASSERT_TRUE(x.is_contiguous() && y.is_contiguous()) << n;
        ASSERT_EQ(std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()), 0) << n << " differs";
    }
}

TEST(TorchCheckpoint, TorchScriptArchivesAreRefusedButTheirPicklesParse) {
    TC_REQUIRE_SHARED(p, "golden/film/film_tiny.pt");
    std::string e = error_of([&] { TorchCheckpoint::open(p); });
    EXPECT_NE(e.find("TorchScript"), std::string::npos) << e;

    // The unpickler is general enough for TorchScript's data.pkl: allow the __torch__ classes as inert
    // objects and torch.jit._pickle helpers, and resolve storages with the torch rules.
    auto m = MappedFile::open(p);
    ZipReader z = ZipReader::parse(m->bytes(), p);
    const ZipEntry* data = nullptr;
    for (const ZipEntry& en : z.entries())
        if (en.name.size() > 9 && en.name.compare(en.name.size() - 9, 9, "/data.pkl") == 0) data = &en;
    ASSERT_NE(data, nullptr);
    pickle::PickleOptions o = torch_pickle_options("film data.pkl");
    auto torch_rule = o.allow_global;
    o.allow_global = [torch_rule](const std::string& mod, const std::string& name, pickle::Reducer* r) {
        return mod.rfind("__torch__", 0) == 0 || mod == "torch.jit._pickle" || torch_rule(mod, name, r);
    };
    pickle::PickleDoc doc = pickle::unpickle(z.read(*data).span(), o);
    ASSERT_EQ(doc.root()->kind, pickle::Value::Kind::Object);
    EXPECT_EQ(doc.root()->qualname(), "__torch__.interpolator.Interpolator");
    ASSERT_NE(doc.root()->state, nullptr);
    EXPECT_NE(doc.root()->state->get("training"), nullptr);
}

}  // namespace
}  // namespace tc
