// Job lifecycle (see jobs.h).
#include "server/jobs.h"

#include <algorithm>
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
    // A shared store's PROCESSING jobs belong to live workers in other processes; a dead worker's job is taken
    // over by claim_next() once its claim went stale.
    if (store_.shared()) return;
    // A clean stop gave its job back (release()); what is still PROCESSING here was running at a crash (or
    // the release itself failed): that run counts as an attempt.
    std::lock_guard lk(mu_);
    for (JobRecord j : store_.list(JobState::Processing)) {
        if (j.attempts >= opts_.max_attempts) {
            j.state = JobState::Failed;
            j.error = "the server stopped while processing this request " + std::to_string(j.attempts) +
                      " times; giving up";
            j.finished_at = now_seconds();  // (the update marks its hooks pending: refund, webhook)
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

std::vector<JobRecord> JobManager::take_hooks(const std::string& consumer, double idle_s, int max) {
    return store_.take_hooks(consumer, now_seconds(), idle_s, max);
}

bool JobManager::renew_hooks(const std::string& consumer, const std::string& id) {
    return store_.renew_hooks(consumer, id, now_seconds());
}

bool JobManager::mark_refunded(const std::string& id) { return store_.mark_refunded(id); }

bool JobManager::record_webhook(const std::string& id, const std::string& state_json) {
    const bool ok = store_.set_webhook_state(id, state_json);
    if (ok) changed();
    return ok;
}

void JobManager::finish_hooks(const std::string& id) {
    store_.finish_hooks(id);
    changed();
}

void JobManager::wait_for_change(uint64_t seen, std::chrono::milliseconds timeout) {
    std::unique_lock lk(cv_mu_);
    if (!store_.shared()) {
        cv_.wait_for(lk, timeout, [&] { return version_.load() != seen; });
        return;
    }
    // Other processes change jobs too: besides local notifications, poll the store's change counter.
    constexpr auto kPoll = std::chrono::milliseconds(250);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (version_.load() == seen) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return;
        const auto slice = std::min<std::chrono::steady_clock::duration>(deadline - now, kPoll);
        if (cv_.wait_for(lk, slice, [&] { return version_.load() != seen; })) return;
        lk.unlock();
        uint64_t c = store_counter_;
        try {
            c = store_.change_counter();
        } catch (const std::exception&) {
            // Unreachable store: keep waiting; the caller's next read reports the error.
        }
        lk.lock();
        if (c != store_counter_) {
            store_counter_ = c;
            version_.fetch_add(1);
            cv_.notify_all();
            return;
        }
    }
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
    try {
        store_.create(j);
    } catch (const std::exception&) {
        // Another process (or thread of a shared store) created a job with this key meanwhile: replay it.
        if (key.empty()) throw;
        auto prev = store_.find_by_idempotency_key(key);
        if (!prev) throw;
        if (prev->body_hash != body_hash)
            conflict("Idempotency-Key '" + key + "' was already used with a different request body");
        return {*prev, true};
    }
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
    bool finished_now = false;
    if (j->state == JobState::Queued) {
        j->state = JobState::Failed;
        j->error = "cancelled";
        j->finished_at = now_seconds();
        j->cancel_requested = true;
        finished_now = store_.update(*j);
    } else if (j->state == JobState::Processing) {
        j->cancel_requested = true;
        cancelling_.insert(id);
        store_.update(*j);
    }
    // A shared store may have refused the write (a worker claimed or finished the job meanwhile): answer what
    // the store holds; a worker that claimed it reads the cancel flag.
    if (store_.shared() && !finished_now)
        if (auto now = store_.get(id)) {
            if (now->state == JobState::Processing && !now->cancel_requested) {
                now->cancel_requested = true;
                store_.update(*now);
            }
            j = now;
        }
    lk.unlock();
    changed();
    return *j;
}

bool JobManager::fail_locked(JobRecord j, const std::string& error) {
    j.state = JobState::Failed;
    j.error = error;
    j.finished_at = now_seconds();
    cancelling_.erase(j.id);
    return store_.update(j);
}

std::optional<JobRecord> JobManager::claim_next() {
    std::optional<JobRecord> j;
    bool gave_up = false;
    {
        std::lock_guard lk(mu_);
        const double now = now_seconds();
        // A dead worker's job first (it has waited longest); one that keeps killing workers is given up on.
        for (int i = 0; i < 16 && store_.shared() && !j; ++i) {
            auto stale = store_.claim_stale(now, opts_.claim_idle_s);
            if (!stale) break;
            if (stale->attempts > opts_.max_attempts) {
                gave_up |= fail_locked(*stale, "the worker processing this request stopped " +
                                                   std::to_string(stale->attempts - 1) + " times; giving up");
                continue;
            }
            std::fprintf(stderr, "job %s: taken over from a worker that stopped (attempt %d of %d)\n",
                         stale->id.c_str(), stale->attempts, opts_.max_attempts);
            j = stale;
        }
        if (!j) j = store_.claim_next_queued(now);
        if (j) {
            j->stage = "prepare";
            j->step = j->total_steps = 0;
            j->segment = -1;
            store_.update(*j);
        }
    }
    if (j || gave_up) changed();
    return j;
}

bool JobManager::cancel_requested(const std::string& id) const {
    if (store_.shared()) {
        // Another process (an API node) raises the flag: read it from the store. A store that is briefly
        // unreachable must not fail the running job: the next step asks again.
        try {
            return store_.cancel_flag(id);
        } catch (const std::exception&) {
            return false;
        }
    }
    std::lock_guard lk(mu_);
    return cancelling_.count(id) > 0;
}

bool JobManager::keep_claimed(const std::string& id) { return store_.renew_claim(id); }

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

bool JobManager::complete(const std::string& id, const std::string& output, const std::string& mime, int64_t bytes) {
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
        if (!store_.update(*j)) return false;
    }
    changed();
    return true;
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
        if (!store_.update(*j)) return;
    }
    changed();
}

bool JobManager::release(const std::string& id) {
    {
        // Serialised with cancel(): a cancel that came first makes the store refuse (the worker records the
        // cancel); one that comes after finds the job QUEUED and fails it at once.
        std::lock_guard lk(mu_);
        if (!store_.release_claim(id)) return false;
        cancelling_.erase(id);
    }
    changed();
    return true;
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
