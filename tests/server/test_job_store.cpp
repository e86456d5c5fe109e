// The SQLite job store (server/sqlite_job_store.h) and the JobManager's lifecycle rules (server/jobs.h):
// queue order, claim, retention, cancel, idempotency, restart recovery. No engine involved.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "server/artifacts.h"
#include "server/http_error.h"
#include "server/jobs.h"
#include "server/sqlite_job_store.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using namespace tc::server;

using tc::test::TempDir;

JobRecord record(const std::string& id, double created) {
    JobRecord j;
    j.id = id;
    j.params = "{}";
    j.created_at = created;
    return j;
}

TEST(SqliteJobStore, CreateGetUpdateAndQueueOrder) {
    TempDir d;
    SqliteJobStore s((d.path / "jobs.db").string());
    const std::string a = random_hex_id(), b = random_hex_id(), c = random_hex_id();
    s.create(record(b, 2));
    s.create(record(a, 1));
    s.create(record(c, 3));
    EXPECT_THROW(s.create(record(a, 4)), tc::Error);
    EXPECT_EQ(s.count(JobState::Queued), 3);
    EXPECT_EQ(s.queue_position(a), 0);
    EXPECT_EQ(s.queue_position(b), 1);
    EXPECT_EQ(s.queue_position(c), 2);
    EXPECT_FALSE(s.get(random_hex_id()).has_value());

    auto claimed = s.claim_next_queued(10);
    ASSERT_TRUE(claimed);
    EXPECT_EQ(claimed->id, a);
    EXPECT_EQ(claimed->state, JobState::Processing);
    EXPECT_EQ(claimed->attempts, 1);
    EXPECT_EQ(s.get(a)->state, JobState::Processing);
    EXPECT_EQ(s.queue_position(a), -1);
    EXPECT_EQ(s.queue_position(b), 0);

    JobRecord j = *s.get(a);
    j.state = JobState::Completed;
    j.finished_at = 20;
    j.output = "x.mp4";
    j.error = "";
    s.update(j);
    EXPECT_EQ(s.get(a)->output, "x.mp4");
    EXPECT_EQ(s.list(JobState::Completed).size(), 1u);
    EXPECT_EQ(s.list().size(), 3u);

    EXPECT_TRUE(s.delete_finished_before(15).empty());
    EXPECT_EQ(s.delete_finished_before(25).size(), 1u);
    EXPECT_FALSE(s.get(a).has_value());
}

TEST(SqliteJobStore, PersistsAcrossReopenWithSchemaVersion) {
    TempDir d;
    const std::string path = (d.path / "jobs.db").string();
    const std::string id = random_hex_id();
    {
        SqliteJobStore s(path);
        JobRecord j = record(id, 1);
        j.idempotency_key = "k";
        s.create(j);
    }
    SqliteJobStore s(path);
    ASSERT_TRUE(s.get(id));
    EXPECT_EQ(s.find_by_idempotency_key("k")->id, id);
    EXPECT_FALSE(s.find_by_idempotency_key("other"));
}

TEST(SqliteJobStore, ConcurrentClaimsTakeEachJobOnce) {
    TempDir d;
    SqliteJobStore s((d.path / "jobs.db").string());
    for (int i = 0; i < 40; ++i) s.create(record(random_hex_id(), i));
    std::atomic<int> claimed{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
        ts.emplace_back([&] {
            while (s.claim_next_queued(1)) ++claimed;
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(claimed.load(), 40);
    for (const auto& j : s.list()) EXPECT_EQ(j.attempts, 1);
}

struct Manager {
    TempDir d;
    SqliteJobStore store{(d.path / "jobs.db").string()};
    LocalArtifactStore artifacts{(d.path / "files").string()};
};

TEST(JobManager, LifecycleAndProgress) {
    Manager m;
    JobManager jm(m.store, m.artifacts);
    const auto s = jm.submit("{}", "", "h");
    EXPECT_FALSE(s.replayed);
    EXPECT_EQ(s.job.state, JobState::Queued);
    EXPECT_TRUE(is_hex_id(s.job.id));
    auto j = jm.claim_next();
    ASSERT_TRUE(j);
    EXPECT_FALSE(jm.claim_next());
    jm.progress(j->id, "denoise", 3, 20, 0);
    EXPECT_EQ(jm.get(j->id)->step, 3);
    EXPECT_EQ(jm.get(j->id)->total_steps, 20);
    const std::string name = m.artifacts.new_name(".mp4");
    std::ofstream(m.artifacts.path(name)) << "x";
    jm.complete(j->id, name, "video/mp4", 1);
    EXPECT_EQ(jm.get(j->id)->state, JobState::Completed);
    EXPECT_EQ(jm.get(j->id)->output, name);
    EXPECT_FALSE(jm.get("../etc/passwd"));
}

TEST(JobManager, CancelQueuedFailsAtOnceCancelRunningRaisesTheFlag) {
    Manager m;
    JobManager jm(m.store, m.artifacts);
    const std::string running = jm.submit("{}", "", "").job.id;
    const std::string queued = jm.submit("{}", "", "").job.id;
    ASSERT_EQ(jm.claim_next()->id, running);
    EXPECT_EQ(jm.queue_position(queued), 0);
    jm.cancel(queued);
    EXPECT_EQ(jm.get(queued)->state, JobState::Failed);
    EXPECT_EQ(jm.get(queued)->error, "cancelled");
    EXPECT_FALSE(jm.cancel_requested(running));
    jm.cancel(running);
    EXPECT_TRUE(jm.cancel_requested(running));
    EXPECT_EQ(jm.get(running)->state, JobState::Processing);
    jm.fail(running, "cancelled");
    EXPECT_EQ(jm.get(running)->error, "cancelled");
    EXPECT_FALSE(jm.cancel_requested(running));
    try {
        jm.cancel(random_hex_id());
        FAIL();
    } catch (const HttpError& e) {
        EXPECT_EQ(e.status, 404);
    }
}

TEST(JobManager, RetentionExpiresJobsAndFiles) {
    Manager m;
    JobManager jm(m.store, m.artifacts, JobManagerOptions{0.3, 3});
    const std::string id = jm.submit("{}", "", "").job.id;
    jm.claim_next();
    const std::string name = m.artifacts.new_name(".mp4");
    std::ofstream(m.artifacts.path(name)) << "x";
    jm.complete(id, name, "video/mp4", 1);
    EXPECT_TRUE(jm.get(id));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_FALSE(jm.get(id));  // hidden even before the sweep
    EXPECT_EQ(jm.sweep_expired(), 1);
    EXPECT_FALSE(m.artifacts.exists(name));
    EXPECT_FALSE(m.store.get(id));
}

TEST(JobManager, IdempotencyReplaysSameBodyAndRejectsAnother) {
    Manager m;
    JobManager jm(m.store, m.artifacts);
    const auto first = jm.submit("{}", "key-1", "hash-a");
    const auto again = jm.submit("{}", "key-1", "hash-a");
    EXPECT_TRUE(again.replayed);
    EXPECT_EQ(again.job.id, first.job.id);
    try {
        jm.submit("{}", "key-1", "hash-b");
        FAIL();
    } catch (const HttpError& e) {
        EXPECT_EQ(e.status, 409);
    }
    EXPECT_NE(jm.submit("{}", "key-2", "hash-b").job.id, first.job.id);
}

TEST(JobManager, RestartRequeuesProcessingJobsAndGivesUpAfterMaxAttempts) {
    Manager m;
    // A process died while these ran: one on its first attempt, one on its third.
    JobRecord a = record(random_hex_id(), 1);
    a.state = JobState::Processing;
    a.attempts = 1;
    a.stage = "denoise";
    a.step = 5;
    m.store.create(a);
    JobRecord b = record(random_hex_id(), 2);
    b.state = JobState::Processing;
    b.attempts = 3;
    m.store.create(b);

    JobManager jm(m.store, m.artifacts, JobManagerOptions{3600, 3});
    EXPECT_EQ(jm.get(a.id)->state, JobState::Queued);
    EXPECT_EQ(jm.get(a.id)->step, 0);
    EXPECT_EQ(jm.get(b.id)->state, JobState::Failed);
    EXPECT_NE(jm.get(b.id)->error.find("3 times"), std::string::npos);
    auto again = jm.claim_next();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->id, a.id);
    EXPECT_EQ(again->attempts, 2);
}

TEST(Artifacts, NamesAreUnguessableAndValidated) {
    TempDir d;
    LocalArtifactStore s((d.path / "files").string());
    const std::string n = s.new_name(".mp4");
    EXPECT_EQ(n.size(), 36u);
    EXPECT_TRUE(ArtifactStore::valid_name(n));
    EXPECT_NE(n, s.new_name(".mp4"));
    for (const char* bad : {"../etc/passwd", "x.mp4", "", "0123456789abcdef0123456789abcdef.sh",
                            "0123456789abcdef0123456789abcdef/../x.mp4", "0123456789ABCDEF0123456789abcdef.mp4"})
        EXPECT_FALSE(ArtifactStore::valid_name(bad)) << bad;
    EXPECT_THROW(s.path("../etc/passwd"), HttpError);
}

}  // namespace
