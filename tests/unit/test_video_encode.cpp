// Video output (media/video_encode): MP4 checked with ffprobe (h264, yuv420p, frame count, size, rate) and
// for moov-before-mdat by walking the top-level boxes; odd sizes cropped to even; WebM is VP9; GIF loops;
// frames_zip entries read back with our own zip reader and decoded exactly; failures leave no file.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/zip_reader.h"
#include "media/image_decode.h"
#include "media/video_encode.h"
#include "test_util.h"

using tc::Tensor;
using tc::media::EncodeOptions;
using tc::media::VideoFormat;

namespace {

// T frames of a moving gradient (so the encoders have motion to code).
Tensor clip(int64_t T, int64_t H, int64_t W) {
    Tensor t = Tensor::empty({T, H, W, 3}, tc::DType::U8);
    uint8_t* p = t.data<uint8_t>();
    for (int64_t f = 0; f < T; ++f)
        for (int64_t y = 0; y < H; ++y)
            for (int64_t x = 0; x < W; ++x) {
                uint8_t* q = p + ((f * H + y) * W + x) * 3;
                q[0] = uint8_t((x * 255) / std::max<int64_t>(W - 1, 1));
                q[1] = uint8_t((y * 255) / std::max<int64_t>(H - 1, 1));
                q[2] = uint8_t((f * 40 + x + y) & 0xff);
            }
    return t;
}

struct TempDir {
    std::string path;
    TempDir() {
        path = "/tmp/tc-video-test-XXXXXX";
        if (!::mkdtemp(path.data())) path.clear();
    }
    ~TempDir() {
        if (path.empty()) return;
        if (DIR* d = ::opendir(path.c_str())) {
            while (dirent* e = ::readdir(d)) {
                const std::string n = e->d_name;
                if (n != "." && n != "..") ::unlink((path + "/" + n).c_str());
            }
            ::closedir(d);
        }
        ::rmdir(path.c_str());
    }
    int count() const {  // entries in the directory
        int n = 0;
        if (DIR* d = ::opendir(path.c_str())) {
            while (dirent* e = ::readdir(d))
                if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ++n;
            ::closedir(d);
        }
        return n;
    }
};

bool have_tool(const char* name) {
    return std::system((std::string("command -v ") + name + " >/dev/null 2>&1").c_str()) == 0;
}

std::string run(const std::string& cmd) {
    std::string out;
    FILE* f = ::popen(cmd.c_str(), "r");
    if (!f) return out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    ::pclose(f);
    return out;
}

nlohmann::json ffprobe(const std::string& path) {
    return nlohmann::json::parse(
        run("ffprobe -v error -show_streams -show_format -of json '" + path + "'"));
}

std::vector<uint8_t> read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Types of the top-level ISO BMFF boxes, in file order.
std::vector<std::string> top_level_boxes(const std::vector<uint8_t>& b) {
    std::vector<std::string> types;
    size_t pos = 0;
    while (pos + 8 <= b.size()) {
        uint64_t size = uint64_t(b[pos]) << 24 | uint64_t(b[pos + 1]) << 16 | uint64_t(b[pos + 2]) << 8 | b[pos + 3];
        types.emplace_back(reinterpret_cast<const char*>(&b[pos + 4]), 4);
        if (size == 1) {
            if (pos + 16 > b.size()) break;
            size = 0;
            for (int i = 0; i < 8; ++i) size = size << 8 | b[pos + 8 + i];
        } else if (size == 0) {
            size = b.size() - pos;
        }
        if (size < 8) break;
        pos += size;
    }
    return types;
}

EncodeOptions opts(VideoFormat f, double fps = 8) {
    EncodeOptions o;
    o.format = f;
    o.fps = fps;
    return o;
}

}  // namespace

TEST(VideoEncode, FormatNamesAndMimeTypes) {
    EXPECT_EQ(tc::media::parse_video_format("mp4"), VideoFormat::MP4);
    EXPECT_EQ(tc::media::parse_video_format("webm"), VideoFormat::WebM);
    EXPECT_EQ(tc::media::parse_video_format("gif"), VideoFormat::GIF);
    EXPECT_EQ(tc::media::parse_video_format("frames_zip"), VideoFormat::FramesZip);
    EXPECT_THROW(tc::media::parse_video_format("MP4"), tc::Error);
    EXPECT_THROW(tc::media::parse_video_format("avi"), tc::Error);
    EXPECT_EQ(tc::media::video_mime_type(VideoFormat::MP4), "video/mp4");
    EXPECT_EQ(tc::media::video_mime_type(VideoFormat::WebM), "video/webm");
    EXPECT_EQ(tc::media::video_mime_type(VideoFormat::GIF), "image/gif");
    EXPECT_EQ(tc::media::video_mime_type(VideoFormat::FramesZip), "application/zip");
    for (VideoFormat f : {VideoFormat::MP4, VideoFormat::WebM, VideoFormat::GIF, VideoFormat::FramesZip})
        EXPECT_EQ(tc::media::parse_video_format(tc::media::video_format_name(f)), f);
}

TEST(VideoEncode, Mp4H264FaststartCheckedWithFfprobe) {
    TempDir dir;
    const std::string path = dir.path + "/out.mp4";
    tc::media::encode_video(clip(17, 64, 96), path, opts(VideoFormat::MP4, 8));
    EXPECT_EQ(dir.count(), 1) << "the temporary file must be gone";
    const std::vector<uint8_t> bytes = read_all(path);
    const std::vector<std::string> boxes = top_level_boxes(bytes);
    ASSERT_FALSE(boxes.empty());
    EXPECT_EQ(boxes.front(), "ftyp");
    const auto moov = std::find(boxes.begin(), boxes.end(), "moov"), mdat = std::find(boxes.begin(), boxes.end(), "mdat");
    ASSERT_NE(moov, boxes.end());
    ASSERT_NE(mdat, boxes.end());
    EXPECT_LT(moov - boxes.begin(), mdat - boxes.begin()) << "+faststart: moov must come before mdat";

    if (!have_tool("ffprobe")) GTEST_SKIP() << "ffprobe not installed (apt-get install ffmpeg): stream checks skipped";
    const nlohmann::json j = ffprobe(path);
    ASSERT_EQ(j["streams"].size(), 1u);
    const auto& s = j["streams"][0];
    EXPECT_EQ(s["codec_name"], "h264");
    EXPECT_EQ(s["pix_fmt"], "yuv420p");
    EXPECT_EQ(s["width"], 96);
    EXPECT_EQ(s["height"], 64);
    EXPECT_EQ(s["nb_frames"], "17");
    EXPECT_EQ(s["r_frame_rate"], "8/1");
    EXPECT_EQ(s["color_space"], "bt709");
    EXPECT_NE(std::string(j["format"]["format_name"]).find("mp4"), std::string::npos);
}

TEST(VideoEncode, Mp4ColoursSurviveTheRoundTrip) {
    if (!have_tool("ffmpeg")) GTEST_SKIP() << "ffmpeg CLI not installed: cannot decode the MP4 back";
    TempDir dir;
    const std::string path = dir.path + "/c.mp4", png = dir.path + "/f0.png";
    const Tensor frames = clip(4, 64, 64);
    tc::media::encode_video(frames, path, opts(VideoFormat::MP4, 8));
    run("ffmpeg -v error -i '" + path + "' -frames:v 1 -y '" + png + "'");
    const Tensor back = tc::media::decode_image_file(png);
    ASSERT_EQ(back.shape(), (tc::Shape{64, 64, 3}));
    const std::vector<float> a = back.to_vector(), b = frames.select(0, 0).contiguous().to_vector();
    double mean = 0;
    for (size_t i = 0; i < a.size(); ++i) mean += std::abs(a[i] - b[i]);
    mean /= double(a.size());
    EXPECT_LT(mean, 4.0) << "mean abs error of the first frame (BT.709 tags must be honoured)";
}

TEST(VideoEncode, OddSizeIsCroppedToEven) {
    TempDir dir;
    const std::string path = dir.path + "/odd.mp4";
    tc::media::encode_video(clip(3, 49, 65), path, opts(VideoFormat::MP4));
    if (!have_tool("ffprobe")) GTEST_SKIP() << "ffprobe not installed: size check skipped";
    const auto s = ffprobe(path)["streams"][0];
    EXPECT_EQ(s["width"], 64);
    EXPECT_EQ(s["height"], 48);
}

TEST(VideoEncode, WebmIsVp9) {
    TempDir dir;
    const std::string path = dir.path + "/out.webm";
    tc::media::encode_video(clip(6, 48, 64), path, opts(VideoFormat::WebM, 16));
    const std::vector<uint8_t> bytes = read_all(path);
    ASSERT_GE(bytes.size(), 4u);
    EXPECT_EQ(bytes[0], 0x1A);  // EBML magic
    EXPECT_EQ(bytes[1], 0x45);
    if (!have_tool("ffprobe")) GTEST_SKIP() << "ffprobe not installed: stream checks skipped";
    const auto j = ffprobe(path);
    const auto& s = j["streams"][0];
    EXPECT_EQ(s["codec_name"], "vp9");
    EXPECT_EQ(s["pix_fmt"], "yuv420p");
    EXPECT_EQ(s["width"], 64);
    EXPECT_EQ(s["height"], 48);
    EXPECT_NE(std::string(j["format"]["format_name"]).find("webm"), std::string::npos);
}

TEST(VideoEncode, GifLoopsForever) {
    const Tensor frames = clip(5, 24, 32);
    const std::vector<uint8_t> gif = tc::media::encode_video_bytes(frames, opts(VideoFormat::GIF, 10));
    ASSERT_GE(gif.size(), 13u);
    EXPECT_EQ(std::string(gif.begin(), gif.begin() + 6), "GIF89a");
    const std::string s(gif.begin(), gif.end());
    const size_t ns = s.find("NETSCAPE2.0");
    ASSERT_NE(ns, std::string::npos) << "no looping extension";
    EXPECT_EQ(uint8_t(s[ns + 13]) | uint8_t(s[ns + 14]) << 8, 0) << "loop count must be 0 (forever)";
    // The first frame decodes back close to the input (one 256-colour palette for 5 frames of a sawtooth
    // pattern, plus dithering noise: a loose bound).
    const Tensor first = tc::media::decode_image(gif.data(), gif.size());
    ASSERT_EQ(first.shape(), (tc::Shape{24, 32, 3}));
    const std::vector<float> a = first.to_vector(), b = frames.select(0, 0).contiguous().to_vector();
    double mean = 0;
    for (size_t i = 0; i < a.size(); ++i) mean += std::abs(a[i] - b[i]);
    EXPECT_LT(mean / double(a.size()), 12.0);
    if (!have_tool("ffprobe")) GTEST_SKIP() << "ffprobe not installed: stream checks skipped";
    TempDir dir;
    const std::string path = dir.path + "/a.gif";
    tc::media::encode_video(frames, path, opts(VideoFormat::GIF, 10));
    const auto st = ffprobe(path)["streams"][0];
    EXPECT_EQ(st["codec_name"], "gif");
    EXPECT_EQ(st["width"], 32);
}

TEST(VideoEncode, FramesZipReadableByOurZipReader) {
    const Tensor frames = clip(3, 21, 13);  // odd sizes are kept exactly here
    const std::vector<uint8_t> zip = tc::media::encode_video_bytes(frames, opts(VideoFormat::FramesZip));
    const tc::ZipReader r = tc::ZipReader::parse({zip.data(), zip.size()}, "frames.zip");
    ASSERT_EQ(r.entries().size(), 3u);
    for (int t = 0; t < 3; ++t) {
        char name[32];
        std::snprintf(name, sizeof name, "frame_%04d.png", t);
        const tc::ZipEntry* e = r.find(name);
        ASSERT_NE(e, nullptr) << name;
        EXPECT_EQ(e->method, 0) << "STORED";
        const tc::ZipData d = r.read(*e);
        const Tensor img = tc::media::decode_image(d.data, d.size);
        EXPECT_EQ(tc::test::max_abs_diff(img, frames.select(0, t)), 0.0) << name;
    }
}

TEST(VideoEncode, Mp4BytesStartWithFtyp) {
    const std::vector<uint8_t> b = tc::media::encode_video_bytes(clip(2, 32, 32), opts(VideoFormat::MP4));
    ASSERT_GE(b.size(), 8u);
    EXPECT_EQ(std::string(b.begin() + 4, b.begin() + 8), "ftyp");
}

TEST(VideoEncode, BadInputsFailAndLeaveNoFile) {
    TempDir dir;
    const std::string path = dir.path + "/x.mp4";
    EXPECT_THROW(tc::media::encode_video(Tensor::zeros({2, 8, 8}, tc::DType::U8), path, opts(VideoFormat::MP4)), tc::Error);
    EXPECT_THROW(tc::media::encode_video(Tensor::zeros({2, 8, 8, 3}), path, opts(VideoFormat::MP4)), tc::Error);  // F32
    EXPECT_THROW(tc::media::encode_video(Tensor::zeros({0, 8, 8, 3}, tc::DType::U8), path, opts(VideoFormat::MP4)),
                 tc::Error);
    EXPECT_THROW(tc::media::encode_video(clip(2, 8, 8), path, opts(VideoFormat::MP4, 0)), tc::Error);
    EXPECT_THROW(tc::media::encode_video(clip(2, 1, 8), path, opts(VideoFormat::MP4)), tc::Error);  // < 2 rows
    EXPECT_EQ(dir.count(), 0) << "a failed encode must leave neither the output nor a temporary file";
    EXPECT_THROW(tc::media::encode_video(clip(2, 8, 8), dir.path + "/missing/x.mp4", opts(VideoFormat::MP4)), tc::Error);
}

TEST(VideoEncode, ColonInPathIsNotAProtocol) {
    TempDir dir;
    const std::string path = dir.path + "/a:b.mp4";
    tc::media::encode_video(clip(2, 16, 16), path, opts(VideoFormat::MP4));
    struct stat st{};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_GT(st.st_size, 0);
}
