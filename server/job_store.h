// Persistence of generation jobs: the interface the JobManager (server/jobs.h) writes through. A store only
// records; it never decides a state change (that is the JobManager's, the one module that moves a job from
// QUEUED to PROCESSING to COMPLETED | FAILED). Implementations: SQLite (server/sqlite_job_store.h), one process;
// Redis (server/redis_job_store.h), shared by API nodes and workers in many processes (docs/scale-out.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tc::server {

// The only status words that ever reach the wire (DESIGN.md section 3).
enum class JobState { Queued, Processing, Completed, Failed };
std::string job_state_name(JobState s);  // "QUEUED", "PROCESSING", "COMPLETED", "FAILED"
JobState parse_job_state(const std::string& name);

struct JobRecord {
    std::string id;                 // 32 lowercase hex characters
    JobState state = JobState::Queued;
    std::string params;             // canonical params JSON (server/params.h params_to_json)
    double created_at = 0, started_at = 0, finished_at = 0;  // unix seconds; 0 = not yet
    int attempts = 0;               // times a worker claimed it
    std::string stage;              // engine progress stage ("denoise", ...)
    int step = 0, total_steps = 0;  // progress within the stage
    int segment = -1;
    std::string error;              // FAILED only
    std::string output;             // artifact name (server/artifacts.h), COMPLETED only
    std::string output_mime;
    int64_t output_bytes = 0;
    std::string idempotency_key;    // "" = none
    std::string body_hash;          // sha256 hex of the submitted body (idempotency comparison)
    bool cancel_requested = false;
    std::string worker;             // id of the worker that claimed it last ("" = in-process / none)
    // After-finish hooks (server/finisher.h). Store-managed: update() never writes them; the store sets
    // hooks_pending in the same atomic write that records the job COMPLETED or FAILED, and the methods below
    // change them.
    bool hooks_pending = false;     // refund / webhook not yet done
    bool refunded = false;          // the job's credits went back to its key (set at most once)
    std::string webhook;            // webhook delivery state, JSON (server/finisher.h); "" = none yet
};

// A worker's heartbeat: its id and what it reports about itself (JSON object: busy, jobs done, step times...).
struct WorkerBeat {
    std::string id;
    std::string info_json;
};

class JobStore {
public:
    virtual ~JobStore() = default;
    virtual void create(const JobRecord& job) = 0;  // throws if the id (or idempotency key) exists
    virtual std::optional<JobRecord> get(const std::string& id) = 0;
    virtual std::optional<JobRecord> find_by_idempotency_key(const std::string& key) = 0;
    // Whole record, by id. false = not written: the job is gone, or (shared stores, where other processes write
    // too) it already finished or another worker has claimed it since. A finished job is final.
    virtual bool update(const JobRecord& job) = 0;
    // Atomically takes the oldest QUEUED job: state PROCESSING, started_at = now, attempts + 1.
    virtual std::optional<JobRecord> claim_next_queued(double now) = 0;
    // Gives a claimed job back to the queue (a worker stopping cleanly): the interrupted run never failed, so
    // it must not count against --max-attempts. Atomically, and only while the job is PROCESSING, claimed by
    // this process (shared stores: by this store's worker id, which still owns the job's queue entry) and
    // without a cancel request: state QUEUED, attempts - 1 (never below 0), started_at, progress and worker
    // cleared; any worker can claim it at once. Where it queues is the store's: SQLite keeps its original
    // order (ahead of the jobs accepted after it), Redis queues it last (see redis_job_store.cpp).
    // false = nothing changed: the job is gone, finished, taken over by another worker or being cancelled.
    virtual bool release_claim(const std::string& id) = 0;
    virtual std::vector<JobRecord> list(std::optional<JobState> state = std::nullopt) = 0;
    // Deletes finished (COMPLETED/FAILED) jobs with finished_at < cutoff; returns them (to delete files).
    virtual std::vector<JobRecord> delete_finished_before(double cutoff) = 0;
    virtual int64_t count(JobState state) = 0;
    // 0-based position among QUEUED jobs (0 = next); -1 when the job is not queued.
    virtual int64_t queue_position(const std::string& id) = 0;

    // ---- The distributed case: a store that several processes share (API nodes, remote workers). The
    // defaults suit a store that one process owns (its JobManager re-queues orphans on start instead).
    virtual bool shared() const { return false; }
    // Atomically takes one job whose worker stopped renewing its claim for idle_s seconds (it died): like
    // claim_next_queued (PROCESSING, started_at = now, attempts + 1); the JobManager fails it when attempts
    // exceed its limit.
    virtual std::optional<JobRecord> claim_stale(double now, double idle_s) { return std::nullopt; }
    // Renews this process's claim on a job it runs (so a long job is not taken over); false = the claim is
    // lost (another worker took the job over, or it finished): stop working on it.
    virtual bool renew_claim(const std::string& id) { return true; }
    // The job's cancel flag as any process set it.
    virtual bool cancel_flag(const std::string& id) {
        auto j = get(id);
        return j && j->cancel_requested;
    }
    // A number that changes whenever any job changes in any process (waiters poll it); 0 = not kept.
    virtual uint64_t change_counter() { return 0; }
    // Worker liveness: a beat lives ttl_s seconds; live_workers() lists the beats still alive.
    virtual void heartbeat(const WorkerBeat& beat, double ttl_s) {}
    virtual std::vector<WorkerBeat> live_workers() { return {}; }
    // "" when the store is reachable, else why not (/health).
    virtual std::string health_error() { return ""; }
    // Human-readable kind and location for logs and /health ("sqlite", "redis://host:port/db").
    virtual std::string describe() const { return "local"; }

    // ---- The after-finish outbox (server/finisher.h): refunds and webhooks of finished jobs, run by the
    // processes that hold the key store and the webhook secrets (the server, every API node; never a worker).
    // Finishing a job (update() to COMPLETED/FAILED) marks its hooks pending in the same atomic write, so a
    // finish is never recorded without its hooks, whichever process recorded it and whenever it dies.
    // A consumer (one finisher, named) takes pending hooks and holds them while it works on them (a webhook's
    // retries may take an hour); it renews its hold, and a hold not renewed for idle_s seconds (its holder
    // died) is taken over by the next take_hooks of any consumer. Returns the taken jobs' records.
    virtual std::vector<JobRecord> take_hooks(const std::string& consumer, double now, double idle_s, int max) = 0;
    // Renews `consumer`'s hold on a job's hooks; false = not held by it any more (taken over, done, expired).
    virtual bool renew_hooks(const std::string& consumer, const std::string& id, double now) = 0;
    // Sets the job's refunded mark atomically; true = this call set it (the caller refunds now), false = it was
    // set already, or the job is gone.
    virtual bool mark_refunded(const std::string& id) = 0;
    // Stores the webhook delivery state (JSON) even though the job is final; false = the job is gone (expired).
    virtual bool set_webhook_state(const std::string& id, const std::string& state_json) = 0;
    // The job's hooks are done: no longer pending, released by their holder.
    virtual void finish_hooks(const std::string& id) = 0;
};

}  // namespace tc::server
