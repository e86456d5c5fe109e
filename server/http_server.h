// The HTTP server of `tooncrafter serve` (DESIGN.md sections 3 and 6): cpp-httplib threads for the routes
// (server/routes.cpp), one in-process worker (server/worker.h) running the engine, the SQLite job store and the
// artifact directory under data_dir, API keys and credits (server/auth.h) unless auth is off, and a thread that
// deletes expired results every min(60 s, retention / 4).
// The engine lives in an EngineSlot (server/engine_slot.h): the server can bind and answer before the model is
// loaded (submits and /health are 503 until then; polls of existing jobs work), and the loader hands the
// engine over with engine_slot().set_engine(...) or reports set_failed(...).
// Usable in-process (tests): construct, start() (binds; port 0 = a free port), use port()/public_url(), stop().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "server/engine_slot.h"

namespace tc::server {

class JobManager;
class KeyStore;

struct ServerConfig {
    std::string host = "127.0.0.1";
    int port = 8000;                     // 0 = any free port
    std::string data_dir = "./tooncrafter-data";
    // Where outputs are stored (server/artifacts.h make_artifact_store): file:///dir or
    // s3://bucket/prefix?endpoint=...; empty = file://<data_dir>/files.
    std::string storage;
    // Scale-out (docs/scale-out.md): redis://HOST:PORT/DB = the jobs live in Redis, shared with other API nodes
    // and with `tooncrafter worker` processes (an API node normally has no engine: its in-process worker idles);
    // empty = the SQLite store under data_dir.
    std::string queue;
    // The absolute base URL clients reach this server at ("https://api.example.com"); the URLs of the v2
    // responses are built from it, never from the request's Host header (the SDK sends its key to them).
    // Empty = http://<host>:<port> (the bound port).
    std::string public_url;
    bool auth = true;                    // false = --no-auth: no API key, no credits
    double retention_s = 3600;           // results and status live this long after finishing
    int max_attempts = 3;                // claims of one job before a restart gives up on it
    std::vector<std::string> allow_private_fetch;  // CIDRs image URLs may reach despite the SSRF rules (tests)
    size_t max_body_bytes = 40u << 20;   // larger bodies: 413
    size_t max_image_bytes = 30u << 20;  // one image (inline, or fetched from a URL): larger is 413
    // Accepted max_width / max_height when there is no local engine (API node); with an engine, the engine's.
    // Empty = the wire contract's 256, 512, 768.
    std::vector<int64_t> allowed_max_sides;
    double sweep_interval_s = 0;         // expired-result sweep period; 0 = min(60 s, retention_s / 4)
    double submit_rate_per_s = 0;        // per API key (or client address without auth); 0 = unlimited
    double submit_burst = 10;
    double sync_timeout_s = 900;         // POST /v1 waits this long for its result, then 504
    // Webhook retry schedule (seconds between attempts); empty = the default (5 s doubling, about an hour).
    // Short schedules are for tests (serve --webhook-backoff).
    std::vector<double> webhook_backoff_s;
    // After-finish hooks (server/finisher.h) held by a node that stopped renewing them this long are taken
    // over by another API node.
    double hooks_claim_idle_s = 60;
    int http_threads = 16;
};

class HttpServer {
public:
    // Not ready until engine_slot() gets an engine (or is declared ready without one).
    explicit HttpServer(ServerConfig cfg);
    // Ready at once with `engine`, which must outlive the server (tests, embedders).
    HttpServer(ServerConfig cfg, const Engine& engine);
    ~HttpServer();  // stop()
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds (throws tc::Error if the address is taken), starts the worker and serves on a background thread.
    void start();
    // Blocks until stop() (from another thread or a signal handler thread).
    void wait();
    void stop();

    int port() const;
    std::string public_url() const;
    JobManager& jobs();
    KeyStore* keys();  // null without auth
    EngineSlot& engine_slot();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tc::server
