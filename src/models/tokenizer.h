// The CLIP text tokenizer, compatible with open_clip 2.22.0 (open_clip/tokenizer.py: SimpleTokenizer and
// tokenize), which ToonCrafter's FrozenOpenCLIPEmbedder uses to turn the prompt into 77 token ids.
//
// Pipeline: UTF-8 text -> cleaning (clip_clean_text) -> pre-tokenization into words, digits and symbol runs
// -> each piece's UTF-8 bytes as byte symbols, the last one marked end-of-word -> BPE merges -> ids.
// The helpers live in tokenizer_*.{h,cpp}, in namespace tc::tok.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tc {

// Copies are cheap (the tables are shared and immutable), and one object may be used from several threads.
class ClipTokenizer {
public:
    static constexpr int64_t kStartOfText = 49406;  // "<start_of_text>"
    static constexpr int64_t kEndOfText = 49407;    // "<end_of_text>"
    static constexpr int kDefaultContextLength = 77;

    // Reads open_clip's bpe_simple_vocab_16e6.txt.gz: a gzip file whose first line is a header and whose
    // next 48894 lines are the merges "left right", in rank order. Throws tc::Error when the file is
    // missing, is not a complete gzip stream, or has too few or malformed merge lines.
    static ClipTokenizer from_file(const std::string& path);

    // BPE ids of the cleaned text: no start/end tokens, no truncation (SimpleTokenizer.encode).
    // Accepts any bytes: invalid UTF-8 is read with U+FFFD in place of each bad sequence.
    std::vector<int64_t> encode(const std::string& utf8_text) const;

    // open_clip.tokenize for one text: kStartOfText, the ids, kEndOfText, then zeros up to context_length.
    // A longer sequence is cut to context_length and its last id set to kEndOfText.
    // context_length must be at least 1.
    std::vector<int64_t> tokenize(const std::string& utf8_text, int context_length = kDefaultContextLength) const;

    // 49408 for the CLIP vocabulary.
    size_t vocab_size() const;

private:
    struct Vocab;
    explicit ClipTokenizer(std::shared_ptr<const Vocab> vocab) : vocab_(std::move(vocab)) {}
    std::shared_ptr<const Vocab> vocab_;
};

// open_clip's cleaning, exposed for tests and debugging: ftfy.fix_text (mojibake repair, NFC, width and
// ligature fixes, ...), html.unescape twice, strip, whitespace runs to one space, Unicode lower-casing.
// Invalid UTF-8 input is read with U+FFFD in place of each bad sequence.
std::string clip_clean_text(const std::string& utf8);

}  // namespace tc
