// HTML character reference decoding for the CLIP tokenizer (see tokenizer_html.h).
// The matching rules are written out by hand from the two reference regular expressions:
//   Python html:  &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
//   ftfy fixes:   &#?[0-9A-Za-z]{1,24};
#include "models/tokenizer_html.h"

#include <algorithm>
#include <unordered_map>

#include "models/tokenizer_charmap.h"
#include "models/tokenizer_html_entities.h"
#include "models/tokenizer_unicode.h"

namespace tc::tok {
namespace {

bool is_ascii_digit(char32_t c) { return c >= U'0' && c <= U'9'; }
bool is_ascii_hex(char32_t c) { return is_ascii_digit(c) || (c >= U'a' && c <= U'f') || (c >= U'A' && c <= U'F'); }
bool is_ascii_alnum(char32_t c) {
    return is_ascii_digit(c) || (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z');
}

int hex_value(char32_t c) {
    if (is_ascii_digit(c)) return static_cast<int>(c - U'0');
    if (c >= U'a' && c <= U'f') return static_cast<int>(c - U'a' + 10);
    return static_cast<int>(c - U'A' + 10);
}

void append_entity(std::u32string& out, const HtmlEntity& e) {
    out.push_back(e.first);
    if (e.second != 0) out.push_back(e.second);
}

// The ASCII prefix of `name` as a byte string (entity names are ASCII, so nothing longer can match).
std::string ascii_prefix(std::u32string_view name) {
    std::string s;
    for (char32_t c : name) {
        if (c >= 0x80) break;
        s.push_back(static_cast<char>(c));
    }
    return s;
}

// html._replace_charref for a numeric reference. `value` is saturated: anything above 0x10FFFF acts alike.
void append_numeric_reference(std::u32string& out, uint32_t value) {
    if (value == 0x00) {
        out.push_back(0xFFFD);
        return;
    }
    if (value == 0x0D) {
        out.push_back(U'\r');
        return;
    }
    if (value >= 0x80 && value <= 0x9F) {
        // HTML5 reads these as Windows-1252 bytes; the five bytes Windows-1252 leaves undefined stay C1
        // controls, which is what the sloppy Windows-1252 table gives.
        out.push_back(SingleByteCodec::get(Charmap::SloppyWindows1252).decode(static_cast<uint8_t>(value)));
        return;
    }
    if ((value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF) {
        out.push_back(0xFFFD);
        return;
    }
    // Code points HTML5 calls invalid in a reference produce nothing.
    const bool invalid = (value >= 0x01 && value <= 0x08) || value == 0x0B || (value >= 0x0E && value <= 0x1F) ||
                         value == 0x7F || (value >= 0xFDD0 && value <= 0xFDEF) || (value & 0xFFFE) == 0xFFFE;
    if (!invalid) out.push_back(static_cast<char32_t>(value));
}

// html._replace_charref for a named reference; `name` is what followed '&' (with its ';' if any).
void append_named_reference(std::u32string& out, std::u32string_view name) {
    const std::string ascii = ascii_prefix(name);
    if (ascii.size() == name.size()) {
        if (const HtmlEntity* e = find_html_entity(ascii)) {
            append_entity(out, *e);
            return;
        }
    }
    // The longest proper prefix (of at least 2 characters) that is a name wins; the rest stays as text.
    for (size_t len = std::min(name.size() - 1, ascii.size()); len >= 2; --len) {
        if (const HtmlEntity* e = find_html_entity(std::string_view(ascii).substr(0, len))) {
            append_entity(out, *e);
            out.append(name.substr(len));
            return;
        }
    }
    out.push_back(U'&');
    out.append(name);
}

// Tries to match Python's charref pattern at text[amp] == '&'. On a match, appends the replacement,
// returns true and sets `end` past the match.
bool replace_reference_at(std::u32string_view text, size_t amp, std::u32string& out, size_t& end) {
    const size_t n = text.size();
    size_t k = amp + 1;
    if (k < n && text[k] == U'#') {
        uint32_t value = 0;
        const auto add_digit = [&value](uint32_t base, uint32_t d) {
            value = (value > 0x110000) ? 0x110001 : value * base + d;  // saturate: only "too big" matters
        };
        size_t d = k + 1;
        if (d < n && is_ascii_digit(text[d])) {
            for (; d < n && is_ascii_digit(text[d]); ++d) add_digit(10, static_cast<uint32_t>(text[d] - U'0'));
        } else if (d + 1 < n && (text[d] == U'x' || text[d] == U'X') && is_ascii_hex(text[d + 1])) {
            for (++d; d < n && is_ascii_hex(text[d]); ++d) add_digit(16, static_cast<uint32_t>(hex_value(text[d])));
        } else {
            return false;  // "&#" without digits: the named form excludes '#', so nothing matches here
        }
        if (d < n && text[d] == U';') ++d;
        append_numeric_reference(out, value);
        end = d;
        return true;
    }
    const auto name_char = [](char32_t c) {
        return c != U'\t' && c != U'\n' && c != U'\f' && c != U' ' && c != U'<' && c != U'&' && c != U'#' &&
               c != U';';
    };
    size_t e = k;
    while (e < n && e - k < 32 && name_char(text[e])) ++e;
    if (e == k) return false;
    if (e < n && text[e] == U';') ++e;
    append_named_reference(out, text.substr(k, e - k));
    end = e;
    return true;
}

// ftfy's HTML_ENTITIES additions: "&NAME;" for a lower-case name "&name;" whose all-caps form is not
// itself decoded by html.unescape, meaning the upper-cased value (ftfy/chardata.py _build_html_entities).
const std::unordered_map<std::string, std::u32string>& ftfy_uppercase_entities() {
    static const std::unordered_map<std::string, std::u32string> table = [] {
        std::unordered_map<std::string, std::u32string> t;
        for (const HtmlEntity& e : html_entities()) {
            if (e.name.empty() || e.name.back() != ';') continue;
            std::string upper(e.name);
            bool is_lower = true;
            for (char& ch : upper) {
                if (ch >= 'A' && ch <= 'Z') is_lower = false;
                if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
            }
            if (!is_lower) continue;
            std::u32string ref = U"&";
            for (char ch : upper) ref.push_back(static_cast<char32_t>(ch));
            if (html_unescape(ref) != ref) continue;  // the all-caps name means something else already
            std::u32string value(1, e.first);
            if (e.second != 0) value.push_back(e.second);
            t.emplace(std::move(upper), to_upper(value));
        }
        return t;
    }();
    return table;
}

}  // namespace

std::u32string html_unescape(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
        size_t end = 0;
        if (text[i] == U'&' && replace_reference_at(text, i, out, end)) {
            i = end;
        } else {
            out.push_back(text[i]);
            ++i;
        }
    }
    return out;
}

std::u32string ftfy_unescape_html(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
        if (text[i] != U'&') {
            out.push_back(text[i++]);
            continue;
        }
        // Match &#?[0-9A-Za-z]{1,24};
        const bool numeric = i + 1 < text.size() && text[i + 1] == U'#';
        const size_t body = i + 1 + (numeric ? 1 : 0);
        size_t e = body;
        while (e < text.size() && e - body < 24 && is_ascii_alnum(text[e])) ++e;
        if (e == body || e >= text.size() || text[e] != U';') {
            out.push_back(text[i++]);
            continue;
        }
        const std::u32string_view ref = text.substr(i, e + 1 - i);
        i = e + 1;
        if (!numeric) {
            const std::string name = ascii_prefix(ref.substr(1));  // all ASCII by construction, with the ';'
            if (const HtmlEntity* ent = find_html_entity(name)) {
                append_entity(out, *ent);
                continue;
            }
            const auto& upper = ftfy_uppercase_entities();
            if (const auto it = upper.find(name); it != upper.end()) {
                out.append(it->second);
                continue;
            }
            out.append(ref);
            continue;
        }
        // Numeric: accept html.unescape's reading only if it consumed the ';' (so "&#65x;" stays as is).
        const std::u32string decoded = html_unescape(ref);
        if (decoded.find(U';') != std::u32string::npos) {
            out.append(ref);
        } else {
            out.append(decoded);
        }
    }
    return out;
}

}  // namespace tc::tok
