// The after-finish outbox (server/job_store.h take_hooks ..., server/finisher.h), on both stores: SQLite (one
// process) and Redis (API nodes and workers in many processes; a redis-server per test, skipped without one).
// What must hold: every way of finishing a job marks its hooks pending in the same write; a finisher takes each
// pending hook once; a hold that is not renewed (its finisher died) is taken over, a renewed one is not; the
// refund is paid at most once even when the hooks are taken over; the webhook delivery log is stored in the job
// record (get() shows it), the same webhook-id is used on every attempt, in every process; retries resume
// where they stood in another finisher; expired jobs take their hook state with them.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "redis_test_server.h"
#include "server/artifacts.h"
#include "server/auth.h"
#include "server/finisher.h"
#include "server/jobs.h"
#include "server/redis.h"
#include "server/redis_job_store.h"
#include "server/sqlite_job_store.h"
#include "server/webhooks.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using namespace tc::server;
using namespace std::chrono_literals;
using json = nlohmann::json;

using tc::test::TempDir;

// Until pred() holds; the limit only stops a hang (ASan on 2 cores is slow).
bool eventually(const std::function<bool()>& pred, std::chrono::seconds limit = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(20ms);
    }
    return pred();
}

FetchPolicy loopback_policy() {
    FetchPolicy p;
    p.allow_private.push_back(Cidr::parse("127.0.0.1/32"));
    p.connect_timeout_ms = 2000;
    p.total_timeout_ms = 5000;
    return p;
}

// A webhook receiver on loopback that answers 500 to the first `fail_first` deliveries, then 204.
class Receiver {
public:
    struct Hit {
        std::string id, timestamp, signature, body;
    };
    explicit Receiver(int fail_first) : fail_first_(fail_first) {
        svr_.Post("/hook", [this](const httplib::Request& q, httplib::Response& r) {
            std::lock_guard lk(mu_);
            hits_.push_back({q.get_header_value("webhook-id"), q.get_header_value("webhook-timestamp"),
                             q.get_header_value("webhook-signature"), q.body});
            r.status = int(hits_.size()) <= fail_first_ ? 500 : 204;
        });
        port_ = svr_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { svr_.listen_after_bind(); });
        for (int i = 0; i < 2000 && !svr_.is_running(); ++i) std::this_thread::sleep_for(1ms);
    }
    ~Receiver() {
        svr_.stop();
        if (thread_.joinable()) thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook?token=s3cr3t"; }
    std::vector<Hit> hits() {
        std::lock_guard lk(mu_);
        return hits_;
    }

private:
    int fail_first_;
    int port_ = 0;
    httplib::Server svr_;
    std::thread thread_;
    std::mutex mu_;
    std::vector<Hit> hits_;
};

// One store kind with an "API" side and a "worker" side. SQLite: one store and one manager for both (one
// process). Redis: separate connections and managers, the worker with a consumer id (as in scale-out).
class OutboxTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (redis()) {
            if (tc::test::redis_server_binary().empty()) GTEST_SKIP() << "redis-server is not installed";
            server_ = std::make_unique<tc::test::TestRedisServer>();
        }
        artifacts_ = std::make_unique<LocalArtifactStore>((dir_.path / "files").string());
        api_store_ = open_store("");
        api_ = std::make_unique<JobManager>(*api_store_, *artifacts_, JobManagerOptions{3600, 2, 0.2});
        if (redis()) {
            worker_store_ = open_store("w1");
            worker_mgr_ = std::make_unique<JobManager>(*worker_store_, *artifacts_, JobManagerOptions{3600, 2, 0.2});
        }
    }
    bool redis() const { return GetParam() == "redis"; }
    std::unique_ptr<JobStore> open_store(const std::string& worker_id) {
        if (!redis()) return std::make_unique<SqliteJobStore>((dir_.path / "jobs.db").string());
        RedisJobStoreOptions o;
        o.consumer = worker_id;
        return std::make_unique<RedisJobStore>(server_->url(), o);
    }
    // Another handle on the API side: a second connection (Redis: another API node's view).
    JobStore& api_store() { return *api_store_; }
    JobManager& api() { return *api_; }
    JobManager& worker() { return redis() ? *worker_mgr_ : *api_; }

    // A job through the queue: submitted on the API side, claimed on the worker side, then failed there.
    std::string failed_job(const json& params = json::object(), const std::string& error = "boom") {
        const std::string id = api().submit(params.dump(), "", "h").job.id;
        auto j = worker().claim_next();
        EXPECT_TRUE(j && j->id == id);
        worker().fail(id, error);
        return id;
    }
    std::string completed_job(const json& params = json::object()) {
        const std::string id = api().submit(params.dump(), "", "h").job.id;
        auto j = worker().claim_next();
        EXPECT_TRUE(j && j->id == id);
        EXPECT_TRUE(worker().complete(id, random_hex_id() + ".mp4", "video/mp4", 1));
        return id;
    }
    std::unique_ptr<Finisher> finisher(const std::string& name, KeyStore* keys, std::vector<double> backoff,
                                       double claim_idle_s = 60) {
        FinisherOptions o;
        o.consumer = name;
        o.claim_idle_s = claim_idle_s;
        o.poll_s = 0.05;
        o.policy = loopback_policy();
        o.backoff_s = std::move(backoff);
        o.server_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        return std::make_unique<Finisher>(api(), keys, [](const JobRecord& j) { return "http://x/files/" + j.output; },
                                          o);
    }

    TempDir dir_;
    std::unique_ptr<tc::test::TestRedisServer> server_;
    std::unique_ptr<LocalArtifactStore> artifacts_;
    std::unique_ptr<JobStore> api_store_, worker_store_;
    std::unique_ptr<JobManager> api_, worker_mgr_;
};

std::set<std::string> ids_of(const std::vector<JobRecord>& v) {
    std::set<std::string> s;
    for (const auto& j : v) s.insert(j.id);
    return s;
}

TEST_P(OutboxTest, EveryWayOfFinishingMarksTheHooksPending) {
    const std::string failed = failed_job();        // fail() on the worker side
    const std::string completed = completed_job();  // complete() on the worker side
    // Progress of a running job is no finish, nor is a queued job.
    const std::string running = api().submit("{}", "", "r").job.id;
    ASSERT_EQ(worker().claim_next()->id, running);
    worker().progress(running, "denoise", 1, 2, 0);
    const std::string cancelled = api().submit("{}", "", "c").job.id;
    api().cancel(cancelled);  // not claimed yet: FAILED at once, by the API side
    const std::string queued = api().submit("{}", "", "q").job.id;
    for (const auto& id : {failed, completed, cancelled}) {
        const auto j = api_store().get(id);
        ASSERT_TRUE(j);
        EXPECT_TRUE(j->state == JobState::Completed || j->state == JobState::Failed);
        EXPECT_TRUE(j->hooks_pending) << id;
        EXPECT_FALSE(j->refunded);
        EXPECT_EQ(j->webhook, "");
    }
    EXPECT_FALSE(api_store().get(queued)->hooks_pending);
    EXPECT_FALSE(api_store().get(running)->hooks_pending);
    EXPECT_EQ(ids_of(api().take_hooks("api-1", 60, 100)), (std::set<std::string>{failed, completed, cancelled}));
    if (redis()) {
        tc::server::RedisConnection raw(RedisUrl::parse(server_->url()));
        EXPECT_EQ(raw.command({"XLEN", "tooncrafter:hooks"}).as_integer(), 3);
    }
}

TEST_P(OutboxTest, GivingUpOnAJobMarksItsHooksPendingToo) {
    if (redis()) {
        // A job whose workers keep dying: the claim after max_attempts (2) fails it, in a worker process.
        const std::string id = api().submit("{}", "", "h").job.id;
        for (int attempt = 1; attempt <= 2; ++attempt) {
            auto s = open_store("dead" + std::to_string(attempt));
            JobManager w(*s, *artifacts_, JobManagerOptions{3600, 2, 0.1});
            std::this_thread::sleep_for(200ms);
            ASSERT_TRUE(w.claim_next());
        }
        std::this_thread::sleep_for(200ms);
        auto s = open_store("w3");
        JobManager w3(*s, *artifacts_, JobManagerOptions{3600, 2, 0.1});
        EXPECT_FALSE(w3.claim_next());
        const auto j = api_store().get(id);
        EXPECT_EQ(j->state, JobState::Failed);
        EXPECT_TRUE(j->hooks_pending);
    } else {
        // The restart recovery gives up on a job left PROCESSING after max_attempts claims.
        JobRecord j;
        j.id = random_hex_id();
        j.params = "{}";
        j.state = JobState::Processing;
        j.attempts = 2;
        api_store().create(j);
        JobManager restarted(api_store(), *artifacts_, JobManagerOptions{3600, 2});
        const auto after = api_store().get(j.id);
        EXPECT_EQ(after->state, JobState::Failed);
        EXPECT_TRUE(after->hooks_pending);
    }
}

TEST_P(OutboxTest, EachPendingHookIsTakenOnceAndDoneIsDone) {
    std::set<std::string> ids;
    for (int i = 0; i < 6; ++i) ids.insert(failed_job());
    std::set<std::string> got;
    if (redis()) {
        // Two API nodes at once: each entry goes to one of them.
        auto other = open_store("");
        std::vector<JobRecord> a, b;
        std::thread t([&] { b = other->take_hooks("api-b", now_seconds(), 60, 100); });
        a = api_store().take_hooks("api-a", now_seconds(), 60, 100);
        t.join();
        const auto sa = ids_of(a), sb = ids_of(b);
        for (const auto& id : sa) EXPECT_EQ(sb.count(id), 0u) << id << " taken twice";
        got.insert(sa.begin(), sa.end());
        got.insert(sb.begin(), sb.end());
        EXPECT_TRUE(other->take_hooks("api-b", now_seconds(), 60, 100).empty());
    } else {
        got = ids_of(api().take_hooks("api-a", 60, 100));
    }
    EXPECT_EQ(got, ids);
    EXPECT_TRUE(api().take_hooks("api-a", 60, 100).empty());  // held (fresh): not taken again
    for (const auto& id : ids) api().finish_hooks(id);
    for (const auto& id : ids) EXPECT_FALSE(api_store().get(id)->hooks_pending);
    EXPECT_TRUE(api().take_hooks("api-a", 0.001, 100).empty());  // done is done, however stale
    EXPECT_TRUE(api().take_hooks("api-c", 0.001, 100).empty());
}

TEST_P(OutboxTest, AHoldNotRenewedIsTakenOverARenewedOneIsNot) {
    const std::string id = failed_job();
    ASSERT_EQ(ids_of(api().take_hooks("api-a", 60, 10)), std::set<std::string>{id});
    if (redis()) {
        // Another node: nothing while api-a renews its hold; then api-a "dies" and its hold goes stale.
        for (int i = 0; i < 4; ++i) {
            std::this_thread::sleep_for(100ms);
            EXPECT_TRUE(api().renew_hooks("api-a", id));
            EXPECT_TRUE(api().take_hooks("api-b", 0.35, 10).empty()) << "taken although renewed, round " << i;
        }
        EXPECT_FALSE(api().renew_hooks("api-b", id));  // not b's
        std::this_thread::sleep_for(400ms);
    }
    // SQLite: another consumer name is a later process on this file (one process owns it): taken at once.
    ASSERT_EQ(ids_of(api().take_hooks("api-b", 0.35, 10)), std::set<std::string>{id});
    EXPECT_FALSE(api().renew_hooks("api-a", id));  // the old holder learns it lost the hold
    EXPECT_TRUE(api().renew_hooks("api-b", id));
    // This consumer's own hold, not renewed, is taken again by itself too (a hook it lost track of).
    std::this_thread::sleep_for(400ms);
    EXPECT_EQ(ids_of(api().take_hooks("api-b", 0.35, 10)), std::set<std::string>{id});
    api().finish_hooks(id);
    EXPECT_FALSE(api().renew_hooks("api-b", id));
}

TEST_P(OutboxTest, RefundedMarkIsSetOnceAndWebhookStateIsWrittenOnAFinalJob) {
    const std::string id = failed_job();
    EXPECT_TRUE(api().mark_refunded(id));
    EXPECT_FALSE(api().mark_refunded(id));
    EXPECT_TRUE(api_store().get(id)->refunded);
    EXPECT_FALSE(api().mark_refunded(random_hex_id()));  // no such job: nothing created
    EXPECT_FALSE(api_store().get(random_hex_id()));
    EXPECT_TRUE(api().record_webhook(id, R"({"state":"pending","deliveries":[]})"));
    EXPECT_EQ(api_store().get(id)->webhook, R"({"state":"pending","deliveries":[]})");
    EXPECT_FALSE(api().record_webhook(random_hex_id(), "{}"));
    // A late write of the whole record (a worker's stale copy) leaves the hook fields alone.
    JobRecord stale = *api_store().get(id);
    stale.refunded = false;
    stale.webhook = "";
    stale.hooks_pending = false;
    api_store().update(stale);
    EXPECT_TRUE(api_store().get(id)->refunded);
    EXPECT_TRUE(api_store().get(id)->hooks_pending);
    EXPECT_NE(api_store().get(id)->webhook, "");
}

TEST_P(OutboxTest, ExpiredJobsTakeTheirHookStateWithThem) {
    const std::string id = failed_job();
    api().record_webhook(id, R"({"state":"pending"})");
    ASSERT_EQ(api_store().delete_finished_before(now_seconds() + 10).size(), 1u);
    EXPECT_FALSE(api_store().get(id));
    EXPECT_FALSE(api().record_webhook(id, "{}"));  // a webhook still retrying stops here
    EXPECT_FALSE(api().mark_refunded(id));
    EXPECT_FALSE(api().renew_hooks("api-a", id));
    EXPECT_TRUE(api().take_hooks("api-z", 0.001, 10).empty());
    if (redis()) {
        tc::server::RedisConnection raw(RedisUrl::parse(server_->url()));
        EXPECT_EQ(raw.command({"XLEN", "tooncrafter:hooks"}).as_integer(), 0);
        EXPECT_EQ(raw.command({"EXISTS", "tooncrafter:job:" + id}).as_integer(), 0);
    }
}

TEST_P(OutboxTest, FinisherRefundsOnceAndStoresTheDeliveryLog) {
    Receiver rx(2);  // fails twice, then accepts
    auto keys = KeyStore::open((dir_.path / "keys.db").string());
    KeyInfo key;
    keys->create_key("k", 10, &key);
    const std::string failed = failed_job(json{{"key_id", key.id}, {"price", 3}, {"webhook", rx.url()}}, "it broke");
    const std::string done = completed_job(json{{"key_id", key.id}, {"price", 3}});  // no refund, no webhook
    const std::string filtered =
        failed_job(json{{"webhook", rx.url()}, {"webhook_events_filter", json::array({"completed"})}});
    auto f = finisher("api-a", keys.get(), {0.05, 0.05, 0.05});
    f->start();
    ASSERT_TRUE(eventually([&] { return !api_store().get(failed)->hooks_pending; }));
    EXPECT_TRUE(eventually([&] { return !api_store().get(done)->hooks_pending && !api_store().get(filtered)->hooks_pending; }));
    EXPECT_EQ(keys->credits(key.id), 13);  // refunded once, for the failed job only
    const JobRecord j = *api_store().get(failed);
    EXPECT_TRUE(j.refunded);
    EXPECT_FALSE(api_store().get(done)->refunded);
    const json st = json::parse(j.webhook);
    EXPECT_EQ(st["state"], "delivered") << st.dump();
    EXPECT_EQ(st["url_host"], "127.0.0.1:" + rx.url().substr(17, rx.url().find('/', 17) - 17));
    EXPECT_EQ(st["event"], "request.failed");
    EXPECT_EQ(st["webhook_id"], "msg_" + failed);
    EXPECT_FALSE(st.contains("next_attempt_at"));
    EXPECT_EQ(j.webhook.find("s3cr3t"), std::string::npos);  // never the URL's query (nor the secret)
    EXPECT_EQ(j.webhook.find("whsec"), std::string::npos);
    ASSERT_EQ(st["deliveries"].size(), 3u) << st.dump();
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(st["deliveries"][i]["attempt"], i + 1);
        EXPECT_EQ(st["deliveries"][i]["http_status"], i < 2 ? 500 : 204);
        EXPECT_EQ(st["deliveries"][i]["error"], i < 2 ? "HTTP 500" : "");
        EXPECT_GT(st["deliveries"][i]["at"].get<int64_t>(), 0);
    }
    const auto hits = rx.hits();
    ASSERT_EQ(hits.size(), 3u);  // the filtered job's event is not sent
    for (const auto& h : hits) {
        EXPECT_EQ(h.id, "msg_" + failed);
        EXPECT_EQ(h.signature, sign_webhook(key.webhook_secret, h.id, std::stoll(h.timestamp), h.body))
            << "not signed with the request's key's secret";
        const json body = json::parse(h.body);
        EXPECT_EQ(body["type"], "request.failed");
        EXPECT_EQ(body["data"]["error"], "it broke");
    }
    EXPECT_EQ(json::parse(api_store().get(filtered)->webhook)["state"], "skipped");
    EXPECT_EQ(f->held(), 0u);
}

TEST_P(OutboxTest, RetriesResumeInTheNextFinisherWithoutASecondRefund) {
    Receiver rx(1);  // the first attempt fails
    auto keys = KeyStore::open((dir_.path / "keys.db").string());
    KeyInfo key;
    keys->create_key("k", 10, &key);
    const std::string id = failed_job(json{{"key_id", key.id}, {"price", 3}, {"webhook", rx.url()}});
    {
        // Finisher A refunds, makes attempt 1 and "dies" while its retry waits (1 s).
        auto a = finisher("api-a", keys.get(), {1.0, 1.0}, 0.3);
        a->start();
        ASSERT_TRUE(eventually([&] {
            const json st = json::parse(api_store().get(id)->webhook.empty() ? "{}" : api_store().get(id)->webhook);
            return st.contains("deliveries") && st["deliveries"].size() == 1;
        }));
        EXPECT_EQ(a->held(), 1u);
    }
    EXPECT_EQ(keys->credits(key.id), 13);
    const JobRecord left = *api_store().get(id);
    EXPECT_TRUE(left.hooks_pending);
    EXPECT_TRUE(left.refunded);
    EXPECT_EQ(json::parse(left.webhook)["state"], "pending");
    EXPECT_GT(json::parse(left.webhook)["next_attempt_at"].get<double>(), 0);
    // Finisher B (another process, another node) takes the hooks over once A's hold is stale, and makes
    // attempt 2 with the same webhook-id; the refund is not paid again.
    auto b = finisher("api-b", keys.get(), {1.0, 1.0}, 0.3);
    b->start();
    ASSERT_TRUE(eventually([&] { return !api_store().get(id)->hooks_pending; }));
    EXPECT_EQ(keys->credits(key.id), 13);
    const json st = json::parse(api_store().get(id)->webhook);
    EXPECT_EQ(st["state"], "delivered");
    ASSERT_EQ(st["deliveries"].size(), 2u) << st.dump();
    EXPECT_EQ(st["deliveries"][0]["http_status"], 500);
    EXPECT_EQ(st["deliveries"][1]["attempt"], 2);
    EXPECT_EQ(st["deliveries"][1]["http_status"], 204);
    const auto hits = rx.hits();
    ASSERT_EQ(hits.size(), 2u);
    EXPECT_EQ(hits[0].id, hits[1].id);
    EXPECT_EQ(hits[0].body, hits[1].body);  // (no output URL in a failure: the very same body)
}

TEST_P(OutboxTest, GivesUpAfterTheScheduleAndRecordsIt) {
    Receiver rx(100);  // never accepts
    const std::string id = failed_job(json{{"webhook", rx.url()}});
    auto f = finisher("api-a", nullptr, {0.05});
    f->start();
    ASSERT_TRUE(eventually([&] { return !api_store().get(id)->hooks_pending; }));
    const json st = json::parse(api_store().get(id)->webhook);
    EXPECT_EQ(st["state"], "failed");
    EXPECT_EQ(st["deliveries"].size(), 2u);
    EXPECT_EQ(rx.hits().size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Stores, OutboxTest, ::testing::Values("sqlite", "redis"),
                         [](const auto& info) { return info.param; });

// A job store file of schema 1 (before the outbox) is migrated when opened, its rows kept.
TEST(SqliteJobStore, MigratesSchema1ToTheOutboxColumns) {
    TempDir d;
    const std::string path = (d.path / "jobs.db").string();
    const std::string id = random_hex_id();
    {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
        const std::string sql =
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL, params TEXT NOT NULL,"
            " created_at REAL NOT NULL, started_at REAL NOT NULL DEFAULT 0, finished_at REAL NOT NULL DEFAULT 0,"
            " attempts INTEGER NOT NULL DEFAULT 0, stage TEXT NOT NULL DEFAULT '', step INTEGER NOT NULL DEFAULT 0,"
            " total_steps INTEGER NOT NULL DEFAULT 0, segment INTEGER NOT NULL DEFAULT -1,"
            " error TEXT NOT NULL DEFAULT '', output TEXT NOT NULL DEFAULT '', output_mime TEXT NOT NULL DEFAULT '',"
            " output_bytes INTEGER NOT NULL DEFAULT 0, idempotency_key TEXT UNIQUE, body_hash TEXT NOT NULL DEFAULT '',"
            " cancel_requested INTEGER NOT NULL DEFAULT 0);"
            "INSERT INTO jobs (id, state, params, created_at, finished_at, error) VALUES ('" + id +
            "', 'FAILED', '{}', 1, 2, 'old');"
            "PRAGMA user_version = 1;";
        ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
        sqlite3_close(db);
    }
    SqliteJobStore s(path);
    const auto j = s.get(id);
    ASSERT_TRUE(j);
    EXPECT_EQ(j->error, "old");
    EXPECT_FALSE(j->hooks_pending);  // its hooks ran in the process of schema 1
    EXPECT_TRUE(s.take_hooks("a", 10, 60, 10).empty());
    EXPECT_TRUE(s.mark_refunded(id));
}

TEST(Finisher, UrlHostKeepsNeitherCredentialsNorPath) {
    EXPECT_EQ(url_host("https://user:pw@hooks.example.com:8443/a/b?token=x#f"), "hooks.example.com:8443");
    EXPECT_EQ(url_host("http://127.0.0.1/hook"), "127.0.0.1");
    EXPECT_EQ(url_host("https://[::1]:9000"), "[::1]:9000");
    EXPECT_NE(default_finisher_name("api"), default_finisher_name("api"));
}

}  // namespace
