// Video output on FFmpeg's libraries (DESIGN.md section 5, "Output"): frames [T, H, W, 3] U8 RGB to
//  - MP4:  H.264 (libx264, x264's default preset and threads), yuv420p, crf 19, BT.709 tagged, limited range,
//          "+faststart" (moov before mdat, so browsers start playing before the download ends);
//  - WebM: VP9 (libvpx-vp9) constant quality crf 31, b:v 0, yuv420p;
//  - GIF:  one global palette from all frames (palettegen stats_mode=full, paletteuse sierra2_4a dithering,
//          via libavfilter), loops forever;
//  - FramesZip: frame_0000.png, frame_0001.png, ... (libavcodec's PNG encoder) in a STORED zip.
// 4:2:0 video needs even sizes: an odd width or height is CROPPED by one pixel (the last column / row is
// dropped) for MP4 and WebM; GIF and frames_zip keep the exact size.
// Every file is written to a temporary file in the destination directory and renamed over out_path when
// complete, so a reader never sees a partial file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace tc::media {

enum class VideoFormat { MP4, WebM, GIF, FramesZip };

// "mp4" | "webm" | "gif" | "frames_zip"; anything else throws tc::Error listing the choices.
VideoFormat parse_video_format(const std::string& name);
std::string video_format_name(VideoFormat f);   // the inverse of parse_video_format
std::string video_mime_type(VideoFormat f);     // video/mp4, video/webm, image/gif, application/zip
std::string video_extension(VideoFormat f);     // ".mp4", ".webm", ".gif", ".zip"

struct EncodeOptions {
    VideoFormat format = VideoFormat::MP4;
    double fps = 8;
    int crf = 19;       // MP4: x264 constant rate factor (0..51)
    int webm_crf = 31;  // WebM: libvpx-vp9 crf (0..63), with b:v 0 (constant quality)
};

// frames: [T, H, W, 3] U8 on the CPU (any strides). Throws tc::Error (with FFmpeg's error text) on failure;
// out_path is then untouched.
void encode_video(const Tensor& frames, const std::string& out_path, const EncodeOptions& opts);
// The same, returned as bytes (encoded through a temporary file in $TMPDIR or /tmp).
std::vector<uint8_t> encode_video_bytes(const Tensor& frames, const EncodeOptions& opts);

// One still image through a libavcodec image encoder ("png", "mjpeg", "libwebp", ...): hwc is [H, W, 3] RGB
// or [H, W, 4] RGBA U8. Used for frames_zip and by the tests to make decoder inputs.
std::vector<uint8_t> encode_image_bytes(const Tensor& hwc, const std::string& encoder_name);

}  // namespace tc::media
