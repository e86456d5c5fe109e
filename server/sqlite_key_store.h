// The SQLite key store: <data-dir>/keys.db, table api_keys (id, name, key_hash = SHA-256 of the raw key,
// credits, revoked, created_at, webhook_secret). The store of a single `serve` (and of `tooncrafter keys`
// on its data directory); API nodes of the scale-out setup use server/redis_key_store.h instead.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "server/auth.h"

struct sqlite3;

namespace tc::server {

// Thread-safe: one connection guarded by a mutex. Several processes (the server and `tooncrafter keys`)
// may share the file: WAL journal and a busy timeout, and every balance change is one UPDATE statement.
class SqliteKeyStore final : public KeyStore {
public:
    // Opens (creating the file, its parent directory and the schema when absent) the key database.
    static std::unique_ptr<SqliteKeyStore> open(const std::string& path);
    ~SqliteKeyStore() override;

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
    std::string describe() const override { return path_; }

private:
    SqliteKeyStore(sqlite3* db, std::string path);
    sqlite3* db_;
    std::string path_;
    mutable std::mutex mutex_;
};

}  // namespace tc::server
