// Per-key token buckets. The server keeps a strict one on submits (a refusal is 429 with Retry-After; DESIGN.md
// section 3: limit submits, not polls, because the SDK aborts its wait on a 429). A bucket holds at most
// `burst` tokens and refills at `rate_per_s`; a request takes one.
// RateLimiter is the interface; LocalRateLimiter keeps the buckets in this process (one `serve`), and
// RedisRateLimiter (server/redis_rate_limit.h) keeps them in Redis so that API nodes of the scale-out setup
// share one bucket per key: N nodes allow the limit once, not N times.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace tc::server {

class RateLimiter {
public:
    virtual ~RateLimiter() = default;
    RateLimiter(const RateLimiter&) = delete;
    RateLimiter& operator=(const RateLimiter&) = delete;

    // Takes `cost` tokens from `key`'s bucket. When there are not enough, changes nothing, returns false
    // and sets *retry_after_s (optional) to the seconds until there will be.
    virtual bool allow(const std::string& key, double* retry_after_s = nullptr, double cost = 1.0) = 0;

    double rate_per_s() const { return rate_; }
    double burst() const { return burst_; }

protected:
    // rate_per_s <= 0 disables the limiter (every request allowed). Otherwise burst must be >= 1.
    RateLimiter(double rate_per_s, double burst);
    double rate_;
    double burst_;
};

class LocalRateLimiter final : public RateLimiter {
public:
    // Seconds on a monotonic clock; the default reads std::chrono::steady_clock. Tests inject a fake one.
    using Clock = std::function<double()>;

    LocalRateLimiter(double rate_per_s, double burst, Clock clock = {});

    bool allow(const std::string& key, double* retry_after_s = nullptr, double cost = 1.0) override;
    std::size_t bucket_count() const;  // for tests and metrics

private:
    struct Bucket {
        double tokens;
        double updated;  // clock time of the last refill
    };
    void evict_full_buckets(double now);  // caller holds mutex_

    Clock clock_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Bucket> buckets_;
    double last_sweep_ = 0;
};

// The submit limiter of a node: `queue_url` empty (or the limiter disabled, rate <= 0) = in this process;
// else in the Redis of that redis:// URL, shared with the other API nodes. Throws tc::Error when Redis is
// unreachable.
std::unique_ptr<RateLimiter> make_rate_limiter(double rate_per_s, double burst, const std::string& queue_url);

}  // namespace tc::server
