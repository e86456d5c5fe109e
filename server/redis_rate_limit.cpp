// Token buckets in Redis (see redis_rate_limit.h).
#include "server/redis_rate_limit.h"

#include <charconv>

#include "server/http_error.h"

namespace tc::server {

namespace {

// KEYS: bucket. ARGV: rate per second, burst, cost. Returns {allowed (1|0), retry after in microseconds}.
// The same arithmetic as LocalRateLimiter::allow, on the Redis server's clock; a refusal writes nothing. The
// expiry is when the bucket would be full again, capped at 30 days (an integer PEXPIRE accepts).
constexpr const char* kTake = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(b[1]), tonumber(b[2])
if not tokens or not ts then
  tokens, ts = burst, now
else
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
  ts = math.max(ts, now)
end
if tokens >= cost then
  tokens = tokens - cost
  redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', ts)
  redis.call('PEXPIRE', KEYS[1], math.min(math.ceil((burst - tokens) / rate * 1000) + 1000, 2592000000))
  return {1, 0}
end
return {0, math.ceil((math.min(cost, burst) - tokens) / rate * 1000000)}
)lua";

std::string num(double v) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

}  // namespace

RedisRateLimiter::RedisRateLimiter(const std::string& url, double rate_per_s, double burst,
                                   RedisRateLimiterOptions opts)
    : RateLimiter(rate_per_s, burst), opts_(std::move(opts)), conn_(RedisUrl::parse(url), opts_.redis) {
    conn_.command({"PING"});  // RedisError (a tc::Error) now, not on the first submit
}

RedisRateLimiter::~RedisRateLimiter() = default;

bool RedisRateLimiter::allow(const std::string& key, double* retry_after_s, double cost) {
    if (retry_after_s) *retry_after_s = 0;
    if (rate_ <= 0) return true;
    const std::string bucket = opts_.prefix + "ratelimit:" + opts_.name + ":" + key;
    const std::vector<std::string> args{num(rate_), num(burst_), num(cost)};
    RedisReply r;
    std::lock_guard lk(mu_);
    try {
        // One retry on a fresh connection when a reused one turns out dead (a Redis restart); a take that ran
        // but lost its reply costs the key one token at most.
        const bool reused = conn_.connected();
        try {
            r = conn_.eval(kTake, {bucket}, args);
        } catch (const RedisError& e) {
            if (!e.io || !reused) throw;
            r = conn_.eval(kTake, {bucket}, args);
        }
    } catch (const RedisError& e) {
        if (!e.io) throw;
        HttpError h(503, std::string("rate limiter unavailable: ") + e.what());
        h.retry_after_s = 2;
        throw h;
    }
    if (r.at(0).as_integer() == 1) return true;
    if (retry_after_s) *retry_after_s = double(r.at(1).as_integer()) / 1e6;
    return false;
}

}  // namespace tc::server
