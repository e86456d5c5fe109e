// Every error status of the wire contract (DESIGN.md section 3, reference "Common Error Codes") with its body
// shape {"error": "..."}: 400, 401, 403 (a revoked key), 404, 406, 409, 413, 422 (FAILED), 429 (+Retry-After,
// submits only), 500 (an engine exception through server/error_mapping.cpp), 503 (before the model is ready,
// with Retry-After and /health saying what loads). Also readiness itself (polls of existing jobs work while
// loading; an API node without a local engine), the refund of jobs failed by restart recovery, the periodic
// retention sweep (while the worker is busy and while idle), and `tooncrafter serve`'s model resolution as a
// child process (a missing or bad --model exits 2, offline falls back to the demo, --no-download, a download
// with its progress in /health).
// The in-process servers run a fake engine (tests/server/http_test_util.h): no reference data needed, except for
// the child-process download test, which serves the golden tiny model and skips without it.
#include <gtest/gtest.h>

#include <new>
#include <stdexcept>

#include "server/params.h"
#include "server/sqlite_job_store.h"
#include "tests/server/http_test_util.h"

namespace {

using namespace tc::test::http;
using tc::server::ServerConfig;

std::shared_ptr<FakeEngine> fake() { return std::make_shared<FakeEngine>(); }

httplib::Result post(httplib::Client& c, const std::string& path, const json& body,
                     const httplib::Headers& extra = {}) {
    return c.Post(path.c_str(), extra, body.dump(), "application/json");
}

std::string submit_ok(httplib::Client& c, const json& body = valid_body()) {
    auto r = post(c, "/v2/tooncrafter", body);
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, 200) << r->body;
    return parse_json(r->body).value("request_id", "");
}

#define EXPECT_ERROR(res, code, needle)                                                           \
    do {                                                                                          \
        auto&& r_ = (res);                                                                        \
        ASSERT_TRUE(r_) << "no response";                                                         \
        EXPECT_EQ(r_->status, code) << r_->body.substr(0, 300);                                   \
        EXPECT_TRUE(is_error_body(r_->body)) << r_->body.substr(0, 300);                          \
        EXPECT_NE(error_of(r_->body).find(needle), std::string::npos) << r_->body.substr(0, 300); \
        EXPECT_EQ(r_->get_header_value("Content-Type"), "application/json");                      \
    } while (0)

TEST(HttpErrors, BadRequest400NamesTheField) {
    TestServer s(fake());
    auto c = s.client();
    json b = valid_body();
    b.erase("image_2");
    EXPECT_ERROR(post(c, "/v2/tooncrafter", b), 400, "image_2");
    EXPECT_ERROR(post(c, "/v1/tooncrafter", b), 400, "image_2");
    b = valid_body();
    b["steps"] = "many";
    EXPECT_ERROR(post(c, "/v2/tooncrafter", b), 400, "steps");
    // The engine's own validation (tc::Error from plan) is the client's fault too.
    b = valid_body();
    b["frames_per_segment"] = 16;
    EXPECT_ERROR(post(c, "/v2/tooncrafter", b), 400, "frames_per_segment");
    EXPECT_EQ(s.credits(), 1000);
}

TEST(HttpErrors, Unauthorized401) {
    TestServer s(fake());
    httplib::Client anon("127.0.0.1", s.server->port());
    EXPECT_ERROR(anon.Post("/v2/tooncrafter", valid_body().dump(), "application/json"), 401, "API key");
    EXPECT_ERROR(anon.Post("/v1/tooncrafter", {{"x-api-key", "tc_" + std::string(64, '0')}}, valid_body().dump(),
                           "application/json"),
                 401, "invalid API key");
    EXPECT_ERROR(anon.Post("/v2/tooncrafter", {{"Authorization", "Bearer nope"}}, valid_body().dump(),
                           "application/json"),
                 401, "invalid API key");
    // A key id is not a credential.
    const std::string key_id = s.server->keys()->authenticate(s.key)->id;
    EXPECT_ERROR(anon.Post("/v2/tooncrafter", {{"x-api-key", key_id}}, valid_body().dump(), "application/json"), 401,
                 "invalid API key");
    // Polls need the key as well.
    EXPECT_ERROR(anon.Get("/v2/requests/0123456789abcdef0123456789abcdef/status"), 401, "API key");
}

TEST(HttpErrors, Forbidden403ForARevokedKey) {
    TestServer s(fake());
    auto c = s.client();
    const std::string id = submit_ok(c);
    ASSERT_FALSE(id.empty());
    EXPECT_EQ(wait_finished(c, id)["status"], "COMPLETED");
    s.server->keys()->revoke(s.server->keys()->authenticate(s.key)->id);
    // The key is known but no longer permitted: 403 on submits and on polls of its own jobs.
    EXPECT_ERROR(post(c, "/v2/tooncrafter", valid_body()), 403, "revoked");
    EXPECT_ERROR(post(c, "/v1/tooncrafter", valid_body()), 403, "revoked");
    EXPECT_ERROR(c.Get(("/v2/requests/" + id + "/status").c_str()), 403, "revoked");
    EXPECT_ERROR(c.Post(("/v2/requests/" + id + "/cancel").c_str(), "", "application/json"), 403, "revoked");
    // Another (valid) key asking for that job gets 404, not 403: existence is not disclosed.
    httplib::Client other("127.0.0.1", s.server->port());
    const std::string k2 = s.server->keys()->create_key("other", 5);
    EXPECT_ERROR(other.Get(("/v2/requests/" + id).c_str(), {{"x-api-key", k2}}), 404, "not found");
}

TEST(HttpErrors, NotFound404) {
    TestServer s(fake());
    auto c = s.client();
    EXPECT_ERROR(c.Get("/v2/requests/0123456789abcdef0123456789abcdef/status"), 404, "not found");
    EXPECT_ERROR(c.Get("/v2/requests/0123456789abcdef0123456789abcdef"), 404, "not found");
    EXPECT_ERROR(c.Post("/v2/requests/0123456789abcdef0123456789abcdef/cancel", "", "application/json"), 404,
                 "not found");
    EXPECT_ERROR(c.Get("/v3/tooncrafter"), 404, "not found");
    EXPECT_ERROR(c.Get("/files/0123456789abcdef0123456789abcdef.mp4"), 404, "not found");
}

TEST(HttpErrors, InsufficientCredits406) {
    TestServer s(fake(), {}, 1);
    auto c = s.client();
    json b = valid_body();
    b["image_3"] = png_b64();  // 3 images: 2 segments, 2 credits
    auto r = post(c, "/v2/tooncrafter", b);
    EXPECT_ERROR(r, 406, "insufficient credits");
    EXPECT_NE(error_of(r->body).find("costs 2"), std::string::npos) << r->body;
    EXPECT_ERROR(post(c, "/v1/tooncrafter", b), 406, "insufficient credits");
    EXPECT_EQ(s.credits(), 1);
    EXPECT_FALSE(submit_ok(c).empty());  // 1 credit is enough for 2 images
    EXPECT_EQ(s.credits(), 0);
}

TEST(HttpErrors, Conflict409IdempotencyKey) {
    TestServer s(fake());
    auto c = s.client();
    const httplib::Headers idem{{"Idempotency-Key", "order-17"}};
    auto r = post(c, "/v2/tooncrafter", valid_body(1), idem);
    ASSERT_EQ(r->status, 200) << r->body;
    const std::string id = parse_json(r->body)["request_id"];
    r = post(c, "/v2/tooncrafter", valid_body(1), idem);  // the same body: replayed, not charged again
    ASSERT_EQ(r->status, 200);
    EXPECT_EQ(parse_json(r->body)["request_id"], id);
    EXPECT_ERROR(post(c, "/v2/tooncrafter", valid_body(2), idem), 409, "order-17");
    EXPECT_ERROR(post(c, "/v2/tooncrafter", valid_body(1), {{"Idempotency-Key", std::string(300, 'k')}}), 400,
                 "Idempotency-Key");
    EXPECT_EQ(s.credits(), 999);
}

TEST(HttpErrors, TooLarge413) {
    TestServer s(fake(), [](ServerConfig& cfg) {
        cfg.max_body_bytes = 1u << 20;
        cfg.max_image_bytes = 64u << 10;
    });
    auto c = s.client();
    // The body cap: httplib refuses it before any handler runs; still the JSON error shape.
    EXPECT_ERROR(c.Post("/v2/tooncrafter", std::string(2u << 20, ' '), "application/json"), 413, "too large");
    // The image cap, checked from the base64 length before decoding: names the field.
    json b = valid_body();
    b["image_2"] = tc::server::base64_encode(std::string(100u << 10, 'x'));
    EXPECT_ERROR(post(c, "/v2/tooncrafter", b), 413, "image_2");
    EXPECT_EQ(s.credits(), 1000);
}

TEST(HttpErrors, Failed422CarriesTheErrorAndRefunds) {
    auto e = fake();
    e->run_hook = [](const tc::Request&) { TC_FAIL("the engine says no"); };
    TestServer s(e);
    auto c = s.client();
    const std::string id = submit_ok(c);
    const json st = wait_finished(c, id);
    EXPECT_EQ(st["status"], "FAILED");
    auto r = c.Get(("/v2/requests/" + id + "/status").c_str());
    EXPECT_EQ(r->status, 422);
    EXPECT_EQ(parse_json(r->body)["error"], "the engine says no");
    r = c.Get(("/v2/requests/" + id).c_str());
    EXPECT_EQ(r->status, 422);
    EXPECT_EQ(parse_json(r->body)["error"], "the engine says no");
    // v1 answers the failure itself as a 422 error body.
    EXPECT_ERROR(post(c, "/v1/tooncrafter", valid_body()), 422, "the engine says no");
    EXPECT_TRUE(eventually([&] { return s.credits() == 1000; }));  // both refunded
}

TEST(HttpErrors, RateLimited429OnSubmitsNotPolls) {
    TestServer s(fake(), [](ServerConfig& cfg) {
        cfg.submit_rate_per_s = 0.001;  // one token per ~17 minutes
        cfg.submit_burst = 1;
    });
    auto c = s.client();
    const std::string id = submit_ok(c);
    auto r = post(c, "/v2/tooncrafter", valid_body());
    EXPECT_ERROR(r, 429, "too many requests");
    const int retry = std::atoi(r->get_header_value("Retry-After").c_str());
    EXPECT_GE(retry, 1) << r->get_header_value("Retry-After");
    EXPECT_ERROR(post(c, "/v1/tooncrafter", valid_body()), 429, "too many requests");
    // Polls are not limited (the SDK aborts its wait on a 429).
    for (int i = 0; i < 30; ++i) {
        auto p = c.Get(("/v2/requests/" + id + "/status").c_str());
        ASSERT_TRUE(p);
        EXPECT_EQ(p->status, 200) << p->body;
    }
    // The limit is per key: another key still submits.
    const std::string k2 = s.server->keys()->create_key("other", 10);
    httplib::Client c2("127.0.0.1", s.server->port());
    EXPECT_EQ(c2.Post("/v2/tooncrafter", {{"x-api-key", k2}}, valid_body().dump(), "application/json")->status, 200);
    EXPECT_EQ(s.credits(), 999);  // refused submits are not charged
}

TEST(HttpErrors, InternalError500FromAnEngineException) {
    auto e = fake();
    std::atomic<int> mode{0};
    e->plan_hook = [&mode](const tc::Request&) {
        if (mode == 0) throw std::logic_error("secret internal detail");
        if (mode == 1) throw std::bad_alloc();
    };
    TestServer s(e);
    auto c = s.client();
    auto r = post(c, "/v2/tooncrafter", valid_body());
    EXPECT_ERROR(r, 500, "internal server error");
    EXPECT_EQ(r->body.find("secret"), std::string::npos) << "internal messages stay in the log";
    mode = 1;
    EXPECT_ERROR(post(c, "/v1/tooncrafter", valid_body()), 500, "internal server error");
    EXPECT_EQ(s.credits(), 1000);
    mode = 2;
    EXPECT_FALSE(submit_ok(c).empty());  // and the server is fine afterwards
}

TEST(HttpErrors, NotReady503UntilTheEngineArrives) {
    TestServer s(nullptr);  // loading
    auto c = s.client();
    s.server->engine_slot().set_progress("downloading model.ckpt 34% (3.40 of 10.00 GiB)");
    auto r = post(c, "/v2/tooncrafter", valid_body());
    EXPECT_ERROR(r, 503, "not loaded yet");
    EXPECT_NE(error_of(r->body).find("downloading model.ckpt 34%"), std::string::npos) << r->body;
    EXPECT_EQ(r->get_header_value("Retry-After"), "10");
    r = post(c, "/v1/tooncrafter", valid_body());
    EXPECT_ERROR(r, 503, "not loaded yet");
    EXPECT_FALSE(r->get_header_value("Retry-After").empty());

    r = c.Get("/health");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    json h = parse_json(r->body);
    EXPECT_EQ(h["status"], "loading");
    EXPECT_EQ(h["ready"], false);
    EXPECT_EQ(h["model_loaded"], false);
    EXPECT_EQ(h["detail"], "downloading model.ckpt 34% (3.40 of 10.00 GiB)");

    // Jobs accepted earlier (here: straight through the JobManager, as after a restart) can be polled,
    // fetched and cancelled while loading; they wait in the queue.
    const std::string key_id = s.server->keys()->authenticate(s.key)->id;
    auto stored = [&] {
        json p = tc::server::params_to_json(tc::server::parse_params(valid_body(), {{64, 128}}));
        p["key_id"] = key_id;
        return p.dump();
    };
    const std::string waiting = s.server->jobs().submit(stored(), "", "h1").job.id;
    const std::string dropped = s.server->jobs().submit(stored(), "", "h2").job.id;
    r = c.Get(("/v2/requests/" + waiting + "/status").c_str());
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(parse_json(r->body)["status"], "QUEUED");
    EXPECT_EQ(c.Get(("/v2/requests/" + waiting).c_str())->status, 202);
    r = c.Post(("/v2/requests/" + dropped + "/cancel").c_str(), "", "application/json");
    EXPECT_EQ(r->status, 422) << r->body;  // a queued job is cancelled at once: FAILED "cancelled"
    EXPECT_EQ(parse_json(r->body)["error"], "cancelled");
    EXPECT_EQ(c.Get("/metrics")->status, 200);

    // Ready: /health 200, the waiting job runs, submits are accepted.
    s.server->engine_slot().set_serving_engine(fake());
    r = c.Get("/health");
    EXPECT_EQ(r->status, 200) << r->body;
    h = parse_json(r->body);
    EXPECT_EQ(h["status"], "ok");
    EXPECT_EQ(h["model_loaded"], true);
    EXPECT_FALSE(h.contains("detail"));
    EXPECT_EQ(wait_finished(c, waiting)["status"], "COMPLETED");
    EXPECT_EQ(wait_finished(c, submit_ok(c))["status"], "COMPLETED");
}

TEST(HttpErrors, NotReady503AfterTheModelFailedToLoad) {
    TestServer s(nullptr);
    auto c = s.client();
    s.server->engine_slot().set_failed("model.ckpt: not a checkpoint");
    EXPECT_ERROR(post(c, "/v2/tooncrafter", valid_body()), 503, "failed to load: model.ckpt: not a checkpoint");
    auto r = c.Get("/health");
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(parse_json(r->body)["status"], "failed");
    EXPECT_EQ(parse_json(r->body)["detail"], "model.ckpt: not a checkpoint");
}

// An API node (work done by remote workers): ready without a local engine, limits from the configuration.
TEST(HttpErrors, ReadyWithoutALocalEngine) {
    TestServer s(nullptr, [](ServerConfig& cfg) { cfg.allowed_max_sides = {256, 512}; });
    s.server->engine_slot().set_ready_without_engine("jobs run on remote workers");
    auto c = s.client();
    auto r = c.Get("/health");
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(parse_json(r->body)["model_loaded"], false);
    json b = valid_body();
    b["max_width"] = b["max_height"] = 256;
    const std::string id = submit_ok(c, b);
    b["max_width"] = 768;
    EXPECT_ERROR(post(c, "/v2/tooncrafter", b), 400, "max_width");
    r = c.Get(("/v2/requests/" + id + "/status").c_str());
    EXPECT_EQ(parse_json(r->body)["status"], "QUEUED");  // nobody here runs it
}

// A job that a restart recovery gives up on (too many attempts) is FAILED and its credits come back.
TEST(HttpErrors, RecoveryFailureIsRefunded) {
    TempDir dir;
    std::string raw_key, key_id;
    const std::string id = tc::server::random_hex_id();
    {
        auto keys = tc::server::KeyStore::open(tc::server::keys_db_path(dir.str()));
        raw_key = keys->create_key("k", 10);
        key_id = keys->authenticate(raw_key)->id;
        int64_t left = 0;
        ASSERT_TRUE(keys->charge(key_id, 3, &left));  // what the dead process charged at submit
        tc::server::SqliteJobStore store(dir.str() + "/jobs.db");
        json p = tc::server::params_to_json(tc::server::parse_params(valid_body(), {{64, 128}}));
        p["key_id"] = key_id;
        p["price"] = 3;
        tc::server::JobRecord j;
        j.id = id;
        j.state = tc::server::JobState::Processing;
        j.params = p.dump();
        j.created_at = j.started_at = tc::server::now_seconds();
        j.attempts = 3;
        store.create(j);
    }
    ServerConfig cfg;
    cfg.port = 0;
    cfg.data_dir = dir.str();
    cfg.max_attempts = 3;
    tc::server::HttpServer srv(cfg);
    srv.engine_slot().set_serving_engine(fake());
    srv.start();
    // The refund is an after-finish hook (server/finisher.h): it runs on the finisher's thread just after the
    // recovery failed the job.
    EXPECT_TRUE(eventually([&] { return srv.keys()->credits(key_id) == 10; })) << srv.keys()->credits(key_id);
    httplib::Client c("127.0.0.1", srv.port());
    auto r = c.Get(("/v2/requests/" + id + "/status").c_str(), {{"x-api-key", raw_key}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 422) << r->body;
    EXPECT_NE(parse_json(r->body)["error"].get<std::string>().find("giving up"), std::string::npos) << r->body;
}

// The retention sweep runs on its own timer: an expired result's file is deleted while the worker is stuck in a
// long job (it used to be swept only between jobs), and while it is idle.
TEST(HttpErrors, RetentionSweepRunsWhileTheWorkerIsBusyAndIdle) {
    auto e = fake();
    TestServer s(e, [](ServerConfig& cfg) {
        cfg.retention_s = 2;  // swept every 0.5 s
        cfg.auth = false;
    });
    httplib::Client c("127.0.0.1", s.server->port());
    c.set_read_timeout(600, 0);
    auto file_of = [&](const std::string& id) -> std::string {
        auto r = c.Get(("/v2/requests/" + id).c_str());
        if (!r || r->status != 200) return "";
        const std::string url = parse_json(r->body)["output"];
        return url.substr(url.find("/files/"));
    };
    // Idle worker.
    auto r = c.Post("/v1/tooncrafter", valid_body().dump(), "application/json");
    ASSERT_EQ(r->status, 200) << r->body.substr(0, 200);
    std::string id = r->get_header_value("x-request-id");
    std::string file = file_of(id);
    ASSERT_FALSE(file.empty()) << "the result expired before it could be read (retention 2 s)";
    EXPECT_TRUE(eventually([&] { return c.Get(file.c_str())->status == 404; })) << file;
    EXPECT_EQ(s.server->jobs().count(tc::server::JobState::Completed), 0);

    // Busy worker: a second job is held inside the engine while the first one's result expires.
    r = c.Post("/v1/tooncrafter", valid_body().dump(), "application/json");
    ASSERT_EQ(r->status, 200);
    id = r->get_header_value("x-request-id");
    file = file_of(id);
    ASSERT_FALSE(file.empty());
    e->block_runs = true;
    r = c.Post("/v2/tooncrafter", valid_body().dump(), "application/json");
    ASSERT_EQ(r->status, 200);
    const std::string busy = parse_json(r->body)["request_id"];
    ASSERT_TRUE(e->wait_running());
    EXPECT_TRUE(eventually([&] { return c.Get(file.c_str())->status == 404; })) << file;
    EXPECT_EQ(s.server->jobs().count(tc::server::JobState::Completed), 0);
    EXPECT_EQ(parse_json(c.Get(("/v2/requests/" + busy + "/status").c_str())->body)["status"], "PROCESSING");
    e->release();
    EXPECT_EQ(wait_finished(c, busy)["status"], "COMPLETED");
}

// ---- `tooncrafter serve` as a child process: model resolution and readiness ---------------------------------

struct ServeRun {
    TempDir dir;
    int port = free_port();
    std::unique_ptr<ServeProcess> proc;
    ServeRun(std::vector<std::string> args, std::map<std::string, std::string> env) {
        std::vector<std::string> all{"--host", "127.0.0.1", "--port", std::to_string(port), "--data-dir",
                                     dir.str() + "/data", "--no-auth"};
        all.insert(all.end(), args.begin(), args.end());
        env.emplace("TOONCRAFTER_MODEL_DIR", dir.str() + "/cache");
        env.emplace("TOONCRAFTER_VOCAB", "");
        proc = std::make_unique<ServeProcess>(all, env, dir.str() + "/serve.log");
    }
    // Polls /health until 200; returns its body ({} on timeout or exit).
    json wait_ready(std::chrono::seconds limit = 300s) {
        httplib::Client c("127.0.0.1", port);
        c.set_connection_timeout(2, 0);
        json h = json::object();
        eventually(
            [&] {
                if (proc->poll() != -1) return true;
                auto r = c.Get("/health");
                if (r && r->status == 200) h = parse_json(r->body);
                return r && r->status == 200;
            },
            limit);
        return h;
    }
};

TEST(ServeCli, MissingModelExitsBeforeBinding) {
    ServeRun run({"--model", "/nonexistent/model.ckpt"}, {});
    EXPECT_EQ(run.proc->wait(), 2) << run.proc->log();
    EXPECT_NE(run.proc->log().find("does not exist"), std::string::npos) << run.proc->log();
    EXPECT_EQ(run.proc->log().find("serving on"), std::string::npos) << "it must fail before binding";
}

TEST(ServeCli, BadModelFileExitsNonZeroAfterBinding) {
    TempDir d;
    const std::string bad = d.str() + "/model.ckpt";
    std::ofstream(bad) << "this is not a checkpoint";
    ServeRun run({"--model", bad}, {});
    EXPECT_EQ(run.proc->wait(), 2) << run.proc->log();
    EXPECT_NE(run.proc->log().find("error:"), std::string::npos) << run.proc->log();
    EXPECT_EQ(run.proc->log().find("DEMO MODE"), std::string::npos) << "never a fallback to the demo";
}

TEST(ServeCli, OfflineWithoutACachedModelFallsBackToTheDemo) {
    // The download base is a closed local port: connection refused at once, like an offline machine.
    ServeRun run({}, {{"TOONCRAFTER_DOWNLOAD_BASE", "http://127.0.0.1:" + std::to_string(free_port())}});
    const json h = run.wait_ready();
    ASSERT_EQ(run.proc->poll(), -1) << run.proc->log();
    EXPECT_EQ(h.value("demo", false), true) << h.dump();
    EXPECT_EQ(run.proc->terminate(), 0) << run.proc->log();
    const std::string log = run.proc->log();
    EXPECT_NE(log.find("download failed"), std::string::npos) << log;
    EXPECT_NE(log.find("DEMO MODE"), std::string::npos) << log;
}

TEST(ServeCli, NoDownloadSkipsTheDownload) {
    Origin origin;
    std::atomic<int> hits{0};
    origin.svr.Get(".*", [&](const httplib::Request&, httplib::Response& res) {
        hits.fetch_add(1);
        res.status = 404;
    });
    origin.start();
    ServeRun run({"--no-download"}, {{"TOONCRAFTER_DOWNLOAD_BASE", origin.url("")}});
    const json h = run.wait_ready();
    EXPECT_EQ(h.value("demo", false), true) << run.proc->log();
    EXPECT_EQ(hits.load(), 0);
    EXPECT_EQ(run.proc->terminate(), 0) << run.proc->log();
}

// No cached model: the files are downloaded (here from a local mirror serving the golden tiny model) while
// /health answers 503 with the progress; then the real model serves.
TEST(ServeCli, DownloadsTheModelWithProgressInHealth) {
    TC_REQUIRE_SHARED(model, "golden/tiny/model.safetensors");
    TC_REQUIRE_SHARED(yaml, "golden/tiny/tiny.yaml");
    TC_REQUIRE_SHARED(vocab, "golden/clip/bpe_simple_vocab_16e6.txt.gz");
    auto read = [](const std::string& p) {
        std::ifstream f(p, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(f), {});
    };
    const auto model_bytes = std::make_shared<std::string>(read(model));
    const std::string vocab_bytes = read(vocab);
    std::mutex mu;
    std::condition_variable cv;
    bool release = false;
    Origin origin;
    origin.svr.Get("/bpe_simple_vocab_16e6.txt.gz", [&](const httplib::Request&, httplib::Response& res) {
        res.set_content(vocab_bytes, "application/octet-stream");
    });
    // The checkpoint: the first half at once, the rest when the test has seen the progress.
    origin.svr.Get("/model.ckpt", [&, model_bytes](const httplib::Request&, httplib::Response& res) {
        res.set_content_provider(model_bytes->size(), "application/octet-stream",
                                 [&, model_bytes](size_t offset, size_t length, httplib::DataSink& sink) {
                                     const size_t half = model_bytes->size() / 2;
                                     if (offset >= half) {
                                         std::unique_lock lk(mu);
                                         cv.wait_for(lk, 120s, [&] { return release; });
                                     }
                                     const size_t n = std::min(length, offset < half ? half - offset : length);
                                     return sink.write(model_bytes->data() + offset, std::min<size_t>(n, 1 << 16));
                                 });
    });
    origin.svr.Get("/film_net_fp32.pt", [](const httplib::Request&, httplib::Response& res) { res.status = 404; });
    origin.start();

    ServeRun run({"--config", yaml, "--allowed-max-sides", "64,128"}, {{"TOONCRAFTER_DOWNLOAD_BASE", origin.url("")}});
    httplib::Client c("127.0.0.1", run.port);
    c.set_connection_timeout(2, 0);
    json seen;
    const bool saw = eventually([&] {
        if (run.proc->poll() != -1) return true;
        auto r = c.Get("/health");
        if (!r || r->status != 503) return false;
        seen = parse_json(r->body);
        return seen.value("detail", "").find("downloading model.ckpt") != std::string::npos &&
               seen.value("detail", "").find('%') != std::string::npos;
    });
    {
        std::lock_guard lk(mu);
        release = true;
    }
    cv.notify_all();
    ASSERT_TRUE(saw) << seen.dump() << run.proc->log();
    ASSERT_EQ(run.proc->poll(), -1) << run.proc->log();
    EXPECT_EQ(seen["status"], "loading");
    auto r = c.Post("/v2/tooncrafter", valid_body().dump(), "application/json");
    EXPECT_TRUE(!r || r->status == 503 || r->status == 200);  // 200 only if the load won the race

    const json h = run.wait_ready();
    EXPECT_EQ(h.value("demo", true), false) << h.dump() << run.proc->log();
    EXPECT_TRUE(fs::is_regular_file(run.dir.path / "cache" / "model.ckpt"));
    r = c.Post("/v2/tooncrafter", valid_body().dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(run.proc->terminate(), 0) << run.proc->log();
    EXPECT_NE(run.proc->log().find("interpolate will be unavailable"), std::string::npos) << run.proc->log();
}

}  // namespace
