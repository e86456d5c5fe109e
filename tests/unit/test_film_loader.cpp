// FILM weight loading: the declared module tree equals the port's state_dict manifests (tiny and full
// size), the TorchScript archive reader extracts the exact tensors of both key generations, and damaged
// or mismatched files fail with a clear tc::Error.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "ckpt_builder.h"
#include "io/safetensors.h"
#include "io/torchscript_archive.h"
#include "models/film.h"
#include "test_util.h"

namespace tc {
namespace {

using testutil::TempDir;

// (key, shape "AxBxC") rows of a golden key manifest.
std::vector<std::pair<std::string, std::string>> read_manifest(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::pair<std::string, std::string>> rows;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        std::string key, shape;
        std::getline(ls, key, '\t');
        std::getline(ls, shape, '\t');
        rows.emplace_back(key, shape);
    }
    return rows;
}

std::vector<std::pair<std::string, std::string>> declared(const Module& m) {
    std::vector<std::pair<std::string, std::string>> rows;
    m.visit_params([&](const std::string& name, const Param& p) {
        std::string s;
        for (size_t i = 0; i < p.shape.size(); ++i) {
            if (i) s += 'x';
            s += std::to_string(p.shape[i]);
        }
        rows.emplace_back(name, s);
    });
    return rows;
}

FilmConfig tiny_config() {
    FilmConfig c;
    c.filters = 12;
    c.flow_filters = {6, 12, 24, 48};
    return c;
}

TEST(FilmLoader, TinyStructureMatchesManifest) {
    TC_REQUIRE_SHARED(keys, "golden/film/film_tiny_keys.tsv");
    Film m(tiny_config());
    auto want = read_manifest(keys);
    ASSERT_EQ(want.size(), 82u);
    EXPECT_EQ(declared(m), want);
}

TEST(FilmLoader, FullStructureMatchesManifest) {
    TC_REQUIRE_SHARED(keys, "golden/film/film_full_keys.tsv");
    Film m;  // the released film_net
    EXPECT_EQ(declared(m), read_manifest(keys));
    int64_t total = 0;
    m.visit_params([&](const std::string&, const Param& p) { total += shape_numel(p.shape); });
    EXPECT_EQ(total, 34436667);
}

TEST(FilmLoader, TorchScriptArchiveEqualsStateDict) {
    TC_REQUIRE_SHARED(pt, "golden/film/film_tiny.pt");
    TC_REQUIRE_SHARED(pt16, "golden/film/film_tiny_fp16.pt");
    TC_REQUIRE_SHARED(st, "golden/film/film_tiny.safetensors");
    auto ref = SafeTensorsFile::open(st);
    auto a = TorchScriptArchive::open(pt);
    auto h = TorchScriptArchive::open(pt16);
    EXPECT_EQ(a.root_class(), "__torch__.interpolator.Interpolator");
    ASSERT_EQ(a.names(), ref.names());  // same keys, same (state_dict) order
    ASSERT_EQ(h.names(), ref.names());
    for (const std::string& n : ref.names()) {
        Tensor r = ref.get(n);
        EXPECT_EQ(a.info(n).dtype, DType::F32) << n;
        EXPECT_EQ(test::max_abs_diff(a.get(n), r), 0.0) << n;
        EXPECT_EQ(h.info(n).dtype, DType::F16) << n;
        EXPECT_EQ(test::max_abs_diff(h.get(n), r.to(DType::F16)), 0.0) << n;  // the weights rounded to half
    }
}

TEST(FilmLoader, OldKeyGenerationIsMapped) {
    TC_REQUIRE_SHARED(old, "golden/film/film_tiny_v100_fp16.pt");
    TC_REQUIRE_SHARED(pt16, "golden/film/film_tiny_fp16.pt");
    auto a = TorchScriptArchive::open(old);
    EXPECT_TRUE(a.contains("predict_flow._predictor._convs.4.weight"));
    EXPECT_TRUE(a.contains("fuse.convs.3.0.weight"));
    EXPECT_FALSE(a.contains("fuse.convs.3.0.0.weight"));
    auto old_m = load_film(old);
    auto new_m = load_film(pt16);
    EXPECT_EQ(old_m->key_generation, "v1.0.0");
    EXPECT_EQ(new_m->key_generation, "v1.0.2");
    // Bound values are identical under the renaming.
    std::map<std::string, Tensor> nv;
    new_m->visit_params([&](const std::string& n, const Param& p) { nv[n] = p.value; });
    int count = 0;
    old_m->visit_params([&](const std::string& n, const Param& p) {
        EXPECT_EQ(test::max_abs_diff(p.value, nv.at(n)), 0.0) << n;
        ++count;
    });
    EXPECT_EQ(count, 82);
    EXPECT_EQ(old_m->config().filters, 12);
    EXPECT_EQ(old_m->config().flow_filters, (std::vector<int64_t>{6, 12, 24, 48}));
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void expect_error(const std::string& path, const std::string& needle) {
    try {
        load_film(path);
        ADD_FAILURE() << "load_film(" << path << ") did not throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

TEST(FilmLoader, DamagedFilesFailClearly) {
    TC_REQUIRE_SHARED(st, "golden/film/film_tiny.safetensors");
    TC_REQUIRE_SHARED(pt, "golden/film/film_tiny.pt");
    TempDir dir;
    const std::string st_bytes = read_bytes(st), pt_bytes = read_bytes(pt);

    write_bytes(dir.file("trunc.safetensors"), st_bytes.substr(0, st_bytes.size() / 2));
    EXPECT_THROW(load_film(dir.file("trunc.safetensors")), Error);
    write_bytes(dir.file("trunc.pt"), pt_bytes.substr(0, pt_bytes.size() - 4096));
    EXPECT_THROW(load_film(dir.file("trunc.pt")), Error);
    write_bytes(dir.file("garbage.pt"), "not a weight file at all");
    EXPECT_THROW(load_film(dir.file("garbage.pt")), Error);

    auto ref = SafeTensorsFile::open(st);
    auto rewrite = [&](const std::string& file, const std::function<bool(std::string&, Tensor&)>& edit) {
        std::vector<std::pair<std::string, Tensor>> ts;
        for (std::string n : ref.names()) {
            Tensor t = ref.get(n);
            if (edit(n, t)) ts.emplace_back(n, t);
        }
        save_safetensors(dir.file(file), ts);
        return dir.file(file);
    };
    // A wrong shape (one output channel dropped from a fusion conv).
    expect_error(rewrite("shape.safetensors",
                         [](std::string& n, Tensor& t) {
                             if (n == "fuse.convs.2.1.0.weight") t = t.slice(0, 0, t.size(0) - 1).contiguous();
                             return true;
                         }),
                 "fuse.convs.2.1.0.weight");
    // A missing tensor, and an extra one.
    expect_error(rewrite("missing.safetensors", [](std::string& n, Tensor&) { return n != "fuse.output_conv.bias"; }),
                 "fuse.output_conv.bias");
    expect_error(rewrite("extra.safetensors",
                         [](std::string& n, Tensor&) {
                             if (n == "fuse.output_conv.bias") n = "fuse.output_conv.extra";
                             return true;
                         }),
                 "fuse.output_conv");
    // Not FILM at all.
    expect_error(rewrite("other.safetensors",
                         [](std::string& n, Tensor&) { return n.rfind("extract.", 0) != 0; }),
                 "not a FILM");
}

}  // namespace
}  // namespace tc
