// The SQLite job store of `tooncrafter serve` (DESIGN.md section 6): one file under --data-dir, WAL mode
// (readers never block the writer), a busy timeout, schema version in PRAGMA user_version. One connection
// guarded by a mutex: the server's writes are small and few (one worker), so that is simplest and safe.
// The after-finish outbox (job_store.h take_hooks): a row's hooks_pending is set by the UPDATE that finishes it;
// hooks_owner / hooks_claimed_at record which finisher holds the hooks since when.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "server/job_store.h"

struct sqlite3;

namespace tc::server {

class SqliteJobStore : public JobStore {
public:
    explicit SqliteJobStore(const std::string& path);  // ":memory:" for tests
    ~SqliteJobStore() override;

    void create(const JobRecord& job) override;
    std::optional<JobRecord> get(const std::string& id) override;
    std::optional<JobRecord> find_by_idempotency_key(const std::string& key) override;
    bool update(const JobRecord& job) override;
    std::optional<JobRecord> claim_next_queued(double now) override;
    bool release_claim(const std::string& id) override;
    std::vector<JobRecord> list(std::optional<JobState> state = std::nullopt) override;
    std::vector<JobRecord> delete_finished_before(double cutoff) override;
    int64_t count(JobState state) override;
    int64_t queue_position(const std::string& id) override;
    std::string describe() const override { return "sqlite"; }

    std::vector<JobRecord> take_hooks(const std::string& consumer, double now, double idle_s, int max) override;
    bool renew_hooks(const std::string& consumer, const std::string& id, double now) override;
    bool mark_refunded(const std::string& id) override;
    bool set_webhook_state(const std::string& id, const std::string& state_json) override;
    void finish_hooks(const std::string& id) override;

    // 1: jobs; 2: the after-finish outbox columns (hooks_pending, refunded, webhook, hooks_owner,
    // hooks_claimed_at). An older file is migrated when opened.
    static constexpr int kSchemaVersion = 2;

private:
    struct DbDeleter {
        void operator()(sqlite3* db) const;
    };
    void exec(const char* sql);
    std::unique_ptr<sqlite3, DbDeleter> db_;
    std::mutex mu_;
};

}  // namespace tc::server
