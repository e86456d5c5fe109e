// UTF-8 <-> code point conversion for the CLIP tokenizer's text cleaning.
// The cleaning pipeline (ftfy, html.unescape, lower-casing) works on code points, as Python's str does, so
// text enters as UTF-8, is processed as std::u32string and leaves as UTF-8.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tc::tok {

// Decodes UTF-8 and never fails: every ill-formed sequence becomes one U+FFFD REPLACEMENT CHARACTER
// (one per "maximal subpart", the Unicode-recommended practice that Python's errors="replace" also follows).
// Encoded surrogates (ED A0..ED BF) are ill-formed in UTF-8 and are replaced too, so the result never
// holds a surrogate code point. A Python str made from the same bytes would hold the same code points.
std::u32string utf8_decode_lenient(std::string_view bytes);

// Strict decoding of ftfy's "utf-8-variants" codec (ftfy/bad_codecs/utf8_variants.py): standard UTF-8
// plus two encodings that buggy encoders produce and that ftfy accepts when it re-decodes mojibake:
//   - C0 80, the Java "modified UTF-8" encoding of U+0000;
//   - CESU-8: a supplementary character written as two 3-byte encoded surrogates, ED Ax xx ED Bx xx.
// Returns nullopt on any other ill-formed input (overlongs, lone surrogates, truncation, > U+10FFFF).
std::optional<std::u32string> utf8_variants_decode_strict(std::string_view bytes);

void utf8_append(std::string& out, char32_t cp);
std::string utf8_encode(std::u32string_view text);

}  // namespace tc::tok
