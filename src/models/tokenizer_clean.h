// open_clip's text cleaning before BPE, on code points (tc::clip_clean_text in tokenizer.h is the UTF-8
// entry point).
#pragma once

#include <string>
#include <string_view>

namespace tc::tok {

// whitespace_clean(basic_clean(text)).lower() from open_clip/tokenizer.py:
//   ftfy.fix_text; html.unescape twice; strip; whitespace runs -> one space; strip; str.lower.
std::u32string clip_clean(std::u32string_view text);

}  // namespace tc::tok
