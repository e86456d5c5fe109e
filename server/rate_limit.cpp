// Token-bucket rate limiting per key in this process, and the limiter factory (see rate_limit.h).
#include "server/rate_limit.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "server/redis_rate_limit.h"

namespace tc::server {

namespace {
double steady_seconds() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}
}  // namespace

RateLimiter::RateLimiter(double rate_per_s, double burst) : rate_(rate_per_s), burst_(burst) {
    TC_CHECK(rate_ <= 0 || burst_ >= 1, "rate limiter: burst must be at least 1 (got ", burst_, ")");
}

std::unique_ptr<RateLimiter> make_rate_limiter(double rate_per_s, double burst, const std::string& queue_url) {
    if (rate_per_s <= 0 || queue_url.empty()) return std::make_unique<LocalRateLimiter>(rate_per_s, burst);
    return std::make_unique<RedisRateLimiter>(queue_url, rate_per_s, burst);
}

LocalRateLimiter::LocalRateLimiter(double rate_per_s, double burst, Clock clock)
    : RateLimiter(rate_per_s, burst), clock_(clock ? std::move(clock) : Clock(steady_seconds)) {
    last_sweep_ = clock_();
}

bool LocalRateLimiter::allow(const std::string& key, double* retry_after_s, double cost) {
    if (retry_after_s) *retry_after_s = 0;
    if (rate_ <= 0) return true;
    const double now = clock_();
    std::lock_guard lock(mutex_);
    evict_full_buckets(now);

    // A key seen for the first time (or evicted because it was full) starts with a full bucket.
    auto [it, inserted] = buckets_.try_emplace(key, Bucket{burst_, now});
    Bucket& b = it->second;
    if (!inserted) {
        b.tokens = std::min(burst_, b.tokens + std::max(0.0, now - b.updated) * rate_);
        b.updated = std::max(b.updated, now);
    }
    if (b.tokens >= cost) {
        b.tokens -= cost;
        return true;
    }
    if (retry_after_s) *retry_after_s = (std::min(cost, burst_) - b.tokens) / rate_;
    return false;
}

std::size_t LocalRateLimiter::bucket_count() const {
    std::lock_guard lock(mutex_);
    return buckets_.size();
}

// A bucket left alone for burst/rate seconds has refilled completely, which is the same as having no bucket:
// dropping it keeps memory bounded by the keys active in the last refill period. Sweeps run at most once per
// refill period (and at most once a second), so the cost per request stays amortised O(1).
void LocalRateLimiter::evict_full_buckets(double now) {
    const double refill_time = burst_ / rate_;
    if (now - last_sweep_ < std::max(1.0, refill_time)) return;
    last_sweep_ = now;
    std::erase_if(buckets_, [&](const auto& kv) {
        const Bucket& b = kv.second;
        return b.tokens + (now - b.updated) * rate_ >= burst_;
    });
}

}  // namespace tc::server
