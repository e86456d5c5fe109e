// API keys and credits: the SQLite key store (<data-dir>/keys.db), the documented request price, and the
// extraction of the key from request headers. A raw key ("tc_" + 64 hex digits from RAND_bytes) is shown
// once, at creation; the store keeps only its SHA-256. Credits are reserved atomically before a job runs
// and refunded when it fails (DESIGN.md section 3: 401 missing/invalid key, 406 insufficient credits).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace tc::server {

struct KeyInfo {
    std::string id;              // "key_" + 16 hex digits: safe to log and show, never a credential
    std::string name;
    int64_t credits = 0;
    bool revoked = false;
    std::string created_at;      // ISO 8601 UTC, e.g. 2026-11-24T11:42:08Z
    std::string webhook_secret;  // "whsec_" + base64: signs this key's webhooks (Standard Webhooks)
};

// Thread-safe: one connection guarded by a mutex. Several processes (the server and `tooncrafter keys`)
// may share the file: WAL journal and a busy timeout, and every balance change is one UPDATE statement.
class KeyStore {
public:
    // Opens (creating the file, its parent directory and the schema when absent) the key database.
    static std::unique_ptr<KeyStore> open(const std::string& path);
    ~KeyStore();
    KeyStore(const KeyStore&) = delete;
    KeyStore& operator=(const KeyStore&) = delete;

    // Returns the new raw key; only its SHA-256 is stored. `info` (optional) receives the stored record.
    std::string create_key(const std::string& name, int64_t initial_credits, KeyInfo* info = nullptr);
    // The key's record, or nullopt when the key is unknown, malformed or revoked. The hashes are compared
    // in constant time.
    std::optional<KeyInfo> authenticate(const std::string& raw_key) const;
    std::vector<KeyInfo> list() const;  // in creation order, revoked ones included
    std::optional<KeyInfo> get(const std::string& id) const;
    // The id of a key given either as its id or as the raw key (revoked ones included); nullopt if none.
    std::optional<std::string> resolve_id(const std::string& key_or_id) const;

    void revoke(const std::string& id);                     // tc::Error if unknown
    int64_t add_credits(const std::string& id, int64_t n);  // new balance; tc::Error if unknown or < 0
    // Atomically reserves `amount` (>= 0) credits: false, and nothing changed, when the balance is
    // insufficient. `remaining` (optional) receives the balance after the call. Throws HttpError 401 when
    // the key is unknown or was revoked since it authenticated.
    bool charge(const std::string& id, int64_t amount, int64_t* remaining = nullptr);
    void refund(const std::string& id, int64_t amount);  // tc::Error if unknown
    int64_t credits(const std::string& id) const;        // tc::Error if unknown

private:
    explicit KeyStore(sqlite3* db);
    sqlite3* db_;
    mutable std::mutex mutex_;
};

// The documented price of one request, in credits: the number of generated segments (N-1 for N keyframes,
// N with loop, which adds the segment from the last keyframe back to the first) times 2 when FILM
// interpolation doubles the frames.
int64_t request_price(int num_images, bool loop, bool interpolate);

// The API key of a request: the `x-api-key` header (what the Segmind SDK sends) when present, else
// `Authorization: Bearer <key>` (scheme case-insensitive). Surrounding whitespace is trimmed; "" when neither
// carries a key.
std::string api_key_from_headers(const std::string& x_api_key, const std::string& authorization);

// The data directory's key database: <data_dir>/keys.db.
std::string keys_db_path(const std::string& data_dir);

}  // namespace tc::server
