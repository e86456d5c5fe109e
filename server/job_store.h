// Persistence of generation jobs: the interface the JobManager (server/jobs.h) writes through. A store only
// records; it never decides a state change (that is the JobManager's, the one module that moves a job from
// QUEUED to PROCESSING to COMPLETED | FAILED). Implementations: SQLite (server/sqlite_job_store.h).
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
};

class JobStore {
public:
    virtual ~JobStore() = default;
    virtual void create(const JobRecord& job) = 0;  // throws if the id (or idempotency key) exists
    virtual std::optional<JobRecord> get(const std::string& id) = 0;
    virtual std::optional<JobRecord> find_by_idempotency_key(const std::string& key) = 0;
    virtual void update(const JobRecord& job) = 0;   // whole record, by id
    // Atomically takes the oldest QUEUED job: state PROCESSING, started_at = now, attempts + 1.
    virtual std::optional<JobRecord> claim_next_queued(double now) = 0;
    virtual std::vector<JobRecord> list(std::optional<JobState> state = std::nullopt) = 0;
    // Deletes finished (COMPLETED/FAILED) jobs with finished_at < cutoff; returns them (to delete files).
    virtual std::vector<JobRecord> delete_finished_before(double cutoff) = 0;
    virtual int64_t count(JobState state) = 0;
    // 0-based position among QUEUED jobs (0 = next); -1 when the job is not queued.
    virtual int64_t queue_position(const std::string& id) = 0;
};

}  // namespace tc::server
