// LocalRateLimiter (server/rate_limit.h): token buckets per key, driven by a fake clock.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "server/rate_limit.h"

using tc::server::LocalRateLimiter;

namespace {
struct FakeClock {
    double now = 1000.0;
    LocalRateLimiter::Clock fn() {
        return [this] { return now; };
    }
};
}  // namespace

TEST(RateLimit, BurstThenRefuseWithRetryAfter) {
    FakeClock clock;
    LocalRateLimiter rl(/*rate_per_s=*/0.5, /*burst=*/3, clock.fn());
    double retry = -1;
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(rl.allow("k", &retry)) << i;
    EXPECT_EQ(retry, 0.0);
    EXPECT_FALSE(rl.allow("k", &retry));
    EXPECT_NEAR(retry, 2.0, 1e-9);  // one token at 0.5/s
    clock.now += 1.5;
    EXPECT_FALSE(rl.allow("k", &retry));
    EXPECT_NEAR(retry, 0.5, 1e-9);
    clock.now += 0.5;
    EXPECT_TRUE(rl.allow("k", &retry));
    EXPECT_FALSE(rl.allow("k", &retry));
}

TEST(RateLimit, RefillIsCappedAtBurst) {
    FakeClock clock;
    LocalRateLimiter rl(10, 2, clock.fn());
    EXPECT_TRUE(rl.allow("k"));
    EXPECT_TRUE(rl.allow("k"));
    EXPECT_FALSE(rl.allow("k"));
    clock.now += 3600;  // an hour idle gives back `burst`, not 36000
    EXPECT_TRUE(rl.allow("k"));
    EXPECT_TRUE(rl.allow("k"));
    EXPECT_FALSE(rl.allow("k"));
}

TEST(RateLimit, KeysAreIndependent) {
    FakeClock clock;
    LocalRateLimiter rl(1, 1, clock.fn());
    EXPECT_TRUE(rl.allow("a"));
    EXPECT_FALSE(rl.allow("a"));
    EXPECT_TRUE(rl.allow("b"));
    EXPECT_FALSE(rl.allow("b"));
}

TEST(RateLimit, RefusalDoesNotConsume) {
    FakeClock clock;
    LocalRateLimiter rl(1, 1, clock.fn());
    EXPECT_TRUE(rl.allow("k"));
    for (int i = 0; i < 10; ++i) EXPECT_FALSE(rl.allow("k"));
    clock.now += 1.0;
    EXPECT_TRUE(rl.allow("k"));  // hammering while refused did not push the next token further away
}

TEST(RateLimit, CostAboveOne) {
    FakeClock clock;
    LocalRateLimiter rl(1, 4, clock.fn());
    double retry = 0;
    EXPECT_TRUE(rl.allow("k", &retry, 3));
    EXPECT_FALSE(rl.allow("k", &retry, 3));
    EXPECT_NEAR(retry, 2.0, 1e-9);
}

TEST(RateLimit, DisabledWhenRateIsZero) {
    LocalRateLimiter rl(0, 0);
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(rl.allow("k"));
    EXPECT_EQ(rl.bucket_count(), 0u);
}

TEST(RateLimit, RejectsBurstBelowOne) { EXPECT_THROW(LocalRateLimiter(1, 0.5), tc::Error); }

TEST(RateLimit, EvictsIdleBuckets) {
    FakeClock clock;
    LocalRateLimiter rl(1, 2, clock.fn());
    for (int i = 0; i < 100; ++i) {
        std::string key = "k";  // not "k" + to_string(i): GCC 12 warns (-Wrestrict false positive) on that
        key += std::to_string(i);
        rl.allow(key);
    }
    EXPECT_EQ(rl.bucket_count(), 100u);
    clock.now += 10;  // every bucket has refilled: they are equivalent to absent ones
    EXPECT_TRUE(rl.allow("fresh"));
    EXPECT_EQ(rl.bucket_count(), 1u);
    // An evicted key starts again with a full bucket.
    EXPECT_TRUE(rl.allow("k0"));
    EXPECT_TRUE(rl.allow("k0"));
    EXPECT_FALSE(rl.allow("k0"));
}

TEST(RateLimit, BusyBucketsSurviveTheSweep) {
    FakeClock clock;
    LocalRateLimiter rl(1, 5, clock.fn());
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(rl.allow("busy"));
    clock.now += 2;  // 2 tokens back, not full
    EXPECT_TRUE(rl.allow("other"));
    EXPECT_TRUE(rl.allow("busy"));
    EXPECT_TRUE(rl.allow("busy"));
    EXPECT_FALSE(rl.allow("busy"));
}

TEST(RateLimit, ThreadSafeCountUnderContention) {
    FakeClock clock;  // frozen: exactly `burst` requests may pass in total
    LocalRateLimiter rl(1, 50, clock.fn());
    std::atomic<int> passed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 100; ++i)
                if (rl.allow("shared")) ++passed;
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(passed.load(), 50);
}

TEST(RateLimit, RealClockAllowsBurst) {
    LocalRateLimiter rl(1, 2);
    EXPECT_TRUE(rl.allow("k"));
    EXPECT_TRUE(rl.allow("k"));
    double retry = 0;
    EXPECT_FALSE(rl.allow("k", &retry));
    EXPECT_GT(retry, 0.5);
    EXPECT_LE(retry, 1.0);
}
