// The Redis key store: API keys and credits shared by every API node of the scale-out setup
// (`serve --queue redis://...`, docs/scale-out.md) and by `tooncrafter keys --queue ...`. Keys under the job
// store's prefix (default "tooncrafter:", server/redis_job_store.h):
//   apikey:<id>        hash: id, name, hash (hex SHA-256 of the raw key), credits, revoked (0|1), created_at,
//                      webhook_secret. Permanent (a revoked key stays, flagged, as in SQLite).
//   apikey-index       hash: hex SHA-256 of a raw key -> id (authentication's lookup)
//   apikeys            list of ids in creation order (`keys list`)
//   apikey-op:<op>     hash: the outcome of one balance change, kept 60 s (see below)
// Every change is one Lua script (atomic on the server): a charge checks revoked and balance and decrements in
// one step, so racing charges from any number of nodes never overdraw. A balance change carries a random
// operation id and records its outcome under it, so a script re-sent after a lost reply (the connection broke
// after Redis ran it) answers the recorded outcome instead of charging twice. Only hashes are stored; the
// final authentication decision compares digests in constant time. Thread-safe: one connection behind a mutex.
#pragma once

#include <mutex>
#include <string>

#include "server/auth.h"
#include "server/redis.h"

namespace tc::server {

struct RedisKeyStoreOptions {
    std::string prefix = "tooncrafter:";  // the job store's (RedisJobStoreOptions::prefix)
    RedisOptions redis;
};

class RedisKeyStore final : public KeyStore {
public:
    // Connects at once: throws tc::Error when Redis is unreachable (a node must not start against a wrong
    // URL silently). Later connection failures are HttpError 503 ("key store unavailable", Retry-After 2).
    explicit RedisKeyStore(const std::string& url, RedisKeyStoreOptions opts = {});
    ~RedisKeyStore() override;

    std::string create_key(const std::string& name, int64_t initial_credits, KeyInfo* info = nullptr) override;
    std::optional<KeyInfo> authenticate(const std::string& raw_key) const override;
    std::vector<KeyInfo> list() const override;
    std::optional<KeyInfo> get(const std::string& id) const override;
    std::optional<std::string> resolve_id(const std::string& key_or_id) const override;
    void revoke(const std::string& id) override;
    int64_t add_credits(const std::string& id, int64_t n) override;
    bool charge(const std::string& id, int64_t amount, int64_t* remaining = nullptr) override;
    void refund(const std::string& id, int64_t amount) override;
    int64_t credits(const std::string& id) const override;
    std::string describe() const override { return url_; }

private:
    // The outcome of a balance script: status (1 applied, 0 refused, -1 unknown id, -2 revoked) and balance.
    struct Outcome {
        int64_t status = 0;
        int64_t credits = 0;
    };
    std::string key(const std::string& suffix) const { return opts_.prefix + suffix; }
    // Runs fn on the connection under the lock; one retry on a fresh connection when a reused one turns out
    // dead; connection failures become HttpError 503.
    template <class F>
    auto locked(F&& fn) const -> decltype(fn(std::declval<RedisConnection&>()));
    Outcome balance_op(const char* body, const std::string& id, const std::vector<std::string>& args);

    RedisKeyStoreOptions opts_;
    std::string url_;  // redacted
    mutable std::mutex mu_;
    mutable RedisConnection conn_;
};

}  // namespace tc::server
