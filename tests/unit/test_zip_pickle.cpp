// The restricted unpickler and the ZIP reader on valid and hostile input: forbidden globals, malformed
// programs, cycles, zip64, corrupted central directories, truncation and deflate bombs.
#include <gtest/gtest.h>

#include <functional>

#include "ckpt_builder.h"
#include "core/error.h"
#include "io/pickle.h"
#include "io/zip_reader.h"

namespace tc {
namespace {

using pickle::Value;
using testutil::PickleWriter;
using testutil::ZipWriter;
using K = Value::Kind;
using namespace std::string_literals;

ByteSpan span(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// ---------------------------------------------------------------- pickle
TEST(Pickle, PlainValues) {
    PickleWriter w;
    w.proto(2).mark();
    w.none().boolean(true).boolean(false).integer(7).integer(300).integer(-5).integer(1ll << 40);
    w.b += 'G';  // BINFLOAT 1.5, big-endian
    w.b += std::string("\x3f\xf8\x00\x00\x00\x00\x00\x00", 8);
    w.str("héllo");
    w.b += 'C';  // SHORT_BINBYTES
    w.b += char(3);
    w.b += "abc";
    w.op('\x8a').op(char(2)).op('\x00').op('\x80');  // LONG1 -32768
    w.tuple().stop();
    pickle::PickleDoc doc = pickle::unpickle(span(w.b));
    const Value* t = doc.root();
    ASSERT_EQ(t->kind, K::Tuple);
    ASSERT_EQ(t->items.size(), 11u);
    EXPECT_EQ(t->items[0]->kind, K::None);
    EXPECT_TRUE(t->items[1]->b);
    EXPECT_FALSE(t->items[2]->b);
    EXPECT_EQ(t->items[3]->i, 7);
    EXPECT_EQ(t->items[4]->i, 300);
    EXPECT_EQ(t->items[5]->i, -5);
    EXPECT_EQ(t->items[6]->i, 1ll << 40);
    EXPECT_EQ(t->items[7]->f, 1.5);
    EXPECT_EQ(t->items[8]->s, "héllo");
    EXPECT_EQ(t->items[9]->kind, K::Bytes);
    EXPECT_EQ(t->items[9]->s, "abc");
    EXPECT_EQ(t->items[10]->i, -32768);
}

TEST(Pickle, DictsListsMemoAndOrder) {
    PickleWriter w;
    w.proto(2).empty_dict().put(0).mark();
    w.str("z").empty_list().put(1).mark().integer(1).integer(2).op('e');  // APPENDS
    w.str("a").get(1);                                                    // the same list again
    w.setitems();
    w.str("z").integer(9).setitem();  // a repeated key: last wins on lookup
    w.stop();
    pickle::PickleDoc doc = pickle::unpickle(span(w.b));
    const Value* d = doc.root();
    ASSERT_EQ(d->kind, K::Dict);
    ASSERT_EQ(d->entries.size(), 3u);
    EXPECT_EQ(d->entries[0].first->s, "z");
    EXPECT_EQ(d->entries[1].first->s, "a");
    EXPECT_EQ(d->entries[0].second, d->entries[1].second);  // shared through the memo
    EXPECT_EQ(d->get("a")->items.size(), 2u);
    EXPECT_EQ(d->get("z")->i, 9);
    EXPECT_EQ(d->get("missing"), nullptr);
}

TEST(Pickle, CyclesAreFine) {
    // l = []; l.append(l)
    PickleWriter w;
    w.proto(2).empty_list().put(0).get(0).op('a').stop();
    pickle::PickleDoc doc = pickle::unpickle(span(w.b));
    ASSERT_EQ(doc.root()->items.size(), 1u);
    EXPECT_EQ(doc.root()->items[0], doc.root());
    EXPECT_FALSE(pickle::describe(doc.root(), 10).empty());  // bounded, terminates
}

TEST(Pickle, ForbiddenGlobals) {
    // The classic: os.system('echo pwned')
    PickleWriter w;
    w.proto(2).global("os", "system").str("echo pwned").op('\x85').reduce().stop();
    std::string e = error_of([&] { pickle::unpickle(span(w.b)); });
    EXPECT_NE(e.find("pickle references forbidden global 'os.system'"), std::string::npos) << e;
    // STACK_GLOBAL (protocol 4) is checked the same way
    PickleWriter s;
    s.proto(4).str("builtins").str("eval").op('\x93').stop();
    e = error_of([&] { pickle::unpickle(span(s.b)); });
    EXPECT_NE(e.find("forbidden global 'builtins.eval'"), std::string::npos) << e;
    // An allowed name that is not the one asked for is still forbidden
    pickle::PickleOptions o;
    o.globals["collections.OrderedDict"] = nullptr;
    PickleWriter x;
    x.proto(2).global("collections", "OrderedDictX").stop();
    EXPECT_NE(error_of([&] { pickle::unpickle(span(x.b), o); }).find("OrderedDictX"), std::string::npos);
}

TEST(Pickle, AllowedGlobalsReducersObjectsAndBuild) {
    pickle::PickleOptions o;
    o.globals["m.make_int"] = [](pickle::PickleDoc& doc, const Value&, const Value& args) {
        Value* v = doc.make(K::Int);
        v->i = args.items.at(0)->i * 2;
        return v;
    };
    o.allow_global = [](const std::string& mod, const std::string&, pickle::Reducer*) {
        return mod.rfind("__torch__.", 0) == 0;
    };
    PickleWriter w;
    w.proto(2).mark();
    w.global("m", "make_int").integer(21).op('\x85').reduce();
    w.global("__torch__.a", "Net").empty_tuple().op('\x81');  // NEWOBJ -> inert object
    w.empty_dict().str("training").boolean(false).setitem().op('b');  // BUILD
    w.tuple().stop();
    pickle::PickleDoc doc = pickle::unpickle(span(w.b), o);
    const Value* t = doc.root();
    EXPECT_EQ(t->items[0]->i, 42);
    ASSERT_EQ(t->items[1]->kind, K::Object);
    EXPECT_EQ(t->items[1]->qualname(), "__torch__.a.Net");
    ASSERT_NE(t->items[1]->state, nullptr);
    EXPECT_FALSE(t->items[1]->state->get("training")->b);
}

TEST(Pickle, SharedArgumentsDoNotMultiplyMemory) {
    // One memoised 10000-element tuple passed to 20000 calls: objects share it instead of copying it
    // (copies would be 200 M pointers from a 100 KB pickle).
    pickle::PickleOptions o;
    o.globals["m.f"] = nullptr;
    PickleWriter w;
    w.proto(2).mark();
    for (int i = 0; i < 10000; ++i) w.none();
    w.tuple().put(0).op('0').global("m", "f").put(1).op('0');
    w.empty_list();
    for (int i = 0; i < 20000; ++i) w.get(1).get(0).reduce().op('a');
    w.stop();
    pickle::PickleDoc doc = pickle::unpickle(span(w.b), o);
    ASSERT_EQ(doc.root()->items.size(), 20000u);
    EXPECT_EQ(doc.root()->items[7]->args, doc.root()->items[8]->args);
    EXPECT_EQ(doc.root()->items[7]->args->items.size(), 10000u);
    EXPECT_LT(doc.size(), 40000u);
}

TEST(Pickle, MalformedPrograms) {
    auto err = [](const std::string& b, pickle::PickleOptions o = {}) { return error_of([&] { pickle::unpickle(span(b), o); }); };
    EXPECT_NE(err(""), "");
    EXPECT_NE(err("\x80\x02").find("without STOP"), std::string::npos);
    EXPECT_NE(err("\x80\x02.").find("underflow"), std::string::npos);           // STOP on an empty stack
    EXPECT_NE(err("\x80\x02\xff.").find("unsupported pickle opcode"), std::string::npos);
    EXPECT_NE(err("\x80\x09N.").find("protocol"), std::string::npos);
    EXPECT_NE(err("\x80\x02h\x05.").find("memo"), std::string::npos);            // BINGET of nothing
    EXPECT_NE(err("\x80\x02X\xff\xff\xff\x7f").find("past the end"), std::string::npos);  // 2 GB string
    EXPECT_NE(err(std::string("\x80\x02\x8b\x00\x00\x00\x10", 7)), "");          // LONG4 of 256 MB
    EXPECT_NE(err("\x80\x02t."), "");                                            // TUPLE without MARK
    EXPECT_NE(err("\x80\x02Na."), "");                                           // APPEND without a list
    EXPECT_NE(err("\x80\x02}NNNu."), "");                                        // SETITEMS without MARK
    EXPECT_NE(err("\x80\x02(NNNd."), "");                                        // odd DICT
    EXPECT_NE(err("\x80\x02NN\x85R."), "");                                      // REDUCE on None
    EXPECT_NE(err("\x80\x02NNb."), "");                                          // BUILD on None
    EXPECT_NE(err("\x80\x02NQ.").find("persistent"), std::string::npos);         // no persistent_load
    EXPECT_NE(err("\x80\x02" "cos\nsys"), "");                                      // unterminated GLOBAL
    // bounds: mark depth, stack size, number of values
    EXPECT_NE(err("\x80\x02" + std::string(5000, '(')).find("MARK"), std::string::npos);
    pickle::PickleOptions small;
    small.max_values = 100;
    EXPECT_NE(err("\x80\x02" + std::string(200, 'N') + ".", small).find("values"), std::string::npos);
    small.max_values = 1000;
    small.max_stack = 10;
    EXPECT_NE(err("\x80\x02N" + std::string(20, '2') + ".", small).find("stack"), std::string::npos);
    // the message names the offset and the opcode
    std::string e = err("\x80\x02NNNs.");
    EXPECT_NE(e.find("SETITEM"), std::string::npos) << e;
    EXPECT_NE(e.find("offset 5"), std::string::npos) << e;
}

// ---------------------------------------------------------------- zip
std::string sample_zip(bool deflate, bool zip64) {
    ZipWriter z;
    z.zip64 = zip64;
    z.add("a/x.txt", "hello world", deflate);
    z.add("a/data/0", std::string(1000, 'q'), deflate);
    z.add("a/empty", "", deflate);
    return z.finish();
}

TEST(Zip, StoredDeflateAndZip64) {
    for (bool deflate : {false, true}) {
        for (bool zip64 : {false, true}) {
            std::string bytes = sample_zip(deflate, zip64);
            ZipReader z = ZipReader::parse(span(bytes));
            ASSERT_EQ(z.entries().size(), 3u);
            const ZipEntry* e = z.find("a/x.txt");
            ASSERT_NE(e, nullptr);
            ZipData d = z.read(*e);
            EXPECT_EQ(std::string(reinterpret_cast<const char*>(d.data), d.size), "hello world");
            EXPECT_EQ(d.owned != nullptr, deflate);  // stored entries are zero-copy
            if (!deflate) {
                EXPECT_EQ(d.data, reinterpret_cast<const uint8_t*>(bytes.data()) + e->data_offset);
                EXPECT_EQ(e->data_offset % 64, 0u);
            }
            ZipData q = z.read(*z.find("a/data/0"));
            EXPECT_EQ(std::string(reinterpret_cast<const char*>(q.data), q.size), std::string(1000, 'q'));
            EXPECT_EQ(z.read(*z.find("a/empty")).size, 0u);
            EXPECT_EQ(z.find("nope"), nullptr);
        }
    }
}

TEST(Zip, TruncationAtEveryCutIsAnError) {
    for (bool zip64 : {false, true}) {
        std::string bytes = sample_zip(false, zip64);
        for (size_t n = 0; n < bytes.size(); ++n) {
            std::string cut = bytes.substr(0, n);
            EXPECT_NE(error_of([&] { ZipReader::parse(span(cut)); }), "") << "cut at " << n << " accepted";
        }
    }
}

TEST(Zip, CorruptedCentralDirectory) {
    std::string good = sample_zip(false, false);
    size_t cd = good.find("PK\x01\x02");
    size_t eocd = good.rfind("PK\x05\x06");
    ASSERT_NE(cd, std::string::npos);
    auto corrupt = [&](size_t at, const std::string& bytes) {
        std::string b = good;
        b.replace(at, bytes.size(), bytes);
        return error_of([&] { ZipReader::parse(span(b)); });
    };
    EXPECT_NE(corrupt(cd, "XXXX").find("central directory signature"), std::string::npos);
    EXPECT_NE(corrupt(eocd + 10, "\xff\x7f"s), "");                  // entry count far too large
    EXPECT_NE(corrupt(eocd + 16, "\xff\xff\xff\x7f"s), "");          // CD offset outside the file
    EXPECT_NE(corrupt(eocd + 12, "\xff\xff\xff\x7f"s), "");          // CD size outside the file
    EXPECT_NE(corrupt(cd + 28, "\xff\xff"s), "");                    // name length past the CD
    EXPECT_NE(corrupt(cd + 42, "\x00\x00\x00\x70"s), "");            // local header offset out of range
    EXPECT_NE(corrupt(cd + 42, "\x01\x00\x00\x00"s), "");            // local header offset wrong
    EXPECT_NE(corrupt(cd + 20, "\xff\xff\x00\x00"s), "");            // compressed size past the data
    EXPECT_NE(corrupt(cd + 8, "\x01\x00"s).find("encrypted"), std::string::npos);
    EXPECT_NE(corrupt(cd + 46, "b"s), "");                           // local name differs
    std::string noeocd = good;
    noeocd.replace(eocd, 4, "XXXX");
    EXPECT_NE(error_of([&] { ZipReader::parse(span(noeocd)); }).find("end-of-central-directory"), std::string::npos);
}

TEST(Zip, DuplicateNamesAndUnsupportedMethod) {
    ZipWriter z;
    z.add("a", "1").add("a", "2");
    std::string b = z.finish();
    EXPECT_NE(error_of([&] { ZipReader::parse(span(b)); }).find("twice"), std::string::npos);

    ZipWriter m;
    m.add("x", "abc", true);
    std::string mb = m.finish();
    size_t cd = mb.find("PK\x01\x02");
    mb[cd + 10] = 12;  // bzip2
    size_t lh = 0;
    mb[lh + 8] = 12;
    ZipReader r = ZipReader::parse(span(mb));
    EXPECT_NE(error_of([&] { r.read(*r.find("x")); }).find("compression method 12"), std::string::npos);
}

TEST(Zip, DeflateBombs) {
    // 1 MB of zeros declared as 1000 bytes: inflation stops at the declared size and fails.
    {
        ZipWriter z;
        z.add("bomb", std::string(1 << 20, '\0'), true, 1000);
        std::string b = z.finish();
        ZipReader r = ZipReader::parse(span(b));
        std::string e = error_of([&] { r.read(*r.find("bomb")); });
        EXPECT_NE(e.find("more than its declared"), std::string::npos) << e;
    }
    // Declares 10 GB: refused when the archive is opened, before any allocation.
    {
        ZipWriter z;
        z.zip64 = true;
        z.add("big", std::string(4096, '\0'), true, 10ull << 30);
        std::string b = z.finish();
        std::string e = error_of([&] { ZipReader::parse(span(b)); });
        EXPECT_NE(e.find("10737418240"), std::string::npos) << e;
        EXPECT_NE(e.find("limit"), std::string::npos) << e;
    }
    // Within the per-entry cap but a ratio deflate cannot reach.
    {
        ZipWriter z;
        z.add("ratio", std::string(100, 'a'), true, 1u << 30);
        std::string b = z.finish();
        std::string e = error_of([&] { ZipReader::parse(span(b)); });
        EXPECT_NE(e.find("zip bomb"), std::string::npos) << e;
    }
    // Many entries that are each plausible but together exceed the budget for the archive size.
    {
        ZipWriter z;
        std::string payload(256 << 10, '\0');
        z.add("a", payload, true).add("b", payload, true).add("c", payload, true);
        std::string b = z.finish();
        ZipLimits lim;
        lim.total_inflated_floor = 512 << 10;
        lim.total_inflated_ratio = 4;
        std::string e = error_of([&] { ZipReader::parse(span(b), "t", lim); });
        EXPECT_NE(e.find("in total"), std::string::npos) << e;
    }
    // Declared bigger than the real stream: "inflates to N bytes, not the declared".
    {
        ZipWriter z;
        z.add("short", std::string(100, 'x'), true, 200);
        std::string b = z.finish();
        ZipReader r = ZipReader::parse(span(b));
        EXPECT_NE(error_of([&] { r.read(*r.find("short")); }), "");
    }
    // Corrupt deflate data and a CRC mismatch.
    {
        ZipWriter z;
        z.add("c", std::string(5000, 'x') + "tail", true);
        std::string b = z.finish();
        ZipReader r0 = ZipReader::parse(span(b));
        size_t off = size_t(r0.find("c")->data_offset);
        std::string bad = b;
        bad[off] = char(0xff);  // invalid block type
        ZipReader r = ZipReader::parse(span(bad));
        EXPECT_NE(error_of([&] { r.read(*r.find("c")); }), "");
        std::string crc = b;
        size_t cd = crc.find("PK\x01\x02");
        crc[cd + 16] ^= 1;
        ZipReader rc = ZipReader::parse(span(crc));
        EXPECT_NE(error_of([&] { rc.read(*rc.find("c")); }).find("CRC"), std::string::npos);
    }
}

}  // namespace
}  // namespace tc
