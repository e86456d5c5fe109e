// The server object (see http_server.h): owns the engine slot, the store, the artifacts, the JobManager, the
// worker, the key store and the httplib server, in that construction order (destroyed in reverse: HTTP first,
// worker next), plus the retention sweeper thread and the finisher (refunds, webhooks: server/finisher.h).
#include "server/http_server.h"

#include <httplib.h>

#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "server/artifacts.h"
#include "server/auth.h"
#include "server/error_mapping.h"
#include "server/finisher.h"
#include "server/image_input.h"
#include "server/jobs.h"
#include "server/rate_limit.h"
#include "server/routes.h"
#include "server/redis_job_store.h"
#include "server/sqlite_job_store.h"
#include "server/worker.h"

namespace tc::server {

namespace {
// Start time of the request being handled on this thread (httplib handles a request on one thread from
// pre-routing to the logger), for the latency histogram.
thread_local std::chrono::steady_clock::time_point t_request_start;
}  // namespace

struct HttpServer::Impl {
    ServerConfig cfg;
    EngineSlot engines;
    std::unique_ptr<JobStore> store;  // SQLite under data_dir, or Redis (cfg.queue)
    std::unique_ptr<ArtifactStore> artifacts;
    std::unique_ptr<JobManager> jobs;
    std::unique_ptr<KeyStore> keys;
    std::unique_ptr<RateLimiter> limiter;
    ServerMetrics metrics;
    FetchPolicy policy;
    std::string server_webhook_secret;  // signs webhooks of requests without an API key (--no-auth)
    std::unique_ptr<Worker> worker;
    // Refunds and webhooks of finished jobs, whichever process finished them (server/finisher.h).
    std::unique_ptr<Finisher> finisher;
    std::atomic<bool> stopping{false};
    std::unique_ptr<ServerContext> ctx;
    httplib::Server http;
    std::thread listener;
    std::thread sweeper;
    std::mutex sweep_mu;  // sweep_cv wakes the sweeper early on stop()
    std::condition_variable sweep_cv;
    std::mutex stop_mu;  // stop() is idempotent and may race with itself (signal thread, destructor)
    std::condition_variable stopped_cv;
    bool stopped = false;
    int port = 0;
    std::string public_url;

    explicit Impl(ServerConfig c) : cfg(std::move(c)) {
        std::filesystem::create_directories(cfg.data_dir);
        if (cfg.queue.empty()) {
            store = std::make_unique<SqliteJobStore>(cfg.data_dir + "/jobs.db");
        } else {
            RedisJobStoreOptions ro;  // no consumer id: an API node never claims jobs
            ro.retention_s = cfg.retention_s;
            store = std::make_unique<RedisJobStore>(cfg.queue, ro);
            std::fprintf(stderr, "jobs queued in %s\n", store->describe().c_str());
        }
        ArtifactStoreOptions aopts;
        aopts.retention_s = cfg.retention_s;
        aopts.staging_dir = cfg.data_dir + "/staging";  // outputs wait here for their upload (s3://)
        artifacts = make_artifact_store(cfg.storage.empty() ? "file://" + cfg.data_dir + "/files" : cfg.storage, aopts);
        if (!cfg.storage.empty()) std::fprintf(stderr, "outputs stored in %s\n", artifacts->describe().c_str());
        jobs = std::make_unique<JobManager>(*store, *artifacts, JobManagerOptions{cfg.retention_s, cfg.max_attempts});
        if (cfg.auth) keys = make_key_store(cfg.data_dir, cfg.queue);  // with --queue: shared in Redis
        limiter = make_rate_limiter(cfg.submit_rate_per_s, std::max(1.0, cfg.submit_burst), cfg.queue);
        for (const auto& cidr : cfg.allow_private_fetch) policy.allow_private.push_back(Cidr::parse(cidr));
        policy.max_bytes = cfg.max_image_bytes;
        if (!cfg.auth) server_webhook_secret = load_or_create_secret(cfg.data_dir + "/webhook_secret");
        worker = std::make_unique<Worker>(*jobs, engines, [this](const std::string& v, const std::string& field) {
            return load_image_bytes(v, field, policy);
        });
        worker->on_step([this](double s) { metrics.observe_step(s); });
        FinisherOptions fo;
        fo.consumer = default_finisher_name("api");
        fo.claim_idle_s = cfg.hooks_claim_idle_s;
        fo.policy = policy;
        fo.backoff_s = cfg.webhook_backoff_s;
        fo.server_secret = server_webhook_secret;
        // public_url is known once start() bound the port; the finisher starts after that.
        finisher = std::make_unique<Finisher>(
            *jobs, keys.get(), [this](const JobRecord& j) { return artifacts->url(j.output, public_url); }, fo);
    }

    // Deletes expired results (rows and files) on a timer, whatever the worker is doing: a long job must not
    // keep files past their retention. get() already hides an expired job between sweeps.
    void sweep_loop() {
        const double period = cfg.sweep_interval_s > 0 ? cfg.sweep_interval_s
                                                       : std::clamp(cfg.retention_s / 4, 0.05, 60.0);
        const auto interval = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::duration<double>(period));
        std::unique_lock lk(sweep_mu);
        while (!stopping) {
            sweep_cv.wait_for(lk, interval, [&] { return stopping.load(); });
            if (stopping) break;
            lk.unlock();
            try {
                jobs->sweep_expired();
            } catch (const std::exception& e) {
                std::fprintf(stderr, "retention sweep failed: %s\n", e.what());
            }
            lk.lock();
        }
    }

    static std::string load_or_create_secret(const std::string& path) {
        std::string s;
        if (std::ifstream f(path); f) std::getline(f, s);
        if (s.empty()) {
            s = "whsec_" + base64_encode(random_hex_id() + random_hex_id());
            std::ofstream(path) << s << "\n";
            std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        }
        return s;
    }
};

HttpServer::HttpServer(ServerConfig cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}

HttpServer::HttpServer(ServerConfig cfg, const Engine& engine) : HttpServer(std::move(cfg)) {
    // Not owned: the caller keeps the engine alive (the aliasing constructor shares no control block).
    impl_->engines.set_engine(std::shared_ptr<const Engine>(std::shared_ptr<const Engine>(), &engine));
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
    Impl& m = *impl_;
    auto& svr = m.http;
    const int threads = m.cfg.http_threads;
    svr.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
    svr.set_payload_max_length(m.cfg.max_body_bytes);
    svr.set_read_timeout(60, 0);
    svr.set_write_timeout(60, 0);
    // (H2, bench/bench_serve.sh) httplib writes a response's headers and body separately; with Nagle on, the
    // body waits for the client's delayed ACK: ~40 ms on every keep-alive request (polls included).
    svr.set_tcp_nodelay(true);
    svr.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
        t_request_start = std::chrono::steady_clock::now();
        return httplib::Server::HandlerResponse::Unhandled;
    });
    svr.set_logger([this](const httplib::Request&, const httplib::Response&) {
        impl_->metrics.observe_http(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t_request_start).count());
    });
    // Statuses httplib produces itself (404 no route, 413 too large, 414 long URI, 400 bad request line) get a
    // JSON body.
    const std::string too_large = "request body too large (at most " + std::to_string(m.cfg.max_body_bytes) + " bytes)";
    svr.set_error_handler([too_large](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return;
        const std::string msg = res.status == 404   ? "not found"
                                : res.status == 413 ? too_large
                                : res.status == 414 ? "request URI too long"
                                : res.status == 405 ? "method not allowed"
                                                    : "bad request";
        write_error(res, res.status, msg);
    });
    svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        write_error(res, ep);
    });

    if (m.cfg.port == 0) {
        m.port = svr.bind_to_any_port(m.cfg.host);
        TC_CHECK(m.port > 0, "cannot listen on ", m.cfg.host, " (any port)");
    } else {
        TC_CHECK(svr.bind_to_port(m.cfg.host, m.cfg.port), "cannot listen on ", m.cfg.host, ":", m.cfg.port,
                 " (address in use?)");
        m.port = m.cfg.port;
    }
    m.public_url = m.cfg.public_url;
    if (m.public_url.empty()) {
        const std::string host = m.cfg.host == "0.0.0.0" || m.cfg.host.empty() ? "127.0.0.1" : m.cfg.host;
        m.public_url = "http://" + host + ":" + std::to_string(m.port);
    }
    while (!m.public_url.empty() && m.public_url.back() == '/') m.public_url.pop_back();

    m.ctx = std::make_unique<ServerContext>(ServerContext{m.cfg, m.engines, *m.jobs, *m.worker, m.keys.get(),
                                                          *m.limiter, m.metrics, m.policy, m.public_url, m.stopping});
    register_routes(svr, *m.ctx);
    m.worker->start();
    m.finisher->start();  // also resumes the hooks a previous process left pending (recovery's failures included)
    m.sweeper = std::thread([&m] { m.sweep_loop(); });
    m.listener = std::thread([&svr] { svr.listen_after_bind(); });
    // listen_after_bind sets is_running(); wait for it so an immediate stop() cannot be missed.
    for (int i = 0; i < 500 && !svr.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

void HttpServer::wait() {
    std::unique_lock lk(impl_->stop_mu);
    impl_->stopped_cv.wait(lk, [&] { return impl_->stopped; });
}

void HttpServer::stop() {
    Impl& m = *impl_;
    std::lock_guard lk(m.stop_mu);
    if (m.stopped) return;
    {
        std::lock_guard sl(m.sweep_mu);  // the sweeper checks `stopping` under this lock: no lost wake-up
        m.stopping = true;
    }
    m.sweep_cv.notify_all();
    m.jobs->notify_all();
    m.http.stop();
    if (m.listener.joinable()) m.listener.join();
    if (m.sweeper.joinable()) m.sweeper.join();
    m.worker->stop();
    m.finisher->stop();  // webhook retries stay pending in the store for the next start (or another API node)
    m.stopped = true;
    m.stopped_cv.notify_all();
}

int HttpServer::port() const { return impl_->port; }
std::string HttpServer::public_url() const { return impl_->public_url; }
JobManager& HttpServer::jobs() { return *impl_->jobs; }
KeyStore* HttpServer::keys() { return impl_->keys.get(); }
EngineSlot& HttpServer::engine_slot() { return impl_->engines; }

}  // namespace tc::server
