// ftfy.fix_text with its default configuration, the first step of open_clip's text cleaning
// (open_clip/tokenizer.py basic_clean). Follows ftfy 6.2 (ftfy/__init__.py fix_text and fix_and_explain).
#pragma once

#include <string>
#include <string_view>

namespace tc::tok {

// Splits the text after each '\n' and fixes each line until it stops changing. One round applies, in order:
// cautious HTML unescaping (only while no line so far contained '<'), mojibake repair, C1 controls to
// Windows-1252, Latin ligatures split ("ﬁ" -> "fi"), full/half-width forms to normal width, curly quotes
// straightened, line breaks to '\n', terminal escape codes and stray control characters removed, NFC.
//
// ftfy's fix_surrogates step has no counterpart: our code points come from UTF-8 decoding that already
// replaced encoded surrogates with U+FFFD (tokenizer_utf8.h), so no surrogate can reach this point.
std::u32string ftfy_fix_text(std::u32string_view text);

}  // namespace tc::tok
