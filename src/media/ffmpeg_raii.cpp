// FFmpeg glue shared by image decoding and video encoding: quiet log routing and error text.
#include "media/ffmpeg_raii.h"

extern "C" {
#include <libavutil/error.h>
#include <libavutil/log.h>
}

#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/error.h"

namespace tc::media {

namespace {

thread_local std::string t_last_error;  // last error-level line logged by FFmpeg on this thread

void quiet_log(void* avcl, int level, const char* fmt, va_list args) {
    if (level > AV_LOG_ERROR) return;
    char line[512];
    int print_prefix = 1;
    va_list copy;
    va_copy(copy, args);
    av_log_format_line2(avcl, level, fmt, copy, line, sizeof line, &print_prefix);
    va_end(copy);
    std::string s(line);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    t_last_error = s;
}

}  // namespace

void ffmpeg_init() {
    static std::once_flag once;
    std::call_once(once, [] {
        const char* env = std::getenv("TC_FFMPEG_LOG");
        if (env && *env && std::strcmp(env, "0") != 0) {
            av_log_set_level(AV_LOG_ERROR);  // FFmpeg's default printer, errors only
        } else {
            av_log_set_level(AV_LOG_ERROR);
            av_log_set_callback(quiet_log);
        }
    });
}

std::string av_error_text(int code) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    if (av_strerror(code, buf, sizeof buf) < 0) std::snprintf(buf, sizeof buf, "FFmpeg error %d", code);
    return buf;
}

std::string take_ffmpeg_log() {
    std::string s;
    s.swap(t_last_error);
    return s;
}

int check_av(int code, const std::string& what) {
    if (code >= 0) return code;
    std::string log = take_ffmpeg_log();
    if (log.empty()) TC_FAIL(what, ": ", av_error_text(code));
    TC_FAIL(what, ": ", av_error_text(code), " (", log, ")");
}

AvFramePtr make_frame() {
    AvFramePtr f(av_frame_alloc());
    TC_CHECK(f, "out of memory allocating an AVFrame");
    return f;
}

AvPacketPtr make_packet() {
    AvPacketPtr p(av_packet_alloc());
    TC_CHECK(p, "out of memory allocating an AVPacket");
    return p;
}

}  // namespace tc::media
