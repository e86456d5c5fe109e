// Single-byte code pages for ftfy-style mojibake repair, with tables taken from ICU's converters
// (see tokenizer_charmap.h).
#include "models/tokenizer_charmap.h"

#include <unicode/ucnv.h>

#include <iterator>
#include <memory>
#include <utility>

#include "core/error.h"

namespace tc::tok {

struct CharmapBuilder {
    // Decodes bytes 80..FF with an ICU converter. Returns 0xFFFFFFFF for a byte the code page leaves undefined.
    static std::array<char32_t, 128> icu_upper_half(const char* converter_name) {
        UErrorCode status = U_ZERO_ERROR;
        std::unique_ptr<UConverter, void (*)(UConverter*)> conv(ucnv_open(converter_name, &status), ucnv_close);
        TC_CHECK(U_SUCCESS(status) && conv, "tokenizer: ICU has no converter '", converter_name,
                 "': ", u_errorName(status));
        ucnv_setToUCallBack(conv.get(), UCNV_TO_U_CALLBACK_STOP, nullptr, nullptr, nullptr, &status);
        std::array<char32_t, 128> out{};
        for (int b = 0x80; b < 0x100; ++b) {
            const char in = static_cast<char>(b);
            UChar u[4];
            status = U_ZERO_ERROR;
            ucnv_resetToUnicode(conv.get());
            const int32_t n = ucnv_toUChars(conv.get(), u, 4, &in, 1, &status);
            // Every code page here maps a byte to one BMP character or to nothing.
            out[b - 0x80] = (U_SUCCESS(status) && n == 1) ? static_cast<char32_t>(u[0]) : 0xFFFFFFFFu;
        }
        return out;
    }

    static SingleByteCodec build(Charmap which) {
        SingleByteCodec c;
        for (int b = 0; b < 0x100; ++b) c.to_unicode_[b] = static_cast<char32_t>(b);  // Latin-1 and ASCII
        const char* icu_name = nullptr;
        switch (which) {
            case Charmap::Latin1: break;
            case Charmap::SloppyWindows1252: icu_name = "windows-1252"; c.sloppy_ = true; break;
            case Charmap::SloppyWindows1251: icu_name = "windows-1251"; c.sloppy_ = true; break;
            case Charmap::SloppyWindows1250: icu_name = "windows-1250"; c.sloppy_ = true; break;
            case Charmap::SloppyWindows1253: icu_name = "windows-1253"; c.sloppy_ = true; break;
            case Charmap::SloppyWindows1254: icu_name = "windows-1254"; c.sloppy_ = true; break;
            case Charmap::Iso8859_2: icu_name = "ISO-8859-2"; break;
            case Charmap::MacRoman: icu_name = "macintosh"; break;
            case Charmap::Cp437: icu_name = "ibm-437"; break;
        }
        if (icu_name != nullptr) {
            const auto upper = icu_upper_half(icu_name);
            for (int b = 0x80; b < 0x100; ++b) {
                const char32_t u = upper[b - 0x80];
                if (u != 0xFFFFFFFFu) {
                    c.to_unicode_[b] = u;
                } else {
                    // Only the Windows code pages have holes; the sloppy codec fills them with Latin-1.
                    TC_CHECK(c.sloppy_, "tokenizer: ICU converter '", icu_name, "' leaves byte ", b, " undefined");
                }
            }
        }
        if (which == Charmap::Cp437) {
            // Python's cp437 (from the Unicode consortium's CP437.TXT) reads byte E6 as U+00B5 MICRO SIGN;
            // ICU's ibm-437 reads it as U+03BC GREEK SMALL LETTER MU. Follow Python, as ftfy runs on it.
            c.to_unicode_[0xE6] = 0x00B5;
        }
        if (c.sloppy_) c.to_unicode_[0x1A] = 0xFFFD;
        for (int b = 0; b < 0x100; ++b) c.from_unicode_.emplace(c.to_unicode_[b], static_cast<uint8_t>(b));
        return c;
    }

    template <size_t... I>
    static std::array<SingleByteCodec, sizeof...(I)> build_all(std::index_sequence<I...>) {
        return {build(static_cast<Charmap>(I))...};
    }
};

const SingleByteCodec& SingleByteCodec::get(Charmap which) {
    // Enumerators are numbered in kFtfyCharmaps order, so the enumerator value indexes the array.
    static const auto codecs = CharmapBuilder::build_all(std::make_index_sequence<std::size(kFtfyCharmaps)>());
    return codecs[static_cast<size_t>(which)];
}

bool SingleByteCodec::can_encode(std::u32string_view text) const {
    for (char32_t c : text)
        if (!from_unicode_.contains(c)) return false;
    return true;
}

std::optional<std::string> SingleByteCodec::encode(std::u32string_view text) const {
    std::string out;
    out.reserve(text.size());
    for (char32_t c : text) {
        const auto it = from_unicode_.find(c);
        if (it == from_unicode_.end()) return std::nullopt;
        out.push_back(static_cast<char>(it->second));
    }
    return out;
}

}  // namespace tc::tok
