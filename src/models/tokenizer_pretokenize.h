// CLIP's pre-tokenizer: splits cleaned text into the pieces that BPE then encodes one by one.
// It does what open_clip's pattern (open_clip/tokenizer.py, `regex` module, IGNORECASE) finds with findall:
//   <start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// that is the special tokens, English contractions, runs of letters, single digits, and runs of anything
// else except whitespace. Whitespace separates pieces and is dropped.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tc::tok {

// Pieces are views into `text`. `special_tokens` are tried first, case-insensitively, in the given order.
std::vector<std::u32string_view> clip_pretokenize(std::u32string_view text,
                                                  std::span<const std::u32string> special_tokens);

}  // namespace tc::tok
