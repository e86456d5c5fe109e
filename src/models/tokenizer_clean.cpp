// open_clip's text cleaning for the CLIP tokenizer (see tokenizer_clean.h and tokenizer.h).
#include "models/tokenizer_clean.h"

#include "models/tokenizer.h"
#include "models/tokenizer_ftfy.h"
#include "models/tokenizer_html.h"
#include "models/tokenizer_unicode.h"
#include "models/tokenizer_utf8.h"

namespace tc::tok {
namespace {

// str.strip() with no argument.
std::u32string_view strip(std::u32string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && is_py_space(s[b])) ++b;
    while (e > b && is_py_space(s[e - 1])) --e;
    return s.substr(b, e - b);
}

// regex.sub(r'\s+', ' ', s) with the `regex` module, whose \s is the White_Space property.
std::u32string collapse_whitespace(std::u32string_view s) {
    std::u32string out;
    out.reserve(s.size());
    bool in_space = false;
    for (char32_t c : s) {
        if (is_white_space(c)) {
            if (!in_space) out.push_back(U' ');
            in_space = true;
        } else {
            out.push_back(c);
            in_space = false;
        }
    }
    return out;
}

}  // namespace

std::u32string clip_clean(std::u32string_view text) {
    // basic_clean
    std::u32string t = ftfy_fix_text(text);
    t = html_unescape(html_unescape(t));
    t = std::u32string(strip(t));
    // whitespace_clean
    t = collapse_whitespace(t);
    t = std::u32string(strip(t));
    return to_lower(t);
}

}  // namespace tc::tok

namespace tc {

std::string clip_clean_text(const std::string& utf8) {
    return tok::utf8_encode(tok::clip_clean(tok::utf8_decode_lenient(utf8)));
}

}  // namespace tc
