// What the route handlers of routes.cpp share (internal to the server: http_server.cpp builds it).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "server/auth.h"
#include "server/engine_slot.h"
#include "server/http_server.h"
#include "server/jobs.h"
#include "server/net_policy.h"
#include "server/rate_limit.h"
#include "server/worker.h"

namespace httplib {
class Server;
}

namespace tc::server {

// Prometheus counters the routes and the worker update.
class ServerMetrics {
public:
    void observe_http(double seconds);
    void observe_step(double seconds);
    void count_submit() { submits_.fetch_add(1); }
    // Prometheus text exposition for the counters held here (the caller adds the job gauges).
    std::string render() const;

    static constexpr double kBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

private:
    mutable std::mutex mu_;
    std::vector<uint64_t> http_buckets_ = std::vector<uint64_t>(std::size(kBuckets), 0);
    uint64_t http_count_ = 0;
    double http_sum_ = 0;
    uint64_t step_count_ = 0;
    double step_sum_ = 0;
    std::atomic<uint64_t> submits_{0};
};

struct ServerContext {
    ServerConfig cfg;
    EngineSlot& engines;       // the engine once loaded (null while loading, or on an API node without one)
    JobManager& jobs;
    Worker& worker;
    KeyStore* keys = nullptr;  // null: auth off
    RateLimiter& submit_limiter;
    ServerMetrics& metrics;
    FetchPolicy fetch_policy;
    std::string public_url;    // no trailing slash
    std::atomic<bool>& stopping;
};

void register_routes(httplib::Server& svr, ServerContext& ctx);

// The hand-written OpenAPI 3 document of the routes (GET /openapi.json).
std::string openapi_json(const std::string& public_url);

}  // namespace tc::server
