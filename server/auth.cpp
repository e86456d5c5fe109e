// The API key store on SQLite, the request price and API key header parsing (see auth.h).
#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include <array>
#include <cctype>
#include <ctime>
#include <filesystem>

#include "core/error.h"
#include "server/http_error.h"

namespace tc::server {

namespace {

namespace fs = std::filesystem;

constexpr const char* kKeyPrefix = "tc_";
constexpr int64_t kMaxCredits = int64_t(1) << 50;  // far below int64 overflow in any sum of two balances

using Sha256 = std::array<unsigned char, 32>;

// ------------------------------------------------------------------ SQLite RAII
class Statement {
public:
    Statement(sqlite3* db, const char* sql) : db_(db) {
        const int rc = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
        TC_CHECK(rc == SQLITE_OK, "key store: cannot prepare statement: ", sqlite3_errmsg(db));
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int i, const std::string& s) {
        check(sqlite3_bind_text(stmt_, i, s.data(), int(s.size()), SQLITE_TRANSIENT));
        return *this;
    }
    Statement& bind(int i, int64_t v) {
        check(sqlite3_bind_int64(stmt_, i, v));
        return *this;
    }
    Statement& bind_blob(int i, const void* p, int n) {
        check(sqlite3_bind_blob(stmt_, i, p, n, SQLITE_TRANSIENT));
        return *this;
    }
    // True while a row is available; false when done. Throws on errors.
    bool step() {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        TC_CHECK(rc == SQLITE_DONE, "key store: ", sqlite3_errmsg(db_));
        return false;
    }
    void run() {
        while (step()) {
        }
    }
    int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
    std::string text(int col) const {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
        return p ? std::string(p, size_t(sqlite3_column_bytes(stmt_, col))) : std::string();
    }
    std::string blob(int col) const {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
        return p ? std::string(p, size_t(sqlite3_column_bytes(stmt_, col))) : std::string();
    }

private:
    void check(int rc) { TC_CHECK(rc == SQLITE_OK, "key store: cannot bind: ", sqlite3_errmsg(db_)); }
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const char* sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    const std::string msg = err ? err : (rc == SQLITE_OK ? "" : sqlite3_errmsg(db));
    sqlite3_free(err);
    TC_CHECK(rc == SQLITE_OK, "key store: ", msg);
}

// Columns in the order KeyInfo reads them.
constexpr const char* kInfoColumns = "id, name, credits, revoked, created_at, webhook_secret";

KeyInfo read_info(const Statement& s) {
    KeyInfo k;
    k.id = s.text(0);
    k.name = s.text(1);
    k.credits = s.int64(2);
    k.revoked = s.int64(3) != 0;
    k.created_at = s.text(4);
    k.webhook_secret = s.text(5);
    return k;
}

// ------------------------------------------------------------------ crypto helpers
std::string random_bytes(size_t n) {
    std::string out(n, '\0');
    TC_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), int(n)) == 1,
             "key store: the system random generator failed");
    return out;
}

std::string to_hex(const std::string& bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

std::string to_base64(const std::string& bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()), int(bytes.size()));
    out.resize(size_t(n));
    return out;
}

Sha256 sha256(const std::string& s) {
    Sha256 h{};
    unsigned int len = 0;
    TC_CHECK(EVP_Digest(s.data(), s.size(), h.data(), &len, EVP_sha256(), nullptr) == 1 && len == h.size(),
             "key store: SHA-256 failed");
    return h;
}

std::string utc_now_iso8601() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string trim(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return s.substr(b, e - b);
}

bool plausible_raw_key(const std::string& k) {
    return k.size() > 3 && k.size() <= 256 && k.compare(0, 3, kKeyPrefix) == 0;
}

}  // namespace

// ------------------------------------------------------------------ KeyStore
std::unique_ptr<KeyStore> KeyStore::open(const std::string& path) {
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
    exec(db.get(), "PRAGMA journal_mode=WAL");
    exec(db.get(),
         "CREATE TABLE IF NOT EXISTS api_keys ("
         "  id TEXT PRIMARY KEY,"
         "  name TEXT NOT NULL DEFAULT '',"
         "  key_hash BLOB NOT NULL UNIQUE,"  // SHA-256 of the raw key; the raw key is never stored
         "  credits INTEGER NOT NULL DEFAULT 0 CHECK (credits >= 0),"
         "  revoked INTEGER NOT NULL DEFAULT 0,"
         "  created_at TEXT NOT NULL,"
         "  webhook_secret TEXT NOT NULL)");
    return std::unique_ptr<KeyStore>(new KeyStore(db.release()));
}

KeyStore::KeyStore(sqlite3* db) : db_(db) {}

KeyStore::~KeyStore() { sqlite3_close(db_); }

std::string KeyStore::create_key(const std::string& name, int64_t initial_credits, KeyInfo* info) {
    TC_CHECK(initial_credits >= 0 && initial_credits <= kMaxCredits, "credits must be in 0..", kMaxCredits,
             " (got ", initial_credits, ")");
    const std::string raw_key = kKeyPrefix + to_hex(random_bytes(32));
    const Sha256 hash = sha256(raw_key);
    KeyInfo k;
    k.id = "key_" + to_hex(random_bytes(8));
    k.name = name;
    k.credits = initial_credits;
    k.revoked = false;
    k.created_at = utc_now_iso8601();
    k.webhook_secret = "whsec_" + to_base64(random_bytes(24));

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

std::optional<KeyInfo> KeyStore::authenticate(const std::string& raw_key) const {
    if (!plausible_raw_key(raw_key)) return std::nullopt;
    const Sha256 hash = sha256(raw_key);
    std::lock_guard lock(mutex_);
    Statement s(db_, (std::string("SELECT ") + kInfoColumns + ", key_hash FROM api_keys WHERE key_hash = ?1").c_str());
    s.bind_blob(1, hash.data(), int(hash.size()));
    if (!s.step()) return std::nullopt;
    // The index lookup found the row; the final decision is a constant-time comparison of the digests.
    const std::string stored = s.blob(6);
    if (stored.size() != hash.size() || CRYPTO_memcmp(stored.data(), hash.data(), hash.size()) != 0)
        return std::nullopt;
    KeyInfo k = read_info(s);
    if (k.revoked) return std::nullopt;
    return k;
}

std::vector<KeyInfo> KeyStore::list() const {
    std::lock_guard lock(mutex_);
    Statement s(db_, (std::string("SELECT ") + kInfoColumns + " FROM api_keys ORDER BY rowid").c_str());
    std::vector<KeyInfo> out;
    while (s.step()) out.push_back(read_info(s));
    return out;
}

std::optional<KeyInfo> KeyStore::get(const std::string& id) const {
    std::lock_guard lock(mutex_);
    Statement s(db_, (std::string("SELECT ") + kInfoColumns + " FROM api_keys WHERE id = ?1").c_str());
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_info(s);
}

std::optional<std::string> KeyStore::resolve_id(const std::string& key_or_id) const {
    if (auto k = get(key_or_id)) return k->id;
    if (!plausible_raw_key(key_or_id)) return std::nullopt;
    const Sha256 hash = sha256(key_or_id);
    std::lock_guard lock(mutex_);
    Statement s(db_, "SELECT id FROM api_keys WHERE key_hash = ?1");
    s.bind_blob(1, hash.data(), int(hash.size()));
    if (!s.step()) return std::nullopt;
    return s.text(0);
}

void KeyStore::revoke(const std::string& id) {
    std::lock_guard lock(mutex_);
    Statement s(db_, "UPDATE api_keys SET revoked = 1 WHERE id = ?1");
    s.bind(1, id).run();
    TC_CHECK(sqlite3_changes(db_) == 1, "unknown key id '", id, "'");
}

int64_t KeyStore::add_credits(const std::string& id, int64_t n) {
    TC_CHECK(n >= -kMaxCredits && n <= kMaxCredits, "credit amount out of range: ", n);
    std::lock_guard lock(mutex_);
    // One statement, so a concurrent charge from another process cannot interleave.
    Statement s(db_,
                "UPDATE api_keys SET credits = credits + ?2 WHERE id = ?1 AND credits + ?2 BETWEEN 0 AND ?3 "
                "RETURNING credits");
    s.bind(1, id).bind(2, n).bind(3, kMaxCredits);
    if (s.step()) {
        const int64_t balance = s.int64(0);
        s.run();
        return balance;
    }
    Statement q(db_, "SELECT credits FROM api_keys WHERE id = ?1");
    q.bind(1, id);
    TC_CHECK(q.step(), "unknown key id '", id, "'");
    TC_FAIL("adding ", n, " credits to a balance of ", q.int64(0), " would leave it outside 0..", kMaxCredits);
}

bool KeyStore::charge(const std::string& id, int64_t amount, int64_t* remaining) {
    TC_CHECK(amount >= 0 && amount <= kMaxCredits, "charge amount out of range: ", amount);
    std::lock_guard lock(mutex_);
    // Check and debit in one UPDATE: two racing charges (threads or processes) can never both pass the check.
    Statement s(db_,
                "UPDATE api_keys SET credits = credits - ?2 WHERE id = ?1 AND revoked = 0 AND credits >= ?2 "
                "RETURNING credits");
    s.bind(1, id).bind(2, amount);
    if (s.step()) {
        if (remaining) *remaining = s.int64(0);
        s.run();
        return true;
    }
    Statement q(db_, "SELECT credits, revoked FROM api_keys WHERE id = ?1");
    q.bind(1, id);
    if (!q.step()) unauthorized("unknown API key");
    if (q.int64(1) != 0) unauthorized("API key revoked");
    if (remaining) *remaining = q.int64(0);
    return false;
}

void KeyStore::refund(const std::string& id, int64_t amount) {
    TC_CHECK(amount >= 0 && amount <= kMaxCredits, "refund amount out of range: ", amount);
    std::lock_guard lock(mutex_);
    Statement s(db_, "UPDATE api_keys SET credits = MIN(credits + ?2, ?3) WHERE id = ?1");
    s.bind(1, id).bind(2, amount).bind(3, kMaxCredits).run();
    TC_CHECK(sqlite3_changes(db_) == 1, "unknown key id '", id, "'");
}

int64_t KeyStore::credits(const std::string& id) const {
    std::lock_guard lock(mutex_);
    Statement s(db_, "SELECT credits FROM api_keys WHERE id = ?1");
    s.bind(1, id);
    TC_CHECK(s.step(), "unknown key id '", id, "'");
    return s.int64(0);
}

// ------------------------------------------------------------------ free functions
int64_t request_price(int num_images, bool loop, bool interpolate) {
    TC_CHECK(num_images >= 2 && num_images <= 10, "a request has 2..10 images (got ", num_images, ")");
    const int64_t segments = loop ? num_images : num_images - 1;
    return segments * (interpolate ? 2 : 1);
}

std::string api_key_from_headers(const std::string& x_api_key, const std::string& authorization) {
    std::string key = trim(x_api_key);
    if (!key.empty()) return key;
    const std::string auth = trim(authorization);
    // RFC 7235: the auth-scheme is case-insensitive, followed by one or more spaces.
    constexpr std::string_view scheme = "bearer";
    if (auth.size() <= scheme.size()) return "";
    for (size_t i = 0; i < scheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(auth[i])) != scheme[i]) return "";
    if (auth[scheme.size()] != ' ' && auth[scheme.size()] != '\t') return "";
    return trim(auth.substr(scheme.size()));
}

std::string keys_db_path(const std::string& data_dir) { return (fs::path(data_dir) / "keys.db").string(); }

}  // namespace tc::server
