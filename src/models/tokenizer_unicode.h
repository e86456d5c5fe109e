// Unicode character properties and string transforms for the CLIP tokenizer, on top of ICU.
// Each function mirrors one Python behaviour that open_clip's tokenizer relies on; the comments name it.
// ICU is used rather than hand-made tables: it is a maintained library with current Unicode data.
#pragma once

#include <string>
#include <string_view>

namespace tc::tok {

// \p{L} in the `regex` module: general category Lu, Ll, Lt, Lm or Lo.
bool is_letter(char32_t c);
// \p{N} in the `regex` module: general category Nd, Nl or No.
bool is_number(char32_t c);
// \d in Python's `re` on str: general category Nd.
bool is_decimal_digit(char32_t c);
// str.isspace() and \s in Python's `re` on str: bidirectional class WS, B or S, or category Zs.
bool is_py_space(char32_t c);
// \s in the `regex` module on str: the Unicode White_Space property.
bool is_white_space(char32_t c);
// \w in Python's `re` on str: str.isalnum() (alphabetic or with a numeric type) or '_'.
bool is_py_word(char32_t c);

// Simple case folding, which is what the `regex` module's IGNORECASE compares (e.g. U+017F LONG S -> 's').
char32_t simple_case_fold(char32_t c);

// unicodedata.normalize("NFC" / "NFKC", text).
std::u32string nfc(std::u32string_view text);
std::u32string nfkc(std::u32string_view text);
// The one-step compatibility decomposition mapping from UnicodeData.txt (e.g. U+FB05 -> "ſt",
// U+01C5 -> "Dž"); empty when the character has none.
std::u32string compat_decomposition_mapping(char32_t c);

// str.lower() / str.upper(): full case mappings (SpecialCasing.txt without language-specific rules),
// including the final-sigma rule of lower().
std::u32string to_lower(std::u32string_view text);
std::u32string to_upper(std::u32string_view text);

}  // namespace tc::tok
