// Golden parity of FILM (film_net) against /work/shared/golden/film (README there): the port's primitives,
// cases a-f with the float32 weights (safetensors and the TorchScript archive), and the fp16 archives of
// both key generations.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "core/ops.h"
#include "io/safetensors.h"
#include "models/film.h"
#include "models/film_kernels.h"
#include "test_util.h"

namespace tc {
namespace {

constexpr double kTol = 1e-4;  // the brief's bar; observed figures are ~1e-6 (printed)

const Film& tiny_film(const std::string& file) {
    static std::map<std::string, std::unique_ptr<Film>> cache;
    auto it = cache.find(file);
    if (it == cache.end()) it = cache.emplace(file, load_film(file)).first;
    return *it->second;
}

double report(const char* name, const Tensor& got, const Tensor& ref) {
    const double e = test::rel_err(got, ref);
    std::printf("[parity] film %s rel_err=%.3g max_abs=%.3g\n", name, e, test::max_abs_diff(got, ref));
    return e;
}

TEST(FilmParity, Ops) {
    TC_REQUIRE_SHARED(path, "golden/film/cases/ops.safetensors");
    auto f = SafeTensorsFile::open(path);
    EXPECT_LT(report("ops_warp", film::warp(f.get("warp.image"), f.get("warp.flow")), f.get("warp.out")), 1e-5);
    Tensor in = f.get("resize.in");
    EXPECT_LT(report("ops_bilinear_5x9", film::resize_bilinear(ops::scale(in, 2.f), 5, 9),
                     f.get("bilinear_2x_to_5x9.out")), 1e-6);
    EXPECT_LT(report("ops_bilinear_4x8", film::resize_bilinear(ops::scale(in, 2.f), 4, 8),
                     f.get("bilinear_2x_to_4x8.out")), 1e-6);
    EXPECT_EQ(test::max_abs_diff(film::resize_nearest(in, 5, 9), f.get("nearest_to_5x9.out")), 0.0);
    EXPECT_EQ(test::max_abs_diff(film::resize_nearest(in, 4, 8), f.get("nearest_to_4x8.out")), 0.0);
    EXPECT_LT(report("ops_avgpool", film::avg_pool2x2(f.get("avgpool.in")), f.get("avgpool.out")), 1e-6);
}

void check_case_a(const std::string& weights, const char* label, double tol) {
    TC_REQUIRE_SHARED(path, "golden/film/cases/case_a_64x64.safetensors");
    auto c = SafeTensorsFile::open(path);
    const Film& m = tiny_film(weights);
    Tensor raw = m.forward(c.get("x0"), c.get("x1"), c.get("dt"));
    EXPECT_LT(report((std::string(label) + "_raw").c_str(), raw, c.get("out_raw")), tol);
    EXPECT_LT(report(label, film_interpolate(m, c.get("x0"), c.get("x1"), c.get("dt")), c.get("out")), tol);
}

TEST(FilmParity, CaseA_Safetensors) {
    TC_REQUIRE_SHARED(w, "golden/film/film_tiny.safetensors");
    check_case_a(w, "case_a", kTol);
}

TEST(FilmParity, CaseA_TorchScriptFp32) {
    TC_REQUIRE_SHARED(w, "golden/film/film_tiny.pt");
    check_case_a(w, "case_a_pt_fp32", kTol);
}

// fp16 archives run in float32 with half-rounded weights (inference.py without --fp16, ComfyUI on CPU).
// README section 8: that rounding alone moves case (a) by 3.0e-4 max-abs (rel 3.9e-4 of max|out| 0.774);
// the budget is 1e-3 relative (2.5x that figure), far below the 1e-2.. errors a real bug gives.
TEST(FilmParity, CaseA_TorchScriptFp16) {
    TC_REQUIRE_SHARED(w, "golden/film/film_tiny_fp16.pt");
    check_case_a(w, "case_a_pt_fp16", 1e-3);
}

TEST(FilmParity, CaseA_TorchScriptV100Fp16) {
    TC_REQUIRE_SHARED(w, "golden/film/film_tiny_v100_fp16.pt");
    check_case_a(w, "case_a_pt_v100_fp16", 1e-3);
    EXPECT_EQ(tiny_film(w).key_generation, "v1.0.0");
    // Same weights, same output at dt = 0.5 as the v1.0.2 fp16 file (README 5.1).
    TC_REQUIRE_SHARED(w2, "golden/film/film_tiny_fp16.pt");
    TC_REQUIRE_SHARED(path, "golden/film/cases/case_a_64x64.safetensors");
    auto c = SafeTensorsFile::open(path);
    EXPECT_EQ(test::max_abs_diff(tiny_film(w).forward(c.get("x0"), c.get("x1"), c.get("dt")),
                                 tiny_film(w2).forward(c.get("x0"), c.get("x1"), c.get("dt"))),
              0.0);
}

TEST(FilmParity, CaseB_PaddedAndDirect) {
    TC_REQUIRE_SHARED(w, "golden/film/film_tiny.safetensors");
    TC_REQUIRE_SHARED(path, "golden/film/cases/case_b_96x160.safetensors");
    auto c = SafeTensorsFile::open(path);
    const Film& m = tiny_film(w);
    // The port's route (pad centred to 128x192, clamp, crop) — what film_interpolate implements.
    EXPECT_LT(report("case_b", film_interpolate(m, c.get("x0"), c.get("x1"), c.get("dt")), c.get("out_port")), kTol);
    EXPECT_LT(report("case_b_padded_raw", m.forward(c.get("x0_padded"), c.get("x1_padded"), c.get("dt")),
                     c.get("out_padded_raw")),
              kTol);
    // ComfyUI's direct route at 96x160 (non-2x pyramid ratios).
    EXPECT_LT(report("case_b_direct_raw", m.forward(c.get("x0"), c.get("x1"), c.get("dt")), c.get("out_direct_raw")),
              kTol);
}

TEST(FilmParity, CaseC_Intermediates) {
    TC_REQUIRE_SHARED(w, "golden/film/film_tiny.safetensors");
    TC_REQUIRE_SHARED(path, "golden/film/cases/case_c_intermediates_64x64.safetensors");
    auto c = SafeTensorsFile::open(path);
    std::map<std::string, Tensor> taps;
    tiny_film(w).forward_debug(c.get("x0"), c.get("x1"), c.get("dt"), &taps);
    double worst = 0;
    std::string worst_name;
    int compared = 0;
    for (const std::string& name : c.names()) {
        if (name == "x0" || name == "x1" || name == "dt") continue;
        auto it = taps.find(name);
        if (it == taps.end()) {
            // Only the sub-tree stages the port computes and discards (i + j > 6) are not produced here.
            EXPECT_EQ(name.rfind("subtree0.S", 0), 0u) << "missing intermediate " << name;
            continue;
        }
        const double e = test::rel_err(it->second, c.get(name));
        EXPECT_LT(e, kTol) << name;
        if (e > worst) worst = e, worst_name = name;
        ++compared;
    }
    std::printf("[parity] film case_c rel_err=%.3g (worst of %d intermediates: %s)\n", worst, compared,
                worst_name.c_str());
    EXPECT_GE(compared, 90);
}

TEST(FilmParity, CaseD_Sequence) {
    TC_REQUIRE_SHARED(w, "golden/film/film_tiny.safetensors");
    TC_REQUIRE_SHARED(path, "golden/film/cases/case_d_seq3_to5_64x128.safetensors");
    auto c = SafeTensorsFile::open(path);
    const Film& m = tiny_film(w);
    Tensor f = c.get("frames_in");  // [3, 3, 64, 128]
    Tensor dt = c.get("dt");
    std::vector<Tensor> raws, frames;
    for (int64_t i = 0; i + 1 < f.size(0); ++i) {
        Tensor a = f.slice(0, i, i + 1), b = f.slice(0, i + 1, i + 2);
        raws.push_back(m.forward(a, b, dt));
        frames.push_back(a);
        frames.push_back(film_interpolate(m, a, b, dt));
    }
    frames.push_back(f.slice(0, f.size(0) - 1, f.size(0)));
    EXPECT_LT(report("case_d_mid_raw", ops::concat(raws, 0), c.get("mid_raw")), kTol);
    EXPECT_LT(report("case_d", ops::concat(frames, 0), c.get("frames_out")), kTol);
}

TEST(FilmParity, CaseE_ThreeX) {
    TC_REQUIRE_SHARED(w, "golden/film/film_tiny.safetensors");
    TC_REQUIRE_SHARED(path, "golden/film/cases/case_e_pair_3x_64x64.safetensors");
    auto c = SafeTensorsFile::open(path);
    const Film& m = tiny_film(w);
    Tensor x0 = c.get("x0"), x1 = c.get("x1"), sdt = c.get("schedule_dt");  // [2, 1]
    // inference.py's schedule for 2 in-between frames: t = 2/3 between (0, 1) first, then t = 1/3 between
    // (0, the generated 2/3 frame) — call order stored in schedule_start_end_target.
    Tensor f2 = film_interpolate(m, x0, x1, sdt.slice(0, 0, 1));
    Tensor f1 = film_interpolate(m, x0, f2, sdt.slice(0, 1, 2));
    EXPECT_LT(report("case_e", ops::concat({x0, f1, f2, x1}, 0), c.get("frames_out")), kTol);
}

TEST(FilmParity, CaseF_Batch2) {
    TC_REQUIRE_SHARED(w, "golden/film/film_tiny.safetensors");
    TC_REQUIRE_SHARED(path, "golden/film/cases/case_f_batch2_64x64.safetensors");
    auto c = SafeTensorsFile::open(path);
    EXPECT_LT(report("case_f", tiny_film(w).forward(c.get("x0"), c.get("x1"), c.get("dt")), c.get("out_raw")), kTol);
}

// The CLI test hook: `tooncrafter film --weights W --in CASE --raw-out OUT` on case (b) (padding route).
TEST(FilmParity, CliCaseB) {
    TC_REQUIRE_SHARED(w, "golden/film/film_tiny.pt");
    TC_REQUIRE_SHARED(path, "golden/film/cases/case_b_96x160.safetensors");
    const std::string bin = std::string(TC_BINARY_DIR) + "/tooncrafter";
    if (!std::filesystem::exists(bin) || std::system((bin + " film --help > /dev/null 2>&1").c_str()) != 0)
        GTEST_SKIP() << "tooncrafter has no `film` subcommand in this build";
    const std::string out = (std::filesystem::temp_directory_path() / "tc_film_cli_case_b.safetensors").string();
    const std::string cmd = bin + " film -q --weights '" + w + "' --in '" + path + "' --raw-out '" + out + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    auto got = SafeTensorsFile::open(out);
    auto c = SafeTensorsFile::open(path);
    EXPECT_LT(report("case_b_cli", got.get("out"), c.get("out_port")), kTol);
    std::filesystem::remove(out);
}

}  // namespace
}  // namespace tc
