// The HTTP server of `tooncrafter serve` (DESIGN.md sections 3 and 6): cpp-httplib threads for the routes
// (server/routes.cpp), one in-process worker (server/worker.h) running the Engine, the SQLite job store and the
// artifact directory under data_dir, API keys and credits (server/auth.h) unless auth is off.
// Usable in-process (tests): construct, start() (binds; port 0 = a free port), use port()/public_url(), stop().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace tc::server {

class JobManager;
class KeyStore;

struct ServerConfig {
    std::string host = "127.0.0.1";
    int port = 8000;                     // 0 = any free port
    std::string data_dir = "./tooncrafter-data";
    // The absolute base URL clients reach this server at ("https://api.example.com"); the URLs of the v2
    // responses are built from it, never from the request's Host header (the SDK sends its key to them).
    // Empty = http://<host>:<port> (the bound port).
    std::string public_url;
    bool auth = true;                    // false = --no-auth: no API key, no credits
    double retention_s = 3600;           // results and status live this long after finishing
    int max_attempts = 3;                // claims of one job before a restart gives up on it
    std::vector<std::string> allow_private_fetch;  // CIDRs image URLs may reach despite the SSRF rules (tests)
    size_t max_body_bytes = 40u << 20;   // larger bodies: 413
    double submit_rate_per_s = 0;        // per API key (or client address without auth); 0 = unlimited
    double submit_burst = 10;
    double sync_timeout_s = 900;         // POST /v1 waits this long for its result, then 504
    int http_threads = 16;
};

class HttpServer {
public:
    // The engine must outlive the server.
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

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tc::server
