// PNG decode/encode with libpng. libpng reports errors by longjmp; the decoding runs in a C-style function
// whose state lives in a struct owned by the caller, so no C++ object with a destructor is ever skipped by
// the jump, and the caller turns the failure into a tc::Error.
#include "media/png.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

namespace tc {

namespace {

struct DecodeState {
    png_structp png = nullptr;
    png_infop info = nullptr;
    const uint8_t* data = nullptr;
    size_t size = 0;
    size_t pos = 0;
    char message[256] = {0};
    uint8_t* pixels = nullptr;  // malloc'd, h * w * 3
    png_bytep* rows = nullptr;  // malloc'd
    uint32_t width = 0, height = 0;
};

void read_bytes(png_structp png, png_bytep out, size_t n) {
    auto* s = static_cast<DecodeState*>(png_get_io_ptr(png));
    if (n > s->size - s->pos) png_error(png, "unexpected end of PNG data");
    std::memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

void on_error(png_structp png, png_const_charp msg) {
    auto* s = static_cast<DecodeState*>(png_get_error_ptr(png));
    std::snprintf(s->message, sizeof s->message, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}  // benign (e.g. an unknown ancillary chunk)

// Returns true on success; on failure s->message says why. Only plain data lives in this frame.
bool decode_c(DecodeState* s, int64_t max_pixels) {
    if (setjmp(png_jmpbuf(s->png))) return false;
    png_set_read_fn(s->png, s, read_bytes);
    png_read_info(s->png, s->info);
    const uint32_t w = png_get_image_width(s->png, s->info), h = png_get_image_height(s->png, s->info);
    if (w == 0 || h == 0 || int64_t(w) * int64_t(h) > max_pixels) {
        std::snprintf(s->message, sizeof s->message, "image of %ux%u pixels is over the limit of %lld pixels", w, h,
                      (long long)max_pixels);
        return false;
    }
    const int depth = png_get_bit_depth(s->png, s->info), type = png_get_color_type(s->png, s->info);
    // To 8-bit RGB as PIL's convert('RGB'): expand palette and low-depth gray, keep the high byte of 16-bit
    // samples, drop alpha (no compositing), replicate gray.
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(s->png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(s->png);
    if (depth == 16) png_set_strip_16(s->png);
    if (type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(s->png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(s->png);
    png_set_interlace_handling(s->png);
    png_read_update_info(s->png, s->info);
    if (png_get_rowbytes(s->png, s->info) != size_t(w) * 3) {
        std::snprintf(s->message, sizeof s->message, "unexpected PNG row layout after conversion to RGB");
        return false;
    }
    s->pixels = static_cast<uint8_t*>(std::malloc(size_t(w) * h * 3));
    s->rows = static_cast<png_bytep*>(std::malloc(sizeof(png_bytep) * h));
    if (!s->pixels || !s->rows) {
        std::snprintf(s->message, sizeof s->message, "out of memory");
        return false;
    }
    for (uint32_t y = 0; y < h; ++y) s->rows[y] = s->pixels + size_t(y) * w * 3;
    png_read_image(s->png, s->rows);
    png_read_end(s->png, nullptr);
    s->width = w;
    s->height = h;
    return true;
}

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    TC_CHECK(f.good(), "cannot open ", path);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace

Tensor decode_png(const uint8_t* data, size_t size, const PngLimits& limits) {
    TC_CHECK(size >= 8 && png_sig_cmp(data, 0, 8) == 0, "not a PNG file (bad signature)");
    DecodeState s;
    s.data = data;
    s.size = size;
    s.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, on_error, on_warning);
    TC_CHECK(s.png != nullptr, "PNG: cannot create the libpng reader");
    s.info = png_create_info_struct(s.png);
    const bool ok = s.info != nullptr && decode_c(&s, limits.max_pixels);
    Tensor out;
    if (ok) {
        out = Tensor::empty({int64_t(s.height), int64_t(s.width), 3}, DType::U8);
        std::memcpy(out.data<uint8_t>(), s.pixels, size_t(s.width) * s.height * 3);
    }
    std::free(s.pixels);
    std::free(s.rows);
    png_destroy_read_struct(&s.png, s.info ? &s.info : nullptr, nullptr);
    TC_CHECK(ok, "PNG decode failed: ", s.message[0] ? s.message : "cannot create the libpng info struct");
    return out;
}

Tensor read_png(const std::string& path, const PngLimits& limits) {
    std::vector<uint8_t> bytes = read_file(path);
    try {
        return decode_png(bytes.data(), bytes.size(), limits);
    } catch (const Error& e) {
        throw Error(path + ": " + e.what());
    }
}

std::vector<uint8_t> encode_png(const Tensor& hwc_any) {
    TC_CHECK(hwc_any.dim() == 3 && (hwc_any.size(2) == 3 || hwc_any.size(2) == 4) && hwc_any.dtype() == DType::U8,
             "encode_png needs a [H, W, 3|4] U8 tensor, got ", hwc_any.describe());
    const Tensor hwc = hwc_any.contiguous();
    png_image img;
    std::memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = png_uint_32(hwc.size(1));
    img.height = png_uint_32(hwc.size(0));
    img.format = hwc.size(2) == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
    const png_int_32 stride = png_int_32(hwc.size(1) * hwc.size(2));
    png_alloc_size_t bytes = 0;
    TC_CHECK(png_image_write_to_memory(&img, nullptr, &bytes, 0, hwc.data<uint8_t>(), stride, nullptr),
             "PNG encode failed: ", img.message);
    std::vector<uint8_t> out(bytes);
    TC_CHECK(png_image_write_to_memory(&img, out.data(), &bytes, 0, hwc.data<uint8_t>(), stride, nullptr),
             "PNG encode failed: ", img.message);
    out.resize(bytes);
    png_image_free(&img);
    return out;
}

void write_png(const std::string& path, const Tensor& hwc) {
    std::vector<uint8_t> bytes = encode_png(hwc);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    TC_CHECK(f.good(), "cannot write ", path);
    f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    TC_CHECK(f.good(), "error writing ", path);
}

}  // namespace tc
