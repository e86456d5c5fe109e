// ftfy's mojibake heuristic (see tokenizer_badness.h). ftfy states it as one large regular expression over
// character categories (ftfy/badness.py, BADNESS_RE); here each alternative is a small check at a text
// position, in the same order, and the text is flagged if any check succeeds anywhere.
#include "models/tokenizer_badness.h"

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "models/tokenizer_unicode.h"

namespace tc::tok {
namespace {

// Categories of the characters that occur in UTF-8 mojibake (MOJIBAKE_CATEGORIES in ftfy/badness.py).
enum Category : uint16_t {
    kCommon = 1 << 0,       // appear in many contexts, so sequences with them prove little
    kC1 = 1 << 1,           // C1 controls: nobody types them, mojibake makes them
    kBad = 1 << 2,          // symbols that almost only occur in mojibake
    kCurrency = 1 << 3,
    kStartPunct = 1 << 4,   // opening punctuation
    kEndPunct = 1 << 5,     // closing punctuation
    kNumeric = 1 << 6,      // superscripts, fractions, math signs
    kKaomoji = 1 << 7,      // letters that emoticons use, so allowed in odd places
    kUpperAccented = 1 << 8,
    kLowerAccented = 1 << 9,
    kUpperCommon = 1 << 10, // Greek and Cyrillic capitals (also legitimately common)
    kLowerCommon = 1 << 11,
    kBox = 1 << 12,         // box drawing and block elements
};

struct CategoryRange {
    char32_t first, last;
    uint16_t categories;
};

constexpr CategoryRange kCategoryRanges[] = {
    // common: NBSP, soft hyphen, middle dot, acute accent, en/em dash, horizontal bar, ellipsis, right single quote
    {0x00A0, 0x00A0, kCommon}, {0x00AD, 0x00AD, kCommon}, {0x00B7, 0x00B7, kCommon}, {0x00B4, 0x00B4, kCommon},
    {0x2013, 0x2015, kCommon}, {0x2026, 0x2026, kCommon}, {0x2019, 0x2019, kCommon},
    // c1
    {0x0080, 0x009F, kC1},
    // bad: ¦ ¤ ¨ ¬ ¯ ¶ § ¸ ƒ ˆ ˇ ˘ ˛ ˜ † ‡ ‰ ⌐ ◊ U+FFFD ª º
    {0x00A6, 0x00A6, kBad}, {0x00A4, 0x00A4, kBad}, {0x00A8, 0x00A8, kBad}, {0x00AC, 0x00AC, kBad},
    {0x00AF, 0x00AF, kBad}, {0x00B6, 0x00B6, kBad}, {0x00A7, 0x00A7, kBad}, {0x00B8, 0x00B8, kBad},
    {0x0192, 0x0192, kBad}, {0x02C6, 0x02C7, kBad}, {0x02D8, 0x02D8, kBad}, {0x02DB, 0x02DC, kBad},
    {0x2020, 0x2021, kBad}, {0x2030, 0x2030, kBad}, {0x2310, 0x2310, kBad}, {0x25CA, 0x25CA, kBad},
    {0xFFFD, 0xFFFD, kBad}, {0x00AA, 0x00AA, kBad}, {0x00BA, 0x00BA, kBad},
    // currency: ¢ £ ¥ ₧ €
    {0x00A2, 0x00A3, kCurrency}, {0x00A5, 0x00A5, kCurrency}, {0x20A7, 0x20A7, kCurrency},
    {0x20AC, 0x20AC, kCurrency},
    // start punctuation: ¡ « ¿ © ΄ ΅ ‘ ‚ “ „ • ‹ and U+F8FF (the Apple logo in Mac fonts)
    {0x00A1, 0x00A1, kStartPunct}, {0x00AB, 0x00AB, kStartPunct}, {0x00BF, 0x00BF, kStartPunct},
    {0x00A9, 0x00A9, kStartPunct}, {0x0384, 0x0385, kStartPunct}, {0x2018, 0x2018, kStartPunct},
    {0x201A, 0x201A, kStartPunct}, {0x201C, 0x201C, kStartPunct}, {0x201E, 0x201E, kStartPunct},
    {0x2022, 0x2022, kStartPunct}, {0x2039, 0x2039, kStartPunct}, {0xF8FF, 0xF8FF, kStartPunct},
    // end punctuation: ® » ˝ ” › ™
    {0x00AE, 0x00AE, kEndPunct}, {0x00BB, 0x00BB, kEndPunct}, {0x02DD, 0x02DD, kEndPunct},
    {0x201D, 0x201D, kEndPunct}, {0x203A, 0x203A, kEndPunct}, {0x2122, 0x2122, kEndPunct},
    // numeric: ² ³ ¹ ± ¼ ½ ¾ × µ ÷ ⁄ ∂ ∆ ∏ ∑ √ ∞ ∩ ∫ ≈ ≠ ≡ ≤ ≥ №
    {0x00B2, 0x00B3, kNumeric}, {0x00B9, 0x00B9, kNumeric}, {0x00B1, 0x00B1, kNumeric},
    {0x00BC, 0x00BE, kNumeric}, {0x00D7, 0x00D7, kNumeric}, {0x00B5, 0x00B5, kNumeric},
    {0x00F7, 0x00F7, kNumeric}, {0x2044, 0x2044, kNumeric}, {0x2202, 0x2202, kNumeric},
    {0x2206, 0x2206, kNumeric}, {0x220F, 0x220F, kNumeric}, {0x2211, 0x2211, kNumeric},
    {0x221A, 0x221A, kNumeric}, {0x221E, 0x221E, kNumeric}, {0x2229, 0x2229, kNumeric},
    {0x222B, 0x222B, kNumeric}, {0x2248, 0x2248, kNumeric}, {0x2260, 0x2261, kNumeric},
    {0x2264, 0x2265, kNumeric}, {0x2116, 0x2116, kNumeric},
    // kaomoji: Ò-Ö Ù-Ü ò-ö ø-ü Ő °
    {0x00D2, 0x00D6, kKaomoji}, {0x00D9, 0x00DC, kKaomoji}, {0x00F2, 0x00F6, kKaomoji},
    {0x00F8, 0x00FC, kKaomoji}, {0x0150, 0x0150, kKaomoji}, {0x00B0, 0x00B0, kKaomoji},
    // upper accented: À-Ñ Ø Ü Ý Ă Ą Ć Č Ď Đ Ę Ě Ğ İ Ĺ Ľ Ł Ń Ň Œ Ř Ś Ş Š Ţ Ť Ů Ű Ÿ Ź Ż Ž Ґ
    {0x00C0, 0x00D1, kUpperAccented}, {0x00D8, 0x00D8, kUpperAccented}, {0x00DC, 0x00DD, kUpperAccented},
    {0x0102, 0x0102, kUpperAccented}, {0x0104, 0x0104, kUpperAccented}, {0x0106, 0x0106, kUpperAccented},
    {0x010C, 0x010C, kUpperAccented}, {0x010E, 0x010E, kUpperAccented}, {0x0110, 0x0110, kUpperAccented},
    {0x0118, 0x0118, kUpperAccented}, {0x011A, 0x011A, kUpperAccented}, {0x011E, 0x011E, kUpperAccented},
    {0x0130, 0x0130, kUpperAccented}, {0x0139, 0x0139, kUpperAccented}, {0x013D, 0x013D, kUpperAccented},
    {0x0141, 0x0141, kUpperAccented}, {0x0143, 0x0143, kUpperAccented}, {0x0147, 0x0147, kUpperAccented},
    {0x0152, 0x0152, kUpperAccented}, {0x0158, 0x0158, kUpperAccented}, {0x015A, 0x015A, kUpperAccented},
    {0x015E, 0x015E, kUpperAccented}, {0x0160, 0x0160, kUpperAccented}, {0x0162, 0x0162, kUpperAccented},
    {0x0164, 0x0164, kUpperAccented}, {0x016E, 0x016E, kUpperAccented}, {0x0170, 0x0170, kUpperAccented},
    {0x0178, 0x0179, kUpperAccented}, {0x017B, 0x017B, kUpperAccented}, {0x017D, 0x017D, kUpperAccented},
    {0x0490, 0x0490, kUpperAccented},
    // lower accented: ß à-ñ ă ą ć č ď đ ę ě ğ ĺ ľ ł œ ŕ ś ş š ť ü ź ż ž ґ ﬁ ﬂ
    {0x00DF, 0x00DF, kLowerAccented}, {0x00E0, 0x00F1, kLowerAccented}, {0x0103, 0x0103, kLowerAccented},
    {0x0105, 0x0105, kLowerAccented}, {0x0107, 0x0107, kLowerAccented}, {0x010D, 0x010D, kLowerAccented},
    {0x010F, 0x010F, kLowerAccented}, {0x0111, 0x0111, kLowerAccented}, {0x0119, 0x0119, kLowerAccented},
    {0x011B, 0x011B, kLowerAccented}, {0x011F, 0x011F, kLowerAccented}, {0x013A, 0x013A, kLowerAccented},
    {0x013E, 0x013E, kLowerAccented}, {0x0142, 0x0142, kLowerAccented}, {0x0153, 0x0153, kLowerAccented},
    {0x0155, 0x0155, kLowerAccented}, {0x015B, 0x015B, kLowerAccented}, {0x015F, 0x015F, kLowerAccented},
    {0x0161, 0x0161, kLowerAccented}, {0x0165, 0x0165, kLowerAccented}, {0x00FC, 0x00FC, kLowerAccented},
    {0x017A, 0x017A, kLowerAccented}, {0x017C, 0x017C, kLowerAccented}, {0x017E, 0x017E, kLowerAccented},
    {0x0491, 0x0491, kLowerAccented}, {0xFB01, 0xFB02, kLowerAccented},
    // upper common: Þ, Greek capitals Α-Ω and the capitals with tonos/dialytika, Cyrillic Ё-Я
    {0x00DE, 0x00DE, kUpperCommon}, {0x0391, 0x03A9, kUpperCommon}, {0x0386, 0x0386, kUpperCommon},
    {0x0388, 0x038A, kUpperCommon}, {0x038C, 0x038C, kUpperCommon}, {0x038E, 0x038F, kUpperCommon},
    {0x03AA, 0x03AB, kUpperCommon}, {0x0401, 0x042F, kUpperCommon},
    // lower common: Greek α-ω, ά έ ή ί ΰ, Cyrillic а-џ
    {0x03B1, 0x03C9, kLowerCommon}, {0x03AC, 0x03AF, kLowerCommon}, {0x03B0, 0x03B0, kLowerCommon},
    {0x0430, 0x045F, kLowerCommon},
    // box: │ ┌ ┐ ┘ ├ ┤ ┬ ┼ ═-╬ ▀ ▄ █ ▌ ▐ ░ ▒ ▓ (not ─, which kaomoji use)
    {0x2502, 0x2502, kBox}, {0x250C, 0x250C, kBox}, {0x2510, 0x2510, kBox}, {0x2518, 0x2518, kBox},
    {0x251C, 0x251C, kBox}, {0x2524, 0x2524, kBox}, {0x252C, 0x252C, kBox}, {0x253C, 0x253C, kBox},
    {0x2550, 0x256C, kBox}, {0x2580, 0x2580, kBox}, {0x2584, 0x2584, kBox}, {0x2588, 0x2588, kBox},
    {0x258C, 0x258C, kBox}, {0x2590, 0x2593, kBox},
};

const std::unordered_map<char32_t, uint16_t>& category_table() {
    static const std::unordered_map<char32_t, uint16_t> table = [] {
        std::unordered_map<char32_t, uint16_t> t;
        for (const CategoryRange& r : kCategoryRanges)
            for (char32_t c = r.first; c <= r.last; ++c) t[c] |= r.categories;
        return t;
    }();
    return table;
}

// Groups of categories that several rules share.
constexpr uint16_t kAccented = kLowerAccented | kUpperAccented;
constexpr uint16_t kSymbolLike = kBox | kStartPunct | kEndPunct | kCurrency | kNumeric;

class Scanner {
public:
    explicit Scanner(std::u32string_view text) : s_(text), cat_(text.size()) {
        const auto& table = category_table();
        for (size_t i = 0; i < text.size(); ++i) {
            const auto it = table.find(text[i]);
            cat_[i] = (it == table.end()) ? 0 : it->second;
        }
    }

    bool bad_at(size_t i) const {
        // Category juxtapositions.
        if (has(i, kC1)) return true;
        if (has(i, kBad | kAccented | kSymbolLike) && has(i + 1, kBad)) return true;
        if (ascii_letter(i) && has(i + 1, kLowerCommon | kUpperCommon) && has(i + 2, kBad)) return true;
        if (has(i, kBad) && has(i + 1, kAccented | kSymbolLike)) return true;
        if (has(i, kLowerAccented | kLowerCommon | kBox | kEndPunct | kCurrency | kNumeric) &&
            has(i + 1, kUpperAccented))
            return true;
        if (has(i, kBox | kEndPunct | kCurrency | kNumeric) && has(i + 1, kLowerAccented)) return true;
        if (has(i, kLowerAccented | kBox | kEndPunct) && has(i + 1, kCurrency)) return true;
        if (space(i) && has(i + 1, kUpperAccented) && has(i + 2, kCurrency)) return true;
        if (has(i, kUpperAccented | kBox) && has(i + 1, kNumeric)) return true;
        if (has(i, kAccented | kBox | kCurrency | kEndPunct) && has(i + 1, kStartPunct) && has(i + 2, kNumeric))
            return true;
        if (has(i, kAccented | kCurrency | kNumeric | kBox) && has(i + 1, kEndPunct) && has(i + 2, kStartPunct))
            return true;
        if (has(i, kCurrency | kNumeric | kBox) && has(i + 1, kStartPunct)) return true;
        if (ascii_lower(i) && has(i + 1, kUpperAccented) && has(i + 2, kStartPunct | kCurrency)) return true;
        if (has(i, kBox) && has(i + 1, kKaomoji)) return true;
        if (has(i, kAccented | kCurrency | kNumeric | kStartPunct | kEndPunct) && has(i + 1, kBox)) return true;
        if (has(i, kBox) && has(i + 1, kEndPunct)) return true;
        if (has(i, kAccented) && has(i + 1, kEndPunct) && i + 2 < s_.size() && is_py_word(s_[i + 2])) return true;
        // Œ or œ not followed by an unaccented Latin letter.
        if (in(i, U"\u0152\u0153") && i + 1 < s_.size() && !ascii_letter(i + 1)) return true;
        // Common two-character Windows-1252 mojibake: Â Ã Î Ð before € Š š ¢ £ Ÿ ž NBSP SHY ® © ° · » – — ´
        // or opening/closing punctuation.
        if (in(i, U"\u00C2\u00C3\u00CE\u00D0") &&
            (in(i + 1, U"\u20AC\u0160\u0161\u00A2\u00A3\u0178\u017E\u00A0\u00AD\u00AE\u00A9\u00B0\u00B7\u00BB"
                       U"\u2013\u2014\u00B4") ||
             has(i + 1, kStartPunct | kEndPunct)))
            return true;
        if (at(i, 0x00D7) && in(i + 1, U"\u00B2\u00B3")) return true;  // × ² or × ³
        // Windows-1252 mojibake of Arabic: four characters, because 'common' characters take part.
        if (in(i, U"\u00D8\u00D9") && arabic_second(i + 1) && in(i + 2, U"\u00D8\u00D9") && arabic_second(i + 3))
            return true;
        // à before ² µ ¹ ¼ ½ ¾: Windows-1252 mojibake of some South Asian scripts.
        if (at(i, 0x00E0) && in(i + 1, U"\u00B2\u00B5\u00B9\u00BC\u00BD\u00BE")) return true;
        // MacRoman mojibake: √ before ± ∂ † ≠ ® ™ ´ ≤ ≥ ¥ µ ø; ≈ before ° ¢; ‚Ä before ì î ï ò ô ú ù û † ° ¢ π;
        // ‚ before â/ó then à ä ° ê.
        if (at(i, 0x221A) &&
            in(i + 1, U"\u00B1\u2202\u2020\u2260\u00AE\u2122\u00B4\u2264\u2265\u00A5\u00B5\u00F8"))
            return true;
        if (at(i, 0x2248) && in(i + 1, U"\u00B0\u00A2")) return true;
        if (at(i, 0x201A) && at(i + 1, 0x00C4) &&
            in(i + 2, U"\u00EC\u00EE\u00EF\u00F2\u00F4\u00FA\u00F9\u00FB\u2020\u00B0\u00A2\u03C0"))
            return true;
        if (at(i, 0x201A) && in(i + 1, U"\u00E2\u00F3") && in(i + 2, U"\u00E0\u00E4\u00B0\u00EA")) return true;
        // Windows-1251 mojibake: вЂ (the U+2000 block), and В/Г/Р/С around a symbol.
        if (at(i, 0x0432) && at(i + 1, 0x0402)) return true;
        if (in(i, U"\u0412\u0413\u0420\u0421") &&
            (has(i + 1, kC1 | kBad | kStartPunct | kEndPunct | kCurrency) || in(i + 1, U"\u00B0\u00B5")) &&
            in(i + 2, U"\u0412\u0413\u0420\u0421"))
            return true;
        // ГўВЂВ (Windows-1251 over Latin-1 over Windows-1252), any character but a newline, then a Latin
        // letter or a space.
        if (s_.substr(i).starts_with(U"\u0413\u045E\u0412\u0402\u0412") && i + 6 < s_.size() &&
            s_[i + 5] != U'\n' && (ascii_letter(i + 6) || s_[i + 6] == U' '))
            return true;
        // Windows-1252 encodings of à, á and NBSP itself.
        if (at(i, 0x00C3) && in(i + 1, U"\u00A0\u00A1")) return true;
        if (ascii_lower(i) && ((in(i + 1, U"\u00C3\u00C2") && at(i + 2, U' ')) ||
                               (space(i + 1) && in(i + 2, U"\u00C3\u00C2") && at(i + 3, U' '))))
            return true;
        if (i == 0 && in(0, U"\u00C3\u00C2") && at(1, U' ')) return true;
        // Â standing before the very character it is the Windows-1252 mojibake of.
        if ((ascii_lower(i) || in(i, U".,?!") || has(i, kEndPunct)) && at(i + 1, 0x00C2) &&
            (at(i + 2, U' ') || has(i + 2, kStartPunct | kEndPunct)))
            return true;
        // Windows-1253 mojibake: β€ before ™ NBSP Ά SHY ® °, and Β/Γ/Ξ/Ο around a symbol.
        if (at(i, 0x03B2) && at(i + 1, 0x20AC) && in(i + 2, U"\u2122\u00A0\u0386\u00AD\u00AE\u00B0")) return true;
        if (in(i, U"\u0392\u0393\u039E\u039F") &&
            (has(i + 1, kC1 | kBad | kStartPunct | kEndPunct | kCurrency) || at(i + 1, 0x00B0)) &&
            in(i + 2, U"\u0392\u0393\u039E\u039F"))
            return true;
        return false;
    }

private:
    bool has(size_t i, uint16_t mask) const { return i < s_.size() && (cat_[i] & mask) != 0; }
    bool at(size_t i, char32_t c) const { return i < s_.size() && s_[i] == c; }
    bool in(size_t i, std::u32string_view set) const {
        return i < s_.size() && set.find(s_[i]) != std::u32string_view::npos;
    }
    bool ascii_lower(size_t i) const { return i < s_.size() && s_[i] >= U'a' && s_[i] <= U'z'; }
    bool ascii_letter(size_t i) const {
        return i < s_.size() && ((s_[i] >= U'a' && s_[i] <= U'z') || (s_[i] >= U'A' && s_[i] <= U'Z'));
    }
    bool space(size_t i) const { return i < s_.size() && is_py_space(s_[i]); }
    bool arabic_second(size_t i) const {
        return has(i, kCommon | kCurrency | kBad | kNumeric | kStartPunct) ||
               in(i, U"\u0178\u0160\u00AE\u00B0\u00B5\u00BB");  // Ÿ Š ® ° µ »
    }

    std::u32string_view s_;
    std::vector<uint16_t> cat_;
};

}  // namespace

bool looks_like_mojibake(std::u32string_view text) {
    // Plain ASCII has no mojibake characters; skip the table lookups.
    bool ascii = true;
    for (char32_t c : text) ascii = ascii && c < 0x80;
    if (ascii) return false;
    const Scanner scan(text);
    for (size_t i = 0; i < text.size(); ++i)
        if (scan.bad_at(i)) return true;
    return false;
}

}  // namespace tc::tok
