// Mojibake repair as ftfy does it (ftfy/__init__.py fix_encoding and its helpers in ftfy/fixes.py).
// Mojibake is UTF-8 text that was decoded with a legacy single-byte encoding, e.g. "cafÃ©" for "café":
// the UTF-8 bytes C3 A9 of "é" read as Windows-1252 give "Ã©". The repair re-encodes the text with that
// legacy encoding and decodes the bytes as UTF-8 again, but only when the text "looks bad" (see
// tokenizer_badness.h) and the bytes really are UTF-8, so that correct text is left alone.
#pragma once

#include <string>
#include <string_view>

namespace tc::tok {

// ftfy.fix_encoding with the default configuration: repeats single repair steps until the text stops
// changing. One step tries, in order:
//   1. each encoding of tokenizer_charmap.h that can encode the whole text, re-decoding its bytes as UTF-8
//      (after putting back NBSP bytes that became spaces, and marking bytes lost to U+FFFD);
//   2. repairing only the embedded runs that look like UTF-8 mojibake (text mixing good and bad parts);
//   3. reading Latin-1 C1 controls as the Windows-1252 characters they usually stand for.
std::u32string fix_encoding(std::u32string_view text);

// ftfy.fixes.fix_c1_controls: U+0080..U+009F become the Windows-1252 characters of the same byte
// (the five bytes Windows-1252 leaves undefined stay as they are), as Web browsers do.
std::u32string fix_c1_controls(std::u32string_view text);

}  // namespace tc::tok
