// API keys and credits: the KeyStore interface, its factory, the documented request price, and the extraction
// of the key from request headers. A raw key ("tc_" + 64 hex digits from RAND_bytes) is shown once, at
// creation; a store keeps only its SHA-256. Credits are reserved atomically before a job runs and refunded
// when it fails (DESIGN.md section 3: 401 missing/invalid key, 406 insufficient credits).
// Two stores: SQLite in <data-dir>/keys.db (server/sqlite_key_store.h; one server, or several processes on one
// file) and Redis (server/redis_key_store.h; API nodes of the scale-out setup share it, so any node knows
// every key and a balance is one number whichever node charges it).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tc::server {

struct KeyInfo {
    std::string id;              // "key_" + 16 hex digits: safe to log and show, never a credential
    std::string name;
    int64_t credits = 0;
    bool revoked = false;
    std::string created_at;      // ISO 8601 UTC, e.g. 2026-11-24T11:42:08Z
    std::string webhook_secret;  // "whsec_" + base64: signs this key's webhooks (Standard Webhooks)
};

// Implementations are thread-safe, and several processes may use one store at once (the server and
// `tooncrafter keys`, or several API nodes): every balance change is atomic in the backing store.
class KeyStore {
public:
    // The SQLite store at `path` (created with its parent directory when absent): see sqlite_key_store.h.
    static std::unique_ptr<KeyStore> open(const std::string& path);
    virtual ~KeyStore() = default;

    // Returns the new raw key; only its SHA-256 is stored. `info` (optional) receives the stored record.
    virtual std::string create_key(const std::string& name, int64_t initial_credits, KeyInfo* info = nullptr) = 0;
    // The key's record, or nullopt when the key is unknown, malformed or revoked. The hashes are compared
    // in constant time.
    virtual std::optional<KeyInfo> authenticate(const std::string& raw_key) const = 0;
    virtual std::vector<KeyInfo> list() const = 0;  // in creation order, revoked ones included
    virtual std::optional<KeyInfo> get(const std::string& id) const = 0;
    // The id of a key given either as its id or as the raw key (revoked ones included); nullopt if none.
    virtual std::optional<std::string> resolve_id(const std::string& key_or_id) const = 0;

    virtual void revoke(const std::string& id) = 0;                     // tc::Error if unknown
    virtual int64_t add_credits(const std::string& id, int64_t n) = 0;  // new balance; tc::Error if unknown or < 0
    // Atomically reserves `amount` (>= 0) credits: false, and nothing changed, when the balance is
    // insufficient. `remaining` (optional) receives the balance after the call. Throws HttpError 401 when
    // the key is unknown or was revoked since it authenticated.
    virtual bool charge(const std::string& id, int64_t amount, int64_t* remaining = nullptr) = 0;
    virtual void refund(const std::string& id, int64_t amount) = 0;  // tc::Error if unknown
    virtual int64_t credits(const std::string& id) const = 0;        // tc::Error if unknown

    virtual std::string describe() const = 0;  // where the keys live (logs): a path or a redacted URL

protected:
    KeyStore() = default;
    KeyStore(const KeyStore&) = delete;
    KeyStore& operator=(const KeyStore&) = delete;
};

// The key store of a node: `queue_url` empty = SQLite in keys_db_path(data_dir); else the Redis of that
// redis:// URL (the job queue's, under the same "tooncrafter:" prefix), shared by every API node and by
// `tooncrafter keys --queue`. Throws tc::Error when the database cannot be opened or Redis is unreachable.
std::unique_ptr<KeyStore> make_key_store(const std::string& data_dir, const std::string& queue_url);

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
