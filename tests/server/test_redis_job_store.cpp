// The Redis job store (server/redis_job_store.h) and the JobManager over it, against a real redis-server that
// each test starts on a free loopback port (skipped when redis-server is not installed): queue order and
// positions, claims by two workers, take-over of a dead worker's job (and giving up after max_attempts),
// claim renewal, cancel across processes, finished-is-final, expiry, heartbeats, and Redis going away and
// coming back (with AOF) without losing an accepted job. Also the URL parser and reply accessors.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <set>
#include <thread>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/artifacts.h"
#include "server/http_error.h"
#include "server/jobs.h"
#include "server/redis.h"
#include "server/redis_job_store.h"
#include "redis_test_server.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using namespace tc::server;
using namespace std::chrono_literals;

using tc::test::free_loopback_port;
using tc::test::redis_server_binary;
using RedisServer = tc::test::TestRedisServer;

using tc::test::TempDir;

JobRecord record(const std::string& id, double created, const std::string& idem = "") {
    JobRecord j;
    j.id = id;
    j.params = "{}";
    j.created_at = created;
    j.idempotency_key = idem;
    j.body_hash = "h";
    return j;
}

class RedisJobStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (redis_server_binary().empty()) GTEST_SKIP() << "redis-server is not installed";
        server_ = std::make_unique<RedisServer>((dir_.path / "redis").string(), aof_);
    }
    std::unique_ptr<RedisJobStore> store(const std::string& consumer, double retention_s = 3600) {
        RedisJobStoreOptions o;
        o.consumer = consumer;
        o.retention_s = retention_s;
        return std::make_unique<RedisJobStore>(server_->url(), o);
    }
    bool aof_ = false;
    TempDir dir_;
    std::unique_ptr<RedisServer> server_;
};

class RedisJobStoreAofTest : public RedisJobStoreTest {
protected:
    RedisJobStoreAofTest() { aof_ = true; }
};

TEST(RedisUrl, ParsesAndRejects) {
    const RedisUrl a = RedisUrl::parse("redis://10.0.0.5:6380/3");
    EXPECT_EQ(a.host, "10.0.0.5");
    EXPECT_EQ(a.port, 6380);
    EXPECT_EQ(a.db, 3);
    EXPECT_TRUE(a.password.empty());
    const RedisUrl b = RedisUrl::parse("redis://:s%40cret@redis");
    EXPECT_EQ(b.host, "redis");
    EXPECT_EQ(b.port, 6379);
    EXPECT_EQ(b.db, 0);
    EXPECT_EQ(b.password, "s@cret");
    EXPECT_EQ(b.redacted(), "redis://:***@redis:6379/0");
    const RedisUrl c = RedisUrl::parse("redis://user:pw@[::1]:7000/");
    EXPECT_EQ(c.host, "::1");
    EXPECT_EQ(c.port, 7000);
    EXPECT_EQ(c.username, "user");
    for (const char* bad : {"http://x", "redis://", "redis://h:0", "redis://h:99999", "redis://h:x", "redis://h/-1",
                            "redis://h/abc", "redis://[::1", "rediss://h"})
        EXPECT_THROW(RedisUrl::parse(bad), tc::Error) << bad;
}

TEST(RedisReply, WrongTypesThrowInsteadOfCrashing) {
    RedisReply nil;
    EXPECT_TRUE(nil.as_array().empty());
    EXPECT_THROW(nil.as_string(), RedisError);
    EXPECT_THROW(nil.as_integer(), RedisError);
    EXPECT_THROW(nil.at(0), RedisError);
    RedisReply s;
    s.type = RedisReply::Type::String;
    s.str = "12x";
    EXPECT_THROW(s.as_integer(), RedisError);
    EXPECT_THROW(s.as_array(), RedisError);
    s.str = "42";
    EXPECT_EQ(s.as_integer(), 42);
}

TEST(RedisConnection, UnreachableServerIsAnIoError) {
    RedisOptions o;
    o.connect_timeout_s = 1;
    RedisConnection c(RedisUrl::parse("redis://127.0.0.1:" + std::to_string(free_loopback_port())), o);
    try {
        c.command({"PING"});
        FAIL() << "PING to a closed port succeeded";
    } catch (const RedisError& e) {
        EXPECT_TRUE(e.io);
    }
    std::string why;
    EXPECT_FALSE(c.ping(&why));
    EXPECT_FALSE(why.empty());
}

TEST_F(RedisJobStoreTest, CreateGetUpdateQueueOrderAndExpiry) {
    auto api = store("", 60);
    auto w = store("w1", 60);
    const std::string a = random_hex_id(), b = random_hex_id(), c = random_hex_id();
    api->create(record(a, 1));
    api->create(record(b, 2));
    api->create(record(c, 3));
    EXPECT_THROW(api->create(record(a, 4)), tc::Error);
    EXPECT_EQ(api->count(JobState::Queued), 3);
    EXPECT_EQ(api->queue_position(a), 0);
    EXPECT_EQ(api->queue_position(b), 1);
    EXPECT_EQ(api->queue_position(c), 2);
    EXPECT_EQ(api->queue_position(random_hex_id()), -1);
    EXPECT_FALSE(api->get(random_hex_id()).has_value());
    EXPECT_THROW(api->claim_next_queued(1), tc::Error);  // an API node has no worker id

    auto claimed = w->claim_next_queued(10);
    ASSERT_TRUE(claimed);
    EXPECT_EQ(claimed->id, a);
    EXPECT_EQ(claimed->state, JobState::Processing);
    EXPECT_EQ(claimed->attempts, 1);
    EXPECT_EQ(claimed->worker, "w1");
    EXPECT_DOUBLE_EQ(claimed->started_at, 10);
    EXPECT_EQ(api->get(a)->state, JobState::Processing);
    EXPECT_EQ(api->queue_position(a), -1);
    EXPECT_EQ(api->queue_position(b), 0);
    EXPECT_EQ(api->queue_position(c), 1);
    EXPECT_EQ(api->count(JobState::Processing), 1);

    JobRecord j = *api->get(a);
    j.stage = "denoise";
    j.step = 3;
    j.total_steps = 10;
    EXPECT_TRUE(w->update(j));
    EXPECT_EQ(api->get(a)->step, 3);
    j.state = JobState::Completed;
    j.finished_at = 20;
    j.output = random_hex_id() + ".mp4";
    j.output_bytes = 1234;
    EXPECT_TRUE(w->update(j));
    const auto done = api->get(a);
    ASSERT_TRUE(done);
    EXPECT_EQ(done->state, JobState::Completed);
    EXPECT_EQ(done->output, j.output);
    EXPECT_EQ(done->output_bytes, 1234);
    EXPECT_EQ(api->count(JobState::Completed), 1);
    EXPECT_EQ(api->count(JobState::Processing), 0);
    // Finished is final: nobody overwrites it, not even its worker.
    j.state = JobState::Failed;
    EXPECT_FALSE(w->update(j));
    EXPECT_FALSE(api->update(j));
    EXPECT_EQ(api->get(a)->state, JobState::Completed);
    // Its hash expires after the retention, and its stream entry is gone.
    RedisConnection raw(RedisUrl::parse(server_->url()));
    const int64_t ttl = raw.command({"TTL", "tooncrafter:job:" + a}).as_integer();
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, 60);
    EXPECT_EQ(raw.command({"XLEN", "tooncrafter:queue"}).as_integer(), 2);

    const auto listed = api->list();
    ASSERT_EQ(listed.size(), 3u);
    EXPECT_EQ(listed[0].id, a);
    EXPECT_EQ(listed[2].id, c);
    EXPECT_EQ(api->list(JobState::Queued).size(), 2u);

    EXPECT_TRUE(api->delete_finished_before(15).empty());
    const auto gone = api->delete_finished_before(25);
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_EQ(gone[0].id, a);
    EXPECT_EQ(gone[0].output, j.output);
    EXPECT_FALSE(api->get(a).has_value());
    EXPECT_TRUE(w->delete_finished_before(25).empty());  // deleted once only
    EXPECT_EQ(api->count(JobState::Completed), 0);
}

TEST_F(RedisJobStoreTest, IdempotencyKeyIndex) {
    auto api = store("");
    const std::string a = random_hex_id();
    api->create(record(a, 1, "k:1"));
    ASSERT_TRUE(api->find_by_idempotency_key("k:1"));
    EXPECT_EQ(api->find_by_idempotency_key("k:1")->id, a);
    EXPECT_FALSE(api->find_by_idempotency_key("k:2"));
    EXPECT_THROW(api->create(record(random_hex_id(), 2, "k:1")), tc::Error);
    EXPECT_FALSE(api->get(random_hex_id()));
    // Finished and swept: the key is free again.
    JobRecord j = *api->get(a);
    j.state = JobState::Failed;
    j.error = "cancelled";
    j.finished_at = 5;
    EXPECT_TRUE(api->update(j));
    EXPECT_EQ(api->delete_finished_before(10).size(), 1u);
    EXPECT_FALSE(api->find_by_idempotency_key("k:1"));
    api->create(record(random_hex_id(), 11, "k:1"));
}

TEST_F(RedisJobStoreTest, TwoWorkersClaimEachJobOnce) {
    auto api = store("");
    constexpr int kJobs = 40;
    for (int i = 0; i < kJobs; ++i) api->create(record(random_hex_id(), i));
    std::vector<std::string> got[2];
    std::thread t[2];
    for (int k = 0; k < 2; ++k)
        t[k] = std::thread([&, k] {
            auto w = store("w" + std::to_string(k));
            while (auto j = w->claim_next_queued(1)) got[k].push_back(j->id);
        });
    for (auto& th : t) th.join();
    std::set<std::string> all(got[0].begin(), got[0].end());
    all.insert(got[1].begin(), got[1].end());
    EXPECT_EQ(got[0].size() + got[1].size(), size_t(kJobs));
    EXPECT_EQ(all.size(), size_t(kJobs));
    EXPECT_EQ(api->count(JobState::Processing), kJobs);
    EXPECT_EQ(api->count(JobState::Queued), 0);
}

TEST_F(RedisJobStoreTest, DeadWorkersJobIsTakenOverAndTheOldOwnerIsLockedOut) {
    auto api = store("");
    auto a = store("wa");
    auto b = store("wb");
    const std::string id = random_hex_id();
    api->create(record(id, 1));
    ASSERT_TRUE(a->claim_next_queued(2));
    EXPECT_TRUE(a->renew_claim(id));
    EXPECT_FALSE(b->claim_stale(3, 30).has_value());  // not idle long enough
    EXPECT_FALSE(b->renew_claim(id));                 // not b's
    std::this_thread::sleep_for(300ms);               // a stops renewing ("dies")
    auto taken = b->claim_stale(4, 0.1);
    ASSERT_TRUE(taken);
    EXPECT_EQ(taken->id, id);
    EXPECT_EQ(taken->attempts, 2);
    EXPECT_EQ(taken->worker, "wb");
    EXPECT_EQ(taken->state, JobState::Processing);
    // The old owner wakes up: it cannot renew, and its writes are refused.
    EXPECT_FALSE(a->renew_claim(id));
    JobRecord stale = *taken;
    stale.stage = "denoise";
    stale.step = 9;
    EXPECT_FALSE(a->update(stale));
    EXPECT_TRUE(b->update(stale));
    EXPECT_TRUE(b->renew_claim(id));
    stale.state = JobState::Completed;
    stale.finished_at = 5;
    EXPECT_FALSE(a->update(stale));
    EXPECT_TRUE(b->update(stale));
    EXPECT_EQ(api->get(id)->state, JobState::Completed);
    EXPECT_FALSE(b->claim_stale(6, 0.001).has_value());  // acked: nothing pending
}

TEST_F(RedisJobStoreTest, RenewedClaimIsNotTakenOver) {
    auto api = store("");
    auto a = store("wa");
    auto b = store("wb");
    const std::string id = random_hex_id();
    api->create(record(id, 1));
    ASSERT_TRUE(a->claim_next_queued(2));
    for (int i = 0; i < 6; ++i) {
        std::this_thread::sleep_for(100ms);
        EXPECT_TRUE(a->renew_claim(id));
        EXPECT_FALSE(b->claim_stale(3, 0.35).has_value()) << "taken over although renewed, round " << i;
    }
}

TEST_F(RedisJobStoreTest, CancelledQueuedEntryIsSkippedByWorkers) {
    auto api = store("");
    auto w = store("w");
    const std::string a = random_hex_id(), b = random_hex_id();
    api->create(record(a, 1));
    api->create(record(b, 2));
    JobRecord j = *api->get(a);
    j.state = JobState::Failed;
    j.error = "cancelled";
    j.finished_at = 3;
    j.cancel_requested = true;
    EXPECT_TRUE(api->update(j));
    EXPECT_EQ(api->queue_position(b), 0);
    auto c = w->claim_next_queued(4);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->id, b);
    EXPECT_FALSE(w->claim_next_queued(5));
    EXPECT_EQ(api->get(a)->state, JobState::Failed);
}

TEST_F(RedisJobStoreTest, CancelFlagOnlyGoesUp) {
    auto api = store("");
    auto w = store("w");
    const std::string id = random_hex_id();
    api->create(record(id, 1));
    JobRecord mine = *w->claim_next_queued(2);
    JobRecord cancel = *api->get(id);
    cancel.cancel_requested = true;
    EXPECT_TRUE(api->update(cancel));
    EXPECT_TRUE(w->cancel_flag(id));
    // The worker's next progress write carries its older copy (flag down): the flag stays up.
    mine.stage = "denoise";
    EXPECT_TRUE(w->update(mine));
    EXPECT_TRUE(w->cancel_flag(id));
    EXPECT_TRUE(api->get(id)->cancel_requested);
}

TEST_F(RedisJobStoreTest, HeartbeatsExpire) {
    auto api = store("");
    auto w = store("w1");
    EXPECT_TRUE(api->live_workers().empty());
    w->heartbeat({"w1", R"({"busy":true})"}, 0.5);
    w->heartbeat({"w2", R"({"busy":false})"}, 30);
    auto live = api->live_workers();
    ASSERT_EQ(live.size(), 2u);
    EXPECT_EQ(live[0].id, "w1");
    EXPECT_EQ(live[0].info_json, R"({"busy":true})");
    std::this_thread::sleep_for(800ms);
    live = api->live_workers();
    ASSERT_EQ(live.size(), 1u);
    EXPECT_EQ(live[0].id, "w2");
    EXPECT_EQ(api->health_error(), "");
}

TEST_F(RedisJobStoreTest, ChangeCounterMoves) {
    auto api = store("");
    const uint64_t c0 = api->change_counter();
    api->create(record(random_hex_id(), 1));
    EXPECT_NE(api->change_counter(), c0);
}

// ---- JobManager over a shared store ------------------------------------------------------------------------

TEST_F(RedisJobStoreTest, ManagerGivesUpAfterMaxAttempts) {
    TempDir files;
    LocalArtifactStore artifacts{(files.path / "files").string()};
    auto api_store = store("");
    JobManager api(*api_store, artifacts, JobManagerOptions{3600, 2, 0.1});
    const auto sub = api.submit("{}", "", "h");
    // Two workers in turn claim it and "die" (never renew nor finish).
    for (int attempt = 1; attempt <= 2; ++attempt) {
        auto s = store("w" + std::to_string(attempt));
        JobManager w(*s, artifacts, JobManagerOptions{3600, 2, 0.1});
        std::this_thread::sleep_for(200ms);
        auto j = w.claim_next();
        ASSERT_TRUE(j) << "attempt " << attempt;
        EXPECT_EQ(j->attempts, attempt);
    }
    std::this_thread::sleep_for(200ms);
    auto s3 = store("w3");
    JobManager w3(*s3, artifacts, JobManagerOptions{3600, 2, 0.1});
    EXPECT_FALSE(w3.claim_next().has_value());
    const auto j = api.get(sub.job.id);
    ASSERT_TRUE(j);
    EXPECT_EQ(j->state, JobState::Failed);
    EXPECT_NE(j->error.find("stopped 2 times"), std::string::npos) << j->error;
}

TEST_F(RedisJobStoreTest, ManagerCancelReachesTheWorkerProcess) {
    TempDir files;
    LocalArtifactStore artifacts{(files.path / "files").string()};
    auto api_store = store("");
    auto w_store = store("w");
    JobManager api(*api_store, artifacts);
    JobManager w(*w_store, artifacts);
    const std::string running = api.submit("{}", "", "h1").job.id;
    const std::string queued = api.submit("{}", "", "h2").job.id;
    ASSERT_EQ(w.claim_next()->id, running);
    EXPECT_FALSE(w.cancel_requested(running));
    const uint64_t seen = w.version();
    api.cancel(running);
    EXPECT_TRUE(w.cancel_requested(running));
    w.wait_for_change(seen, 30s);  // another process changed a job: the poll notices (30 s only stops a hang)
    EXPECT_NE(w.version(), seen);
    w.fail(running, "cancelled");
    EXPECT_EQ(api.get(running)->error, "cancelled");
    // A queued job is failed at once and never reaches a worker.
    EXPECT_EQ(api.cancel(queued).state, JobState::Failed);
    EXPECT_FALSE(w.claim_next().has_value());
    // Idempotent submits across API nodes: the second node replays the first node's job.
    auto api2_store = store("");
    JobManager api2(*api2_store, artifacts);
    const auto first = api.submit("{}", "key", "same");
    const auto again = api2.submit("{}", "key", "same");
    EXPECT_TRUE(again.replayed);
    EXPECT_EQ(again.job.id, first.job.id);
    EXPECT_THROW(api2.submit("{}", "key", "other"), HttpError);
    // complete() of a job another worker took over is refused (false), not recorded.
    auto w2_store = store("w2");
    JobManager w2(*w2_store, artifacts, JobManagerOptions{3600, 3, 0.1});
    const auto mine = w.claim_next();
    ASSERT_TRUE(mine);
    std::this_thread::sleep_for(200ms);
    const auto taken = w2.claim_next();
    ASSERT_TRUE(taken);
    EXPECT_EQ(taken->id, mine->id);
    EXPECT_FALSE(w.keep_claimed(mine->id));
    EXPECT_FALSE(w.complete(mine->id, random_hex_id() + ".mp4", "video/mp4", 1));
    EXPECT_TRUE(w2.complete(mine->id, random_hex_id() + ".mp4", "video/mp4", 1));
    EXPECT_EQ(api.get(mine->id)->worker, "w2");
}

TEST_F(RedisJobStoreTest, RedisDownIsA503AndRecoversAfterRestart) {
    auto api = store("");
    const std::string id = random_hex_id();
    api->create(record(id, 1));
    server_->stop();
    try {
        api->get(id);
        FAIL() << "get() with Redis down succeeded";
    } catch (const HttpError& e) {
        EXPECT_EQ(e.status, 503);
    }
    EXPECT_NE(api->health_error(), "");
    server_->start();
    // Without persistence the data is gone, but the store reconnects and recreates its stream and group.
    EXPECT_EQ(api->health_error(), "");
    EXPECT_FALSE(api->get(id).has_value());
    auto w = store("w");
    api->create(record(random_hex_id(), 2));
    EXPECT_TRUE(w->claim_next_queued(3).has_value());
}

TEST_F(RedisJobStoreAofTest, AcceptedJobsSurviveARedisRestartWithAof) {
    auto api = store("");
    auto w = store("w");
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        ids.push_back(random_hex_id());
        api->create(record(ids.back(), i));
    }
    ASSERT_TRUE(w->claim_next_queued(10));  // one running when Redis goes away
    server_->stop();
    server_->start();
    EXPECT_EQ(api->count(JobState::Queued), 4);
    EXPECT_EQ(api->count(JobState::Processing), 1);
    EXPECT_EQ(api->queue_position(ids[1]), 0);
    int claimed = 0;
    while (w->claim_next_queued(11)) ++claimed;
    EXPECT_EQ(claimed, 4);
    // The one that was running is still pending for its worker (or a take-over).
    EXPECT_TRUE(w->renew_claim(ids[0]));
}

}  // namespace
