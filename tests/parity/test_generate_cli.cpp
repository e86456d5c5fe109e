// `tooncrafter generate` end to end: the built binary with the golden tiny config, checkpoint (the official
// torch zip layout), keyframe PNGs, prompt and recorded noise reproduces the golden frames (3e-2 max-abs,
// uint8 within +-1), and writes one PNG per frame. Also: usage errors exit non-zero with one "error:" line.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/safetensors.h"
#include "media/png.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;

std::string binary() { return tc::test::cli_binary(); }
std::string quote(const std::string& s) { return tc::test::shell_quote(s); }
int run(const std::string& cmd, std::string* output, bool merge_stderr = true) {
    return tc::test::run_command(cmd, output, merge_stderr);
}

std::string read_text(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

using tc::test::TempDir;

}  // namespace

TEST(GenerateCli, ReproducesGoldenFrames) {
    TC_REQUIRE_SHARED(e2e, "golden/tiny/e2e/e2e.safetensors");
    TC_REQUIRE_SHARED(yaml, "golden/tiny/tiny.yaml");
    TC_REQUIRE_SHARED(ckpt, "golden/tiny/model.ckpt");
    TC_REQUIRE_SHARED(vocab, "golden/clip/bpe_simple_vocab_16e6.txt.gz");
    ASSERT_TRUE(fs::exists(binary())) << binary() << " not built";
    const std::string dir = tc::test::shared_dir() + "/golden/tiny/e2e/";
    TempDir tmp;
    const std::string raw = (tmp.path / "raw.safetensors").string();
    const std::string out = (tmp.path / "out.mp4").string();
    const std::string cmd = quote(binary()) + " generate --config " + quote(yaml) + " --ckpt " + quote(ckpt) +
                            " --image " + quote(dir + "keyframe_0.png") + " --image " + quote(dir + "keyframe_1.png") +
                            " --prompt " + quote(read_text(dir + "prompt.txt")) + " --noise " + quote(e2e) +
                            " --steps 4 --vocab " + quote(vocab) + " --raw-out " + quote(raw) + " -o " + quote(out);
    std::string log;
    const int rc = run(cmd, &log);
    std::printf("%s", log.c_str());
    ASSERT_EQ(rc, 0) << cmd;

    auto ref = tc::SafeTensorsFile::open(e2e);
    auto got = tc::SafeTensorsFile::open(raw);
    const double d_frames = tc::test::max_abs_diff(got.get("frames"), ref.get("frames"));
    const double d_latent = tc::test::max_abs_diff(got.get("latent"), ref.get("final_latent"));
    std::printf("[parity] generate CLI: frames max-abs %.3g, final latent max-abs %.3g\n", d_frames, d_latent);
    EXPECT_LE(d_frames, 3e-2);
    EXPECT_LE(d_latent, 3e-2);
    const tc::Tensor u8 = got.get("frames_uint8_thwc");
    EXPECT_LE(tc::test::max_abs_diff(u8, ref.get("frames_uint8_thwc")), 1.0);

    // One PNG per frame in out_frames/, equal to the uint8 frames.
    for (int t = 0; t < 8; ++t) {
        char name[32];
        std::snprintf(name, sizeof name, "frame_%02d.png", t);
        const fs::path png = tmp.path / "out_frames" / name;
        ASSERT_TRUE(fs::exists(png)) << png;
        EXPECT_EQ(tc::test::max_abs_diff(tc::read_png(png.string()), u8.select(0, t)), 0.0) << name;
    }
}

TEST(GenerateCli, UsageErrors) {
    TC_REQUIRE_SHARED(e2e_dir, "golden/tiny/e2e/keyframe_0.png");
    ASSERT_TRUE(fs::exists(binary())) << binary() << " not built";
    std::string log;
    // One keyframe only: a clear error before any model loading.
    int rc = run(quote(binary()) + " generate --ckpt /nonexistent.ckpt --image " + quote(e2e_dir) + " -o /nonexistent/x.mp4", &log);
    EXPECT_NE(rc, 0);
    EXPECT_NE(log.find("error:"), std::string::npos) << log;
    EXPECT_NE(log.find("two keyframes"), std::string::npos) << log;
    // A keyframe that is not a PNG.
    TempDir tmp;
    const std::string bogus = (tmp.path / "not_a.png").string();
    std::ofstream(bogus) << "this is not a PNG";
    rc = run(quote(binary()) + " generate --ckpt /nonexistent.ckpt --image " + quote(bogus) + " --image " + quote(bogus) +
                 " -o " + quote((tmp.path / "x.mp4").string()),
             &log);
    EXPECT_NE(rc, 0);
    EXPECT_NE(log.find("error:"), std::string::npos) << log;
    // --help documents where the frames go.
    rc = run(quote(binary()) + " generate --help", &log);
    EXPECT_EQ(rc, 0);
    EXPECT_NE(log.find("_frames"), std::string::npos) << log;
}
