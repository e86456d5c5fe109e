// UTF-8 <-> code point conversion for the CLIP tokenizer (see tokenizer_utf8.h).
#include "models/tokenizer_utf8.h"

#include <cstdint>

namespace tc::tok {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

// Reads one well-formed UTF-8 sequence at bytes[i] (whose lead byte is >= 0x80). On success returns true,
// sets cp and advances i past it. On failure returns false and advances i past the maximal subpart, that is
// the lead byte and the continuation bytes that were still valid, so the next byte starts a new attempt.
bool read_multibyte(std::string_view bytes, size_t& i, char32_t& cp) {
    const auto b0 = static_cast<uint8_t>(bytes[i]);
    int len = 0;
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte (narrower for some lead bytes)
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
        cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        cp = b0 & 0x0F;
        if (b0 == 0xE0) lo = 0xA0;  // no overlongs
        if (b0 == 0xED) hi = 0x9F;  // no surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        cp = b0 & 0x07;
        if (b0 == 0xF0) lo = 0x90;  // no overlongs
        if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
        ++i;  // 80..C1 or F5..FF can never start a sequence
        return false;
    }
    size_t j = i + 1;
    for (int k = 1; k < len; ++k, ++j) {
        if (j >= bytes.size()) {
            i = j;
            return false;
        }
        const auto b = static_cast<uint8_t>(bytes[j]);
        const uint8_t l = (k == 1) ? lo : 0x80, h = (k == 1) ? hi : 0xBF;
        if (b < l || b > h) {
            i = j;
            return false;
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    i = j;
    return true;
}

}  // namespace

std::u32string utf8_decode_lenient(std::string_view bytes) {
    std::u32string out;
    out.reserve(bytes.size());
    size_t i = 0;
    while (i < bytes.size()) {
        const auto b0 = static_cast<uint8_t>(bytes[i]);
        if (b0 < 0x80) {
            out.push_back(b0);
            ++i;
            continue;
        }
        char32_t cp = 0;
        out.push_back(read_multibyte(bytes, i, cp) ? cp : kReplacement);
    }
    return out;
}

std::optional<std::u32string> utf8_variants_decode_strict(std::string_view bytes) {
    std::u32string out;
    out.reserve(bytes.size());
    const auto at = [&](size_t k) { return static_cast<uint8_t>(bytes[k]); };
    size_t i = 0;
    while (i < bytes.size()) {
        const uint8_t b0 = at(i);
        if (b0 < 0x80) {
            out.push_back(b0);
            ++i;
            continue;
        }
        if (b0 == 0xC0 && i + 1 < bytes.size() && at(i + 1) == 0x80) {  // Java's U+0000
            out.push_back(0);
            i += 2;
            continue;
        }
        if (b0 == 0xED && i + 5 < bytes.size() && at(i + 1) >= 0xA0 && at(i + 1) <= 0xAF &&
            (at(i + 2) & 0xC0) == 0x80 && at(i + 3) == 0xED && at(i + 4) >= 0xB0 && at(i + 4) <= 0xBF &&
            (at(i + 5) & 0xC0) == 0x80) {
            // CESU-8 surrogate pair: 1110_1101 1010_abcd 10ef_ghij 1110_1101 1011_klmn 10op_qrst
            // carries the 20 bits abcdefghij klmnopqrst of (code point - 0x10000).
            const char32_t cp = 0x10000 + ((at(i + 1) & 0x0Fu) << 16) + ((at(i + 2) & 0x3Fu) << 10) +
                                ((at(i + 4) & 0x0Fu) << 6) + (at(i + 5) & 0x3Fu);
            out.push_back(cp);
            i += 6;
            continue;
        }
        char32_t cp = 0;
        if (!read_multibyte(bytes, i, cp)) return std::nullopt;
        out.push_back(cp);
    }
    return out;
}

void utf8_append(std::string& out, char32_t cp) {
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = kReplacement;  // never emit ill-formed UTF-8
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

std::string utf8_encode(std::u32string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char32_t cp : text) utf8_append(out, cp);
    return out;
}

}  // namespace tc::tok
