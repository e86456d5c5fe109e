// The JobManager: the ONE module that changes a job's state (QUEUED -> PROCESSING -> COMPLETED | FAILED).
// Routes submit, read and cancel through it; the worker claims, reports progress and finishes through it.
// It also owns
//  - cancellation: cancel() of a queued job fails it at once; of a running job it raises a flag that the
//    worker's Engine cancel callback reads, so the work stops within one denoising step (then FAILED "cancelled");
//  - retention: finished jobs live `retention_s` after finishing, then they and their files are deleted and
//    their ids answer 404 (get() hides an expired job even before the sweep runs);
//  - recovery: on construction, jobs left PROCESSING by a dead process are re-queued, or FAILED with a clear
//    error after `max_attempts` claims (a job that keeps killing the process must not loop forever); a worker
//    that stops cleanly gives its job back instead (release()), so only crashes count as attempts;
//  - idempotency: the same Idempotency-Key with the same body replays the first job, another body is a 409;
//  - the distributed case (a shared store, server/redis_job_store.h): no start-up recovery (other processes'
//    jobs are alive); instead claim_next() first takes over jobs whose worker stopped renewing its claim for
//    claim_idle_s (failing them after max_attempts), cancel flags and changes are read from the store (polled);
//  - the after-finish outbox: every way a job finishes (complete, fail, cancel of a queued job, recovery, a
//    stale claim given up on) goes through one store update, which marks the job's hooks (refund, webhook)
//    pending atomically with the finish. The Finisher (server/finisher.h) of a process that has the key store
//    and the webhook secrets runs them through the *_hooks methods below, in any process, at any later time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "server/artifacts.h"
#include "server/job_store.h"

namespace tc::server {

struct JobManagerOptions {
    double retention_s = 3600;
    int max_attempts = 3;
    double claim_idle_s = 60;  // shared stores: a claim not renewed this long is taken over by another worker
};

double now_seconds();  // unix time

class JobManager {
public:
    JobManager(JobStore& store, ArtifactStore& artifacts, JobManagerOptions opts = {});

    struct Submitted {
        JobRecord job;
        bool replayed = false;  // an earlier submit with the same Idempotency-Key
    };
    // params_json: the canonical params (params_to_json). body_hash: sha256 of the request body.
    Submitted submit(const std::string& params_json, const std::string& idempotency_key, const std::string& body_hash);

    // The live (unexpired) job submitted with this Idempotency-Key, if any.
    std::optional<JobRecord> find_by_idempotency_key(const std::string& key);
    // nullopt for unknown and expired ids.
    std::optional<JobRecord> get(const std::string& id);
    // Throws 404 for an unknown id. A finished job is left as it is.
    JobRecord cancel(const std::string& id);

    // Worker side.
    std::optional<JobRecord> claim_next();
    bool cancel_requested(const std::string& id) const;
    void progress(const std::string& id, const std::string& stage, int done, int total, int segment);
    // false = not recorded: the job finished otherwise meanwhile, or another worker took it over (the caller
    // then drops its output).
    bool complete(const std::string& id, const std::string& output, const std::string& mime, int64_t bytes);
    void fail(const std::string& id, const std::string& error);
    // A clean shutdown: the running job goes back to the queue (QUEUED, its attempt given back, progress
    // cleared; job_store.h release_claim). false = nothing changed: the job is no longer this worker's
    // (finished, taken over) or a cancel was requested (the caller then records the cancel).
    bool release(const std::string& id);
    // Shared stores: renews this worker's claim on a running job (call it every few seconds); false = lost.
    bool keep_claimed(const std::string& id);

    // Deletes jobs (and files) finished more than retention_s ago; returns how many.
    int sweep_expired();

    // Blocks until any job changes (or the timeout passes); `version` is the value last seen.
    uint64_t version() const { return version_.load(); }
    void wait_for_change(uint64_t seen_version, std::chrono::milliseconds timeout);
    void notify_all();  // wakes waiters (shutdown)

    // ---- After-finish hooks (job_store.h take_hooks; run by server/finisher.h). `consumer` names the finisher.
    std::vector<JobRecord> take_hooks(const std::string& consumer, double idle_s, int max);
    bool renew_hooks(const std::string& consumer, const std::string& id);
    bool mark_refunded(const std::string& id);
    // Stores the webhook delivery state (and wakes waiters: the status shows it); false = the job is gone.
    bool record_webhook(const std::string& id, const std::string& state_json);
    void finish_hooks(const std::string& id);

    int64_t queue_position(const std::string& id) { return store_.queue_position(id); }
    // The store, for read-only facts (/health, /metrics: reachability, live workers). Never write through it.
    JobStore& store() { return store_; }
    bool shared() const { return store_.shared(); }
    int64_t count(JobState s) { return store_.count(s); }
    const JobManagerOptions& options() const { return opts_; }
    ArtifactStore& artifacts() { return artifacts_; }

private:
    void recover();
    bool expired(const JobRecord& j, double now) const;
    void changed();
    bool fail_locked(JobRecord j, const std::string& error);

    JobStore& store_;
    ArtifactStore& artifacts_;
    JobManagerOptions opts_;
    mutable std::mutex mu_;  // serialises read-modify-write of records
    std::set<std::string> cancelling_;  // running jobs whose cancel flag is up (checked every step)
    std::atomic<uint64_t> version_{0};
    uint64_t store_counter_ = 0;  // shared stores: the change counter last seen (guarded by cv_mu_)
    std::mutex cv_mu_;
    std::condition_variable cv_;
};

}  // namespace tc::server
