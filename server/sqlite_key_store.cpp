// The SQLite key store (see sqlite_key_store.h). Every balance change is one UPDATE with its own check, so
// racing charges from threads or processes can never both spend the last credit.
#include "server/sqlite_key_store.h"

#include <sqlite3.h>

#include <filesystem>

#include "core/error.h"
#include "server/http_error.h"
#include "server/key_material.h"
#include "server/sqlite_statement.h"

namespace tc::server {

namespace {

namespace fs = std::filesystem;
namespace km = key_material;

using Statement = SqliteStatement;

// Columns in the order KeyInfo reads them.
constexpr const char* kInfoColumns = "id, name, credits, revoked, created_at, webhook_secret";

KeyInfo read_info(const Statement& s) {
    KeyInfo k;
    k.id = s.text(0);
    k.name = s.text(1);
    k.credits = s.integer(2);
    k.revoked = s.integer(3) != 0;
    k.created_at = s.text(4);
    k.webhook_secret = s.text(5);
    return k;
}

}  // namespace

std::unique_ptr<SqliteKeyStore> SqliteKeyStore::open(const std::string& path) {
    const fs::path p(path);
    if (p.has_parent_path()) {
        std::error_code ec;
        fs::create_directories(p.parent_path(), ec);
        TC_CHECK(!ec, "key store: cannot create directory ", p.parent_path().string(), ": ", ec.message());
    }
    const bool existed = fs::exists(p);
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close);  // closes on every path below
    TC_CHECK(rc == SQLITE_OK, "key store: cannot open ", path, ": ",
             raw ? sqlite3_errmsg(raw) : "out of memory");
    // The file holds webhook secrets: owner-only (SQLite gives its -wal and -shm files the same mode).
    if (!existed) {
        std::error_code ec;
        fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace, ec);
    }
    sqlite3_busy_timeout(db.get(), 5000);  // the server and the CLI may write at the same time
    sqlite_exec(db.get(), "PRAGMA journal_mode=WAL");
    sqlite_exec(db.get(),
         "CREATE TABLE IF NOT EXISTS api_keys ("
         "  id TEXT PRIMARY KEY,"
         "  name TEXT NOT NULL DEFAULT '',"
         "  key_hash BLOB NOT NULL UNIQUE,"  // SHA-256 of the raw key; the raw key is never stored
         "  credits INTEGER NOT NULL DEFAULT 0 CHECK (credits >= 0),"
         "  revoked INTEGER NOT NULL DEFAULT 0,"
         "  created_at TEXT NOT NULL,"
         "  webhook_secret TEXT NOT NULL)");
    return std::unique_ptr<SqliteKeyStore>(new SqliteKeyStore(db.release(), path));
}

SqliteKeyStore::SqliteKeyStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

SqliteKeyStore::~SqliteKeyStore() { sqlite3_close(db_); }

std::string SqliteKeyStore::create_key(const std::string& name, int64_t initial_credits, KeyInfo* info) {
    const KeyInfo k = km::new_record(name, initial_credits);
    const std::string raw_key = km::new_raw_key();
    const std::string hash = km::key_hash(raw_key);

    std::lock_guard lock(mutex_);
    Statement s(db_,
                "INSERT INTO api_keys (id, name, key_hash, credits, revoked, created_at, webhook_secret) "
                "VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)");
    s.bind(1, k.id).bind(2, k.name).bind_blob(3, hash.data(), int(hash.size())).bind(4, k.credits);
    s.bind(5, k.created_at).bind(6, k.webhook_secret);
    s.run();
    if (info) *info = k;
    return raw_key;
}

std::optional<KeyInfo> SqliteKeyStore::authenticate(const std::string& raw_key) const {
    if (!km::plausible_raw_key(raw_key)) return std::nullopt;
    const std::string hash = km::key_hash(raw_key);
    std::lock_guard lock(mutex_);
    Statement s(db_, std::string("SELECT ") + kInfoColumns + ", key_hash FROM api_keys WHERE key_hash = ?1");
    s.bind_blob(1, hash.data(), int(hash.size()));
    if (!s.step()) return std::nullopt;
    // The index lookup found the row; the final decision is a constant-time comparison of the digests.
    if (!km::constant_time_equal(s.blob(6), hash)) return std::nullopt;
    KeyInfo k = read_info(s);
    if (k.revoked) return std::nullopt;
    return k;
}

std::vector<KeyInfo> SqliteKeyStore::list() const {
    std::lock_guard lock(mutex_);
    Statement s(db_, std::string("SELECT ") + kInfoColumns + " FROM api_keys ORDER BY rowid");
    std::vector<KeyInfo> out;
    while (s.step()) out.push_back(read_info(s));
    return out;
}

std::optional<KeyInfo> SqliteKeyStore::get(const std::string& id) const {
    std::lock_guard lock(mutex_);
    Statement s(db_, std::string("SELECT ") + kInfoColumns + " FROM api_keys WHERE id = ?1");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_info(s);
}

std::optional<std::string> SqliteKeyStore::resolve_id(const std::string& key_or_id) const {
    if (auto k = get(key_or_id)) return k->id;
    if (!km::plausible_raw_key(key_or_id)) return std::nullopt;
    const std::string hash = km::key_hash(key_or_id);
    std::lock_guard lock(mutex_);
    Statement s(db_, "SELECT id FROM api_keys WHERE key_hash = ?1");
    s.bind_blob(1, hash.data(), int(hash.size()));
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

void SqliteKeyStore::revoke(const std::string& id) {
    std::lock_guard lock(mutex_);
    Statement s(db_, "UPDATE api_keys SET revoked = 1 WHERE id = ?1");
    s.bind(1, id).run();
    TC_CHECK(sqlite3_changes(db_) == 1, "unknown key id '", id, "'");
}

int64_t SqliteKeyStore::add_credits(const std::string& id, int64_t n) {
    TC_CHECK(n >= -km::kMaxCredits && n <= km::kMaxCredits, "credit amount out of range: ", n);
    std::lock_guard lock(mutex_);
    // One statement, so a concurrent charge from another process cannot interleave.
    Statement s(db_,
                "UPDATE api_keys SET credits = credits + ?2 WHERE id = ?1 AND credits + ?2 BETWEEN 0 AND ?3 "
                "RETURNING credits");
    s.bind(1, id).bind(2, n).bind(3, km::kMaxCredits);
    if (s.step()) {
        const int64_t balance = s.integer(0);
        s.run();
        return balance;
    }
    Statement q(db_, "SELECT credits FROM api_keys WHERE id = ?1");
    q.bind(1, id);
    TC_CHECK(q.step(), "unknown key id '", id, "'");
    TC_FAIL("adding ", n, " credits to a balance of ", q.integer(0), " would leave it outside 0..", km::kMaxCredits);
}

bool SqliteKeyStore::charge(const std::string& id, int64_t amount, int64_t* remaining) {
    TC_CHECK(amount >= 0 && amount <= km::kMaxCredits, "charge amount out of range: ", amount);
    std::lock_guard lock(mutex_);
    // Check and debit in one UPDATE: two racing charges (threads or processes) can never both pass the check.
    Statement s(db_,
                "UPDATE api_keys SET credits = credits - ?2 WHERE id = ?1 AND revoked = 0 AND credits >= ?2 "
                "RETURNING credits");
    s.bind(1, id).bind(2, amount);
    if (s.step()) {
        if (remaining) *remaining = s.integer(0);
        s.run();
        return true;
    }
    Statement q(db_, "SELECT credits, revoked FROM api_keys WHERE id = ?1");
    q.bind(1, id);
    if (!q.step()) unauthorized("unknown API key");
    if (q.integer(1) != 0) unauthorized("API key revoked");
    if (remaining) *remaining = q.integer(0);
    return false;
}

void SqliteKeyStore::refund(const std::string& id, int64_t amount) {
    TC_CHECK(amount >= 0 && amount <= km::kMaxCredits, "refund amount out of range: ", amount);
    std::lock_guard lock(mutex_);
    Statement s(db_, "UPDATE api_keys SET credits = MIN(credits + ?2, ?3) WHERE id = ?1");
    s.bind(1, id).bind(2, amount).bind(3, km::kMaxCredits).run();
    TC_CHECK(sqlite3_changes(db_) == 1, "unknown key id '", id, "'");
}

int64_t SqliteKeyStore::credits(const std::string& id) const {
    std::lock_guard lock(mutex_);
    Statement s(db_, "SELECT credits FROM api_keys WHERE id = ?1");
    s.bind(1, id);
    TC_CHECK(s.step(), "unknown key id '", id, "'");
    return s.integer(0);
}

}  // namespace tc::server
