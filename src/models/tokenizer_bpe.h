// Byte-level BPE as in CLIP (open_clip/tokenizer.py: bytes_to_unicode, SimpleTokenizer.bpe).
// A word is a sequence of symbols, each a vocabulary id; merging repeatedly joins the adjacent pair with
// the lowest merge rank until no adjacent pair has a rank.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace tc::tok {

// GPT-2's reversible map from bytes to printable characters: the printable Latin-1 bytes ('!'..'~',
// '¡'..'¬', '®'..'ÿ') map to themselves, the other 68 bytes to U+0100, U+0101, ... in byte order.
// The vocabulary's first 256 entries are these characters, ordered printable bytes first, then the others.
std::array<char32_t, 256> bytes_to_unicode();
// The same order as a list of bytes: entry i is the byte whose character is vocabulary entry i.
std::array<uint8_t, 256> bytes_in_vocab_order();

class BpeMerges {
public:
    // Registers the merge of (left, right) into `merged`, with the next rank. As in Python's
    // dict(zip(merges, range(...))), a pair registered twice keeps its later rank.
    void add(int32_t left, int32_t right, int32_t merged);
    size_t size() const { return merges_.size(); }

    // Merges `word` in place. Same result as the reference loop (find the lowest-ranked adjacent pair,
    // merge all its occurrences left to right, repeat), in O(n log n) rather than O(n^2): merges of one
    // rank are done as a batch in left-to-right order, before any pair they create is considered.
    void apply(std::vector<int32_t>& word) const;

private:
    struct Merge {
        int32_t rank;
        int32_t merged;
    };
    static uint64_t key(int32_t left, int32_t right) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
    }
    std::unordered_map<uint64_t, Merge> merges_;
    int32_t next_rank_ = 0;
};

}  // namespace tc::tok
