// Unicode properties and transforms for the CLIP tokenizer, implemented with ICU (see tokenizer_unicode.h).
#include "models/tokenizer_unicode.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <vector>

#include "core/error.h"

namespace tc::tok {
namespace {

// Our code points never include surrogates (see tokenizer_utf8.h), but guard anyway: ICU's UTF-32
// conversion would otherwise turn a lone surrogate into U+FFFD silently and unpredictably.
icu::UnicodeString to_icu(std::u32string_view text) {
    std::vector<UChar32> buf(text.begin(), text.end());
    for (auto& c : buf)
        if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) c = 0xFFFD;
    return icu::UnicodeString::fromUTF32(buf.data(), static_cast<int32_t>(buf.size()));
}

std::u32string from_icu(const icu::UnicodeString& s) {
    std::u32string out;
    out.reserve(static_cast<size_t>(s.length()));
    for (int32_t i = 0; i < s.length();) {
        const UChar32 c = s.char32At(i);
        out.push_back(static_cast<char32_t>(c));
        i += U16_LENGTH(c);
    }
    return out;
}

const icu::Normalizer2& normalizer(bool compat) {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* n =
        compat ? icu::Normalizer2::getNFKCInstance(status) : icu::Normalizer2::getNFCInstance(status);
    TC_CHECK(U_SUCCESS(status) && n != nullptr, "tokenizer: ICU normalizer unavailable: ", u_errorName(status));
    return *n;
}

std::u32string normalize(std::u32string_view text, bool compat) {
    // Fast path: ASCII is invariant under NFC and NFKC.
    bool ascii = true;
    for (char32_t c : text) ascii = ascii && c < 0x80;
    if (ascii) return std::u32string(text);
    UErrorCode status = U_ZERO_ERROR;
    const icu::UnicodeString out = normalizer(compat).normalize(to_icu(text), status);
    TC_CHECK(U_SUCCESS(status), "tokenizer: Unicode normalization failed: ", u_errorName(status));
    return from_icu(out);
}

}  // namespace

bool is_letter(char32_t c) { return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_L_MASK) != 0; }

bool is_number(char32_t c) { return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_N_MASK) != 0; }

bool is_decimal_digit(char32_t c) { return u_charType(static_cast<UChar32>(c)) == U_DECIMAL_DIGIT_NUMBER; }

bool is_py_space(char32_t c) {
    // CPython builds its whitespace table (Tools/unicode/makeunicodedata.py) from exactly these classes.
    const auto u = static_cast<UChar32>(c);
    if (u_charType(u) == U_SPACE_SEPARATOR) return true;
    const UCharDirection d = u_charDirection(u);
    return d == U_WHITE_SPACE_NEUTRAL || d == U_BLOCK_SEPARATOR || d == U_SEGMENT_SEPARATOR;
}

bool is_white_space(char32_t c) { return u_isUWhiteSpace(static_cast<UChar32>(c)) != 0; }

bool is_py_word(char32_t c) {
    const auto u = static_cast<UChar32>(c);
    return c == U'_' || is_letter(c) || u_getIntPropertyValue(u, UCHAR_NUMERIC_TYPE) != U_NT_NONE;
}

char32_t simple_case_fold(char32_t c) {
    return static_cast<char32_t>(u_foldCase(static_cast<UChar32>(c), U_FOLD_CASE_DEFAULT));
}

std::u32string nfc(std::u32string_view text) { return normalize(text, false); }

std::u32string nfkc(std::u32string_view text) { return normalize(text, true); }

std::u32string compat_decomposition_mapping(char32_t c) {
    // The NFKC instance's raw decomposition is the mapping field of UnicodeData.txt, canonical or
    // compatibility, without recursive decomposition.
    icu::UnicodeString raw;
    if (!normalizer(true).getRawDecomposition(static_cast<UChar32>(c), raw)) return {};
    return from_icu(raw);
}

std::u32string to_lower(std::u32string_view text) {
    icu::UnicodeString s = to_icu(text);
    s.toLower(icu::Locale::getRoot());  // root locale: no Turkish/Lithuanian rules, like Python
    return from_icu(s);
}

std::u32string to_upper(std::u32string_view text) {
    icu::UnicodeString s = to_icu(text);
    s.toUpper(icu::Locale::getRoot());
    return from_icu(s);
}

}  // namespace tc::tok
