// The HTML5 named character reference table, used by the tokenizer's HTML unescaping.
#pragma once

#include <span>
#include <string_view>

namespace tc::tok {

struct HtmlEntity {
    std::string_view name;  // without the leading '&'; e.g. "amp;" and the legacy "amp"
    char32_t first;         // the value: one code point, or two when `second` is not 0
    char32_t second;
};

// All 2231 names, sorted by name.
std::span<const HtmlEntity> html_entities();
// Exact, case-sensitive lookup; nullptr when `name` is not in the table.
const HtmlEntity* find_html_entity(std::string_view name);

}  // namespace tc::tok
