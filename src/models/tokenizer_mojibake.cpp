// Mojibake repair (see tokenizer_mojibake.h). The byte-level patterns below are ftfy's (ftfy/chardata.py:
// ALTERED_UTF8_RE, LOSSY_UTF8_RE; ftfy/fixes.py: A_GRAVE_WORD_RE), matched by a small helper instead of a
// regex engine: at each position the alternatives are tried in order and the first that matches is used.
#include "models/tokenizer_mojibake.h"

#include <bitset>
#include <functional>
#include <initializer_list>
#include <utility>
#include <vector>

#include "models/tokenizer_badness.h"
#include "models/tokenizer_charmap.h"
#include "models/tokenizer_utf8.h"

namespace tc::tok {
namespace {

// ------------------------------------------------------------------ byte patterns

using ByteClass = std::bitset<256>;
using BytePattern = std::vector<ByteClass>;  // one class per byte

ByteClass bytes_in(std::initializer_list<std::pair<int, int>> ranges) {
    ByteClass c;
    for (auto [lo, hi] : ranges)
        for (int b = lo; b <= hi; ++b) c.set(static_cast<size_t>(b));
    return c;
}

size_t match_length(std::string_view bytes, size_t pos, const BytePattern& p) {
    if (pos + p.size() > bytes.size()) return 0;
    for (size_t k = 0; k < p.size(); ++k)
        if (!p[k].test(static_cast<uint8_t>(bytes[pos + k]))) return 0;
    return p.size();
}

// Replaces, left to right, each match of the first matching alternative by replace(match).
std::string substitute(std::string_view bytes, const std::vector<BytePattern>& alternatives,
                       const std::function<std::string(std::string_view)>& replace) {
    std::string out;
    out.reserve(bytes.size());
    size_t i = 0;
    while (i < bytes.size()) {
        size_t len = 0;
        for (const BytePattern& p : alternatives)
            if ((len = match_length(bytes, i, p)) != 0) break;
        if (len == 0) {
            out.push_back(bytes[i++]);
        } else {
            out += replace(bytes.substr(i, len));
            i += len;
        }
    }
    return out;
}

bool search(std::string_view bytes, const std::vector<BytePattern>& alternatives) {
    for (size_t i = 0; i < bytes.size(); ++i)
        for (const BytePattern& p : alternatives)
            if (match_length(bytes, i, p) != 0) return true;
    return false;
}

// UTF-8 sequences that would be valid if a program had not turned their byte A0 (read as NBSP) into a
// space 20. Only lead bytes that form likely characters are accepted (ftfy/chardata.py ALTERED_UTF8_RE).
const std::vector<BytePattern>& altered_utf8() {
    static const std::vector<BytePattern> alts = [] {
        const ByteClass sp = bytes_in({{0x20, 0x20}});
        const ByteClass cont = bytes_in({{0x80, 0xBF}});
        const ByteClass cont_not_85_a0 = bytes_in({{0x80, 0x84}, {0x86, 0x9F}, {0xA1, 0xBF}});
        const ByteClass f0 = bytes_in({{0xF0, 0xF0}});
        return std::vector<BytePattern>{
            {bytes_in({{0xC2, 0xC3}, {0xC5, 0xC5}, {0xCE, 0xCE}, {0xD0, 0xD0}, {0xD9, 0xD9}}), sp},
            {bytes_in({{0xE2, 0xE3}}), sp, cont_not_85_a0},
            {bytes_in({{0xE0, 0xE3}}), cont_not_85_a0, sp},
            {f0, sp, cont, cont},
            {f0, cont, sp, cont},
            {f0, cont, cont, sp},
        };
    }();
    return alts;
}

// UTF-8 sequences in which a sloppy codec wrote byte 1A for a character that had become U+FFFD (or, at
// most once per sequence, an ASCII '?'); they decode as one U+FFFD (ftfy/chardata.py LOSSY_UTF8_RE).
const std::vector<BytePattern>& lossy_utf8() {
    static const std::vector<BytePattern> alts = [] {
        const ByteClass sub = bytes_in({{0x1A, 0x1A}});
        const ByteClass sub_q = bytes_in({{0x1A, 0x1A}, {'?', '?'}});
        const ByteClass sub_cont = bytes_in({{0x1A, 0x1A}, {0x80, 0xBF}});
        const ByteClass sub_q_cont = bytes_in({{0x1A, 0x1A}, {'?', '?'}, {0x80, 0xBF}});
        const ByteClass ed = bytes_in({{0xED, 0xED}});
        const ByteClass hi_sur = bytes_in({{0xA0, 0xAF}});
        const ByteClass lo_sur = bytes_in({{0xB0, 0xBF}});
        const ByteClass lead3 = bytes_in({{0xE0, 0xEF}});
        const ByteClass lead4 = bytes_in({{0xF0, 0xF4}});
        return std::vector<BytePattern>{
            {bytes_in({{0xC2, 0xDF}}), sub},
            {bytes_in({{0xC2, 0xC3}}), bytes_in({{'?', '?'}})},
            {ed, hi_sur, sub_q, ed, lo_sur, sub_q_cont},
            {ed, hi_sur, sub_q_cont, ed, lo_sur, sub_q},
            {lead3, sub_q, sub_cont},
            {lead3, sub_cont, sub_q},
            {lead4, sub_q, sub_cont, sub_cont},
            {lead4, sub_cont, sub_q, sub_cont},
            {lead4, sub_cont, sub_cont, sub_q},
            {sub},
        };
    }();
    return alts;
}

// ftfy.fixes.restore_byte_a0.
std::string restore_byte_a0(std::string_view bytes) {
    // First, "Ã " standing alone is almost always "à" followed by a space, as in "à la" (ftfy/fixes.py
    // A_GRAVE_WORD_RE): insert the A0 and keep the space, except before the Portuguese words "às",
    // "àquele", "àquela", "àquilo" (and plurals), which keep no space after the "à".
    std::string step1;
    step1.reserve(bytes.size() + 8);
    for (size_t i = 0; i < bytes.size(); ++i) {
        if (static_cast<uint8_t>(bytes[i]) == 0xC3 && i + 1 < bytes.size() && bytes[i + 1] == ' ') {
            const std::string_view rest = bytes.substr(i + 2);
            const bool exception = rest.starts_with(" ") || rest.starts_with("quele") || rest.starts_with("quela") ||
                                   rest.starts_with("quilo") || rest.starts_with("s ");
            if (!exception) {
                step1 += "\xC3\xA0 ";
                ++i;
                continue;
            }
        }
        step1.push_back(bytes[i]);
    }
    // Then put A0 back in place of the space in every altered UTF-8 sequence.
    return substitute(step1, altered_utf8(), [](std::string_view m) {
        std::string r(m);
        for (char& ch : r)
            if (ch == ' ') ch = '\xA0';
        return r;
    });
}

// ftfy.fixes.replace_lossy_sequences.
std::string replace_lossy_sequences(std::string_view bytes) {
    return substitute(bytes, lossy_utf8(), [](std::string_view) { return std::string("\xEF\xBF\xBD"); });
}

// ------------------------------------------------------------------ embedded mojibake

// Character classes for spotting UTF-8 mojibake inside otherwise fine text (ftfy/chardata.py UTF8_CLUES).
// They are what UTF-8 lead and continuation bytes look like when read in the Latin-1-like encodings
// (all of ours except MacRoman and CP437), so they are derived from those tables.
struct Utf8Clues {
    std::u32string first_of_2;          // bytes C2..DF
    std::u32string first_of_3;          // bytes E0..EF
    std::u32string first_of_4;          // bytes F0 and F3 (other 4-byte leads give unassigned code points)
    std::u32string continuation;        // bytes 80..BF, plus a space that may stand for A0
    std::u32string continuation_strict; // the same without space, dashes, quotation marks and ellipsis

    static const Utf8Clues& get() {
        static const Utf8Clues clues = [] {
            Utf8Clues c;
            const Charmap latin_like[] = {Charmap::Latin1,           Charmap::SloppyWindows1252,
                                          Charmap::SloppyWindows1251, Charmap::SloppyWindows1250,
                                          Charmap::SloppyWindows1253, Charmap::SloppyWindows1254,
                                          Charmap::Iso8859_2};
            const auto add = [&](std::u32string& set, int lo, int hi) {
                for (Charmap m : latin_like)
                    for (int b = lo; b <= hi; ++b) {
                        const char32_t ch = SingleByteCodec::get(m).decode(static_cast<uint8_t>(b));
                        if (set.find(ch) == std::u32string::npos) set.push_back(ch);
                    }
            };
            add(c.first_of_2, 0xC2, 0xDF);
            add(c.first_of_3, 0xE0, 0xEF);
            add(c.first_of_4, 0xF0, 0xF0);
            add(c.first_of_4, 0xF3, 0xF3);
            add(c.continuation, 0x80, 0xBF);
            for (char32_t ch : c.continuation) {
                const bool loose = (ch >= 0x2013 && ch <= 0x2015) || (ch >= 0x2018 && ch <= 0x201A) ||
                                   (ch >= 0x201C && ch <= 0x201E) || ch == 0x2026;
                if (!loose) c.continuation_strict.push_back(ch);
            }
            c.continuation.push_back(U' ');
            return c;
        }();
        return clues;
    }
};

bool contains(const std::u32string& set, char32_t c) { return set.find(c) != std::u32string::npos; }

// Length of the run of UTF-8-looking sequences at text[i] (ftfy's UTF8_DETECTOR_RE), or 0.
size_t utf8_mojibake_run(std::u32string_view text, size_t i) {
    const Utf8Clues& k = Utf8Clues::get();
    if (i > 0 && contains(k.continuation_strict, text[i - 1])) return 0;  // inside a larger garble: leave it
    size_t j = i;
    while (j < text.size()) {
        size_t need = 0;  // continuation characters after the lead
        if (contains(k.first_of_2, text[j])) need = 1;
        else if (contains(k.first_of_3, text[j])) need = 2;
        else if (contains(k.first_of_4, text[j])) need = 3;
        if (need == 0 || j + need >= text.size()) break;
        bool ok = true;
        for (size_t q = 1; q <= need; ++q) ok = ok && contains(k.continuation, text[j + q]);
        if (!ok) break;
        j += need + 1;
    }
    return j - i;
}

// ftfy.fixes.decode_inconsistent_utf8: fixes each embedded run on its own when it looks bad by itself.
std::u32string decode_inconsistent_utf8(std::u32string_view text) {
    std::u32string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
        const size_t len = utf8_mojibake_run(text, i);
        if (len == 0) {
            out.push_back(text[i++]);
            continue;
        }
        const std::u32string_view run = text.substr(i, len);
        // A strictly shorter run cannot recurse forever.
        if (run.size() < text.size() && looks_like_mojibake(run)) {
            out += fix_encoding(run);
        } else {
            out += run;
        }
        i += len;
    }
    return out;
}

bool has_utf8_mojibake_run(std::u32string_view text) {
    for (size_t i = 0; i < text.size(); ++i)
        if (utf8_mojibake_run(text, i) != 0) return true;
    return false;
}

// ------------------------------------------------------------------ one repair step

bool is_c1(char32_t c) { return c >= 0x80 && c <= 0x9F; }

// ftfy/__init__.py _fix_encoding_one_step_and_explain.
std::u32string fix_encoding_one_step(std::u32string_view text) {
    bool ascii = true;
    for (char32_t c : text) ascii = ascii && c < 0x80;
    if (ascii || !looks_like_mojibake(text)) return std::u32string(text);

    // 1. Whole-text re-decoding, trying each encoding in turn.
    bool latin1_possible = false;
    for (Charmap which : kFtfyCharmaps) {
        const SingleByteCodec& codec = SingleByteCodec::get(which);
        std::optional<std::string> bytes = codec.encode(text);
        if (!bytes) continue;
        if (which == Charmap::Latin1) latin1_possible = true;
        if (which != Charmap::MacRoman && search(*bytes, altered_utf8())) *bytes = restore_byte_a0(*bytes);
        if (codec.is_sloppy()) *bytes = replace_lossy_sequences(*bytes);
        if (std::optional<std::u32string> fixed = utf8_variants_decode_strict(*bytes)) return *fixed;
    }

    // 2. Mojibake embedded in good text.
    if (has_utf8_mojibake_run(text)) {
        std::u32string fixed = decode_inconsistent_utf8(text);
        if (fixed != text) return fixed;
    }

    // 3. Latin-1 text with C1 controls that was meant as Windows-1252. ftfy re-decodes with the strict
    // Windows-1252 codec, which fails on its five undefined bytes; then step 4 handles the text instead.
    if (latin1_possible) {
        bool strict_ok = true;
        for (char32_t c : text)
            strict_ok = strict_ok && c != 0x81 && c != 0x8D && c != 0x8F && c != 0x90 && c != 0x9D;
        if (strict_ok) {
            std::u32string fixed = fix_c1_controls(text);
            if (fixed != text) return fixed;
        }
    }

    // 4. Remaining C1 controls, one by one.
    for (char32_t c : text)
        if (is_c1(c)) return fix_c1_controls(text);
    return std::u32string(text);
}

}  // namespace

std::u32string fix_c1_controls(std::u32string_view text) {
    const SingleByteCodec& cp1252 = SingleByteCodec::get(Charmap::SloppyWindows1252);
    std::u32string out(text);
    for (char32_t& c : out)
        if (is_c1(c)) c = cp1252.decode(static_cast<uint8_t>(c));
    return out;
}

std::u32string fix_encoding(std::u32string_view text) {
    // ftfy loops until nothing changes. Every step either decodes (the text shrinks) or maps C1 controls
    // away, so a handful of rounds suffice; the cap only guards against an unforeseen cycle.
    std::u32string current(text);
    for (int round = 0; round < 64; ++round) {
        std::u32string next = fix_encoding_one_step(current);
        if (next == current) break;
        current = std::move(next);
    }
    return current;
}

}  // namespace tc::tok
