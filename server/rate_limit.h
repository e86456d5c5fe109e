// Per-key token buckets. The server keeps two: a strict one on submits (a refusal is 429 with Retry-After)
// and a generous one on polls (DESIGN.md section 3: limit submits, not polls, because the SDK aborts its
// wait on a 429). A bucket holds at most `burst` tokens and refills at `rate_per_s`; a request takes one.
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace tc::server {

class RateLimiter {
public:
    // Seconds on a monotonic clock; the default reads std::chrono::steady_clock. Tests inject a fake one.
    using Clock = std::function<double()>;

    // rate_per_s <= 0 disables the limiter (every request allowed). Otherwise burst must be >= 1.
    RateLimiter(double rate_per_s, double burst, Clock clock = {});

    // Takes `cost` tokens from `key`'s bucket. When there are not enough, changes nothing, returns false
    // and sets *retry_after_s (optional) to the seconds until there will be.
    bool allow(const std::string& key, double* retry_after_s = nullptr, double cost = 1.0);

    std::size_t bucket_count() const;  // for tests and metrics
    double rate_per_s() const { return rate_; }
    double burst() const { return burst_; }

private:
    struct Bucket {
        double tokens;
        double updated;  // clock time of the last refill
    };
    void evict_full_buckets(double now);  // caller holds mutex_

    double rate_;
    double burst_;
    Clock clock_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Bucket> buckets_;
    double last_sweep_ = 0;
};

}  // namespace tc::server
