// The CLIP BPE tokenizer (see tokenizer.h): reading the vocabulary file and encoding text.
#include "models/tokenizer.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <climits>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "core/error.h"
#include "models/tokenizer_bpe.h"
#include "models/tokenizer_clean.h"
#include "models/tokenizer_pretokenize.h"
#include "models/tokenizer_utf8.h"

namespace tc {

namespace {

// open_clip keeps merges[1 : 49152-256-2+1] of the file's lines: 48894 merges, so that the vocabulary
// (256 byte symbols, 256 end-of-word byte symbols, the merges, 2 special tokens) has 49408 entries.
constexpr size_t kNumMerges = 49152 - 256 - 2;
constexpr size_t kMaxDecompressed = size_t{64} << 20;  // the real file inflates to about 1.6 MiB

const char* const kStartToken = "<start_of_text>";  // open_clip 2.22.0's names (OpenAI's were <|startoftext|>)
const char* const kEndToken = "<end_of_text>";

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    TC_CHECK(in.good(), "tokenizer: cannot open the vocabulary file '", path, "'");
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    TC_CHECK(!in.bad(), "tokenizer: error while reading the vocabulary file '", path, "'");
    return data;
}

// Inflates a whole gzip file (several concatenated members allowed, as Python's gzip reads them).
// A truncated or damaged stream is an error, never a silently shorter vocabulary.
std::string gunzip(const std::string& data, const std::string& path) {
    TC_CHECK(data.size() < UINT_MAX, "tokenizer: vocabulary file '", path, "' is too large");
    z_stream zs{};
    TC_CHECK(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK, "tokenizer: zlib initialisation failed");
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    std::string out;
    std::string error;
    char buf[1 << 16];
    for (;;) {
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = sizeof(buf);
        const int ret = inflate(&zs, Z_NO_FLUSH);
        out.append(buf, sizeof(buf) - zs.avail_out);
        if (out.size() > kMaxDecompressed) {
            error = "inflates to more than 64 MiB";
            break;
        }
        if (ret == Z_STREAM_END) {
            if (zs.avail_in == 0) break;  // done
            if (inflateReset(&zs) != Z_OK) {
                error = "bad gzip member";
                break;
            }
            continue;
        }
        if (ret == Z_OK) continue;
        if (ret == Z_BUF_ERROR && zs.avail_in == 0) {
            error = "the gzip stream is truncated";
        } else {
            error = std::string("the gzip data is corrupt (") + (zs.msg ? zs.msg : "zlib error") + ")";
        }
        break;
    }
    inflateEnd(&zs);
    TC_CHECK(error.empty(), "tokenizer: cannot read the vocabulary file '", path, "': ", error);
    return out;
}

std::vector<std::string_view> split_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    size_t pos = 0;
    for (;;) {
        const size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) {
            lines.push_back(text.substr(pos));
            return lines;
        }
        lines.push_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
}

// str.split() for a merge line. The symbols are printable, so ASCII whitespace is all that can separate them.
std::vector<std::string_view> split_fields(std::string_view line) {
    std::vector<std::string_view> fields;
    size_t i = 0;
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
    while (i < line.size()) {
        while (i < line.size() && space(line[i])) ++i;
        size_t j = i;
        while (j < line.size() && !space(line[j])) ++j;
        if (j > i) fields.push_back(line.substr(i, j - i));
        i = j;
    }
    return fields;
}

}  // namespace

struct ClipTokenizer::Vocab {
    std::unordered_map<std::string, int32_t> encoder;  // symbol (UTF-8 of its byte characters) -> id
    tok::BpeMerges merges;
    std::array<int32_t, 256> byte_symbol{};      // id of the symbol for byte b inside a word
    std::array<int32_t, 256> byte_end_symbol{};  // id of the symbol for byte b ending a word ("...</w>")
    std::vector<std::u32string> special_tokens;  // matched in text before anything else
    std::unordered_map<std::string, int32_t> special_ids;
};

ClipTokenizer ClipTokenizer::from_file(const std::string& path) {
    const std::string text = gunzip(read_file(path), path);
    const std::vector<std::string_view> lines = split_lines(text);
    TC_CHECK(lines.size() >= kNumMerges + 1, "tokenizer: vocabulary file '", path, "' has ", lines.size(),
             " lines; a CLIP merges file has a header and at least ", kNumMerges, " merge lines");

    // The vocabulary in id order (SimpleTokenizer.__init__).
    const auto byte_chars = tok::bytes_to_unicode();
    std::vector<std::string> symbols;
    symbols.reserve(2 * 256 + kNumMerges + 2);
    for (uint8_t b : tok::bytes_in_vocab_order()) {
        std::string s;
        tok::utf8_append(s, byte_chars[b]);
        symbols.push_back(std::move(s));
    }
    for (size_t k = 0; k < 256; ++k) symbols.push_back(symbols[k] + "</w>");
    std::vector<std::pair<std::string_view, std::string_view>> merges;
    merges.reserve(kNumMerges);
    for (size_t r = 0; r < kNumMerges; ++r) {
        const std::string_view line = lines[1 + r];
        const std::vector<std::string_view> f = split_fields(line);
        TC_CHECK(f.size() == 2, "tokenizer: vocabulary file '", path, "' line ", r + 2,
                 " is not a merge of two symbols: '", line.substr(0, 80), "'");
        merges.emplace_back(f[0], f[1]);
        symbols.push_back(std::string(f[0]) + std::string(f[1]));
    }
    symbols.push_back(kStartToken);
    symbols.push_back(kEndToken);

    auto v = std::make_shared<Vocab>();
    // As with Python's dict(zip(vocab, range(len(vocab)))), a repeated string keeps its last id.
    for (size_t id = 0; id < symbols.size(); ++id) v->encoder.insert_or_assign(symbols[id], static_cast<int32_t>(id));
    const auto id_of = [&](const std::string& s) { return v->encoder.at(s); };

    for (size_t r = 0; r < merges.size(); ++r) {
        const auto left = v->encoder.find(std::string(merges[r].first));
        const auto right = v->encoder.find(std::string(merges[r].second));
        TC_CHECK(left != v->encoder.end() && right != v->encoder.end(), "tokenizer: vocabulary file '", path,
                 "' line ", r + 2, " merges a symbol that is not in the vocabulary");
        v->merges.add(left->second, right->second, id_of(symbols[512 + r]));
    }
    for (int b = 0; b < 256; ++b) {
        std::string s;
        tok::utf8_append(s, byte_chars[b]);
        v->byte_symbol[b] = id_of(s);
        v->byte_end_symbol[b] = id_of(s + "</w>");
    }
    for (const char* special : {kStartToken, kEndToken}) {
        v->special_tokens.push_back(tok::utf8_decode_lenient(special));
        v->special_ids.emplace(special, id_of(special));
    }
    TC_CHECK(v->special_ids.at(kStartToken) == kStartOfText && v->special_ids.at(kEndToken) == kEndOfText,
             "tokenizer: vocabulary file '", path, "' gives unexpected ids to the special tokens");
    return ClipTokenizer(std::move(v));
}

size_t ClipTokenizer::vocab_size() const { return vocab_->encoder.size(); }

std::vector<int64_t> ClipTokenizer::encode(const std::string& utf8_text) const {
    const Vocab& v = *vocab_;
    const std::u32string text = tok::clip_clean(tok::utf8_decode_lenient(utf8_text));
    std::vector<int64_t> ids;
    std::vector<int32_t> word;
    for (std::u32string_view piece : tok::clip_pretokenize(text, v.special_tokens)) {
        // The piece's UTF-8 bytes, one symbol each. open_clip maps bytes to characters first; using the
        // bytes' symbol ids directly is the same thing.
        const std::string bytes = tok::utf8_encode(piece);
        // SimpleTokenizer's cache starts with the special tokens mapped to themselves: they skip BPE.
        if (const auto it = v.special_ids.find(bytes); it != v.special_ids.end()) {
            ids.push_back(it->second);
            continue;
        }
        word.clear();
        for (size_t k = 0; k + 1 < bytes.size(); ++k) word.push_back(v.byte_symbol[static_cast<uint8_t>(bytes[k])]);
        word.push_back(v.byte_end_symbol[static_cast<uint8_t>(bytes.back())]);
        v.merges.apply(word);
        ids.insert(ids.end(), word.begin(), word.end());
    }
    return ids;
}

std::vector<int64_t> ClipTokenizer::tokenize(const std::string& utf8_text, int context_length) const {
    TC_CHECK(context_length >= 1, "tokenizer: context_length must be at least 1, got ", context_length);
    const std::vector<int64_t> ids = encode(utf8_text);
    const auto ctx = static_cast<size_t>(context_length);
    std::vector<int64_t> tokens(ctx, 0);
    // [start] + ids + [end], cut to ctx with the end token forced into the last slot (open_clip.tokenize).
    const size_t total = ids.size() + 2;
    tokens[0] = kStartOfText;
    const size_t body = std::min(ids.size(), ctx - 1);
    std::copy(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(body), tokens.begin() + 1);
    if (total <= ctx) {
        tokens[ids.size() + 1] = kEndOfText;
    } else {
        tokens[ctx - 1] = kEndOfText;
    }
    return tokens;
}

}  // namespace tc
