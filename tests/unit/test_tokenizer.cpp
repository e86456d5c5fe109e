// Tests of the open_clip-compatible CLIP tokenizer (src/models/tokenizer*.{h,cpp}).
// The golden cases (../shared/golden/clip/tokenizer_cases.json, made with open_clip 2.22.0 and ftfy 6.2.0)
// must all match exactly; tests that need the reference vocabulary skip when the shared data is absent.
// Expected values of the cleaning and mojibake tests were computed with ftfy 6.2.0 and Python 3.11.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "models/tokenizer.h"
#include "models/tokenizer_badness.h"
#include "models/tokenizer_bpe.h"
#include "models/tokenizer_html.h"
#include "models/tokenizer_mojibake.h"
#include "models/tokenizer_utf8.h"

namespace {

namespace fs = std::filesystem;

std::string golden_dir() { return std::string(TC_SHARED_DIR) + "/golden/clip"; }
std::string vocab_path() { return golden_dir() + "/bpe_simple_vocab_16e6.txt.gz"; }
std::string cases_path() { return golden_dir() + "/tokenizer_cases.json"; }

// The reference vocabulary, loaded once; nullptr when the shared data is absent.
const tc::ClipTokenizer* reference_tokenizer() {
    static const std::unique_ptr<tc::ClipTokenizer> tok = []() -> std::unique_ptr<tc::ClipTokenizer> {
        if (!fs::exists(vocab_path())) return nullptr;
        return std::make_unique<tc::ClipTokenizer>(tc::ClipTokenizer::from_file(vocab_path()));
    }();
    return tok.get();
}

#define REQUIRE_REFERENCE_VOCAB()                                                      \
    const tc::ClipTokenizer* tok = reference_tokenizer();                              \
    if (tok == nullptr) GTEST_SKIP() << "reference data not found at " << vocab_path()

// Runs fn and checks that it throws tc::Error whose message contains `needle`.
void expect_error_containing(const std::function<void()>& fn, const std::string& needle) {
    try {
        fn();
        ADD_FAILURE() << "expected tc::Error containing '" << needle << "', nothing was thrown";
    } catch (const tc::Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
            << "message '" << e.what() << "' lacks '" << needle << "'";
    }
}

// A file in a fresh temporary directory, removed at the end of the test.
class TempDir {
public:
    TempDir() {
        std::random_device rd;
        path_ = fs::temp_directory_path() / ("tc_tokenizer_test_" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    std::string write(const std::string& name, const std::string& bytes) const {
        const fs::path p = path_ / name;
        std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        return p.string();
    }

private:
    fs::path path_;
};

std::string gzip_bytes(const std::string& plain) {
    z_stream zs{};
    EXPECT_EQ(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(deflateBound(&zs, static_cast<uLong>(plain.size())), '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
    zs.avail_in = static_cast<uInt>(plain.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

// A well-formed but artificial merges file: the header, "a b" as the rank-0 merge, then filler merges.
std::string synthetic_merges(size_t merge_lines = 48894) {
    std::string s = "\"bpe_simple_vocab_16e6.txt#version: 0.2\n";
    for (size_t i = 0; i < merge_lines; ++i) s += (i == 0) ? "a b\n" : "! !\n";
    return s;
}

// Code point level helpers, compared as UTF-8 (gtest prints std::string readably).
std::string fix_encoding(const std::string& s) {
    return tc::tok::utf8_encode(tc::tok::fix_encoding(tc::tok::utf8_decode_lenient(s)));
}
std::string html_unescape(const std::string& s) {
    return tc::tok::utf8_encode(tc::tok::html_unescape(tc::tok::utf8_decode_lenient(s)));
}
std::string ftfy_unescape_html(const std::string& s) {
    return tc::tok::utf8_encode(tc::tok::ftfy_unescape_html(tc::tok::utf8_decode_lenient(s)));
}
bool looks_like_mojibake(const std::string& s) {
    return tc::tok::looks_like_mojibake(tc::tok::utf8_decode_lenient(s));
}

}  // namespace

// ------------------------------------------------------------------ golden cases

TEST(ClipTokenizerGolden, AllReferenceCasesMatchExactly) {
    if (!fs::exists(cases_path())) GTEST_SKIP() << "reference data not found at " << cases_path();
    REQUIRE_REFERENCE_VOCAB();
    std::ifstream f(cases_path());
    const nlohmann::json cases = nlohmann::json::parse(f);
    ASSERT_EQ(cases.size(), 33u);
    size_t passed = 0;
    for (size_t i = 0; i < cases.size(); ++i) {
        const nlohmann::json& c = cases[i];
        const std::string text = c.at("text").get<std::string>();
        SCOPED_TRACE("case " + std::to_string(i) + ": " + nlohmann::json(text).dump());
        const auto expected_ids = c.at("ids").get<std::vector<int64_t>>();
        const auto expected_bpe = c.at("bpe_untruncated").get<std::vector<int64_t>>();
        const auto n_nonpad = c.at("n_nonpad").get<size_t>();
        ASSERT_EQ(expected_ids.size(), 77u);

        const std::vector<int64_t> ids = tok->tokenize(text);
        const std::vector<int64_t> bpe = tok->encode(text);
        EXPECT_EQ(ids, expected_ids);
        EXPECT_EQ(bpe, expected_bpe);
        size_t nonpad = 0;
        for (int64_t id : ids) nonpad += (id != 0);
        EXPECT_EQ(nonpad, n_nonpad);
        passed += (ids == expected_ids && bpe == expected_bpe && nonpad == n_nonpad);
    }
    EXPECT_EQ(passed, cases.size()) << passed << " of " << cases.size() << " golden cases match";
}

// ------------------------------------------------------------------ tokenizer behaviour

TEST(ClipTokenizerTest, VocabularyHasCLIPSize) {
    REQUIRE_REFERENCE_VOCAB();
    EXPECT_EQ(tok->vocab_size(), 49408u);
}

TEST(ClipTokenizerTest, EmptyAndBlankText) {
    REQUIRE_REFERENCE_VOCAB();
    for (const std::string text : {"", " ", "\t\n\r ", "\xE3\x80\x80" /* U+3000 */, "\x1B[0m"}) {
        SCOPED_TRACE(nlohmann::json(text).dump());
        EXPECT_TRUE(tok->encode(text).empty());
        std::vector<int64_t> expected(77, 0);
        expected[0] = tc::ClipTokenizer::kStartOfText;
        expected[1] = tc::ClipTokenizer::kEndOfText;
        EXPECT_EQ(tok->tokenize(text), expected);
    }
}

TEST(ClipTokenizerTest, ContextLengthTruncationKeepsEndToken) {
    REQUIRE_REFERENCE_VOCAB();
    const std::string text = "a b c d e f";  // each letter is one token
    const std::vector<int64_t> ids = tok->encode(text);
    ASSERT_EQ(ids.size(), 6u);
    EXPECT_EQ(tok->tokenize(text, 8),
              (std::vector<int64_t>{49406, ids[0], ids[1], ids[2], ids[3], ids[4], ids[5], 49407}));
    EXPECT_EQ(tok->tokenize(text, 5), (std::vector<int64_t>{49406, ids[0], ids[1], ids[2], 49407}));
    EXPECT_EQ(tok->tokenize(text, 10).back(), 0);
    EXPECT_EQ(tok->tokenize(text, 1), (std::vector<int64_t>{49407}));  // as open_clip: the end token wins
    expect_error_containing([&] { (void)tok->tokenize(text, 0); }, "context_length");
}

TEST(ClipTokenizerTest, SpecialTokenNamesInTextMapToTheirIds) {
    // open_clip 2.22.0 matches its special tokens in the text itself (case-insensitively, after lower()).
    REQUIRE_REFERENCE_VOCAB();
    EXPECT_EQ(tok->encode("<start_of_text>"), (std::vector<int64_t>{49406}));
    EXPECT_EQ(tok->encode("<END_OF_TEXT>"), (std::vector<int64_t>{49407}));
    const std::vector<int64_t> a = tok->encode("a"), b = tok->encode("b");
    EXPECT_EQ(tok->encode("a<end_of_text>b"), (std::vector<int64_t>{a[0], 49407, b[0]}));
}

TEST(ClipTokenizerTest, InvalidUtf8NeverCrashes) {
    REQUIRE_REFERENCE_VOCAB();
    const std::vector<std::string> samples = {"\xFF", "abc\xC3", "\xED\xA0\x80", "\xC0\x80", "\xF4\x90\x80\x80",
                                              "\x80\x80", std::string("a\0b", 3)};
    for (size_t i = 0; i < samples.size(); ++i) {
        const std::string& text = samples[i];
        SCOPED_TRACE("sample " + std::to_string(i));
        EXPECT_NO_THROW((void)tok->encode(text));
        const std::vector<int64_t> ids = tok->tokenize(text);
        EXPECT_EQ(ids.size(), 77u);
        EXPECT_EQ(ids[0], 49406);
    }
    std::mt19937 rng(1234);
    for (int n = 0; n < 300; ++n) {
        std::string text(rng() % 64, '\0');
        for (char& ch : text) ch = static_cast<char>(rng() & 0xFF);
        std::vector<int64_t> ids;
        EXPECT_NO_THROW(ids = tok->tokenize(text));
        EXPECT_EQ(ids.size(), 77u);
    }
}

TEST(ClipTokenizerTest, WorksWithASyntheticVocabulary) {
    // No reference data needed: the merges "a b" (rank 0) and filler "! !".
    TempDir dir;
    const auto tok = tc::ClipTokenizer::from_file(dir.write("v.txt.gz", gzip_bytes(synthetic_merges())));
    EXPECT_EQ(tok.vocab_size(), 256u + 256u + 2u + 2u);  // bytes, bytes</w>, "ab", "!!", 2 special tokens
    // "abab": a b a b</w> -> (a,b) merges where the second symbol is a plain "b", not the final "b</w>".
    const int64_t a = 'a' - '!', b_end = 256 + ('b' - '!'), ab = 512;
    EXPECT_EQ(tok.encode("ABAB"), (std::vector<int64_t>{ab, a, b_end}));
}

// ------------------------------------------------------------------ vocabulary file errors

TEST(ClipTokenizerVocabFile, MissingFileIsAnError) {
    expect_error_containing([] { (void)tc::ClipTokenizer::from_file("/nonexistent/dir/vocab.txt.gz"); },
                            "cannot open");
}

TEST(ClipTokenizerVocabFile, TruncatedGzipIsAnError) {
    TempDir dir;
    const std::string gz = gzip_bytes(synthetic_merges());
    const std::string path = dir.write("truncated.gz", gz.substr(0, gz.size() / 2));
    expect_error_containing([&] { (void)tc::ClipTokenizer::from_file(path); }, "truncated");
    const std::string tail_cut = dir.write("tail_cut.gz", gz.substr(0, gz.size() - 4));  // CRC/size trailer cut
    EXPECT_THROW((void)tc::ClipTokenizer::from_file(tail_cut), tc::Error);
}

TEST(ClipTokenizerVocabFile, TruncatedReferenceVocabularyIsAnError) {
    if (!fs::exists(vocab_path())) GTEST_SKIP() << "reference data not found at " << vocab_path();
    std::ifstream in(vocab_path(), std::ios::binary);
    const std::string gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    TempDir dir;
    const std::string path = dir.write("cut.gz", gz.substr(0, gz.size() * 3 / 4));
    expect_error_containing([&] { (void)tc::ClipTokenizer::from_file(path); }, "truncated");
}

TEST(ClipTokenizerVocabFile, CorruptOrForeignDataIsAnError) {
    TempDir dir;
    std::string gz = gzip_bytes(synthetic_merges());
    for (size_t i = gz.size() / 3; i < gz.size() / 3 + 16; ++i) gz[i] = static_cast<char>(gz[i] ^ 0x5A);
    EXPECT_THROW((void)tc::ClipTokenizer::from_file(dir.write("corrupt.gz", gz)), tc::Error);
    EXPECT_THROW((void)tc::ClipTokenizer::from_file(dir.write("plain.txt", synthetic_merges())), tc::Error);
    EXPECT_THROW((void)tc::ClipTokenizer::from_file(dir.write("empty.gz", "")), tc::Error);
}

TEST(ClipTokenizerVocabFile, TooFewOrMalformedMergeLinesAreAnError) {
    TempDir dir;
    expect_error_containing(
        [&] { (void)tc::ClipTokenizer::from_file(dir.write("short.gz", gzip_bytes(synthetic_merges(1000)))); },
        "lines");
    std::string bad = synthetic_merges();
    bad.replace(bad.find("! !"), 3, "!!!");  // one field instead of two
    expect_error_containing([&] { (void)tc::ClipTokenizer::from_file(dir.write("bad.gz", gzip_bytes(bad))); },
                            "not a merge");
}

// ------------------------------------------------------------------ cleaning

TEST(ClipTokenizerClean, WhitespaceAndCase) {
    EXPECT_EQ(tc::clip_clean_text("  HELLO\t\n World  "), "hello world");
    EXPECT_EQ(tc::clip_clean_text("x\u00A0y\u3000z"), "x y z");  // NBSP and ideographic space are spaces
    EXPECT_EQ(tc::clip_clean_text("Zero\u200Bwidth"), "zero\u200Bwidth");  // U+200B is not whitespace
    EXPECT_EQ(tc::clip_clean_text(""), "");
}

TEST(ClipTokenizerClean, UnicodeLowerCase) {
    EXPECT_EQ(tc::clip_clean_text("\u03A3\u0391\u03A3 \u039F\u0394\u039F\u03A3"), "\u03C3\u03B1\u03C2 \u03BF\u03B4\u03BF\u03C2");  // final sigma
    EXPECT_EQ(tc::clip_clean_text("\u0130stanbul"), "i\u0307stanbul");  // İ lower-cases to i + combining dot
    EXPECT_EQ(tc::clip_clean_text("e\u0301"), "\u00E9");                // NFC
}

TEST(ClipTokenizerClean, FtfyFixes) {
    EXPECT_EQ(tc::clip_clean_text("caf\u00C3\u00A9"), "caf\u00E9");                            // mojibake
    EXPECT_EQ(tc::clip_clean_text("\u00E2\u20AC\u0153quotes\u00E2\u20AC\u009D"), "\"quotes\"");  // mojibake, quotes
    EXPECT_EQ(tc::clip_clean_text("voil\u00C3 le travail"), "voil\u00E0 le travail");          // lost NBSP byte
    EXPECT_EQ(tc::clip_clean_text("\uFB01ne \uFB02ower"), "fine flower");                      // ligatures
    EXPECT_EQ(tc::clip_clean_text("\uFF21\uFF22\uFF23\u3000\uFF58\uFF59\uFF5A"), "abc xyz");    // full width
    EXPECT_EQ(tc::clip_clean_text("\u2018single\u2019 \u201Cdouble\u201D"), "'single' \"double\"");
    EXPECT_EQ(tc::clip_clean_text("\x1B[31mred\x1B[0m"), "red");                               // terminal codes
    EXPECT_EQ(tc::clip_clean_text(std::string("a\0b\x07" "c\uFEFF" "d", 9)), "abcd");           // control chars
}

TEST(ClipTokenizerClean, HtmlEntities) {
    EXPECT_EQ(tc::clip_clean_text("&amp;lt;b&amp;gt;"), "<b>");  // ftfy repeats its unescaping
    EXPECT_EQ(tc::clip_clean_text("<b>&amp;</b>"), "<b>&</b>");   // ftfy skips HTML, html.unescape does it
    EXPECT_EQ(tc::clip_clean_text("this&not that"), "this\u00AC that");  // html.unescape's legacy "&not"
    EXPECT_EQ(tc::clip_clean_text("P&EACUTE;REZ"), "p\u00E9rez");         // ftfy's all-caps entities
    EXPECT_EQ(tc::clip_clean_text("&#128;"), "\u20AC");
}

TEST(ClipTokenizerClean, InvalidUtf8BecomesReplacementCharacter) {
    EXPECT_EQ(tc::clip_clean_text("a\xFF" "b"), "a\uFFFD" "b");
    EXPECT_EQ(tc::clip_clean_text("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");  // encoded surrogate: 3 bad bytes
    EXPECT_EQ(tc::clip_clean_text("abc\xE2\x82"), "abc\uFFFD");            // truncated sequence: one U+FFFD
    std::mt19937 rng(99);
    for (int n = 0; n < 300; ++n) {
        std::string text(rng() % 48, '\0');
        for (char& ch : text) ch = static_cast<char>(rng() & 0xFF);
        std::string cleaned;
        ASSERT_NO_THROW(cleaned = tc::clip_clean_text(text));
        EXPECT_TRUE(tc::tok::utf8_variants_decode_strict(cleaned).has_value()) << "output must be valid UTF-8";
    }
}

// ------------------------------------------------------------------ HTML unescaping

TEST(ClipTokenizerHtml, PythonHtmlUnescapeRules) {
    EXPECT_EQ(html_unescape("&amp; &lt;tag&gt; &quot;"), "& <tag> \"");
    EXPECT_EQ(html_unescape("&ampx &amp"), "&x &");           // legacy names without ';'
    EXPECT_EQ(html_unescape("&notit;"), "\u00ACit;");         // longest known prefix
    EXPECT_EQ(html_unescape("&bogus; &#; &"), "&bogus; &#; &");
    EXPECT_EQ(html_unescape("&#65;&#x42;&#X43"), "ABC");
    EXPECT_EQ(html_unescape("&#128;&#x9D;"), "\u20AC\u009D");  // Windows-1252 meanings, holes stay
    EXPECT_EQ(html_unescape("&#0;&#xD800;&#1114112;&#99999999999999999999;"), "\uFFFD\uFFFD\uFFFD\uFFFD");
    EXPECT_EQ(html_unescape("a&#1;b&#xFFFE;c"), "abc");        // invalid code points vanish
    EXPECT_EQ(html_unescape("&#x1F600;"), "\U0001F600");
    EXPECT_EQ(html_unescape("&NotNestedGreaterGreater;"), "\u2AA2\u0338");  // two-code-point value
}

TEST(ClipTokenizerHtml, FtfyIsMoreCautious) {
    EXPECT_EQ(ftfy_unescape_html("this&not that"), "this&not that");  // needs the ';'
    EXPECT_EQ(ftfy_unescape_html("&EACUTE; &NTILDE; &SZLIG;"), "\u00C9 \u00D1 SS");
    EXPECT_EQ(ftfy_unescape_html("&amp;lt;"), "&lt;");                 // one level at a time
    EXPECT_EQ(ftfy_unescape_html("&#65x; &#65;"), "&#65x; A");         // the ';' must be consumed
}

// ------------------------------------------------------------------ mojibake repair

TEST(ClipTokenizerMojibake, RepairsUtf8ReadAsLegacyEncodings) {
    EXPECT_EQ(fix_encoding("s\u00C3\u00B3"), "s\u00F3");
    EXPECT_EQ(fix_encoding("The Mona Lisa doesn\u00C3\u00A2\u00E2\u201A\u00AC\u00E2\u201E\u00A2t have eyebrows."),
              "The Mona Lisa doesn\u2019t have eyebrows.");  // mojibake of mojibake
    EXPECT_EQ(fix_encoding("\u00D0\u0178\u00D1\u20AC\u00D0\u00B8\u00D0\u00B2\u00D0\u00B5\u00D1\u201A"),
              "\u041F\u0440\u0438\u0432\u0435\u0442");  // Cyrillic read as Windows-1252
    // Good and bad text mixed: only the embedded mojibake is repaired.
    EXPECT_EQ(fix_encoding("caf\u00E9 \u2014 \u201Cmixed\u201D caf\u00C3\u00A9"),
              "caf\u00E9 \u2014 \u201Cmixed\u201D caf\u00E9");
    // Bytes lost to U+FFFD: the damaged sequence becomes one U+FFFD.
    EXPECT_EQ(fix_encoding("\u00E2\u20AC\u0153 like this \u00E2\u20AC\uFFFD"), "\u201C like this \uFFFD");
    // C1 controls are read as Windows-1252, except the bytes it leaves undefined.
    EXPECT_EQ(fix_encoding("\u0080 euro? and \u0081"), "\u20AC euro? and \u0081");
}

TEST(ClipTokenizerMojibake, LeavesCorrectTextAlone) {
    for (const std::string text :
         {"caf\u00E9 na\u00EFve r\u00E9sum\u00E9", "\u041F\u0440\u0438\u0432\u0435\u0442 \u043C\u0438\u0440",
          "\u03B1\u03B2\u03B3 \u03B4 \u0395\u03BB\u03BB\u03B7\u03BD\u03B9\u03BA\u03AC", "\u65E5\u672C\u8A9E",
          "\u201Cquotes\u201D \u2014 \u00AB\u00BB", "\u00AF\\_(\u30C4)_/\u00AF", "\u00C5 is a word", "plain ascii"}) {
        SCOPED_TRACE(text);
        EXPECT_FALSE(looks_like_mojibake(text));
        EXPECT_EQ(fix_encoding(text), text);
    }
    EXPECT_TRUE(looks_like_mojibake("\u00E2\u20AC\u0153"));  // “ as Windows-1252
}

// ------------------------------------------------------------------ BPE

TEST(ClipTokenizerBpe, MergesLeftToRightWithoutOverlap) {
    tc::tok::BpeMerges m;
    m.add(1, 1, 10);  // rank 0
    m.add(10, 1, 11);  // rank 1
    std::vector<int32_t> w = {1, 1, 1};
    m.apply(w);
    EXPECT_EQ(w, (std::vector<int32_t>{11}));  // (1 1) 1 -> 10 1 -> 11
    w = {1, 1, 1, 1};
    m.apply(w);
    EXPECT_EQ(w, (std::vector<int32_t>{10, 10}));
    w = {7};
    m.apply(w);
    EXPECT_EQ(w, (std::vector<int32_t>{7}));
}

TEST(ClipTokenizerBpe, OneRankIsMergedEverywhereBeforeNewPairs) {
    // The reference loop merges every occurrence of the best pair before it looks at the pairs those
    // merges create, even a pair of lower rank.
    tc::tok::BpeMerges m;
    m.add(5, 1, 6);  // rank 0, but (5,1) only appears after (1,2) merges
    m.add(1, 2, 5);  // rank 1
    std::vector<int32_t> w = {1, 2, 1, 2};
    m.apply(w);
    EXPECT_EQ(w, (std::vector<int32_t>{5, 5}));
}

TEST(ClipTokenizerBpe, ByteToUnicodeTable) {
    const auto map = tc::tok::bytes_to_unicode();
    EXPECT_EQ(map['a'], U'a');
    EXPECT_EQ(map[0x00], char32_t{0x100});
    EXPECT_EQ(map[' '], char32_t{0x120});  // 'Ġ', as in GPT-2
    EXPECT_EQ(map[0xAD], char32_t{0x143});  // the last unprintable byte
    const auto order = tc::tok::bytes_in_vocab_order();
    EXPECT_EQ(order[0], '!');
    EXPECT_EQ(order[188], 0x00);  // 188 printable bytes come first
}
