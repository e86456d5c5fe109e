// ftfy's "badness" heuristic: does a text look like it contains mojibake?
// It sorts the few hundred characters that occur in UTF-8 mojibake into categories (currency signs, C1
// controls, accented capitals, box drawing, ...) and flags sequences that are far likelier to be mojibake
// than intended text, such as a lower-case accented letter followed by a currency sign ("Ã©" -> "é" is not
// flagged on its own, "â€œ" is). The categories and rules follow ftfy 6.2's ftfy/badness.py.
#pragma once

#include <string_view>

namespace tc::tok {

// ftfy.badness.is_bad: true iff some flagged sequence occurs in `text`.
bool looks_like_mojibake(std::u32string_view text);

}  // namespace tc::tok
