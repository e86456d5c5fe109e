// The token-bucket rate limiter in Redis: one bucket per key shared by every API node of the scale-out setup
// (`serve --queue redis://... --rate-limit R`), so the limit holds per key across all nodes together. Each
// take is one Lua script that reads the server's clock (TIME: the nodes' clocks never matter), refills, takes
// and answers the Retry-After, atomically. Key: <prefix>ratelimit:<name>:<who>, a hash {tokens, ts} that
// expires once it would have refilled completely (an idle key costs nothing, as in LocalRateLimiter).
// Every node must run with the same rate and burst (each take passes its own).
#pragma once

#include <mutex>
#include <string>

#include "server/rate_limit.h"
#include "server/redis.h"

namespace tc::server {

struct RedisRateLimiterOptions {
    std::string prefix = "tooncrafter:";  // the job store's (RedisJobStoreOptions::prefix)
    std::string name = "submit";          // which limiter: a node may keep several
    RedisOptions redis;
};

// Thread-safe: one connection behind a mutex.
class RedisRateLimiter final : public RateLimiter {
public:
    // Connects at once: throws tc::Error when Redis is unreachable. Later connection failures make allow()
    // throw HttpError 503 (Retry-After 2): without Redis the node cannot take the job either.
    RedisRateLimiter(const std::string& url, double rate_per_s, double burst, RedisRateLimiterOptions opts = {});
    ~RedisRateLimiter() override;

    bool allow(const std::string& key, double* retry_after_s = nullptr, double cost = 1.0) override;

private:
    RedisRateLimiterOptions opts_;
    std::mutex mu_;
    RedisConnection conn_;
};

}  // namespace tc::server
