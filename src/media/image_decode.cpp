// Image decoding through libavcodec's still-image decoders, fed the whole file as one packet (no libavformat
// probing: the format is decided here from the magic bytes). Before a decoder sees the bytes, our own
// header readers find the dimensions (PNG IHDR, GIF logical screen, JPEG SOFn, WebP VP8/VP8L/VP8X) and the
// pixel cap is enforced, so a 100000x100000 header costs nothing. For JPEG the same marker walk finds the
// EXIF Orientation tag (APP1, TIFF IFD0 tag 0x0112) and checks that the entropy-coded data ends with EOI.
#include "media/image_decode.h"

extern "C" {
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
}

#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "core/error.h"
#include "media/ffmpeg_raii.h"

namespace tc::media {

namespace {

enum class ImageKind { JPEG, PNG, WebP, GIF };

const char* kind_name(ImageKind k) {
    switch (k) {
        case ImageKind::JPEG: return "JPEG";
        case ImageKind::PNG: return "PNG";
        case ImageKind::WebP: return "WebP";
        case ImageKind::GIF: return "GIF";
    }
    return "?";
}

uint32_t be16(const uint8_t* p) { return uint32_t(p[0]) << 8 | p[1]; }
uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
uint32_t le16(const uint8_t* p) { return uint32_t(p[1]) << 8 | p[0]; }
uint32_t le24(const uint8_t* p) { return uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0]; }
uint32_t le32(const uint8_t* p) { return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0]; }

bool sniff(const uint8_t* d, size_t n, ImageKind& kind) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return kind = ImageKind::JPEG, true;
    if (n >= 8 && std::memcmp(d, png_sig, 8) == 0) return kind = ImageKind::PNG, true;
    if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0)
        return kind = ImageKind::WebP, true;
    if (n >= 6 && (std::memcmp(d, "GIF87a", 6) == 0 || std::memcmp(d, "GIF89a", 6) == 0))
        return kind = ImageKind::GIF, true;
    return false;
}

// What the header says, before any pixel is decoded.
struct HeaderInfo {
    int64_t width = 0, height = 0;
    int orientation = 1;  // EXIF Orientation (JPEG only), 1..8
};

// EXIF Orientation from the TIFF structure of an APP1 "Exif\0\0" payload (CIPA DC-008, tag 0x0112 in IFD0).
// Anything malformed means "no orientation" (1): a broken EXIF block should not reject a good image.
int exif_orientation(const uint8_t* t, size_t n) {
    if (n < 8) return 1;
    bool le;
    if (t[0] == 'I' && t[1] == 'I') le = true;
    else if (t[0] == 'M' && t[1] == 'M') le = false;
    else return 1;
    auto u16 = [&](size_t off) { return le ? le16(t + off) : be16(t + off); };
    auto u32 = [&](size_t off) { return le ? le32(t + off) : be32(t + off); };
    if (u16(2) != 42) return 1;
    const uint64_t ifd = u32(4);
    if (ifd + 2 > n) return 1;
    const uint32_t count = u16(size_t(ifd));
    for (uint32_t i = 0; i < count; ++i) {
        const uint64_t e = ifd + 2 + uint64_t(i) * 12;
        if (e + 12 > n) return 1;
        if (u16(size_t(e)) != 0x0112) continue;
        if (u16(size_t(e) + 2) != 3 /* SHORT */ || u32(size_t(e) + 4) != 1) return 1;
        const uint32_t v = u16(size_t(e) + 8);
        return (v >= 1 && v <= 8) ? int(v) : 1;
    }
    return 1;
}

// Walks the JPEG marker segments up to the first SOS (ITU T.81 B.1): frame size from SOFn, orientation from
// APP1/Exif; then requires an EOI marker after the scan data (entropy-coded bytes never contain FF D9:
// 0xFF is stuffed as FF 00 and the only markers inside are RSTn), which rejects truncated files.
HeaderInfo jpeg_header(const uint8_t* d, size_t n) {
    HeaderInfo h;
    size_t pos = 2;
    bool have_sof = false;
    for (;;) {
        TC_CHECK(pos < n && d[pos] == 0xFF, "damaged or truncated JPEG: no marker at byte ", pos);
        while (pos < n && d[pos] == 0xFF) ++pos;  // fill bytes
        TC_CHECK(pos < n, "damaged or truncated JPEG: file ends inside a marker");
        const uint8_t m = d[pos++];
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) continue;  // TEM, RSTn, SOI: no payload
        TC_CHECK(m != 0xD9, "damaged or truncated JPEG: end of image before any scan");
        TC_CHECK(pos + 2 <= n, "damaged or truncated JPEG: file ends inside a segment header");
        const size_t len = be16(d + pos);
        TC_CHECK(len >= 2 && pos + len <= n, "damaged or truncated JPEG: segment 0xFF", std::hex, int(m),
                 " runs past the end of the file");
        const uint8_t* seg = d + pos + 2;
        const size_t seg_len = len - 2;
        const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
        if (sof && !have_sof) {
            TC_CHECK(seg_len >= 6, "damaged JPEG: short frame header");
            h.height = be16(seg + 1);
            h.width = be16(seg + 3);
            have_sof = true;
        } else if (m == 0xE1 && seg_len >= 6 && std::memcmp(seg, "Exif\0\0", 6) == 0 && h.orientation == 1) {
            h.orientation = exif_orientation(seg + 6, seg_len - 6);
        } else if (m == 0xDA) {
            TC_CHECK(have_sof, "damaged JPEG: scan before the frame header");
            const size_t scan = pos + len;
            bool eoi = false;
            for (size_t i = scan; i + 1 < n; ++i)
                if (d[i] == 0xFF && d[i + 1] == 0xD9) {
                    eoi = true;
                    break;
                }
            TC_CHECK(eoi, "damaged or truncated JPEG: no end-of-image marker after the scan data");
            break;
        }
        pos += len;
    }
    TC_CHECK(h.width > 0 && h.height > 0, "damaged JPEG: frame header declares ", h.width, "x", h.height,
             " (a height given by a DNL marker is not supported)");
    return h;
}

HeaderInfo png_header(const uint8_t* d, size_t n) {
    TC_CHECK(n >= 24 && std::memcmp(d + 12, "IHDR", 4) == 0, "damaged or truncated PNG: no IHDR chunk");
    HeaderInfo h;
    h.width = be32(d + 16);
    h.height = be32(d + 20);
    return h;
}

// GIF (GIF89a specification): logical screen size from the header; gif_check_first_image then walks the
// blocks up to the end of the first image's data sub-blocks, so that a truncated first image is an error
// (FFmpeg's decoder would return a partial picture). Later frames are never looked at.
HeaderInfo gif_header(const uint8_t* d, size_t n) {
    TC_CHECK(n >= 13, "damaged or truncated GIF: short header");
    HeaderInfo h;
    h.width = le16(d + 6);  // logical screen: FFmpeg's output frame has this size
    h.height = le16(d + 8);
    return h;
}

// Called after the pixel cap (so a huge screen is reported as such, whatever follows it).
void gif_check_first_image(const uint8_t* d, size_t n) {
    size_t pos = 13;
    if (d[10] & 0x80) pos += 3u << ((d[10] & 7) + 1);  // global colour table
    // Skips data sub-blocks (length byte, bytes; a zero length ends them).
    auto skip_sub_blocks = [&](size_t p) {
        for (;;) {
            TC_CHECK(p < n, "damaged or truncated GIF: file ends inside the first image");
            const size_t len = d[p];
            if (len == 0) return p + 1;
            p += 1 + len;
        }
    };
    for (;;) {
        TC_CHECK(pos < n, "damaged or truncated GIF: file ends before the first image");
        const uint8_t b = d[pos];
        if (b == 0x21) {  // extension: label, then sub-blocks
            TC_CHECK(pos + 2 <= n, "damaged or truncated GIF: file ends inside an extension");
            pos = skip_sub_blocks(pos + 2);
        } else if (b == 0x2C) {  // image descriptor (9 bytes after the separator), local table, LZW data
            TC_CHECK(pos + 10 <= n, "damaged or truncated GIF: file ends inside the image descriptor");
            const uint8_t flags = d[pos + 9];
            pos += 10;
            if (flags & 0x80) pos += 3u << ((flags & 7) + 1);
            TC_CHECK(pos < n, "damaged or truncated GIF: file ends before the image data");
            skip_sub_blocks(pos + 1);  // after the LZW minimum code size
            break;
        } else {
            TC_FAIL("damaged GIF: unexpected block 0x", std::hex, int(b), " before the first image");
        }
    }
}

// RIFF/WebP container (Google's "WebP Container Specification"): the first chunk is VP8 (lossy), VP8L
// (lossless) or VP8X (extended: canvas size; animation flag).
HeaderInfo webp_header(const uint8_t* d, size_t n) {
    TC_CHECK(n >= 30, "damaged or truncated WebP: short header");
    HeaderInfo h;
    const uint8_t* c = d + 12;
    const uint8_t* p = d + 20;  // chunk payload
    if (std::memcmp(c, "VP8 ", 4) == 0) {
        TC_CHECK(p[3] == 0x9d && p[4] == 0x01 && p[5] == 0x2a, "damaged WebP: bad VP8 start code");
        h.width = le16(p + 6) & 0x3fff;
        h.height = le16(p + 8) & 0x3fff;
    } else if (std::memcmp(c, "VP8L", 4) == 0) {
        TC_CHECK(p[0] == 0x2f, "damaged WebP: bad VP8L signature");
        const uint32_t bits = le32(p + 1);
        h.width = int64_t(bits & 0x3fff) + 1;
        h.height = int64_t((bits >> 14) & 0x3fff) + 1;
    } else if (std::memcmp(c, "VP8X", 4) == 0) {
        TC_CHECK(!(p[0] & 0x02), "animated WebP is not supported (use a still image)");
        h.width = int64_t(le24(p + 4)) + 1;
        h.height = int64_t(le24(p + 7)) + 1;
    } else {
        TC_FAIL("damaged WebP: unknown first chunk");
    }
    return h;
}

// "40 MP", "10 GP", "1.5 MP"
std::string pixels_text(double px) {
    char buf[64];
    if (px >= 1e9) std::snprintf(buf, sizeof buf, "%.3g GP", px / 1e9);
    else if (px >= 1e6) std::snprintf(buf, sizeof buf, "%.3g MP", px / 1e6);
    else std::snprintf(buf, sizeof buf, "%.0f pixels", px);
    return buf;
}

AVCodecID codec_of(ImageKind k) {
    switch (k) {
        case ImageKind::JPEG: return AV_CODEC_ID_MJPEG;
        case ImageKind::PNG: return AV_CODEC_ID_PNG;
        case ImageKind::WebP: return AV_CODEC_ID_WEBP;
        case ImageKind::GIF: return AV_CODEC_ID_GIF;
    }
    return AV_CODEC_ID_NONE;
}

// Any decoded frame -> [H, W, 3] RGB24. Alpha is dropped (swscale's default: no alpha blending), palettes
// are expanded; full-range YUV (JPEG) is honoured from the pixel format or the frame's colour range.
Tensor frame_to_rgb(const AVFrame* f) {
    const int w = f->width, h = f->height;
    Tensor out = Tensor::empty({h, w, 3}, DType::U8);
    uint8_t* dst = out.data<uint8_t>();
    const auto fmt = AVPixelFormat(f->format);
    if (fmt == AV_PIX_FMT_RGB24) {
        for (int y = 0; y < h; ++y) std::memcpy(dst + size_t(y) * w * 3, f->data[0] + size_t(y) * f->linesize[0], size_t(w) * 3);
        return out;
    }
    TC_CHECK(sws_isSupportedInput(fmt), "decoded pixel format ", av_get_pix_fmt_name(fmt) ? av_get_pix_fmt_name(fmt) : "?",
             " cannot be converted to RGB");
    // ACCURATE_RND also keeps swscale off its unscaled yuv2rgb shortcut, which replicates chroma samples
    // instead of interpolating them; FULL_CHR_H_INT interpolates chroma horizontally to every pixel.
    SwsContextPtr sws(sws_getContext(w, h, fmt, w, h, AV_PIX_FMT_RGB24,
                                     SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr, nullptr, nullptr));
    TC_CHECK(sws, "cannot convert ", av_get_pix_fmt_name(fmt), " to RGB");
    if (f->color_range == AVCOL_RANGE_JPEG) {
        int* inv_table = nullptr;
        int* table = nullptr;
        int src_range = 0, dst_range = 0, brightness = 0, contrast = 0, saturation = 0;
        if (sws_getColorspaceDetails(sws.get(), &inv_table, &src_range, &table, &dst_range, &brightness, &contrast,
                                     &saturation) >= 0 && !src_range)
            sws_setColorspaceDetails(sws.get(), inv_table, 1, table, dst_range, brightness, contrast, saturation);
    }
    uint8_t* dst_planes[4] = {dst, nullptr, nullptr, nullptr};
    int dst_strides[4] = {w * 3, 0, 0, 0};
    const int rows = sws_scale(sws.get(), f->data, f->linesize, 0, h, dst_planes, dst_strides);
    TC_CHECK(rows == h, "pixel format conversion to RGB failed");
    return out;
}

// EXIF orientation -> upright pixels (the transforms of PIL's ImageOps.exif_transpose).
Tensor apply_orientation(const Tensor& src, int orientation) {
    if (orientation <= 1 || orientation > 8) return src;
    const int64_t H = src.size(0), W = src.size(1);
    const bool swap = orientation >= 5;  // 5..8 exchange width and height
    const int64_t oh = swap ? W : H, ow = swap ? H : W;
    Tensor out = Tensor::empty({oh, ow, 3}, DType::U8);
    const uint8_t* s = src.data<uint8_t>();
    uint8_t* d = out.data<uint8_t>();
    for (int64_t y = 0; y < oh; ++y) {
        for (int64_t x = 0; x < ow; ++x) {
            int64_t sy = y, sx = x;
            switch (orientation) {
                case 2: sx = W - 1 - x; break;                   // mirror horizontally
                case 3: sy = H - 1 - y; sx = W - 1 - x; break;   // rotate 180
                case 4: sy = H - 1 - y; break;                   // mirror vertically
                case 5: sy = x; sx = y; break;                   // transpose
                case 6: sy = H - 1 - x; sx = y; break;           // rotate 90 clockwise
                case 7: sy = H - 1 - x; sx = W - 1 - y; break;   // transverse
                case 8: sy = x; sx = W - 1 - y; break;           // rotate 90 counter-clockwise
            }
            std::memcpy(d + (y * ow + x) * 3, s + (sy * W + sx) * 3, 3);
        }
    }
    return out;
}

}  // namespace

Tensor decode_image(const uint8_t* data, size_t size, const DecodeLimits& limits) {
    ffmpeg_init();
    TC_CHECK(data != nullptr || size == 0, "decode_image: null data");
    TC_CHECK(size > 0, "empty image data");
    TC_CHECK(size <= limits.max_bytes, "image is ", size, " bytes, over the ", limits.max_bytes, "-byte limit");
    TC_CHECK(size <= size_t(INT_MAX) - AV_INPUT_BUFFER_PADDING_SIZE, "image is too large (", size, " bytes)");
    ImageKind kind;
    TC_CHECK(sniff(data, size, kind), "unsupported image format (expected JPEG, PNG, WebP or GIF)");

    HeaderInfo hdr;
    switch (kind) {
        case ImageKind::JPEG: hdr = jpeg_header(data, size); break;
        case ImageKind::PNG: hdr = png_header(data, size); break;
        case ImageKind::WebP: hdr = webp_header(data, size); break;
        case ImageKind::GIF: hdr = gif_header(data, size); break;
    }
    TC_CHECK(hdr.width > 0 && hdr.height > 0, "damaged ", kind_name(kind), ": header declares a ", hdr.width, "x",
             hdr.height, " image");
    // PNG sides are 32-bit, so the product can overflow int64: check it without overflowing.
    int64_t pixels = 0;
    const bool overflow = __builtin_mul_overflow(hdr.width, hdr.height, &pixels);
    TC_CHECK(!overflow && pixels <= limits.max_pixels, "image is ", hdr.width, "x", hdr.height, " = ",
             pixels_text(double(hdr.width) * double(hdr.height)), ", over the ", pixels_text(double(limits.max_pixels)),
             " limit");
    if (kind == ImageKind::GIF) gif_check_first_image(data, size);

    const AVCodec* codec = avcodec_find_decoder(codec_of(kind));
    TC_CHECK(codec, "this FFmpeg build has no ", kind_name(kind), " decoder");
    AvCodecContextPtr ctx(avcodec_alloc_context3(codec));
    TC_CHECK(ctx, "out of memory allocating a decoder");
    ctx->max_pixels = limits.max_pixels;  // FFmpeg's own guard for every frame it allocates
    ctx->thread_count = 1;
    // CRC checks (PNG chunks) and "explode" on bitstream errors, as PIL fails on damaged PNG data. JPEG stays
    // tolerant of minor entropy-coding glitches (libjpeg warns and goes on, and so does PIL); truncation is
    // caught by the EOI check above.
    ctx->err_recognition = AV_EF_CRCCHECK | AV_EF_BITSTREAM | AV_EF_BUFFER;
    if (kind != ImageKind::JPEG) ctx->err_recognition |= AV_EF_EXPLODE;
    take_ffmpeg_log();
    const std::string what = std::string("decoding ") + kind_name(kind);
    check_av(avcodec_open2(ctx.get(), codec, nullptr), "opening the " + std::string(kind_name(kind)) + " decoder");

    // The whole file is one packet (copied: decoders need AV_INPUT_BUFFER_PADDING_SIZE zeroed bytes after it).
    // The GIF decoder stops after the first image of the packet, so an animation costs one frame.
    AvPacketPtr pkt = make_packet();
    check_av(av_new_packet(pkt.get(), int(size)), "allocating the image packet");
    std::memcpy(pkt->data, data, size);
    pkt->flags |= AV_PKT_FLAG_KEY;
    AvFramePtr frame = make_frame();
    int ret = avcodec_send_packet(ctx.get(), pkt.get());
    check_av(ret, "damaged " + std::string(kind_name(kind)));
    ret = avcodec_receive_frame(ctx.get(), frame.get());
    if (ret == AVERROR(EAGAIN)) {
        check_av(avcodec_send_packet(ctx.get(), nullptr), what);
        ret = avcodec_receive_frame(ctx.get(), frame.get());
    }
    if (ret == AVERROR_EOF) TC_FAIL("damaged or truncated ", kind_name(kind), ": the decoder produced no picture");
    check_av(ret, "damaged or truncated " + std::string(kind_name(kind)));
    TC_CHECK(frame->width > 0 && frame->height > 0 && int64_t(frame->width) * frame->height <= limits.max_pixels,
             "decoded ", kind_name(kind), " frame has a bad size ", frame->width, "x", frame->height);

    Tensor rgb = frame_to_rgb(frame.get());
    return apply_orientation(rgb, hdr.orientation);
}

Tensor decode_image_file(const std::string& path, const DecodeLimits& limits) {
    struct stat st{};
    TC_CHECK(::stat(path.c_str(), &st) == 0, path, ": cannot open image (", std::strerror(errno), ")");
    TC_CHECK(S_ISREG(st.st_mode), path, ": not a regular file");
    TC_CHECK(uint64_t(st.st_size) <= limits.max_bytes, path, ": image is ", uint64_t(st.st_size), " bytes, over the ",
             limits.max_bytes, "-byte limit");
    std::ifstream in(path, std::ios::binary);
    TC_CHECK(in, path, ": cannot open image");
    std::vector<uint8_t> bytes(size_t(st.st_size));
    in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(bytes.size()));
    TC_CHECK(in.gcount() == std::streamsize(bytes.size()), path, ": short read");
    try {
        return decode_image(bytes.data(), bytes.size(), limits);
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    }
}

Tensor resize_rgb8(const Tensor& hwc, int64_t out_h, int64_t out_w) {
    ffmpeg_init();
    TC_CHECK(hwc.dim() == 3 && hwc.size(2) == 3 && hwc.dtype() == DType::U8 && hwc.device() == Device::CPU,
             "resize_rgb8 expects a CPU [H, W, 3] U8 tensor, got ", hwc.describe());
    const int64_t H = hwc.size(0), W = hwc.size(1);
    constexpr int64_t kMaxSide = 1 << 15;
    TC_CHECK(H > 0 && W > 0 && H <= kMaxSide && W <= kMaxSide, "resize_rgb8: bad input size ", H, "x", W);
    TC_CHECK(out_h > 0 && out_w > 0 && out_h <= kMaxSide && out_w <= kMaxSide, "resize_rgb8: bad output size ",
             out_h, "x", out_w);
    const Tensor src = hwc.contiguous();
    if (out_h == H && out_w == W) return src.clone();

    // Each channel is scaled as a GRAY8 plane: swscale then filters the samples themselves, with no
    // RGB->YUV->RGB detour (which is what it does for packed RGB at different sizes).
    const int flags = ((out_h <= H && out_w <= W) ? SWS_AREA : SWS_LANCZOS) | SWS_ACCURATE_RND;
    SwsContextPtr sws(sws_getContext(int(W), int(H), AV_PIX_FMT_GRAY8, int(out_w), int(out_h), AV_PIX_FMT_GRAY8,
                                     flags, nullptr, nullptr, nullptr));
    TC_CHECK(sws, "resize_rgb8: swscale cannot resize ", W, "x", H, " to ", out_w, "x", out_h);
    const int in_stride = int((W + 63) / 64 * 64), out_stride = int((out_w + 63) / 64 * 64);
    std::vector<uint8_t> in_plane(size_t(in_stride) * H + 64), out_plane(size_t(out_stride) * out_h + 64);
    Tensor out = Tensor::empty({out_h, out_w, 3}, DType::U8);
    const uint8_t* s = src.data<uint8_t>();
    uint8_t* d = out.data<uint8_t>();
    for (int c = 0; c < 3; ++c) {
        for (int64_t y = 0; y < H; ++y)
            for (int64_t x = 0; x < W; ++x) in_plane[size_t(y * in_stride + x)] = s[(y * W + x) * 3 + c];
        const uint8_t* in_planes[4] = {in_plane.data(), nullptr, nullptr, nullptr};
        uint8_t* out_planes[4] = {out_plane.data(), nullptr, nullptr, nullptr};
        const int in_strides[4] = {in_stride, 0, 0, 0};
        const int out_strides[4] = {out_stride, 0, 0, 0};
        const int rows = sws_scale(sws.get(), in_planes, in_strides, 0, int(H), out_planes, out_strides);
        TC_CHECK(rows == int(out_h), "resize_rgb8: swscale failed");
        for (int64_t y = 0; y < out_h; ++y)
            for (int64_t x = 0; x < out_w; ++x) d[(y * out_w + x) * 3 + c] = out_plane[size_t(y * out_stride + x)];
    }
    return out;
}

}  // namespace tc::media
