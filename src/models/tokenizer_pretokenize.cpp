// CLIP's pre-tokenizer (see tokenizer_pretokenize.h). The alternatives of the pattern are tried in order
// at each position and the first that matches is taken, as a backtracking regex engine does.
#include "models/tokenizer_pretokenize.h"

#include "models/tokenizer_unicode.h"

namespace tc::tok {
namespace {

// Does `literal` occur at text[pos], comparing case-insensitively (IGNORECASE: equal simple case folds)?
size_t match_literal(std::u32string_view text, size_t pos, std::u32string_view literal) {
    if (literal.empty() || pos + literal.size() > text.size()) return 0;
    for (size_t k = 0; k < literal.size(); ++k)
        if (simple_case_fold(text[pos + k]) != simple_case_fold(literal[k])) return 0;
    return literal.size();
}

// The English contraction suffixes, in the pattern's order.
constexpr std::u32string_view kContractions[] = {U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"};

bool is_other(char32_t c) { return !is_white_space(c) && !is_letter(c) && !is_number(c); }

}  // namespace

std::vector<std::u32string_view> clip_pretokenize(std::u32string_view text,
                                                  std::span<const std::u32string> special_tokens) {
    std::vector<std::u32string_view> pieces;
    size_t i = 0;
    const auto take = [&](size_t len) {
        pieces.push_back(text.substr(i, len));
        i += len;
    };
    while (i < text.size()) {
        size_t len = 0;
        for (const std::u32string& special : special_tokens)
            if ((len = match_literal(text, i, special)) != 0) break;
        if (len == 0)
            for (std::u32string_view suffix : kContractions)
                if ((len = match_literal(text, i, suffix)) != 0) break;
        if (len != 0) {
            take(len);
            continue;
        }
        const char32_t c = text[i];
        if (is_letter(c)) {
            size_t j = i + 1;
            while (j < text.size() && is_letter(text[j])) ++j;
            take(j - i);
        } else if (is_number(c)) {
            take(1);
        } else if (is_other(c)) {
            size_t j = i + 1;
            while (j < text.size() && is_other(text[j])) ++j;
            take(j - i);
        } else {
            ++i;  // whitespace
        }
    }
    return pieces;
}

}  // namespace tc::tok
