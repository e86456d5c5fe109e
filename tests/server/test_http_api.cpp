// The HTTP API end to end (DESIGN.md section 3) on the golden tiny model: an in-process server on 127.0.0.1
// (a free port), driven with httplib::Client. Covers v2 submit/poll/result/file, v1 sync bytes, validation
// errors, 404s (unknown ids, path traversal), FAILED -> 422, cancel, retention expiry, idempotency, auth and
// credits, SSE, metrics, OpenAPI, and the restart re-queue of a job left PROCESSING.
#include <gtest/gtest.h>

#include <functional>
#include <httplib.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/engine.h"
#include "server/artifacts.h"
#include "server/auth.h"
#include "server/http_server.h"
#include "server/image_input.h"
#include "server/jobs.h"
#include "server/params.h"
#include "server/sqlite_job_store.h"
#include "tests/test_util.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

const tc::Engine* tiny_engine() {
    static const std::unique_ptr<tc::Engine> e = []() -> std::unique_ptr<tc::Engine> {
        const std::string g = tc::test::shared_dir() + "/golden";
        for (const char* f : {"/tiny/tiny.yaml", "/tiny/model.safetensors", "/clip/bpe_simple_vocab_16e6.txt.gz",
                              "/tiny/e2e/keyframe_0.png", "/tiny/e2e/keyframe_1.png"})
            if (tc::test::shared_file(std::string("golden") + f).empty()) return nullptr;
        tc::EngineConfig cfg;
        cfg.config_path = g + "/tiny/tiny.yaml";
        cfg.model_path = g + "/tiny/model.safetensors";
        cfg.vocab_path = g + "/clip/bpe_simple_vocab_16e6.txt.gz";
        cfg.allowed_max_sides = {64, 128};  // the tiny model is 64x64
        return tc::Engine::load(cfg);
    }();
    return e.get();
}

#define TC_REQUIRE_TINY() \
    if (!tiny_engine()) GTEST_SKIP() << "golden tiny model / vocabulary not found under " << tc::test::shared_dir()

std::string file_b64(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), {});
    return tc::server::base64_encode(bytes);
}

json body(int steps = 1) {
    const std::string g = tc::test::shared_dir() + "/golden/tiny/e2e/";
    return json{{"image_1", "data:image/png;base64," + file_b64(g + "keyframe_0.png")},
                {"image_2", file_b64(g + "keyframe_1.png")},
                {"max_width", 64},
                {"max_height", 64},
                {"steps", steps},
                {"seed", 3}};
}

using tc::test::TempDir;

// One server for a test; auth on with a funded key unless configured otherwise.
struct TestServer {
    TempDir dir;
    std::unique_ptr<tc::server::HttpServer> server;
    std::string key;
    httplib::Headers headers;

    explicit TestServer(bool auth = true, double retention_s = 3600, int64_t credits = 100,
                        std::vector<std::string> allow_private = {}) {
        tc::server::ServerConfig cfg;
        cfg.host = "127.0.0.1";
        cfg.port = 0;
        cfg.data_dir = dir.path.string();
        cfg.auth = auth;
        cfg.retention_s = retention_s;
        cfg.public_url = "http://public.example:9/";
        cfg.allow_private_fetch = std::move(allow_private);  // responses must use this, never the Host header
        server = std::make_unique<tc::server::HttpServer>(cfg, *tiny_engine());
        server->start();
        if (auth) {
            key = server->keys()->create_key("test", credits);
            headers = {{"x-api-key", key}};
        }
    }
    httplib::Client client() const {
        httplib::Client c("127.0.0.1", server->port());
        c.set_read_timeout(600, 0);
        c.set_default_headers(headers);
        return c;
    }
};

json parse(const httplib::Result& r) { return json::parse(r->body); }

// Polls the status until the job is finished (or the deadline passes); returns the last status body.
// The limits only stop a hung test: they are generous because CI also runs this suite under ASan on 2 cores.
json wait_finished(httplib::Client& c, const std::string& id, std::chrono::seconds limit = 300s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    json s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto r = c.Get(("/v2/requests/" + id + "/status").c_str());
        EXPECT_TRUE(r);
        if (!r) break;
        s = json::parse(r->body);
        if (s["status"] == "COMPLETED" || s["status"] == "FAILED") return s;
        std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "job " << id << " did not finish: " << s.dump();
    return s;
}

std::string path_of(const std::string& url, const std::string& base) {
    EXPECT_EQ(url.rfind(base, 0), 0u) << url;
    return url.substr(base.size());
}

TEST(HttpApi, ValidationAuthAndNotFound) {
    TC_REQUIRE_TINY();
    TestServer s;
    auto c = s.client();

    json b = body();
    b["imgae_3"] = "x";
    auto r = c.Post("/v2/tooncrafter", b.dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(parse(r)["error"].get<std::string>().find("imgae_3"), std::string::npos);

    b = body();
    b["seed"] = "3";
    r = c.Post("/v2/tooncrafter", b.dump(), "application/json");
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(parse(r)["error"].get<std::string>().find("seed"), std::string::npos);

    b = body();
    for (int i = 3; i <= 11; ++i) b["image_" + std::to_string(i)] = b["image_2"];
    r = c.Post("/v1/tooncrafter", b.dump(), "application/json");
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(parse(r)["error"].get<std::string>().find("image_11"), std::string::npos);

    b = body();
    b["max_width"] = 512;  // not in this server's allowed sides
    EXPECT_EQ(c.Post("/v2/tooncrafter", b.dump(), "application/json")->status, 400);
    b = body();
    b["frames_per_segment"] = 16;  // the tiny model has 8
    r = c.Post("/v2/tooncrafter", b.dump(), "application/json");
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(parse(r)["error"].get<std::string>().find("frames_per_segment"), std::string::npos);
    b = body();
    b["image_2"] = "not base64!";
    r = c.Post("/v2/tooncrafter", b.dump(), "application/json");
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(parse(r)["error"].get<std::string>().find("image_2"), std::string::npos);

    r = c.Post("/v2/tooncrafter", "{not json", "application/json");
    EXPECT_EQ(r->status, 400);
    EXPECT_TRUE(parse(r).contains("error"));

    // Auth: missing and wrong keys.
    httplib::Client anon("127.0.0.1", s.server->port());
    r = anon.Post("/v2/tooncrafter", body().dump(), "application/json");
    EXPECT_EQ(r->status, 401);
    r = anon.Post("/v2/tooncrafter", {{"x-api-key", "tc_wrong"}}, body().dump(), "application/json");
    EXPECT_EQ(r->status, 401);

    // Unknown ids, path traversal, malformed ids: 404 with a JSON error.
    for (const std::string p : {"/v2/requests/0123456789abcdef0123456789abcdef/status",
                                "/v2/requests/0123456789abcdef0123456789abcdef", "/v2/requests/../etc/passwd",
                                "/v2/requests/..%2F..%2Fetc%2Fpasswd/status", "/v2/requests/zz/status",
                                "/files/../jobs.db", "/files/0123456789abcdef0123456789abcdef.mp4", "/nope"}) {
        r = c.Get(p.c_str());
        ASSERT_TRUE(r) << p;
        EXPECT_EQ(r->status, 404) << p;
        EXPECT_TRUE(json::parse(r->body).contains("error")) << p << " " << r->body;
    }
    r = c.Post("/v2/requests/0123456789abcdef0123456789abcdef/cancel", "", "application/json");
    EXPECT_EQ(r->status, 404);

    // Body size cap.
    r = c.Post("/v2/tooncrafter", std::string(41u << 20, 'x'), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);

    // Health, metrics, OpenAPI.
    r = anon.Get("/health");
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(parse(r)["model_loaded"], true);
    r = anon.Get("/metrics");
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find("tooncrafter_queue_depth 0"), std::string::npos);
    EXPECT_NE(r->body.find("tooncrafter_http_request_duration_seconds_bucket"), std::string::npos);
    r = anon.Get("/openapi.json");
    EXPECT_EQ(r->status, 200);
    const json api = parse(r);
    EXPECT_EQ(api["openapi"], "3.0.3");
    EXPECT_TRUE(api["paths"].contains("/v2/requests/{id}/status"));
    EXPECT_EQ(api["servers"][0]["url"], "http://public.example:9");
    // Every error status the routes can answer is documented, and every $ref resolves inside the document.
    for (const char* code : {"400", "401", "403", "406", "413", "422", "429", "500", "503"})
        EXPECT_TRUE(api["paths"]["/v1/tooncrafter"]["post"]["responses"].contains(code)) << code;
    for (const char* code : {"401", "403", "404", "414", "422", "429"})
        EXPECT_TRUE(api["paths"]["/v2/requests/{id}/status"]["get"]["responses"].contains(code)) << code;
    int refs = 0;
    std::function<void(const json&)> check_refs = [&](const json& v) {
        if (v.is_object()) {
            if (v.contains("$ref")) {
                ++refs;
                const std::string ref = v["$ref"];
                ASSERT_EQ(ref.rfind("#/", 0), 0u) << ref;
                EXPECT_TRUE(api.contains(json::json_pointer(ref.substr(1)))) << ref;
            }
            for (const auto& [k, x] : v.items()) check_refs(x);
        } else if (v.is_array()) {
            for (const auto& x : v) check_refs(x);
        }
    };
    check_refs(api);
    EXPECT_GT(refs, 40);
    // No credits were spent by any of the rejected requests.
    EXPECT_EQ(s.server->keys()->credits(s.server->keys()->authenticate(s.key)->id), 100);
}

TEST(HttpApi, AsyncSubmitPollResultFileEventsAndIdempotency) {
    TC_REQUIRE_TINY();
    TestServer s;
    auto c = s.client();
    const std::string base = "http://public.example:9";
    const std::string b = body(2).dump();
    httplib::Headers idem = s.headers;
    idem.emplace("Idempotency-Key", "abc");
    auto r = c.Post("/v2/tooncrafter", idem, b, "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const json sub = parse(r);
    const std::string id = sub["request_id"];
    EXPECT_TRUE(tc::server::is_hex_id(id));
    EXPECT_EQ(sub["status"], "QUEUED");
    EXPECT_EQ(sub["status_url"], base + "/v2/requests/" + id + "/status");
    EXPECT_EQ(sub["poll_url"], base + "/v2/requests/" + id + "/status");
    EXPECT_EQ(sub["response_url"], base + "/v2/requests/" + id);
    EXPECT_EQ(sub["cancel_url"], base + "/v2/requests/" + id + "/cancel");
    EXPECT_EQ(r->get_header_value("x-remaining-credits"), "99");  // 2 images: 1 segment

    // Idempotency: same key + body replays (no charge), another body is 409.
    r = c.Post("/v2/tooncrafter", idem, b, "application/json");
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(parse(r)["request_id"], id);
    EXPECT_EQ(r->get_header_value("x-remaining-credits"), "99");
    r = c.Post("/v2/tooncrafter", idem, body(3).dump(), "application/json");
    EXPECT_EQ(r->status, 409);

    r = c.Get(("/v2/requests/" + id).c_str());
    EXPECT_TRUE(r->status == 202 || r->status == 200);

    const json st = wait_finished(c, id);
    ASSERT_EQ(st["status"], "COMPLETED") << st.dump();
    EXPECT_TRUE(st.contains("metrics"));

    r = c.Get(("/v2/requests/" + id).c_str());
    ASSERT_EQ(r->status, 200);
    const json res = parse(r);
    EXPECT_EQ(res["status"], "COMPLETED");
    const std::string file = path_of(res["output"], base);
    EXPECT_EQ(file.rfind("/files/", 0), 0u);

    // The file needs no key.
    httplib::Client anon("127.0.0.1", s.server->port());
    r = anon.Get(file.c_str());
    ASSERT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "video/mp4");
    ASSERT_GT(r->body.size(), 12u);
    EXPECT_EQ(r->body.substr(4, 4), "ftyp");

    // Another key cannot see the job.
    const std::string other = s.server->keys()->create_key("other", 5);
    r = anon.Get(("/v2/requests/" + id + "/status").c_str(), {{"x-api-key", other}});
    EXPECT_EQ(r->status, 404);

    // SSE on a finished job: status then done, then the stream ends.
    r = c.Get(("/v2/requests/" + id + "/events").c_str());
    ASSERT_EQ(r->status, 200);
    EXPECT_NE(r->body.find("event: status"), std::string::npos);
    EXPECT_NE(r->body.find("event: done"), std::string::npos);
    EXPECT_NE(r->body.find("COMPLETED"), std::string::npos);
}

TEST(HttpApi, SyncV1ReturnsVideoBytes) {
    TC_REQUIRE_TINY();
    TestServer s;
    auto c = s.client();
    auto r = c.Post("/v1/tooncrafter", body(1).dump(), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body.substr(0, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "video/mp4");
    EXPECT_EQ(r->get_header_value("x-remaining-credits"), "99");
    ASSERT_GT(r->body.size(), 12u);
    EXPECT_EQ(r->body.substr(4, 4), "ftyp");

    // Not enough credits: 406.
    TestServer poor(true, 3600, 0);
    auto pc = poor.client();
    r = pc.Post("/v1/tooncrafter", body(1).dump(), "application/json");
    EXPECT_EQ(r->status, 406);
}

TEST(HttpApi, FailedIs422AndRefundsCancelStopsTheWork) {
    TC_REQUIRE_TINY();
    TestServer s;
    auto c = s.client();
    const std::string key_id = s.server->keys()->authenticate(s.key)->id;

    // Valid base64 that is not an image: accepted, then FAILED when the worker decodes it.
    json b = body(1);
    b["image_2"] = tc::server::base64_encode(std::string("definitely not an image"));
    auto r = c.Post("/v2/tooncrafter", b.dump(), "application/json");
    ASSERT_EQ(r->status, 200) << r->body;
    const std::string bad = parse(r)["request_id"];
    json st = wait_finished(c, bad);
    EXPECT_EQ(st["status"], "FAILED");
    EXPECT_NE(st["error"].get<std::string>().find("image_2"), std::string::npos) << st.dump();
    r = c.Get(("/v2/requests/" + bad + "/status").c_str());
    EXPECT_EQ(r->status, 422);
    r = c.Get(("/v2/requests/" + bad).c_str());
    EXPECT_EQ(r->status, 422);
    EXPECT_TRUE(parse(r).contains("error"));
    // Refunded by the after-finish hooks (server/finisher.h), just after the job finished (60 s: a hang guard).
    for (int i = 0; i < 3000 && s.server->keys()->credits(key_id) != 100; ++i) std::this_thread::sleep_for(20ms);
    EXPECT_EQ(s.server->keys()->credits(key_id), 100);

    // Cancel a long job once it is denoising: FAILED "cancelled" within about one step.
    r = c.Post("/v2/tooncrafter", body(200).dump(), "application/json");
    ASSERT_EQ(r->status, 200);
    const std::string id = parse(r)["request_id"];
    const auto deadline = std::chrono::steady_clock::now() + 300s;
    for (;;) {
        st = parse(c.Get(("/v2/requests/" + id + "/status").c_str()));
        if (st["status"] == "PROCESSING" && st["progress"]["stage"] == "denoise") break;
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << st.dump();
        std::this_thread::sleep_for(50ms);
    }
    r = c.Post(("/v2/requests/" + id + "/cancel").c_str(), "", "application/json");
    EXPECT_EQ(r->status, 200);
    st = wait_finished(c, id, 120s);
    EXPECT_EQ(st["status"], "FAILED");
    EXPECT_EQ(st["error"], "cancelled");
    EXPECT_LT(st["progress"].value("step", 0), 200);
}

TEST(HttpApi, RetentionExpiryAnswers404) {
    TC_REQUIRE_TINY();
    TestServer s(false, 1.0);
    httplib::Client c("127.0.0.1", s.server->port());
    json b = body(1);
    b["image_1"] = tc::server::base64_encode(std::string("no image here"));
    auto r = c.Post("/v2/tooncrafter", b.dump(), "application/json");
    ASSERT_EQ(r->status, 200) << r->body;
    const std::string id = parse(r)["request_id"];
    EXPECT_EQ(wait_finished(c, id)["status"], "FAILED");
    std::this_thread::sleep_for(1500ms);
    r = c.Get(("/v2/requests/" + id + "/status").c_str());
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(c.Get(("/v2/requests/" + id).c_str())->status, 404);
}

TEST(HttpApi, RestartRequeuesAJobLeftProcessing) {
    TC_REQUIRE_TINY();
    TempDir dir;
    const std::string id = tc::server::random_hex_id();
    {
        // A previous process accepted this job and died while running it.
        tc::server::SqliteJobStore store((dir.path / "jobs.db").string());
        tc::server::GenerationParams p = tc::server::parse_params(body(1), {{64, 128}});
        tc::server::JobRecord j;
        j.id = id;
        j.state = tc::server::JobState::Processing;
        j.params = tc::server::params_to_json(p).dump();
        j.created_at = tc::server::now_seconds();
        j.started_at = j.created_at;
        j.attempts = 1;
        store.create(j);
    }
    tc::server::ServerConfig cfg;
    cfg.port = 0;
    cfg.data_dir = dir.path.string();
    cfg.auth = false;
    tc::server::HttpServer srv(cfg, *tiny_engine());
    srv.start();
    httplib::Client c("127.0.0.1", srv.port());
    c.set_read_timeout(600, 0);
    const json st = wait_finished(c, id);
    EXPECT_EQ(st["status"], "COMPLETED") << st.dump();
    EXPECT_EQ(st["metrics"]["attempts"], 2);
}

// Image URLs fetched from an allowed private address, and the signed completion webhook.
TEST(HttpApi, ImageUrlsAndWebhook) {
    TC_REQUIRE_TINY();
    const std::string g = tc::test::shared_dir() + "/golden/tiny/e2e/";
    auto read = [](const std::string& p) {
        std::ifstream f(p, std::ios::binary);
        return std::string((std::istreambuf_iterator<char>(f)), {});
    };
    const std::string k0 = read(g + "keyframe_0.png"), k1 = read(g + "keyframe_1.png");
    httplib::Server origin;
    std::mutex mu;
    std::condition_variable cv;
    std::string hook_body, hook_sig;
    origin.Get("/k0.png", [&](const httplib::Request&, httplib::Response& res) { res.set_content(k0, "image/png"); });
    origin.Get("/k1.png", [&](const httplib::Request&, httplib::Response& res) { res.set_content(k1, "image/png"); });
    origin.Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
        std::lock_guard lk(mu);
        hook_body = req.body;
        hook_sig = req.get_header_value("webhook-signature");
        res.status = 204;
        cv.notify_all();
    });
    const int port = origin.bind_to_any_port("127.0.0.1");
    std::thread t([&] { origin.listen_after_bind(); });

    TestServer s(false, 3600, 0, {"127.0.0.1/32"});
    httplib::Client c("127.0.0.1", s.server->port());
    c.set_read_timeout(600, 0);
    const std::string o = "http://127.0.0.1:" + std::to_string(port);
    json b = body(1);
    b["image_1"] = o + "/k0.png";
    b["image_2"] = o + "/k1.png";
    b["webhook"] = o + "/hook";
    auto r = c.Post("/v2/tooncrafter", b.dump(), "application/json");
    ASSERT_EQ(r->status, 200) << r->body;
    const std::string id = parse(r)["request_id"];
    const json st = wait_finished(c, id);
    EXPECT_EQ(st["status"], "COMPLETED") << st.dump();
    {
        std::unique_lock lk(mu);
        cv.wait_for(lk, 10s, [&] { return !hook_body.empty(); });
        ASSERT_FALSE(hook_body.empty());
        const json h = json::parse(hook_body);
        EXPECT_EQ(h["type"], "request.completed");
        EXPECT_EQ(h["data"]["request_id"], id);
        EXPECT_EQ(hook_sig.rfind("v1,", 0), 0u);
    }
    // The delivery log is part of the request's status (and result) once the finisher stored it.
    json w;
    for (int i = 0; i < 3000; ++i) {  // 60 s: a hang guard
        w = parse(c.Get(("/v2/requests/" + id + "/status").c_str())).value("webhook", json());
        if (w.is_object() && w.value("state", "") == "delivered") break;
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(w.value("state", ""), "delivered") << w.dump();
    EXPECT_EQ(w.value("url_host", ""), "127.0.0.1:" + std::to_string(port));
    EXPECT_EQ(w.value("webhook_id", ""), "msg_" + id);
    ASSERT_EQ(w["deliveries"].size(), 1u) << w.dump();
    EXPECT_EQ(w["deliveries"][0]["http_status"], 204);
    EXPECT_EQ(w["deliveries"][0]["attempt"], 1);
    EXPECT_EQ(parse(c.Get(("/v2/requests/" + id).c_str()))["webhook"], w);
    origin.stop();
    t.join();

    // `curl -X POST .../cancel`: no body, no Content-Length, no Content-Type. Cancel takes no body, so this is
    // answered at once (a finished job: its status), not a 400 after httplib waited for a body.
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(s.server->port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    const std::string raw = "POST /v2/requests/" + id + "/cancel HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n";
    ASSERT_EQ(send(fd, raw.data(), raw.size(), 0), ssize_t(raw.size()));
    std::string answer;
    char buf[4096];
    for (;;) {
        const ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        answer.append(buf, size_t(n));
        if (answer.find("\r\n\r\n") != std::string::npos && answer.find("\"cancel_requested\"") != std::string::npos)
            break;
    }
    close(fd);
    EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer.substr(0, 300);
    EXPECT_NE(answer.find("\"COMPLETED\""), std::string::npos) << answer.substr(0, 300);
}

}  // namespace
