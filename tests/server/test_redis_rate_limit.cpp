// The Redis rate limiter (server/redis_rate_limit.h) against a real redis-server on a free loopback port
// (skipped when redis-server is not installed): burst then refusal with Retry-After, two limiter objects (two
// API nodes) sharing one bucket per key, refusals that take nothing, refill, the idle expiry of a bucket,
// concurrent takes, Redis going away (503), and the factory's choice. Rates are chosen so that the test's own
// run time cannot refill a token (0.001/s) except where refill is the point.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "redis_test_server.h"
#include "server/http_error.h"
#include "server/rate_limit.h"
#include "server/redis.h"
#include "server/redis_rate_limit.h"

namespace {

using namespace tc::server;
using tc::test::TestRedisServer;

class RedisRateLimitTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (tc::test::redis_server_binary().empty()) GTEST_SKIP() << "redis-server is not installed";
        redis_ = std::make_unique<TestRedisServer>();
    }
    std::unique_ptr<RateLimiter> limiter(double rate, double burst) const {
        return make_rate_limiter(rate, burst, redis_->url());
    }
    std::unique_ptr<TestRedisServer> redis_;
};

}  // namespace

TEST_F(RedisRateLimitTest, BurstThenRefuseWithRetryAfter) {
    auto rl = limiter(/*rate_per_s=*/0.01, /*burst=*/3);
    EXPECT_NE(dynamic_cast<RedisRateLimiter*>(rl.get()), nullptr);
    double retry = -1;
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(rl->allow("k", &retry)) << i;
    EXPECT_EQ(retry, 0.0);
    EXPECT_FALSE(rl->allow("k", &retry));
    // One token at 0.01/s: 100 s, less the few milliseconds of refill since the burst was taken.
    EXPECT_GT(retry, 90.0);
    EXPECT_LE(retry, 100.0);
    EXPECT_TRUE(rl->allow("other"));  // keys are independent
}

TEST_F(RedisRateLimitTest, TwoNodesShareOneBucket) {
    auto node1 = limiter(0.001, 4);
    auto node2 = limiter(0.001, 4);
    EXPECT_TRUE(node1->allow("key_a"));
    EXPECT_TRUE(node2->allow("key_a"));
    EXPECT_TRUE(node1->allow("key_a"));
    EXPECT_TRUE(node2->allow("key_a"));
    double retry = 0;
    EXPECT_FALSE(node1->allow("key_a", &retry));  // 4 in total, not 4 per node
    EXPECT_GT(retry, 0);
    EXPECT_FALSE(node2->allow("key_a", &retry));
    EXPECT_GT(retry, 0);
    EXPECT_TRUE(node2->allow("key_b"));
}

TEST_F(RedisRateLimitTest, RefusalTakesNothing) {
    auto rl = limiter(0.001, 1);
    EXPECT_TRUE(rl->allow("k"));
    double retry = 0;
    for (int i = 0; i < 10; ++i) EXPECT_FALSE(rl->allow("k", &retry));
    // Still one token away (1000 s), not eleven: hammering while refused does not push the next token further.
    EXPECT_GT(retry, 900.0);
    EXPECT_LE(retry, 1000.0);
}

TEST_F(RedisRateLimitTest, TokensComeBack) {
    auto rl = limiter(/*rate_per_s=*/20, /*burst=*/1);
    EXPECT_TRUE(rl->allow("k"));
    // 0.05 s per token; after 0.3 s (on any clock) one is back.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_TRUE(rl->allow("k"));
}

TEST_F(RedisRateLimitTest, CostAboveOne) {
    auto rl = limiter(0.001, 4);
    double retry = 0;
    EXPECT_TRUE(rl->allow("k", &retry, 3));
    EXPECT_FALSE(rl->allow("k", &retry, 3));
    EXPECT_GT(retry, 1900.0);  // 2 tokens at 0.001/s
    EXPECT_LE(retry, 2000.0);
    EXPECT_TRUE(rl->allow("k", &retry, 1));
}

TEST_F(RedisRateLimitTest, IdleBucketExpires) {
    auto rl = limiter(1, 2);
    EXPECT_TRUE(rl->allow("idle"));
    RedisConnection c(RedisUrl::parse(redis_->url()));
    // One token short: full again after 1 s; the key lives that long plus a second of slack.
    const int64_t ttl = c.command({"PTTL", "tooncrafter:ratelimit:submit:idle"}).as_integer();
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, 2000);
}

TEST_F(RedisRateLimitTest, ConcurrentTakesOnSeveralNodes) {
    std::vector<std::unique_ptr<RateLimiter>> nodes;
    for (int i = 0; i < 4; ++i) nodes.push_back(limiter(0.001, 50));
    std::atomic<int> passed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 25; ++i)
                if (nodes[size_t(t % 4)]->allow("shared")) ++passed;
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(passed.load(), 50);
}

TEST_F(RedisRateLimitTest, RedisGoneIsServiceUnavailable) {
    auto rl = limiter(1, 2);
    EXPECT_TRUE(rl->allow("k"));
    redis_.reset();
    try {
        rl->allow("k");
        FAIL() << "allow without Redis succeeded";
    } catch (const HttpError& e) {
        EXPECT_EQ(e.status, 503);
        EXPECT_GT(e.retry_after_s, 0);
    }
}

TEST(RedisRateLimit, FactoryChoosesTheBackend) {
    // No queue: in this process. Disabled (rate 0): in this process, and Redis is never contacted.
    auto local = make_rate_limiter(1, 2, "");
    EXPECT_NE(dynamic_cast<LocalRateLimiter*>(local.get()), nullptr);
    const std::string closed = "redis://127.0.0.1:" + std::to_string(tc::test::free_loopback_port()) + "/0";
    auto off = make_rate_limiter(0, 1, closed);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(off->allow("k"));
    // Enabled with a queue: Redis, which must be reachable at construction.
    EXPECT_THROW(make_rate_limiter(1, 2, closed), tc::Error);
    EXPECT_THROW(make_rate_limiter(1, 0.5, ""), tc::Error);
}
