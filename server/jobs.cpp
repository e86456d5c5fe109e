// Job lifecycle (see jobs.h).
#include "server/jobs.h"

#include <cstdio>

#include "core/error.h"
#include "server/http_error.h"

namespace tc::server {

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

JobManager::JobManager(JobStore& store, ArtifactStore& artifacts, JobManagerOptions opts)
    : store_(store), artifacts_(artifacts), opts_(opts) {
    recover();
}

void JobManager::recover() {
    std::lock_guard lk(mu_);
    for (JobRecord j : store_.list(JobState::Processing)) {
        if (j.attempts >= opts_.max_attempts) {
            j.state = JobState::Failed;
            j.error = "the server stopped while processing this request " + std::to_string(j.attempts) +
                      " times; giving up";
            j.finished_at = now_seconds();
        } else {
            // Nothing accepted is silently lost: the job runs again from the start.
            j.state = JobState::Queued;
            j.stage.clear();
            j.step = j.total_steps = 0;
            j.segment = -1;
        }
        store_.update(j);
    }
}

void JobManager::changed() {
    {
        std::lock_guard lk(cv_mu_);
        version_.fetch_add(1);
    }
    cv_.notify_all();
}

void JobManager::notify_all() { changed(); }

void JobManager::finished(const JobRecord& j) {
    if (!on_finished_) return;
    try {
        on_finished_(j);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "job %s: after-finish hook failed: %s\n", j.id.c_str(), e.what());
    }
}

void JobManager::wait_for_change(uint64_t seen, std::chrono::milliseconds timeout) {
    std::unique_lock lk(cv_mu_);
    cv_.wait_for(lk, timeout, [&] { return version_.load() != seen; });
}

bool JobManager::expired(const JobRecord& j, double now) const {
    return (j.state == JobState::Completed || j.state == JobState::Failed) && j.finished_at > 0 &&
           now - j.finished_at > opts_.retention_s;
}

JobManager::Submitted JobManager::submit(const std::string& params_json, const std::string& key,
                                         const std::string& body_hash) {
    std::lock_guard lk(mu_);
    if (!key.empty()) {
        if (auto prev = store_.find_by_idempotency_key(key)) {
            if (!expired(*prev, now_seconds())) {
                if (prev->body_hash != body_hash)
                    conflict("Idempotency-Key '" + key + "' was already used with a different request body");
                return {*prev, true};
            }
            // The earlier job expired: its key is free again.
            for (const auto& gone : store_.delete_finished_before(now_seconds() - opts_.retention_s))
                if (!gone.output.empty()) artifacts_.remove(gone.output);
        }
    }
    JobRecord j;
    j.id = random_hex_id();
    j.state = JobState::Queued;
    j.params = params_json;
    j.created_at = now_seconds();
    j.idempotency_key = key;
    j.body_hash = body_hash;
    store_.create(j);
    changed();
    return {j, false};
}

std::optional<JobRecord> JobManager::find_by_idempotency_key(const std::string& key) {
    if (key.empty()) return std::nullopt;
    auto j = store_.find_by_idempotency_key(key);
    if (!j || expired(*j, now_seconds())) return std::nullopt;
    return j;
}

std::optional<JobRecord> JobManager::get(const std::string& id) {
    if (!is_hex_id(id)) return std::nullopt;
    auto j = store_.get(id);
    if (!j || expired(*j, now_seconds())) return std::nullopt;
    return j;
}

JobRecord JobManager::cancel(const std::string& id) {
    std::unique_lock lk(mu_);
    auto j = is_hex_id(id) ? store_.get(id) : std::nullopt;
    if (!j || expired(*j, now_seconds())) not_found("request " + id + " not found");
    const bool was_queued = j->state == JobState::Queued;
    if (was_queued) {
        j->state = JobState::Failed;
        j->error = "cancelled";
        j->finished_at = now_seconds();
        j->cancel_requested = true;
        store_.update(*j);
    } else if (j->state == JobState::Processing) {
        j->cancel_requested = true;
        cancelling_.insert(id);
        store_.update(*j);
    }
    lk.unlock();
    changed();
    if (was_queued) finished(*j);
    return *j;
}

std::optional<JobRecord> JobManager::claim_next() {
    std::lock_guard lk(mu_);
    auto j = store_.claim_next_queued(now_seconds());
    if (j) {
        j->stage = "prepare";
        store_.update(*j);
        changed();
    }
    return j;
}

bool JobManager::cancel_requested(const std::string& id) const {
    std::lock_guard lk(mu_);
    return cancelling_.count(id) > 0;
}

void JobManager::progress(const std::string& id, const std::string& stage, int done, int total, int segment) {
    {
        std::lock_guard lk(mu_);
        auto j = store_.get(id);
        if (!j || j->state != JobState::Processing) return;
        j->stage = stage;
        j->step = done;
        j->total_steps = total;
        j->segment = segment;
        store_.update(*j);
    }
    changed();
}

void JobManager::complete(const std::string& id, const std::string& output, const std::string& mime, int64_t bytes) {
    std::optional<JobRecord> j;
    {
        std::lock_guard lk(mu_);
        j = store_.get(id);
        TC_CHECK(j && j->state == JobState::Processing, "complete(): job ", id, " is not processing");
        j->state = JobState::Completed;
        j->stage = "done";
        j->output = output;
        j->output_mime = mime;
        j->output_bytes = bytes;
        j->finished_at = now_seconds();
        cancelling_.erase(id);
        store_.update(*j);
    }
    changed();
    finished(*j);
}

void JobManager::fail(const std::string& id, const std::string& error) {
    std::optional<JobRecord> j;
    {
        std::lock_guard lk(mu_);
        j = store_.get(id);
        if (!j || j->state == JobState::Completed || j->state == JobState::Failed) {
            cancelling_.erase(id);
            return;
        }
        j->state = JobState::Failed;
        j->error = error;
        j->finished_at = now_seconds();
        cancelling_.erase(id);
        store_.update(*j);
    }
    changed();
    finished(*j);
}

int JobManager::sweep_expired() {
    std::vector<JobRecord> gone;
    {
        std::lock_guard lk(mu_);
        gone = store_.delete_finished_before(now_seconds() - opts_.retention_s);
    }
    for (const auto& j : gone)
        if (!j.output.empty()) artifacts_.remove(j.output);
    if (!gone.empty()) changed();
    return int(gone.size());
}

}  // namespace tc::server
