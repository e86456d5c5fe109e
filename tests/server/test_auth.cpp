// KeyStore, request_price and api_key_from_headers (server/auth.h), and the `keys` / `credits` CLI.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "core/error.h"
#include "server/auth.h"
#include "server/http_error.h"
#include "test_util.h"

namespace fs = std::filesystem;
using tc::server::KeyInfo;
using tc::server::KeyStore;

namespace {

// A temporary data directory; db() is the key store's file in it.
struct TempDir : tc::test::TempDir {
    explicit TempDir(const std::string& tag) : tc::test::TempDir("tc-auth-" + tag) {}
    std::string db() const { return (path / "keys.db").string(); }
};

std::string read_bytes(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace

TEST(KeyStore, CreateAuthenticateList) {
    TempDir dir("basic");
    auto store = KeyStore::open(dir.db());
    KeyInfo info;
    const std::string key = store->create_key("alice", 10, &info);
    EXPECT_EQ(key.rfind("tc_", 0), 0u);
    EXPECT_EQ(key.size(), 3u + 64u);
    EXPECT_EQ(info.name, "alice");
    EXPECT_EQ(info.credits, 10);
    EXPECT_FALSE(info.revoked);
    EXPECT_EQ(info.id.rfind("key_", 0), 0u);
    EXPECT_EQ(info.created_at.size(), 20u);  // 2026-11-24T11:42:08Z
    EXPECT_EQ(info.webhook_secret.rfind("whsec_", 0), 0u);

    const auto auth = store->authenticate(key);
    ASSERT_TRUE(auth.has_value());
    EXPECT_EQ(auth->id, info.id);
    EXPECT_EQ(auth->name, "alice");
    EXPECT_EQ(auth->credits, 10);
    EXPECT_EQ(auth->webhook_secret, info.webhook_secret);

    const std::string key2 = store->create_key("bob", 0);
    EXPECT_NE(key, key2);
    const auto all = store->list();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].name, "alice");
    EXPECT_EQ(all[1].name, "bob");
    EXPECT_NE(all[0].id, all[1].id);

    // Persisted: a second handle on the same file sees the keys.
    store.reset();
    auto again = KeyStore::open(dir.db());
    EXPECT_TRUE(again->authenticate(key).has_value());
    EXPECT_EQ(again->list().size(), 2u);
}

TEST(KeyStore, UnknownAndMalformedKeys) {
    TempDir dir("unknown");
    auto store = KeyStore::open(dir.db());
    const std::string key = store->create_key("k", 1);
    EXPECT_FALSE(store->authenticate("").has_value());
    EXPECT_FALSE(store->authenticate("tc_").has_value());
    EXPECT_FALSE(store->authenticate("nope").has_value());
    std::string wrong = key;
    wrong.back() = wrong.back() == '0' ? '1' : '0';
    EXPECT_FALSE(store->authenticate(wrong).has_value());
    EXPECT_FALSE(store->authenticate(key + "x").has_value());
    EXPECT_FALSE(store->authenticate(std::string(100000, 'a')).has_value());

    EXPECT_THROW(store->revoke("key_missing"), tc::Error);
    EXPECT_THROW(store->add_credits("key_missing", 5), tc::Error);
    EXPECT_THROW(store->refund("key_missing", 5), tc::Error);
    EXPECT_THROW(store->credits("key_missing"), tc::Error);
    try {
        store->charge("key_missing", 1, nullptr);
        FAIL() << "charge on an unknown id must throw";
    } catch (const tc::server::HttpError& e) {
        EXPECT_EQ(e.status, 401);
    }
    EXPECT_FALSE(store->get("key_missing").has_value());
    EXPECT_FALSE(store->resolve_id("key_missing").has_value());
}

TEST(KeyStore, Revoke) {
    TempDir dir("revoke");
    auto store = KeyStore::open(dir.db());
    KeyInfo info;
    const std::string key = store->create_key("r", 5, &info);
    ASSERT_TRUE(store->authenticate(key).has_value());
    store->revoke(info.id);
    EXPECT_FALSE(store->authenticate(key).has_value());
    const auto all = store->list();
    ASSERT_EQ(all.size(), 1u);
    EXPECT_TRUE(all[0].revoked);
    // A key revoked between authentication and charging is refused with 401.
    try {
        store->charge(info.id, 1, nullptr);
        FAIL() << "charge on a revoked key must throw";
    } catch (const tc::server::HttpError& e) {
        EXPECT_EQ(e.status, 401);
    }
    EXPECT_EQ(store->credits(info.id), 5);
    // The raw key still resolves (the CLI can name a revoked key by its raw value).
    EXPECT_EQ(store->resolve_id(key), info.id);
}

TEST(KeyStore, StoresOnlyTheHash) {
    TempDir dir("hash");
    std::string key;
    {
        auto store = KeyStore::open(dir.db());
        key = store->create_key("h", 1);
    }
    const std::string secret = key.substr(3);  // the random part, as hex
    // 1) Every column of every row, read back through SQLite.
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open_v2(dir.db().c_str(), &raw, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close);
    sqlite3_stmt* st_raw = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db.get(), "SELECT * FROM api_keys", -1, &st_raw, nullptr), SQLITE_OK);
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(st_raw, sqlite3_finalize);
    int rows = 0;
    while (sqlite3_step(st.get()) == SQLITE_ROW) {
        ++rows;
        for (int c = 0; c < sqlite3_column_count(st.get()); ++c) {
            const auto* p = static_cast<const char*>(sqlite3_column_blob(st.get(), c));
            const std::string v = p ? std::string(p, size_t(sqlite3_column_bytes(st.get(), c))) : "";
            EXPECT_EQ(v.find(secret), std::string::npos) << "column " << sqlite3_column_name(st.get(), c);
            if (std::string(sqlite3_column_name(st.get(), c)) == "key_hash") {
                EXPECT_EQ(v.size(), 32u);
            }
        }
    }
    EXPECT_EQ(rows, 1);
    // 2) The bytes of the files themselves (database and WAL).
    for (const auto& e : fs::directory_iterator(dir.path))
        EXPECT_EQ(read_bytes(e.path()).find(secret), std::string::npos) << e.path();
}

TEST(KeyStore, ChargeRefundAddCredits) {
    TempDir dir("charge");
    auto store = KeyStore::open(dir.db());
    KeyInfo info;
    store->create_key("c", 5, &info);
    int64_t remaining = -1;
    EXPECT_TRUE(store->charge(info.id, 3, &remaining));
    EXPECT_EQ(remaining, 2);
    EXPECT_FALSE(store->charge(info.id, 3, &remaining));  // insufficient: nothing changes
    EXPECT_EQ(remaining, 2);
    EXPECT_EQ(store->credits(info.id), 2);
    EXPECT_TRUE(store->charge(info.id, 0, &remaining));
    EXPECT_EQ(remaining, 2);
    store->refund(info.id, 3);
    EXPECT_EQ(store->credits(info.id), 5);
    EXPECT_EQ(store->add_credits(info.id, 10), 15);
    EXPECT_EQ(store->add_credits(info.id, -15), 0);
    EXPECT_THROW(store->add_credits(info.id, -1), tc::Error);  // never below zero
    EXPECT_EQ(store->credits(info.id), 0);
    EXPECT_THROW(store->charge(info.id, -1, nullptr), tc::Error);
    EXPECT_THROW(store->refund(info.id, -1), tc::Error);
    EXPECT_THROW(store->create_key("neg", -1), tc::Error);
    EXPECT_EQ(store->resolve_id(info.id), info.id);
}

TEST(KeyStore, ConcurrentChargesNeverOverdraw) {
    TempDir dir("race");
    auto store = KeyStore::open(dir.db());
    KeyInfo info;
    store->create_key("race", 100, &info);
    std::atomic<int> granted{0};
    std::atomic<bool> negative_seen{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 40; ++i) {
                int64_t left = 0;
                if (store->charge(info.id, 1, &left)) {
                    ++granted;
                    if (left < 0) negative_seen = true;
                    // Half the threads refund every fourth reservation (a failed job), racing the charges.
                    if (t % 2 == 0 && i % 4 == 0) {
                        store->refund(info.id, 1);
                        --granted;
                    }
                }
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_FALSE(negative_seen.load());
    EXPECT_EQ(store->credits(info.id), 100 - granted.load());
    EXPECT_GE(store->credits(info.id), 0);
    EXPECT_EQ(store->credits(info.id), 0);  // 320 attempts for 100 credits plus the refunds: all spent
}

TEST(KeyStore, TwoHandlesOnOneFile) {
    // The server and the CLI are two processes on one file; two connections stand in for them here.
    TempDir dir("twohandles");
    auto a = KeyStore::open(dir.db());
    auto b = KeyStore::open(dir.db());
    KeyInfo info;
    const std::string key = a->create_key("shared", 50, &info);
    std::atomic<int> granted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            KeyStore& s = t % 2 ? *a : *b;
            for (int i = 0; i < 30; ++i)
                if (s.charge(info.id, 1, nullptr)) ++granted;
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(granted.load(), 50);
    EXPECT_EQ(b->credits(info.id), 0);
    b->add_credits(info.id, 7);
    EXPECT_EQ(a->authenticate(key)->credits, 7);
}

TEST(RequestPrice, SegmentsTimesInterpolation) {
    using tc::server::request_price;
    EXPECT_EQ(request_price(2, false, false), 1);
    EXPECT_EQ(request_price(2, true, false), 2);
    EXPECT_EQ(request_price(2, false, true), 2);
    EXPECT_EQ(request_price(3, false, false), 2);
    EXPECT_EQ(request_price(3, true, true), 6);
    EXPECT_EQ(request_price(10, false, false), 9);
    EXPECT_EQ(request_price(10, true, true), 20);
    EXPECT_THROW(request_price(1, false, false), tc::Error);
    EXPECT_THROW(request_price(11, false, false), tc::Error);
}

TEST(ApiKeyHeaders, XApiKeyAndBearer) {
    using tc::server::api_key_from_headers;
    EXPECT_EQ(api_key_from_headers("tc_abc", ""), "tc_abc");
    EXPECT_EQ(api_key_from_headers("  tc_abc \t", ""), "tc_abc");
    EXPECT_EQ(api_key_from_headers("", "Bearer tc_abc"), "tc_abc");
    EXPECT_EQ(api_key_from_headers("", "bearer tc_abc"), "tc_abc");
    EXPECT_EQ(api_key_from_headers("", "BEARER   tc_abc  "), "tc_abc");
    EXPECT_EQ(api_key_from_headers("tc_x", "Bearer tc_y"), "tc_x");  // x-api-key wins
    EXPECT_EQ(api_key_from_headers("   ", "Bearer tc_y"), "tc_y");
    EXPECT_EQ(api_key_from_headers("", ""), "");
    EXPECT_EQ(api_key_from_headers("", "Bearer"), "");
    EXPECT_EQ(api_key_from_headers("", "Bearer   "), "");
    EXPECT_EQ(api_key_from_headers("", "Basic dXNlcjpwYXNz"), "");
    EXPECT_EQ(api_key_from_headers("", "Bearertc_abc"), "");
    EXPECT_EQ(api_key_from_headers("", "tc_abc"), "");
}

// ------------------------------------------------------------------ the CLI, through the built binary
namespace {

struct CliResult {
    int status = -1;
    std::string out, err;
};

CliResult run_cli(const std::string& args, const fs::path& dir) {
    const std::string out_file = (dir / "stdout.txt").string(), err_file = (dir / "stderr.txt").string();
    const std::string cmd = std::string("env -u TOONCRAFTER_DATA_DIR timeout 60 ") + TC_BINARY_DIR +
                            "/tooncrafter " + args + " >" + out_file + " 2>" + err_file;
    const int st = std::system(cmd.c_str());
    CliResult r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = read_bytes(out_file);
    r.err = read_bytes(err_file);
    return r;
}

}  // namespace

TEST(KeysCli, CreateListCreditsRevoke) {
    TempDir dir("cli");
    const std::string data = (dir.path / "data").string();
    const fs::path io = dir.path;

    const CliResult created = run_cli("keys create --name ci --credits 5 --data-dir " + data, io);
    ASSERT_EQ(created.status, 0) << created.err;
    // stdout is exactly one line: the key.
    ASSERT_FALSE(created.out.empty());
    EXPECT_EQ(created.out.back(), '\n');
    const std::string key = created.out.substr(0, created.out.size() - 1);
    EXPECT_EQ(key.find('\n'), std::string::npos);
    EXPECT_EQ(key.rfind("tc_", 0), 0u);
    EXPECT_EQ(key.size(), 67u);

    std::string id;
    {
        auto store = KeyStore::open(tc::server::keys_db_path(data));
        const auto info = store->authenticate(key);
        ASSERT_TRUE(info.has_value());
        EXPECT_EQ(info->name, "ci");
        EXPECT_EQ(info->credits, 5);
        id = info->id;
    }

    const CliResult listed = run_cli("keys list --data-dir " + data, io);
    ASSERT_EQ(listed.status, 0) << listed.err;
    EXPECT_NE(listed.out.find(id), std::string::npos) << listed.out;
    EXPECT_NE(listed.out.find("ci"), std::string::npos);
    EXPECT_EQ(listed.out.find(key.substr(3)), std::string::npos);  // never the key itself

    const CliResult json = run_cli("keys list --json --data-dir " + data, io);
    ASSERT_EQ(json.status, 0) << json.err;
    EXPECT_NE(json.out.find("\"credits\":5"), std::string::npos) << json.out;

    // credits add accepts the raw key and the id.
    CliResult added = run_cli("credits add " + key + " 10 --data-dir " + data, io);
    ASSERT_EQ(added.status, 0) << added.err;
    EXPECT_EQ(added.out, "15\n");
    added = run_cli("credits add " + id + " 1 --data-dir " + data, io);
    ASSERT_EQ(added.status, 0) << added.err;
    EXPECT_EQ(added.out, "16\n");

    const CliResult bad = run_cli("credits add key_nope 1 --data-dir " + data, io);
    EXPECT_EQ(bad.status, 2);
    EXPECT_EQ(bad.err.rfind("error: ", 0), 0u) << bad.err;
    EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;

    const CliResult revoked = run_cli("keys revoke " + id + " --data-dir " + data, io);
    ASSERT_EQ(revoked.status, 0) << revoked.err;
    {
        auto store = KeyStore::open(tc::server::keys_db_path(data));
        EXPECT_FALSE(store->authenticate(key).has_value());
        EXPECT_EQ(store->credits(id), 16);
    }
    const CliResult revoke_unknown = run_cli("keys revoke key_nope --data-dir " + data, io);
    EXPECT_EQ(revoke_unknown.status, 2);
    EXPECT_EQ(revoke_unknown.err.rfind("error: ", 0), 0u) << revoke_unknown.err;
}

TEST(KeysCli, DataDirFromEnvironment) {
    TempDir dir("clienv");
    const std::string data = (dir.path / "envdata").string();
    const std::string cmd = "TOONCRAFTER_DATA_DIR=" + data + " timeout 60 " + TC_BINARY_DIR +
                            "/tooncrafter keys create >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    auto store = KeyStore::open(tc::server::keys_db_path(data));
    ASSERT_EQ(store->list().size(), 1u);
    EXPECT_EQ(store->list()[0].credits, 0);
}
