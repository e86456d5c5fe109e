// `tooncrafter generate` on the Engine, end to end through the built binary with the golden tiny model:
// 3 keyframes with --loop --interpolate -> an MP4 that ffprobe reads as H.264 yuv420p 64x64, 42 frames at
// 16 fps, with the moov box before mdat (+faststart); 2 keyframes without loop / FILM -> 8 frames at 8 fps;
// --output-format gif -> a GIF. The ffprobe checks are skipped (with a message) when ffprobe is absent.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "media/png.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;

std::string binary() { return tc::test::cli_binary(); }
std::string quote(const std::string& s) { return tc::test::shell_quote(s); }
int run(const std::string& cmd, std::string* output, bool merge_stderr = true) {
    return tc::test::run_command(cmd, output, merge_stderr);
}

std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

bool have_ffprobe() { return run("command -v ffprobe", nullptr) == 0; }

// The top-level MP4 box types in file order.
std::vector<std::string> top_level_boxes(const std::vector<uint8_t>& b) {
    std::vector<std::string> types;
    size_t pos = 0;
    while (pos + 8 <= b.size()) {
        uint64_t size = (uint64_t(b[pos]) << 24) | (uint64_t(b[pos + 1]) << 16) | (uint64_t(b[pos + 2]) << 8) | b[pos + 3];
        types.emplace_back(reinterpret_cast<const char*>(&b[pos + 4]), 4);
        if (size == 1) {  // 64-bit largesize follows the type
            if (pos + 16 > b.size()) break;
            size = 0;
            for (int i = 0; i < 8; ++i) size = (size << 8) | b[pos + 8 + size_t(i)];
        } else if (size == 0) {  // to the end of the file
            break;
        }
        if (size < 8) break;
        pos += size_t(size);
    }
    return types;
}

tc::Tensor flip_w_u8(const tc::Tensor& hwc_any) {
    const tc::Tensor hwc = hwc_any.contiguous();
    const int64_t H = hwc.size(0), W = hwc.size(1);
    tc::Tensor out = tc::Tensor::empty(hwc.shape(), tc::DType::U8);
    const uint8_t* src = hwc.data<uint8_t>();
    uint8_t* dst = out.data<uint8_t>();
    for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x)
            for (int64_t c = 0; c < 3; ++c) dst[(y * W + x) * 3 + c] = src[(y * W + (W - 1 - x)) * 3 + c];
    return out;
}

using tc::test::TempDir;

// The golden tiny model's common arguments.
struct Tiny {
    std::string yaml, ckpt, vocab, film, k0, k1;
    std::string base() const {
        return quote(binary()) + " generate --config " + quote(yaml) + " --ckpt " + quote(ckpt) + " --vocab " +
               quote(vocab) + " --steps 2 --max-width 64 --max-height 64";
    }
};

// ffprobe's first video stream; nb_read_frames counted by decoding.
nlohmann::json probe(const std::string& path) {
    std::string out;
    const int rc = run("ffprobe -v error -count_frames -show_streams -show_format -of json " + quote(path), &out, false);
    EXPECT_EQ(rc, 0) << out;
    const nlohmann::json j = nlohmann::json::parse(out);
    for (const auto& s : j.at("streams"))
        if (s.at("codec_type") == "video") return s;
    ADD_FAILURE() << "no video stream in " << path << ": " << out;
    return {};
}

}  // namespace

#define TC_REQUIRE_TINY(t)                                                            \
    TC_REQUIRE_SHARED(yaml_, "golden/tiny/tiny.yaml");                                \
    TC_REQUIRE_SHARED(ckpt_, "golden/tiny/model.safetensors");                        \
    TC_REQUIRE_SHARED(vocab_, "golden/clip/bpe_simple_vocab_16e6.txt.gz");            \
    TC_REQUIRE_SHARED(film_, "golden/film/film_tiny.safetensors");                    \
    TC_REQUIRE_SHARED(k0_, "golden/tiny/e2e/keyframe_0.png");                         \
    TC_REQUIRE_SHARED(k1_, "golden/tiny/e2e/keyframe_1.png");                         \
    ASSERT_TRUE(fs::exists(binary())) << binary() << " not built";                   \
    const Tiny t{yaml_, ckpt_, vocab_, film_, k0_, k1_}

TEST(GenerateVideo, ThreeKeyframesLoopFilmMp4) {
    TC_REQUIRE_TINY(t);
    TempDir tmp;
    const std::string k2 = (tmp.path / "keyframe_0_mirrored.png").string();
    tc::write_png(k2, flip_w_u8(tc::read_png(t.k0)));
    const std::string out = (tmp.path / "out.mp4").string();
    // Positional keyframes and --image mixed: a b --image c.
    const std::string cmd = t.base() + " " + quote(t.k0) + " " + quote(t.k1) + " --image " + quote(k2) +
                            " --loop --interpolate --film-weights " + quote(t.film) + " -o " + quote(out);
    std::string log;
    const int rc = run(cmd, &log);
    std::printf("%s", log.c_str());
    ASSERT_EQ(rc, 0) << cmd;
    ASSERT_TRUE(fs::exists(out));

    // +faststart: moov before mdat among the top-level boxes.
    const std::vector<std::string> boxes = top_level_boxes(read_bytes(out));
    const auto moov = std::find(boxes.begin(), boxes.end(), "moov"), mdat = std::find(boxes.begin(), boxes.end(), "mdat");
    ASSERT_NE(moov, boxes.end());
    ASSERT_NE(mdat, boxes.end());
    EXPECT_LT(moov - boxes.begin(), mdat - boxes.begin()) << "moov after mdat";

    if (!have_ffprobe()) GTEST_SKIP() << "ffprobe not found on PATH: stream checks skipped";
    const nlohmann::json s = probe(out);
    std::printf("[generate-video] loop+film mp4: %s %s %sx%s frames %s at %s\n", s.value("codec_name", "?").c_str(),
                s.value("pix_fmt", "?").c_str(), std::to_string(s.value("width", 0)).c_str(),
                std::to_string(s.value("height", 0)).c_str(), s.value("nb_read_frames", "?").c_str(),
                s.value("r_frame_rate", "?").c_str());
    EXPECT_EQ(s.value("codec_name", ""), "h264");
    EXPECT_EQ(s.value("pix_fmt", ""), "yuv420p");
    EXPECT_EQ(s.value("width", 0), 64);
    EXPECT_EQ(s.value("height", 0), 64);
    // 3 segments of T = 8 with loop: 7 * 3 = 21 frames; FILM 2x with loop doubles them.
    EXPECT_EQ(s.value("nb_read_frames", ""), "42");
    EXPECT_EQ(s.value("r_frame_rate", ""), "16/1");
}

TEST(GenerateVideo, TwoKeyframesPlainMp4AndGif) {
    TC_REQUIRE_TINY(t);
    TempDir tmp;
    const std::string out = (tmp.path / "plain.mp4").string();
    std::string cmd = t.base() + " --image " + quote(t.k0) + " --image " + quote(t.k1) + " -o " + quote(out);
    std::string log;
    int rc = run(cmd, &log);
    std::printf("%s", log.c_str());
    ASSERT_EQ(rc, 0) << cmd;
    ASSERT_TRUE(fs::exists(out));

    // --output-format wins over the extension.
    const std::string gif = (tmp.path / "anim.bin").string();
    cmd = t.base() + " -q " + quote(t.k0) + " " + quote(t.k1) + " --output-format gif -o " + quote(gif);
    rc = run(cmd, &log);
    ASSERT_EQ(rc, 0) << cmd << "\n" << log;
    const std::vector<uint8_t> g = read_bytes(gif);
    ASSERT_GE(g.size(), 6u);
    EXPECT_EQ(std::string(g.begin(), g.begin() + 6), "GIF89a");

    if (!have_ffprobe()) GTEST_SKIP() << "ffprobe not found on PATH: stream checks skipped";
    const nlohmann::json s = probe(out);
    std::printf("[generate-video] plain mp4: %sx%s frames %s at %s\n", std::to_string(s.value("width", 0)).c_str(),
                std::to_string(s.value("height", 0)).c_str(), s.value("nb_read_frames", "?").c_str(),
                s.value("r_frame_rate", "?").c_str());
    EXPECT_EQ(s.value("codec_name", ""), "h264");
    EXPECT_EQ(s.value("width", 0), 64);
    EXPECT_EQ(s.value("height", 0), 64);
    EXPECT_EQ(s.value("nb_read_frames", ""), "8");
    EXPECT_EQ(s.value("r_frame_rate", ""), "8/1");
}

TEST(GenerateVideo, UsageErrorsAreOneLineExit2) {
    TC_REQUIRE_SHARED(k0, "golden/tiny/e2e/keyframe_0.png");
    ASSERT_TRUE(fs::exists(binary())) << binary() << " not built";
    std::string log;
    // Eleven keyframes.
    std::string cmd = quote(binary()) + " generate --ckpt /nonexistent.ckpt -o /tmp/x.mp4";
    for (int i = 0; i < 11; ++i) {
        cmd += ' ';
        cmd += quote(k0);
    }
    int rc = run(cmd, &log);
    EXPECT_EQ(rc, 2) << log;
    EXPECT_NE(log.find("error: generate takes at most 10 keyframes"), std::string::npos) << log;
    // A bad output format, before any model loading.
    rc = run(quote(binary()) + " generate --ckpt /nonexistent.ckpt " + quote(k0) + " " + quote(k0) +
                 " --output-format avi -o /tmp/x.avi",
             &log);
    EXPECT_EQ(rc, 2) << log;
    EXPECT_EQ(log.rfind("error:", 0), 0u) << log;
}
