// A clean shutdown gives the running job back (job_store.h release_claim, JobManager::release, the Worker's
// stop), on both stores: SQLite (one process) and Redis (workers in other processes; a redis-server per test,
// skipped without one). What must hold: a released job is QUEUED again with its attempt given back and its
// progress cleared, and any worker can claim it at once (Redis: without waiting for --claim-idle, which these
// tests set to an hour); however often a job is interrupted by clean stops, --max-attempts never fails it;
// a release of a job that is no longer this worker's (finished, taken over, being cancelled, gone) is refused
// and changes nothing; a Worker stopped mid-job leaves the job QUEUED with its attempts as before the claim,
// and one whose cancel was requested while it stopped records the cancel.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/tensor.h"
#include "pipeline/ddim.h"
#include "redis_test_server.h"
#include "server/artifacts.h"
#include "server/engine_slot.h"
#include "server/jobs.h"
#include "server/params.h"
#include "server/redis_job_store.h"
#include "server/sqlite_job_store.h"
#include "server/worker.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using namespace tc::server;
using namespace std::chrono_literals;

// Hang guards only (CI runs these under ASan on 2 cores); no assertion depends on timing.
constexpr auto kHang = 300s;

using tc::test::TempDir;

// An engine whose run() reports one step, then holds until open() is called. poll_cancel: while holding it
// asks the worker's cancel callback (a stop or a cancel ends the run at once, as between denoising steps);
// otherwise it asks only once, after open() (the test decides what the worker has seen by then).
class HeldEngine : public tc::server::ServingEngine {
public:
    explicit HeldEngine(bool poll_cancel) : poll_cancel_(poll_cancel) {}

    tc::RequestPlan plan(const tc::Request&) const override {
        tc::RequestPlan p;
        p.width = p.height = 64;
        p.segments = 1;
        p.frames = 4;
        p.fps = 8;
        return p;
    }
    tc::Video run(const tc::Request&, const tc::ProgressFn& progress, const tc::CancelFn& cancelled) const override {
        if (progress) progress(tc::Progress{"denoise", 1, 2, 0});  // before `running`: no change after it
        {
            std::unique_lock lk(mu_);
            ++runs_;
            running_ = true;
            cv_.notify_all();
            const auto deadline = std::chrono::steady_clock::now() + kHang;
            while (!open_) {
                if (poll_cancel_ && cancelled()) {
                    running_ = false;
                    throw tc::Cancelled();
                }
                TC_CHECK(std::chrono::steady_clock::now() < deadline, "HeldEngine: never opened");
                cv_.wait_for(lk, 10ms);
            }
            running_ = false;
        }
        if (cancelled()) throw tc::Cancelled();
        tc::Video v;
        v.frames = tc::Tensor::zeros({4, 64, 64, 3}, tc::DType::U8);
        v.fps = 8;
        return v;
    }
    bool is_demo() const override { return true; }
    bool has_film() const override { return false; }
    std::vector<int64_t> allowed_max_sides() const override { return {64}; }

    void open() {
        std::lock_guard lk(mu_);
        open_ = true;
        cv_.notify_all();
    }
    // Until the n-th run() is holding (true), or the hang guard passes (false).
    bool wait_running(int n) const {
        std::unique_lock lk(mu_);
        return cv_.wait_for(lk, kHang, [&] { return runs_ >= n && running_; });
    }

private:
    const bool poll_cancel_;
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    mutable int runs_ = 0;
    mutable bool running_ = false;
    bool open_ = false;
};

// Parameters the Worker can run (no keyframes: the test engine needs none; frames_zip needs no codec).
std::string runnable_params() {
    GenerationParams p;
    p.steps = 2;
    p.output_format = "frames_zip";
    return params_to_json(p).dump();
}

// One store kind with an "API" side and a "worker" side. SQLite: one store and one manager for both (one
// process). Redis: separate connections and managers, the worker with a consumer id (as in scale-out).
// claim_idle_s is an hour: a job a test sees claimed again was claimable at once, not taken over as stale.
class ReleaseTest : public ::testing::TestWithParam<std::string> {
protected:
    static constexpr int kMaxAttempts = 2;
    static JobManagerOptions options() { return JobManagerOptions{3600, kMaxAttempts, 3600}; }

    void SetUp() override {
        if (redis()) {
            if (tc::test::redis_server_binary().empty()) GTEST_SKIP() << "redis-server is not installed";
            server_ = std::make_unique<tc::test::TestRedisServer>();
        }
        artifacts_ = std::make_unique<LocalArtifactStore>((dir_.path / "files").string());
        api_store_ = open_store("");
        api_ = std::make_unique<JobManager>(*api_store_, *artifacts_, options());
        if (redis()) {
            worker_store_ = open_store("w1");
            worker_ = std::make_unique<JobManager>(*worker_store_, *artifacts_, options());
        }
    }
    bool redis() const { return GetParam() == "redis"; }
    std::unique_ptr<JobStore> open_store(const std::string& worker_id) {
        if (!redis()) return std::make_unique<SqliteJobStore>((dir_.path / "jobs.db").string());
        RedisJobStoreOptions o;
        o.consumer = worker_id;
        return std::make_unique<RedisJobStore>(server_->url(), o);
    }
    JobManager& api() { return *api_; }
    JobManager& worker() { return redis() ? *worker_ : *api_; }
    JobStore& worker_store() { return redis() ? *worker_store_ : *api_store_; }
    // What happens between two runs of a stopped worker: SQLite, the next start of the process (a new
    // JobManager runs the start-up recovery); Redis, another worker process (another consumer) claims.
    void next_worker(const std::string& name) {
        if (redis()) {
            worker_.reset();
            worker_store_ = open_store(name);
            worker_ = std::make_unique<JobManager>(*worker_store_, *artifacts_, options());
        } else {
            api_ = std::make_unique<JobManager>(*api_store_, *artifacts_, options());
        }
    }
    RedisJobStore::StreamInfo stream() { return dynamic_cast<RedisJobStore&>(*api_store_).stream_info(); }

    void expect_given_back(const std::string& id, int attempts) {
        const auto j = api().get(id);
        ASSERT_TRUE(j);
        EXPECT_EQ(j->state, JobState::Queued);
        EXPECT_EQ(j->attempts, attempts);
        EXPECT_EQ(j->stage, "");
        EXPECT_EQ(j->step, 0);
        EXPECT_EQ(j->total_steps, 0);
        EXPECT_EQ(j->segment, -1);
        EXPECT_EQ(j->started_at, 0);
        EXPECT_EQ(j->worker, "");
        EXPECT_EQ(j->error, "");
        EXPECT_FALSE(j->hooks_pending);  // not finished: no refund, no webhook
    }

    TempDir dir_;
    std::unique_ptr<tc::test::TestRedisServer> server_;
    std::unique_ptr<LocalArtifactStore> artifacts_;
    std::unique_ptr<JobStore> api_store_, worker_store_;
    std::unique_ptr<JobManager> api_, worker_;
};

// ---- the store and the JobManager ---------------------------------------------------------------------------

using JobReleaseTest = ReleaseTest;

TEST_P(JobReleaseTest, GivesTheAttemptBackAndTheJobIsClaimableAtOnce) {
    const std::string id = api().submit("{}", "", "h").job.id;
    const auto claimed = worker().claim_next();
    ASSERT_TRUE(claimed);
    ASSERT_EQ(claimed->id, id);
    EXPECT_EQ(claimed->attempts, 1);
    worker().progress(id, "denoise", 3, 20, 0);
    if (redis()) EXPECT_EQ(stream().pending, 1);

    const uint64_t seen = worker().version(), counter = api_store_->change_counter();
    EXPECT_TRUE(worker().release(id));
    EXPECT_NE(worker().version(), seen);  // this process's waiters wake
    expect_given_back(id, 0);
    EXPECT_EQ(api().count(JobState::Queued), 1);
    EXPECT_EQ(api().count(JobState::Processing), 0);
    EXPECT_EQ(api().queue_position(id), 0);
    if (redis()) {
        EXPECT_GT(api_store_->change_counter(), counter);  // and those of other processes (they poll it)
        // Waiting for delivery again, not pending under the stopped worker: the autoscaler's lag counts it.
        const auto s = stream();
        EXPECT_EQ(s.pending, 0);
        EXPECT_EQ(s.lag, 1);
    }

    // Another worker (Redis: another consumer; claim-idle is an hour) takes it now, as its first attempt.
    next_worker("w2");
    const auto again = worker().claim_next();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->id, id);
    EXPECT_EQ(again->attempts, 1);
    EXPECT_EQ(again->state, JobState::Processing);
    if (redis()) EXPECT_EQ(again->worker, "w2");
    EXPECT_TRUE(worker().complete(id, random_hex_id() + ".zip", "application/zip", 1));
    EXPECT_EQ(api().get(id)->state, JobState::Completed);
    if (redis()) EXPECT_EQ(stream().pending, 0);
}

TEST_P(JobReleaseTest, CleanStopsNeverExhaustMaxAttempts) {
    const std::string id = api().submit("{}", "", "h").job.id;
    for (int round = 0; round < 2 * kMaxAttempts + 1; ++round) {
        next_worker("w-" + std::to_string(round));
        const auto j = worker().claim_next();
        ASSERT_TRUE(j) << "round " << round;
        EXPECT_EQ(j->id, id);
        EXPECT_EQ(j->attempts, 1) << "round " << round;
        EXPECT_TRUE(worker().release(id)) << "round " << round;
        expect_given_back(id, 0);
    }
    next_worker("w-last");
    EXPECT_EQ(api().get(id)->state, JobState::Queued);  // not FAILED by the start-up recovery
    ASSERT_TRUE(worker().claim_next());
    EXPECT_TRUE(worker().complete(id, random_hex_id() + ".zip", "application/zip", 1));
}

TEST_P(JobReleaseTest, QueuePlaceOfAReleasedJob) {
    // SQLite keeps the original order (the job was accepted before the others); a Redis stream takes entries
    // only at its end, so there it queues last.
    const std::string first = api().submit("{}", "", "h1").job.id;
    const std::string second = api().submit("{}", "", "h2").job.id;
    ASSERT_EQ(worker().claim_next()->id, first);
    EXPECT_EQ(api().queue_position(second), 0);
    ASSERT_TRUE(worker().release(first));
    const std::string next = redis() ? second : first, after = redis() ? first : second;
    EXPECT_EQ(api().queue_position(next), 0);
    EXPECT_EQ(api().queue_position(after), 1);
    ASSERT_EQ(worker().claim_next()->id, next);
    ASSERT_EQ(worker().claim_next()->id, after);
}

TEST_P(JobReleaseTest, AttemptsNeverGoBelowZero) {
    const std::string id = api().submit("{}", "", "h").job.id;
    auto j = worker().claim_next();
    ASSERT_TRUE(j);
    j->attempts = 0;  // (a record written by an older version, say)
    ASSERT_TRUE(worker_store().update(*j));
    EXPECT_TRUE(worker().release(id));
    expect_given_back(id, 0);
}

// What a release must not change: the fields a refusal could have touched.
void expect_same(const JobRecord& a, const JobRecord& b) {
    EXPECT_EQ(a.state, b.state);
    EXPECT_EQ(a.attempts, b.attempts);
    EXPECT_EQ(a.worker, b.worker);
    EXPECT_EQ(a.stage, b.stage);
    EXPECT_EQ(a.step, b.step);
    EXPECT_EQ(a.started_at, b.started_at);
    EXPECT_EQ(a.error, b.error);
    EXPECT_EQ(a.cancel_requested, b.cancel_requested);
}

TEST_P(JobReleaseTest, AJobThatIsNotOursIsRefusedAndUnchanged) {
    // Unknown id.
    EXPECT_FALSE(worker().release(random_hex_id()));

    // Never claimed (QUEUED).
    const std::string queued = api().submit("{}", "", "q").job.id;
    const JobRecord queued_before = *api().get(queued);
    EXPECT_FALSE(worker().release(queued));
    expect_same(*api().get(queued), queued_before);
    ASSERT_EQ(worker().claim_next()->id, queued);

    // Finished.
    ASSERT_TRUE(worker().complete(queued, random_hex_id() + ".zip", "application/zip", 1));
    const JobRecord done_before = *api().get(queued);
    EXPECT_FALSE(worker().release(queued));
    expect_same(*api().get(queued), done_before);

    // Cancelled while it runs: the cancel wins (the worker records it), the job is not re-queued.
    const std::string cancelled = api().submit("{}", "", "c").job.id;
    ASSERT_EQ(worker().claim_next()->id, cancelled);
    api().cancel(cancelled);
    const JobRecord cancelled_before = *api().get(cancelled);
    EXPECT_TRUE(cancelled_before.cancel_requested);
    EXPECT_FALSE(worker().release(cancelled));
    expect_same(*api().get(cancelled), cancelled_before);
    EXPECT_TRUE(worker().cancel_requested(cancelled));
    worker().fail(cancelled, "cancelled");

    if (!redis()) return;
    // Taken over by another worker (this one was presumed dead), and an API node that claims nothing.
    const std::string taken = api().submit("{}", "", "t").job.id;
    ASSERT_EQ(worker().claim_next()->id, taken);
    auto other_store = open_store("w2");
    std::this_thread::sleep_for(50ms);  // idle longer than the 1 ms below (not an assertion on time)
    const auto took = other_store->claim_stale(now_seconds(), 0.001);
    ASSERT_TRUE(took);
    ASSERT_EQ(took->id, taken);
    const JobRecord taken_before = *api().get(taken);
    EXPECT_EQ(taken_before.worker, "w2");
    EXPECT_EQ(taken_before.attempts, 2);
    EXPECT_FALSE(worker().release(taken));
    EXPECT_FALSE(api().release(taken));
    expect_same(*api().get(taken), taken_before);
    EXPECT_EQ(stream().pending, 1);  // still w2's
    EXPECT_TRUE(other_store->renew_claim(taken));
    EXPECT_TRUE(other_store->release_claim(taken));  // the owner can
    expect_given_back(taken, 1);
}

INSTANTIATE_TEST_SUITE_P(Stores, JobReleaseTest, ::testing::Values("sqlite", "redis"),
                         [](const auto& info) { return info.param; });

// ---- the Worker --------------------------------------------------------------------------------------------

using WorkerCleanStopTest = ReleaseTest;

TEST_P(WorkerCleanStopTest, StoppedMidJobLeavesItQueuedWithItsAttemptsUnchanged) {
    auto engine = std::make_shared<HeldEngine>(/*poll_cancel=*/true);
    EngineSlot slot;
    slot.set_serving_engine(engine);
    const std::string id = api().submit(runnable_params(), "", "h").job.id;
    // More clean stops than --max-attempts allows claims: none of them counts.
    for (int round = 1; round <= kMaxAttempts + 1; ++round) {
        {
            Worker w(worker(), slot, {});
            w.start();
            ASSERT_TRUE(engine->wait_running(round)) << "round " << round;
            const auto running = api().get(id);
            ASSERT_TRUE(running);
            EXPECT_EQ(running->state, JobState::Processing);
            EXPECT_EQ(running->attempts, 1);
            EXPECT_EQ(running->stage, "denoise");
            w.stop();  // (SIGTERM in `serve` and in `worker`)
            EXPECT_EQ(w.current_job(), "");
            EXPECT_EQ(w.jobs_failed(), 0u);
        }
        expect_given_back(id, 0);
        next_worker("w" + std::to_string(round + 1));  // SQLite: a restart (recovery finds nothing to count)
        expect_given_back(id, 0);
    }
    // The next worker runs it to the end, as its first attempt.
    engine->open();
    Worker w(worker(), slot, {});
    w.start();
    const auto deadline = std::chrono::steady_clock::now() + kHang;
    std::optional<JobRecord> j;
    for (;;) {
        const uint64_t seen = api().version();
        j = api().get(id);
        ASSERT_TRUE(j);
        if (j->state == JobState::Completed || j->state == JobState::Failed) break;
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the job never finished";
        api().wait_for_change(seen, 1s);
    }
    w.stop();
    EXPECT_EQ(j->state, JobState::Completed) << j->error;
    EXPECT_EQ(j->attempts, 1);
    EXPECT_TRUE(artifacts_->exists(j->output));
}

TEST_P(WorkerCleanStopTest, ACancelRequestedWhileStoppingIsRecorded) {
    // The engine asks the cancel callback only after open(): by then the worker both stops and was asked to
    // cancel, and the cancel wins (FAILED "cancelled", credits refunded by the hooks), not a re-queue.
    auto engine = std::make_shared<HeldEngine>(/*poll_cancel=*/false);
    EngineSlot slot;
    slot.set_serving_engine(engine);
    const std::string id = api().submit(runnable_params(), "", "h").job.id;
    Worker w(worker(), slot, {});
    w.start();
    ASSERT_TRUE(engine->wait_running(1));
    api().cancel(id);
    // stop() raises the stop flag and then wakes the job waiters: a change of the worker side's version (nothing
    // else changes it while the engine holds) says the flag is up.
    const uint64_t seen = worker().version();
    std::thread stopper([&] { w.stop(); });
    const auto deadline = std::chrono::steady_clock::now() + kHang;
    while (worker().version() == seen && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
    engine->open();
    stopper.join();
    const auto j = api().get(id);
    ASSERT_TRUE(j);
    EXPECT_EQ(j->state, JobState::Failed);
    EXPECT_EQ(j->error, "cancelled");
    EXPECT_EQ(j->attempts, 1);
    EXPECT_EQ(w.jobs_failed(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Stores, WorkerCleanStopTest, ::testing::Values("sqlite", "redis"),
                         [](const auto& info) { return info.param; });

}  // namespace
