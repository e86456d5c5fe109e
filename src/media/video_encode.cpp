// Video encoding with libavformat/libavcodec (+ libavfilter for GIF palettes, libswscale for RGB->YUV).
// The flow follows FFmpeg's doc/examples/encode_video.c and mux.c: open the encoder, copy its parameters to
// the stream, write the header (muxer options such as movflags go there), send frames, drain packets with
// timestamps rescaled from the encoder's time base to the stream's, flush, write the trailer.
#include "media/video_encode.h"

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "media/ffmpeg_raii.h"
#include "media/zip_writer.h"

namespace tc::media {

namespace {

// A temporary file next to its destination ("dir/.name.tmp-XXXXXX"); removed unless commit() renamed it.
class TempFile {
public:
    explicit TempFile(const std::string& dest) : dest_(dest) {
        const size_t slash = dest.find_last_of('/');
        const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : dest.substr(0, slash));
        const std::string base = slash == std::string::npos ? dest : dest.substr(slash + 1);
        TC_CHECK(!base.empty(), "output path ", dest, " names a directory");
        std::string tmpl = dir + "/." + base + ".tmp-XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        const int fd = ::mkstemp(buf.data());
        TC_CHECK(fd >= 0, "cannot create a temporary file in ", dir, ": ", std::strerror(errno));
        ::fchmod(fd, 0644);  // mkstemp makes 0600; the result is an ordinary output file
        ::close(fd);
        path_ = buf.data();
    }
    ~TempFile() {
        if (!path_.empty()) ::unlink(path_.c_str());
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    const std::string& path() const { return path_; }
    void commit() {
        TC_CHECK(::rename(path_.c_str(), dest_.c_str()) == 0, "cannot move the encoded file to ", dest_, ": ",
                 std::strerror(errno));
        path_.clear();
    }

private:
    std::string dest_;
    std::string path_;
};

struct FrameGeometry {
    int64_t T = 0, H = 0, W = 0;
};

FrameGeometry check_frames(const Tensor& frames) {
    TC_CHECK(frames.defined() && frames.dim() == 4 && frames.size(3) == 3 && frames.dtype() == DType::U8 &&
                 frames.device() == Device::CPU,
             "encode_video expects CPU frames [T, H, W, 3] U8, got ", frames.defined() ? frames.describe() : "none");
    FrameGeometry g{frames.size(0), frames.size(1), frames.size(2)};
    TC_CHECK(g.T >= 1, "encode_video: no frames");
    TC_CHECK(g.H >= 1 && g.W >= 1 && g.H <= 16384 && g.W <= 16384, "encode_video: bad frame size ", g.W, "x", g.H);
    return g;
}

AVRational rate_of(double fps) {
    TC_CHECK(std::isfinite(fps) && fps > 0 && fps <= 1000, "encode_video: fps must be in (0, 1000], got ", fps);
    return av_d2q(fps, 1'000'000);  // 8 -> 8/1, 29.97 -> 2997/100
}

const AVCodec* find_encoder(const char* name) {
    const AVCodec* c = avcodec_find_encoder_by_name(name);
    TC_CHECK(c, "this FFmpeg build has no ", name, " encoder");
    return c;
}

// Sends `frame` (null: flush) and writes every packet the encoder has ready.
void encode_and_write(AVCodecContext* enc, const AVFrame* frame, AVFormatContext* oc, AVStream* st, AVPacket* pkt) {
    check_av(avcodec_send_frame(enc, frame), "encoding a frame");
    for (;;) {
        const int ret = avcodec_receive_packet(enc, pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return;
        check_av(ret, "encoding a frame");
        av_packet_rescale_ts(pkt, enc->time_base, st->time_base);
        pkt->stream_index = st->index;
        check_av(av_interleaved_write_frame(oc, pkt), "writing a packet");  // takes the packet's reference
    }
}

// The output container on `path` ("file:" prefix: a ':' in a path must not select a protocol).
AvFormatOutputPtr open_output(const char* muxer, const std::string& path) {
    const std::string url = "file:" + path;
    AVFormatContext* raw = nullptr;
    check_av(avformat_alloc_output_context2(&raw, nullptr, muxer, url.c_str()), std::string("creating the ") + muxer + " muxer");
    return AvFormatOutputPtr(raw);
}

void finish_output(AVFormatContext* oc) {
    check_av(av_write_trailer(oc), "finishing the file");
    if (!(oc->oformat->flags & AVFMT_NOFILE)) check_av(avio_closep(&oc->pb), "closing the file");
}

// MP4 (libx264) or WebM (libvpx-vp9), yuv420p.
void encode_yuv_video(const Tensor& frames, const FrameGeometry& g, const std::string& path, const EncodeOptions& o) {
    const bool mp4 = o.format == VideoFormat::MP4;
    // 4:2:0 chroma needs even sizes: drop the last column/row when odd.
    const int ew = int(g.W & ~int64_t(1)), eh = int(g.H & ~int64_t(1));
    TC_CHECK(ew >= 2 && eh >= 2, "encode_video: frames of ", g.W, "x", g.H, " are too small for ", mp4 ? "MP4" : "WebM");
    const AVRational rate = rate_of(o.fps);

    AvFormatOutputPtr oc = open_output(mp4 ? "mp4" : "webm", path);
    const AVCodec* codec = find_encoder(mp4 ? "libx264" : "libvpx-vp9");
    AVStream* st = avformat_new_stream(oc.get(), nullptr);
    TC_CHECK(st, "out of memory creating a stream");
    AvCodecContextPtr enc(avcodec_alloc_context3(codec));
    TC_CHECK(enc, "out of memory allocating the encoder");
    enc->width = ew;
    enc->height = eh;
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->time_base = av_inv_q(rate);
    enc->framerate = rate;
    enc->sample_aspect_ratio = AVRational{1, 1};
    // Tagged BT.709 limited range, so players do not guess the matrix from the frame size.
    enc->color_range = AVCOL_RANGE_MPEG;
    enc->colorspace = AVCOL_SPC_BT709;
    enc->color_primaries = AVCOL_PRI_BT709;
    enc->color_trc = AVCOL_TRC_BT709;
    enc->thread_count = 0;  // 0 = the encoder's automatic choice (x264: its default thread count)
    if (oc->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AvDict codec_opts;
    if (mp4) {
        TC_CHECK(o.crf >= 0 && o.crf <= 51, "encode_video: MP4 crf must be 0..51, got ", o.crf);
        codec_opts.set("crf", std::to_string(o.crf));
    } else {
        TC_CHECK(o.webm_crf >= 0 && o.webm_crf <= 63, "encode_video: WebM crf must be 0..63, got ", o.webm_crf);
        enc->bit_rate = 0;  // b:v 0 with crf = constant quality
        codec_opts.set("crf", std::to_string(o.webm_crf));
        codec_opts.set("deadline", "good");
        codec_opts.set("cpu-used", "4");  // libvpx's speed/quality knob: 4 is several times faster than 1
        codec_opts.set("row-mt", "1");
    }
    check_av(avcodec_open2(enc.get(), codec, codec_opts.out()), std::string("opening the ") + codec->name + " encoder");
    check_av(avcodec_parameters_from_context(st->codecpar, enc.get()), "configuring the stream");
    st->time_base = enc->time_base;
    st->avg_frame_rate = rate;
    st->r_frame_rate = rate;

    check_av(avio_open(&oc->pb, oc->url, AVIO_FLAG_WRITE), "opening " + path);
    AvDict mux_opts;
    if (mp4) mux_opts.set("movflags", "+faststart");  // moov before mdat (rewritten at the trailer)
    check_av(avformat_write_header(oc.get(), mux_opts.out()), "writing the header");

    // RGB (full range) -> BT.709 limited-range YUV 4:2:0.
    SwsContextPtr sws(sws_getContext(ew, eh, AV_PIX_FMT_RGB24, ew, eh, AV_PIX_FMT_YUV420P,
                                     SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr, nullptr, nullptr));
    TC_CHECK(sws, "cannot create the RGB to YUV converter");
    const int* bt709 = sws_getCoefficients(SWS_CS_ITU709);
    sws_setColorspaceDetails(sws.get(), bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16);

    const Tensor src = frames.contiguous();
    const uint8_t* base = src.data<uint8_t>();
    AvFramePtr frame = make_frame();
    frame->format = AV_PIX_FMT_YUV420P;
    frame->width = ew;
    frame->height = eh;
    frame->color_range = AVCOL_RANGE_MPEG;
    frame->colorspace = AVCOL_SPC_BT709;
    frame->color_primaries = AVCOL_PRI_BT709;
    frame->color_trc = AVCOL_TRC_BT709;
    check_av(av_frame_get_buffer(frame.get(), 0), "allocating a frame");
    AvPacketPtr pkt = make_packet();
    const int src_stride = int(g.W * 3);  // full width: the odd column (if any) is simply not read
    for (int64_t t = 0; t < g.T; ++t) {
        check_av(av_frame_make_writable(frame.get()), "allocating a frame");
        const uint8_t* in_planes[4] = {base + size_t(t) * size_t(g.H * g.W * 3), nullptr, nullptr, nullptr};
        const int in_strides[4] = {src_stride, 0, 0, 0};
        sws_scale(sws.get(), in_planes, in_strides, 0, eh, frame->data, frame->linesize);
        frame->pts = t;
        encode_and_write(enc.get(), frame.get(), oc.get(), st, pkt.get());
    }
    encode_and_write(enc.get(), nullptr, oc.get(), st, pkt.get());
    finish_output(oc.get());
}

// GIF: buffer(rgb24) -> split -> palettegen (all frames) + paletteuse -> buffersink (pal8) -> gif encoder.
void encode_gif(const Tensor& frames, const FrameGeometry& g, const std::string& path, const EncodeOptions& o) {
    const AVRational rate = rate_of(o.fps);
    // GIF delays are whole centiseconds; above 50 fps most viewers clamp the delay anyway.
    TC_CHECK(o.fps <= 50, "encode_video: GIF supports at most 50 fps, got ", o.fps);
    const AVRational frame_tb = av_inv_q(rate);
    const AVRational gif_tb{1, 100};

    AvFilterGraphPtr graph(avfilter_graph_alloc());
    TC_CHECK(graph, "out of memory allocating a filter graph");
    graph->nb_threads = 1;
    char args[256];
    std::snprintf(args, sizeof args, "video_size=%lldx%lld:pix_fmt=%d:time_base=%d/%d:pixel_aspect=1/1",
                  (long long)g.W, (long long)g.H, int(AV_PIX_FMT_RGB24), frame_tb.num, frame_tb.den);
    AVFilterContext* src_ctx = nullptr;
    AVFilterContext* sink_ctx = nullptr;
    check_av(avfilter_graph_create_filter(&src_ctx, avfilter_get_by_name("buffer"), "in", args, nullptr, graph.get()),
             "creating the GIF filter source");
    check_av(avfilter_graph_create_filter(&sink_ctx, avfilter_get_by_name("buffersink"), "out", nullptr, nullptr,
                                          graph.get()),
             "creating the GIF filter sink");
    AVFilterInOut* outputs = avfilter_inout_alloc();
    AVFilterInOut* inputs = avfilter_inout_alloc();
    struct InOutFree {
        AVFilterInOut** a;
        AVFilterInOut** b;
        ~InOutFree() {
            avfilter_inout_free(a);
            avfilter_inout_free(b);
        }
    } inout_guard{&outputs, &inputs};
    TC_CHECK(outputs && inputs, "out of memory allocating filter pads");
    outputs->name = av_strdup("in");
    outputs->filter_ctx = src_ctx;
    outputs->pad_idx = 0;
    outputs->next = nullptr;
    inputs->name = av_strdup("out");
    inputs->filter_ctx = sink_ctx;
    inputs->pad_idx = 0;
    inputs->next = nullptr;
    // One palette for the whole clip from every pixel of every frame (stats_mode=full), no slot reserved for
    // transparency (our frames are opaque); error-diffusion dithering hides banding in gradients.
    const char* desc =
        "[in]split[a][b];[a]palettegen=stats_mode=full:reserve_transparent=0[p];"
        "[b][p]paletteuse=dither=sierra2_4a[out]";
    check_av(avfilter_graph_parse_ptr(graph.get(), desc, &inputs, &outputs, nullptr), "building the GIF filter graph");
    check_av(avfilter_graph_config(graph.get(), nullptr), "configuring the GIF filter graph");

    AvFormatOutputPtr oc = open_output("gif", path);
    const AVCodec* codec = find_encoder("gif");
    AVStream* st = avformat_new_stream(oc.get(), nullptr);
    TC_CHECK(st, "out of memory creating a stream");
    AvCodecContextPtr enc(avcodec_alloc_context3(codec));
    TC_CHECK(enc, "out of memory allocating the encoder");
    enc->width = int(g.W);
    enc->height = int(g.H);
    enc->pix_fmt = AV_PIX_FMT_PAL8;
    enc->time_base = gif_tb;
    enc->framerate = rate;
    check_av(avcodec_open2(enc.get(), codec, nullptr), "opening the GIF encoder");
    check_av(avcodec_parameters_from_context(st->codecpar, enc.get()), "configuring the stream");
    st->time_base = gif_tb;
    st->avg_frame_rate = rate;
    check_av(avio_open(&oc->pb, oc->url, AVIO_FLAG_WRITE), "opening " + path);
    AvDict mux_opts;
    mux_opts.set("loop", "0");  // NETSCAPE2.0 extension, loop count 0 = forever
    check_av(avformat_write_header(oc.get(), mux_opts.out()), "writing the GIF header");

    AvPacketPtr pkt = make_packet();
    AvFramePtr filtered = make_frame();
    int64_t last_pts = -1;
    auto drain = [&](bool eof) {
        for (;;) {
            const int ret = av_buffersink_get_frame(sink_ctx, filtered.get());
            if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) break;
            check_av(ret, "building the GIF palette");
            int64_t pts = av_rescale_q(filtered->pts, av_buffersink_get_time_base(sink_ctx), gif_tb);
            if (pts <= last_pts) pts = last_pts + 1;  // keep timestamps strictly increasing after rounding
            last_pts = pts;
            filtered->pts = pts;
            filtered->pict_type = AV_PICTURE_TYPE_NONE;
            encode_and_write(enc.get(), filtered.get(), oc.get(), st, pkt.get());
            av_frame_unref(filtered.get());
        }
        if (eof) encode_and_write(enc.get(), nullptr, oc.get(), st, pkt.get());
    };

    const Tensor src = frames.contiguous();
    const uint8_t* base = src.data<uint8_t>();
    for (int64_t t = 0; t < g.T; ++t) {
        AvFramePtr in = make_frame();
        in->format = AV_PIX_FMT_RGB24;
        in->width = int(g.W);
        in->height = int(g.H);
        in->pts = t;
        in->sample_aspect_ratio = AVRational{1, 1};
        check_av(av_frame_get_buffer(in.get(), 0), "allocating a frame");
        const uint8_t* f = base + size_t(t) * size_t(g.H * g.W * 3);
        for (int64_t y = 0; y < g.H; ++y)
            std::memcpy(in->data[0] + y * in->linesize[0], f + y * g.W * 3, size_t(g.W) * 3);
        check_av(av_buffersrc_add_frame_flags(src_ctx, in.get(), 0), "feeding the GIF filter graph");
        drain(false);
    }
    check_av(av_buffersrc_add_frame_flags(src_ctx, nullptr, 0), "flushing the GIF filter graph");
    drain(true);
    finish_output(oc.get());
}

void encode_frames_zip(const Tensor& frames, const FrameGeometry& g, const std::string& path) {
    ZipWriter zip(path);
    char name[32];
    for (int64_t t = 0; t < g.T; ++t) {
        std::snprintf(name, sizeof name, "frame_%04lld.png", (long long)t);
        zip.add(name, encode_image_bytes(frames.select(0, t), "png"));
    }
    zip.finish();
}

void encode_to(const Tensor& frames, const std::string& path, const EncodeOptions& opts) {
    ffmpeg_init();
    const FrameGeometry g = check_frames(frames);
    take_ffmpeg_log();
    switch (opts.format) {
        case VideoFormat::MP4:
        case VideoFormat::WebM: encode_yuv_video(frames, g, path, opts); break;
        case VideoFormat::GIF: encode_gif(frames, g, path, opts); break;
        case VideoFormat::FramesZip: encode_frames_zip(frames, g, path); break;
    }
}

}  // namespace

VideoFormat parse_video_format(const std::string& name) {
    if (name == "mp4") return VideoFormat::MP4;
    if (name == "webm") return VideoFormat::WebM;
    if (name == "gif") return VideoFormat::GIF;
    if (name == "frames_zip") return VideoFormat::FramesZip;
    TC_FAIL("unknown video format '", name, "' (expected mp4, webm, gif or frames_zip)");
}

std::string video_format_name(VideoFormat f) {
    switch (f) {
        case VideoFormat::MP4: return "mp4";
        case VideoFormat::WebM: return "webm";
        case VideoFormat::GIF: return "gif";
        case VideoFormat::FramesZip: return "frames_zip";
    }
    TC_FAIL("bad VideoFormat");
}

std::string video_mime_type(VideoFormat f) {
    switch (f) {
        case VideoFormat::MP4: return "video/mp4";
        case VideoFormat::WebM: return "video/webm";
        case VideoFormat::GIF: return "image/gif";
        case VideoFormat::FramesZip: return "application/zip";
    }
    TC_FAIL("bad VideoFormat");
}

std::string video_extension(VideoFormat f) {
    switch (f) {
        case VideoFormat::MP4: return ".mp4";
        case VideoFormat::WebM: return ".webm";
        case VideoFormat::GIF: return ".gif";
        case VideoFormat::FramesZip: return ".zip";
    }
    TC_FAIL("bad VideoFormat");
}

void encode_video(const Tensor& frames, const std::string& out_path, const EncodeOptions& opts) {
    TempFile tmp(out_path);
    encode_to(frames, tmp.path(), opts);
    tmp.commit();
}

std::vector<uint8_t> encode_video_bytes(const Tensor& frames, const EncodeOptions& opts) {
    const char* env = std::getenv("TMPDIR");
    const std::string dir = (env && *env) ? env : "/tmp";
    TempFile tmp(dir + "/tc-video" + video_extension(opts.format));
    encode_to(frames, tmp.path(), opts);
    std::ifstream in(tmp.path(), std::ios::binary | std::ios::ate);
    TC_CHECK(in, "cannot read back ", tmp.path());
    const std::streamsize n = in.tellg();
    in.seekg(0);
    std::vector<uint8_t> bytes(static_cast<size_t>(n));
    in.read(reinterpret_cast<char*>(bytes.data()), n);
    TC_CHECK(in.gcount() == n, "short read of ", tmp.path());
    return bytes;
}

std::vector<uint8_t> encode_image_bytes(const Tensor& hwc, const std::string& encoder_name) {
    ffmpeg_init();
    TC_CHECK(hwc.defined() && hwc.dim() == 3 && (hwc.size(2) == 3 || hwc.size(2) == 4) && hwc.dtype() == DType::U8 &&
                 hwc.device() == Device::CPU,
             "encode_image_bytes expects a CPU [H, W, 3|4] U8 tensor");
    const int H = int(hwc.size(0)), W = int(hwc.size(1));
    TC_CHECK(H >= 1 && W >= 1 && H <= 16384 && W <= 16384, "encode_image_bytes: bad size ", W, "x", H);
    const AVPixelFormat in_fmt = hwc.size(2) == 4 ? AV_PIX_FMT_RGBA : AV_PIX_FMT_RGB24;
    const AVCodec* codec = find_encoder(encoder_name.c_str());

    // The input layout when the encoder takes it, else the best-quality YUV it takes, else its first format.
    AVPixelFormat fmt = AV_PIX_FMT_NONE;
    const AVPixelFormat prefs[] = {in_fmt, AV_PIX_FMT_RGB24, AV_PIX_FMT_YUVJ444P, AV_PIX_FMT_YUV444P,
                                   AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUV420P};
    if (codec->pix_fmts) {
        for (AVPixelFormat want : prefs) {
            for (const AVPixelFormat* p = codec->pix_fmts; *p != AV_PIX_FMT_NONE; ++p)
                if (*p == want) fmt = want;
            if (fmt != AV_PIX_FMT_NONE) break;
        }
        if (fmt == AV_PIX_FMT_NONE) fmt = codec->pix_fmts[0];
    } else {
        fmt = in_fmt;
    }

    AvCodecContextPtr enc(avcodec_alloc_context3(codec));
    TC_CHECK(enc, "out of memory allocating the encoder");
    enc->width = W;
    enc->height = H;
    enc->pix_fmt = fmt;
    enc->time_base = AVRational{1, 25};
    enc->thread_count = 1;
    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(fmt);
    const bool yuv = desc && !(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3;
    if (codec->id == AV_CODEC_ID_MJPEG) {
        enc->color_range = AVCOL_RANGE_JPEG;
        enc->flags |= AV_CODEC_FLAG_QSCALE;
        enc->global_quality = FF_QP2LAMBDA * 2;  // high quality (qscale 2)
    }
    check_av(avcodec_open2(enc.get(), codec, nullptr), "opening the " + encoder_name + " encoder");

    AvFramePtr frame = make_frame();
    frame->format = fmt;
    frame->width = W;
    frame->height = H;
    if (yuv) frame->color_range = enc->color_range;
    check_av(av_frame_get_buffer(frame.get(), 0), "allocating a frame");
    const Tensor src = hwc.contiguous();
    SwsContextPtr sws(sws_getContext(W, H, in_fmt, W, H, fmt, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP,
                                     nullptr, nullptr, nullptr));
    TC_CHECK(sws, "cannot convert RGB to ", desc ? desc->name : "?");
    const uint8_t* in_planes[4] = {src.data<uint8_t>(), nullptr, nullptr, nullptr};
    const int in_strides[4] = {int(W * hwc.size(2)), 0, 0, 0};
    sws_scale(sws.get(), in_planes, in_strides, 0, H, frame->data, frame->linesize);
    frame->pts = 0;

    std::vector<uint8_t> out;
    AvPacketPtr pkt = make_packet();
    check_av(avcodec_send_frame(enc.get(), frame.get()), "encoding the image");
    check_av(avcodec_send_frame(enc.get(), nullptr), "encoding the image");
    for (;;) {
        const int ret = avcodec_receive_packet(enc.get(), pkt.get());
        if (ret == AVERROR_EOF) break;
        check_av(ret, "encoding the image");
        out.insert(out.end(), pkt->data, pkt->data + pkt->size);
        av_packet_unref(pkt.get());
    }
    TC_CHECK(!out.empty(), "the ", encoder_name, " encoder produced no data");
    return out;
}

}  // namespace tc::media
