// Helpers of the in-process HTTP suites (test_http_errors.cpp, test_bad_requests.cpp): a fake engine with
// hooks (throw from plan or run, block a run until released), PNG keyframes made in memory (no reference data
// needed), a server on 127.0.0.1 with a free port, a child `tooncrafter serve` process, and polling helpers.
// Every wait has a generous deadline that only stops a hung test (CI runs these under ASan on 2 cores).
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "media/png.h"
#include "server/artifacts.h"
#include "server/auth.h"
#include "server/engine_slot.h"
#include "server/http_server.h"
#include "server/image_input.h"
#include "server/jobs.h"
#include "tests/test_util.h"

namespace tc::test::http {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

using tc::test::TempDir;

// A stand-in for the engine that mirrors the golden tiny model's validation (sides 64 and 128, 8 frames per
// segment, no FILM) and returns a small grey video. Hooks let a test make plan() or run() throw, or hold
// run() until release() (it still honours the worker's cancel callback, so a server can always stop).
class FakeEngine : public tc::server::ServingEngine {
public:
    std::function<void(const Request&)> plan_hook;  // may throw
    std::function<void(const Request&)> run_hook;   // may throw
    bool block_runs = false;

    RequestPlan plan(const Request& r) const override {
        if (plan_hook) plan_hook(r);
        TC_CHECK(r.frames_per_segment == 0 || r.frames_per_segment == 8,
                 "frames_per_segment must be 8 for this model (its temporal_length), got ", r.frames_per_segment);
        TC_CHECK(!r.interpolate, "interpolate needs the FILM model, which this server has not loaded");
        RequestPlan p;
        p.width = p.height = 64;
        p.segments = int(r.keyframes.size()) - (r.loop ? 0 : 1);
        p.frames = 8;
        p.fps = r.fps;
        return p;
    }

    Video run(const Request& r, const ProgressFn& progress, const CancelFn& cancelled) const override {
        runs_.fetch_add(1);
        if (run_hook) run_hook(r);
        {
            std::unique_lock lk(mu_);
            running_ = true;
            cv_.notify_all();
            while (block_runs && !released_) {
                if (cancelled && cancelled()) {
                    running_ = false;
                    throw Cancelled();
                }
                cv_.wait_for(lk, 10ms);
            }
            running_ = false;
        }
        for (int s = 0; s < r.steps; ++s) {
            if (cancelled && cancelled()) throw Cancelled();
            if (progress) progress(Progress{"denoise", s + 1, r.steps, 0});
        }
        Video v;
        v.frames = Tensor::zeros({4, 64, 64, 3}, DType::U8);
        v.fps = r.fps;
        return v;
    }

    bool is_demo() const override { return false; }
    bool has_film() const override { return false; }
    std::vector<int64_t> allowed_max_sides() const override { return {64, 128}; }

    void release() {
        std::lock_guard lk(mu_);
        released_ = true;
        cv_.notify_all();
    }
    // Waits until a run() is blocked inside (true) or the deadline passes (false).
    bool wait_running(std::chrono::seconds limit = 120s) const {
        std::unique_lock lk(mu_);
        return cv_.wait_for(lk, limit, [&] { return running_; });
    }
    int runs() const { return runs_.load(); }

private:
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    mutable bool running_ = false;
    bool released_ = false;
    mutable std::atomic<int> runs_{0};
};

// A w x h PNG of one colour, base64 (a valid keyframe without reference data).
inline std::string png_b64(int w = 32, int h = 32, uint8_t value = 128) {
    Tensor t = Tensor::zeros({h, w, 3}, DType::U8);
    auto* p = t.data<uint8_t>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = uint8_t(value + i % 7);
    const std::vector<uint8_t> png = tc::encode_png(t);
    return tc::server::base64_encode(png.data(), png.size());
}

// A valid request for the fake (and the tiny) engine.
inline json valid_body(int steps = 1) {
    return json{{"image_1", "data:image/png;base64," + png_b64(32, 32, 10)},
                {"image_2", png_b64(32, 32, 200)},
                {"max_width", 64},
                {"max_height", 64},
                {"steps", steps},
                {"seed", 3}};
}

inline json parse_json(const std::string& s) {
    try {
        return json::parse(s);
    } catch (const std::exception& e) {
        ADD_FAILURE() << "not JSON (" << e.what() << "): " << s.substr(0, 300);
        return json();
    }
}

// True when `body` is exactly {"error": "<non-empty string>"}.
inline bool is_error_body(const std::string& body) {
    json j;
    try {
        j = json::parse(body);
    } catch (const std::exception&) {
        return false;
    }
    return j.is_object() && j.size() == 1 && j.contains("error") && j["error"].is_string() &&
           !j["error"].get<std::string>().empty();
}

inline std::string error_of(const std::string& body) {
    json j = parse_json(body);
    return j.is_object() && j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : "";
}

// An in-process server. `engine` null = not ready (the slot stays Loading until the test fills it).
struct TestServer {
    TempDir dir;
    std::unique_ptr<tc::server::HttpServer> server;
    std::string key;
    httplib::Headers headers;

    explicit TestServer(std::shared_ptr<const tc::server::ServingEngine> engine,
                        const std::function<void(tc::server::ServerConfig&)>& configure = {}, int64_t credits = 1000) {
        tc::server::ServerConfig cfg;
        cfg.host = "127.0.0.1";
        cfg.port = 0;
        cfg.data_dir = dir.str();
        cfg.public_url = "http://public.example:9";
        if (configure) configure(cfg);
        server = std::make_unique<tc::server::HttpServer>(cfg);
        if (engine) server->engine_slot().set_serving_engine(std::move(engine));
        server->start();
        if (cfg.auth) {
            key = server->keys()->create_key("test", credits);
            headers = {{"x-api-key", key}};
        }
    }
    httplib::Client client() const {
        httplib::Client c("127.0.0.1", server->port());
        c.set_read_timeout(600, 0);
        c.set_write_timeout(600, 0);
        c.set_default_headers(headers);
        return c;
    }
    int64_t credits() const { return server->keys()->credits(server->keys()->authenticate(key)->id); }
};

// Polls the status until COMPLETED or FAILED; returns the last status body.
inline json wait_finished(httplib::Client& c, const std::string& id, std::chrono::seconds limit = 300s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    json s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto r = c.Get(("/v2/requests/" + id + "/status").c_str());
        if (!r) break;
        s = parse_json(r->body);
        if (s.value("status", "") == "COMPLETED" || s.value("status", "") == "FAILED") return s;
        std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "job " << id << " did not finish: " << s.dump();
    return s;
}

// Polls `pred` every 20 ms until it holds (true) or the deadline passes (false).
inline bool eventually(const std::function<bool()>& pred, std::chrono::seconds limit = 120s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(20ms);
    }
    return pred();
}

// A local origin server (image URLs, redirects, webhooks, model downloads) on 127.0.0.1.
struct Origin {
    httplib::Server svr;
    int port = 0;
    std::thread thread;
    Origin() = default;
    void start() {
        port = svr.bind_to_any_port("127.0.0.1");
        thread = std::thread([this] { svr.listen_after_bind(); });
        for (int i = 0; i < 500 && !svr.is_running(); ++i) std::this_thread::sleep_for(2ms);
    }
    std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port) + path; }
    ~Origin() {
        svr.stop();
        if (thread.joinable()) thread.join();
    }
};

// A port nothing listens on (bound, then closed; nobody else is expected to grab it meanwhile).
inline int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

// `tooncrafter serve ...` as a child process with extra environment variables; stdout and stderr go to a log
// file. The destructor kills it (SIGKILL) if it still runs.
class ServeProcess {
public:
    ServeProcess(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                 const std::string& log_path)
        : log_(log_path) {
        // Everything is built before fork(): the child of a threaded process may only exec.
        std::vector<std::string> all{tc::test::cli_binary(), "serve"};
        all.insert(all.end(), args.begin(), args.end());
        std::vector<std::string> envs;
        for (char** e = environ; *e; ++e) {
            const std::string kv = *e;
            if (!env.count(kv.substr(0, kv.find('=')))) envs.push_back(kv);
        }
        for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
        std::vector<char*> argv, envp;
        for (auto& a : all) argv.push_back(a.data());
        argv.push_back(nullptr);
        for (auto& e : envs) envp.push_back(e.data());
        envp.push_back(nullptr);
        const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        pid_ = ::fork();
        if (pid_ == 0) {
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            ::execve(argv[0], argv.data(), envp.data());
            ::_exit(127);
        }
        if (fd >= 0) ::close(fd);
    }
    ~ServeProcess() {
        if (pid_ > 0 && !exited_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    // Exit status once it exited (-1 while running; 128+signal when killed).
    int poll() {
        if (exited_) return status_;
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) record(st);
        return exited_ ? status_ : -1;
    }
    // SIGTERM, then waits (up to `limit`) for the exit status.
    int terminate(std::chrono::seconds limit = 120s) {
        if (!exited_) ::kill(pid_, SIGTERM);
        return wait(limit);
    }
    int wait(std::chrono::seconds limit = 120s) {
        eventually([&] { return poll() != -1; }, limit);
        return status_;
    }
    std::string log() const {
        std::ifstream f(log_);
        return std::string(std::istreambuf_iterator<char>(f), {});
    }

private:
    void record(int st) {
        exited_ = true;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    std::string log_;
    pid_t pid_ = -1;
    bool exited_ = false;
    int status_ = -1;
};

}  // namespace tc::test::http
