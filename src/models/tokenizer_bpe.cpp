// Byte-level BPE merging for the CLIP tokenizer (see tokenizer_bpe.h).
#include "models/tokenizer_bpe.h"

#include <queue>

namespace tc::tok {
namespace {

bool is_printable_latin1(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

}  // namespace

std::array<char32_t, 256> bytes_to_unicode() {
    std::array<char32_t, 256> map{};
    char32_t next_extra = 0x100;
    for (int b = 0; b < 256; ++b) map[b] = is_printable_latin1(b) ? static_cast<char32_t>(b) : next_extra++;
    return map;
}

std::array<uint8_t, 256> bytes_in_vocab_order() {
    std::array<uint8_t, 256> order{};
    size_t k = 0;
    for (int b = 0; b < 256; ++b)
        if (is_printable_latin1(b)) order[k++] = static_cast<uint8_t>(b);
    for (int b = 0; b < 256; ++b)
        if (!is_printable_latin1(b)) order[k++] = static_cast<uint8_t>(b);
    return order;
}

void BpeMerges::add(int32_t left, int32_t right, int32_t merged) {
    merges_.insert_or_assign(key(left, right), Merge{next_rank_++, merged});
}

void BpeMerges::apply(std::vector<int32_t>& word) const {
    if (word.size() < 2) return;
    // The word as a linked list; a node absorbs its right neighbour when they merge, so node indices keep
    // the left-to-right order. A dead node has symbol -1.
    struct Node {
        int32_t sym, prev, next;
    };
    const auto n = static_cast<int32_t>(word.size());
    std::vector<Node> nodes(word.size());
    for (int32_t i = 0; i < n; ++i) nodes[i] = {word[i], i - 1, i + 1 < n ? i + 1 : -1};

    // A candidate merge of node `left` with its right neighbour, valid while both still hold these symbols.
    struct Candidate {
        int32_t rank, left, left_sym, right_sym;
    };
    const auto later = [](const Candidate& a, const Candidate& b) {
        return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
    };
    std::priority_queue<Candidate, std::vector<Candidate>, decltype(later)> heap(later);
    const auto consider = [&](int32_t left) {
        if (left < 0 || nodes[left].next < 0) return;
        const Node& l = nodes[left];
        const Node& r = nodes[l.next];
        const auto it = merges_.find(key(l.sym, r.sym));
        if (it != merges_.end()) heap.push({it->second.rank, left, l.sym, r.sym});
    };
    for (int32_t i = 0; i + 1 < n; ++i) consider(i);

    std::vector<int32_t> merged_nodes;
    while (!heap.empty()) {
        // All current occurrences of the lowest-ranked pair, left to right (heap order within one rank).
        const int32_t rank = heap.top().rank;
        merged_nodes.clear();
        while (!heap.empty() && heap.top().rank == rank) {
            const Candidate c = heap.top();
            heap.pop();
            Node& l = nodes[c.left];
            if (l.sym != c.left_sym || l.next < 0) continue;  // stale: merged away or changed since
            Node& r = nodes[l.next];
            if (r.sym != c.right_sym) continue;
            l.sym = merges_.at(key(c.left_sym, c.right_sym)).merged;
            r.sym = -1;
            l.next = r.next;
            if (l.next >= 0) nodes[l.next].prev = c.left;
            merged_nodes.push_back(c.left);
        }
        // Only now offer the pairs the new symbols form, as the reference loop re-scans after each rank.
        for (int32_t m : merged_nodes) {
            if (nodes[m].sym < 0) continue;
            consider(nodes[m].prev);
            consider(m);
        }
    }

    word.clear();
    for (int32_t i = 0; i >= 0; i = nodes[i].next) word.push_back(nodes[i].sym);  // node 0 never dies
}

}  // namespace tc::tok
