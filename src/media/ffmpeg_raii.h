// RAII owners for FFmpeg's C objects (libavformat, libavcodec, libavutil, libswscale, libavfilter), the
// error helper that turns a negative AVERROR code into a tc::Error with av_strerror's text, and the quiet
// log routing: FFmpeg's own log lines never reach stderr (set TC_FFMPEG_LOG=1 to see them); the last
// error-level line of the calling thread is kept and appended to the next tc::Error we raise, because it
// often says more than the return code ("[mjpeg] overread 8" beside "Invalid data found...").
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavformat/avformat.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
}

#include <memory>
#include <string>

namespace tc::media {

// Installs the quiet log callback once per process (idempotent, thread-safe). Every entry point of
// src/media that calls FFmpeg calls this first.
void ffmpeg_init();

// av_strerror text of `code`, e.g. "Invalid data found when processing input".
std::string av_error_text(int code);

// The last error-level FFmpeg log line of this thread ("" when none), cleared by the call.
std::string take_ffmpeg_log();

// Throws tc::Error("<what>: <av_strerror text> (<last FFmpeg log line>)") when code < 0; returns code.
int check_av(int code, const std::string& what);

struct AvFormatInputDeleter {
    void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
// An output context closes its AVIOContext (when it opened one itself, i.e. without AVFMT_NOFILE) before
// it is freed. A custom pb (AVFMT_FLAG_CUSTOM_IO) is owned by an AvioPtr instead.
struct AvFormatOutputDeleter {
    void operator()(AVFormatContext* p) const {
        if (!p) return;
        if (p->oformat && !(p->oformat->flags & AVFMT_NOFILE) && !(p->flags & AVFMT_FLAG_CUSTOM_IO))
            avio_closep(&p->pb);
        avformat_free_context(p);
    }
};
struct AvCodecContextDeleter {
    void operator()(AVCodecContext* p) const { avcodec_free_context(&p); }
};
struct AvFrameDeleter {
    void operator()(AVFrame* p) const { av_frame_free(&p); }
};
struct AvPacketDeleter {
    void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsContextDeleter {
    void operator()(SwsContext* p) const { sws_freeContext(p); }
};
// A custom AVIOContext from avio_alloc_context: its buffer may have been reallocated by FFmpeg, so it is
// freed through the context, then the context itself.
struct AvioContextDeleter {
    void operator()(AVIOContext* p) const {
        if (!p) return;
        av_freep(&p->buffer);
        avio_context_free(&p);
    }
};
struct AvFilterGraphDeleter {
    void operator()(AVFilterGraph* p) const { avfilter_graph_free(&p); }
};
struct AvDictionaryDeleter {
    void operator()(AVDictionary* p) const { av_dict_free(&p); }
};

using AvFormatInputPtr = std::unique_ptr<AVFormatContext, AvFormatInputDeleter>;
using AvFormatOutputPtr = std::unique_ptr<AVFormatContext, AvFormatOutputDeleter>;
using AvCodecContextPtr = std::unique_ptr<AVCodecContext, AvCodecContextDeleter>;
using AvFramePtr = std::unique_ptr<AVFrame, AvFrameDeleter>;
using AvPacketPtr = std::unique_ptr<AVPacket, AvPacketDeleter>;
using SwsContextPtr = std::unique_ptr<SwsContext, SwsContextDeleter>;
using AvioPtr = std::unique_ptr<AVIOContext, AvioContextDeleter>;
using AvFilterGraphPtr = std::unique_ptr<AVFilterGraph, AvFilterGraphDeleter>;

// A dictionary for option passing (avformat_write_header, avcodec_open2). FFmpeg may replace the pointer
// (it leaves the unused entries), hence the out-parameter accessor.
class AvDict {
public:
    AvDict() = default;
    ~AvDict() { av_dict_free(&d_); }
    AvDict(const AvDict&) = delete;
    AvDict& operator=(const AvDict&) = delete;
    void set(const char* key, const std::string& value) { av_dict_set(&d_, key, value.c_str(), 0); }
    AVDictionary** out() { return &d_; }
    AVDictionary* get() const { return d_; }

private:
    AVDictionary* d_ = nullptr;
};

// Allocation helpers that throw instead of returning null.
AvFramePtr make_frame();
AvPacketPtr make_packet();

}  // namespace tc::media
