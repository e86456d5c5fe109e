// ftfy.fix_text for the CLIP tokenizer (see tokenizer_ftfy.h). The small character-level fixers live here;
// mojibake repair is in tokenizer_mojibake.cpp and HTML unescaping in tokenizer_html.cpp.
#include "models/tokenizer_ftfy.h"

#include <unordered_map>

#include "models/tokenizer_html.h"
#include "models/tokenizer_mojibake.h"
#include "models/tokenizer_unicode.h"

namespace tc::tok {
namespace {

// ftfy's TextFixerConfig.max_decode_length: longer lines are fixed in pieces of this many code points.
constexpr size_t kMaxSegment = 1000000;

// Applies a per-character replacement table (Python's str.translate).
std::u32string translate(std::u32string_view text, const std::unordered_map<char32_t, std::u32string>& table) {
    std::u32string out;
    out.reserve(text.size());
    for (char32_t c : text) {
        const auto it = table.find(c);
        if (it == table.end()) out.push_back(c);
        else out += it->second;
    }
    return out;
}

// ftfy.fixes.fix_latin_ligatures. ftfy splits these Latin ligatures and digraphs (ftfy/chardata.py
// LIGATURES) and leaves others, such as æ, alone. Each one's replacement is its compatibility
// decomposition, one level deep: "ﬁ" -> "fi", "ﬅ" -> "ſt", "ǅ" -> "Dž", "ŉ" -> "ʼn".
std::u32string fix_latin_ligatures(std::u32string_view text) {
    static const std::unordered_map<char32_t, std::u32string> table = [] {
        std::unordered_map<char32_t, std::u32string> t;
        const std::pair<char32_t, char32_t> ranges[] = {
            {0x0132, 0x0133},  // Ĳ ĳ (Dutch)
            {0x0149, 0x0149},  // ŉ (Afrikaans)
            {0x01C4, 0x01CC},  // Ǆ..ǌ (Serbo-Croatian digraphs DŽ, LJ, NJ in three cases)
            {0x01F1, 0x01F3},  // Ǳ ǲ ǳ
            {0xFB00, 0xFB06},  // ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ (typographic ligatures)
        };
        for (auto [lo, hi] : ranges)
            for (char32_t c = lo; c <= hi; ++c) t.emplace(c, compat_decomposition_mapping(c));
        return t;
    }();
    return translate(text, table);
}

// ftfy.fixes.fix_character_width: the halfwidth and fullwidth forms block U+FF01..U+FFEF mapped to the
// normal forms (their NFKC), and U+3000 IDEOGRAPHIC SPACE to a plain space (ftfy/chardata.py WIDTH_MAP).
std::u32string fix_character_width(std::u32string_view text) {
    static const std::unordered_map<char32_t, std::u32string> table = [] {
        std::unordered_map<char32_t, std::u32string> t;
        t.emplace(0x3000, U" ");
        for (char32_t c = 0xFF01; c < 0xFFF0; ++c) {
            const std::u32string one(1, c);
            std::u32string normal = nfkc(one);
            if (normal != one) t.emplace(c, std::move(normal));
        }
        return t;
    }();
    return translate(text, table);
}

// ftfy.fixes.uncurl_quotes: ʼ ‘ ’ ‚ ‛ become ' and “ ” „ ‟ become ".
std::u32string uncurl_quotes(std::u32string_view text) {
    std::u32string out(text);
    for (char32_t& c : out) {
        if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = U'\'';
        else if (c >= 0x201C && c <= 0x201F) c = U'"';
    }
    return out;
}

// ftfy.fixes.fix_line_breaks: CRLF, CR, LINE SEPARATOR, PARAGRAPH SEPARATOR and NEXT LINE become '\n'.
std::u32string fix_line_breaks(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        const char32_t c = text[i];
        if (c == U'\r' && i + 1 < text.size() && text[i + 1] == U'\n') continue;  // the '\n' follows
        out.push_back((c == U'\r' || c == 0x2028 || c == 0x2029 || c == 0x85) ? U'\n' : c);
    }
    return out;
}

// ftfy.fixes.remove_terminal_escapes: ANSI sequences ESC '[' (digits or ';')* letter, e.g. colour codes.
// Python's \d matches any decimal digit (category Nd), not just ASCII.
std::u32string remove_terminal_escapes(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
        if (text[i] == 0x1B && i + 1 < text.size() && text[i + 1] == U'[') {
            size_t j = i + 2;
            while (j < text.size() && (text[j] == U';' || is_decimal_digit(text[j]))) ++j;
            if (j < text.size() && ((text[j] >= U'a' && text[j] <= U'z') || (text[j] >= U'A' && text[j] <= U'Z'))) {
                i = j + 1;
                continue;
            }
        }
        out.push_back(text[i++]);
    }
    return out;
}

// ftfy.fixes.remove_control_chars: ASCII controls other than \t \n \f \r, the deprecated Arabic format
// controls U+206A..U+206F, interlinear annotation marks and the object replacement character
// U+FFF9..U+FFFC, and the byte order mark U+FEFF (ftfy/chardata.py CONTROL_CHARS). Joiners, direction
// marks and C1 controls stay.
std::u32string remove_control_chars(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    for (char32_t c : text) {
        const bool drop = c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
                          (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
        if (!drop) out.push_back(c);
    }
    return out;
}

// ftfy's fix_and_explain for one segment: all fixers in ftfy's order, repeated until nothing changes.
std::u32string fix_segment(std::u32string_view segment, bool unescape_html) {
    std::u32string text(segment);
    // Each round only removes problems, so it settles in a few rounds; the cap guards an unforeseen cycle.
    for (int round = 0; round < 64; ++round) {
        const std::u32string before = text;
        if (unescape_html) text = ftfy_unescape_html(text);
        text = fix_encoding(text);
        text = fix_c1_controls(text);
        text = fix_latin_ligatures(text);
        text = fix_character_width(text);
        text = uncurl_quotes(text);
        text = fix_line_breaks(text);
        text = remove_terminal_escapes(text);
        text = remove_control_chars(text);
        text = nfc(text);
        if (text == before) break;
    }
    return text;
}

}  // namespace

std::u32string ftfy_fix_text(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    // unescape_html="auto": decode entities until a segment contains '<' (then the text is probably real
    // HTML, whose entities must stay); like ftfy, the decision then holds for all later segments too.
    bool unescape_html = true;
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t newline = text.find(U'\n', pos);
        size_t end = (newline == std::u32string_view::npos) ? text.size() : newline + 1;
        if (end - pos > kMaxSegment) end = pos + kMaxSegment;
        const std::u32string_view segment = text.substr(pos, end - pos);
        if (unescape_html && segment.find(U'<') != std::u32string_view::npos) unescape_html = false;
        out += fix_segment(segment, unescape_html);
        pos = end;
    }
    return out;
}

}  // namespace tc::tok
