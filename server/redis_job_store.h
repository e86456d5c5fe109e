// The Redis job store of the scale-out setup (DESIGN.md section 6, docs/scale-out.md): API nodes
// (`serve --queue redis://...`) and remote workers (`worker --queue redis://...`) share it. Data model, all
// keys under one prefix (default "tooncrafter:"):
//   job:<id>       hash, the JobRecord; expires `retention_s` after the job finished
//   queue          stream of {id}: one entry per job (XADD on create); consumer group "workers" (XREADGROUP
//                  claims, the entry stays pending while it runs, XACK + XDEL when it finished; a job given
//                  back by a worker that stops cleanly is XACKed, XDELed and XADDed again, at the end)
//   idem:<key>     string -> id (Idempotency-Key index), same expiry as its job
//   state:<STATE>  set of ids per state (counts, lists)
//   finished       sorted set "<id> <output>" scored by finished_at (the retention sweep deletes the files)
//   version        counter bumped by every change (pollers of other processes wake on it)
//   worker:<id>    heartbeat JSON with a TTL; workers = set of ids that beat recently
//   hooks          stream of {id}: the after-finish outbox (job_store.h take_hooks), one entry per finished job,
//                  XADDed by the script that finishes it; consumer group "api": the API nodes (never workers)
//                  read it (XREADGROUP), hold an entry while its webhook retries (renewed with XCLAIM), take over
//                  the entries of a node that died (XAUTOCLAIM), and XACK + XDEL it when done. The job hash
//                  keeps hooks_pending, hsid (its entry), refunded (HSETNX-like, once) and webhook (the state).
// Every multi-key change runs as one Lua script (atomic on the server). Writers are guarded: a finished job is
// final, and a worker whose claim was taken over cannot overwrite the new owner's record. The store records;
// the JobManager decides (server/jobs.h). Thread-safe: one connection behind a mutex.
#pragma once

#include <mutex>
#include <string>

#include "server/job_store.h"
#include "server/redis.h"

namespace tc::server {

struct RedisJobStoreOptions {
    std::string prefix = "tooncrafter:";
    std::string group = "workers";   // the stream's consumer group
    std::string consumer;            // this worker's id (claims); "" = an API node (never claims)
    std::string hooks_group = "api"; // the outbox stream's consumer group (the API nodes' finishers)
    double retention_s = 3600;       // finished jobs' keys expire this long after finishing
    RedisOptions redis;
};

class RedisJobStore : public JobStore {
public:
    // Connects and creates the stream and its consumer group when missing; throws tc::Error when Redis is
    // unreachable (a node must not start against a wrong URL silently).
    RedisJobStore(const std::string& url, RedisJobStoreOptions opts);
    ~RedisJobStore() override;

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

    bool shared() const override { return true; }
    std::optional<JobRecord> claim_stale(double now, double idle_s) override;
    bool renew_claim(const std::string& id) override;
    bool cancel_flag(const std::string& id) override;
    uint64_t change_counter() override;
    void heartbeat(const WorkerBeat& beat, double ttl_s) override;
    std::vector<WorkerBeat> live_workers() override;
    std::string health_error() override;
    std::string describe() const override { return url_; }

    std::vector<JobRecord> take_hooks(const std::string& consumer, double now, double idle_s, int max) override;
    bool renew_hooks(const std::string& consumer, const std::string& id, double now) override;
    bool mark_refunded(const std::string& id) override;
    bool set_webhook_state(const std::string& id, const std::string& state_json) override;
    void finish_hooks(const std::string& id) override;

    // Stream facts for metrics and the autoscaler docs: entries not yet delivered, and delivered but not acked.
    struct StreamInfo {
        int64_t length = 0, pending = 0, lag = 0;
    };
    StreamInfo stream_info();
    const RedisJobStoreOptions& options() const { return opts_; }

private:
    std::string key(const std::string& suffix) const { return opts_.prefix + suffix; }
    // Runs fn on the connection under the lock; (re)creates the group after a reconnect; turns connection
    // failures into HttpError 503 (the routes answer "queue unavailable", workers log and retry).
    template <class F>
    auto locked(F&& fn) -> decltype(fn(std::declval<RedisConnection&>()));
    void ensure_group(RedisConnection& c);
    std::optional<JobRecord> claim_entry(RedisConnection& c, const std::string& id, const std::string& sid,
                                         double now);

    RedisJobStoreOptions opts_;
    std::string url_;  // redacted
    std::mutex mu_;
    RedisConnection conn_;
    uint64_t group_ready_for_ = 0;  // connects() value when the group was last ensured
    std::string hooks_cursor_ = "0-0";  // XAUTOCLAIM position in the outbox's pending entries (guarded by mu_)
};

}  // namespace tc::server
