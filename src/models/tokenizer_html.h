// HTML character reference decoding, in the two flavours that open_clip's text cleaning applies.
#pragma once

#include <string>
#include <string_view>

namespace tc::tok {

// Python's html.unescape (Lib/html/__init__.py): decodes every named and numeric character reference
// by the HTML5 rules, including legacy names without ';' ("&ampx" -> "&x"), the longest-prefix rule,
// Windows-1252 meanings for &#128;..&#159;, and U+FFFD for surrogates and numbers above U+10FFFF.
std::u32string html_unescape(std::u32string_view text);

// ftfy.fixes.unescape_html: the cautious variant ftfy runs first. It decodes only "&name;" references
// that end in ';' (plus all-caps forms such as "&EACUTE;" -> "É" where that is unambiguous) and numeric
// references that html.unescape decodes completely, so informal text like "this&not that" survives.
std::u32string ftfy_unescape_html(std::u32string_view text);

}  // namespace tc::tok
