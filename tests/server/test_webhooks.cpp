// Standard Webhooks signing and the retrying WebhookSender (server/webhooks.h), against a local receiver.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "server/webhooks.h"

namespace tc::server {
namespace {

class Receiver {
public:
    struct Hit {
        std::string id, timestamp, signature, event, content_type, body;
    };
    explicit Receiver(int fail_first) : fail_first_(fail_first) {
        svr_.Post("/hook", [this](const httplib::Request& q, httplib::Response& r) {
            std::lock_guard<std::mutex> lock(mu_);
            hits_.push_back({q.get_header_value("webhook-id"), q.get_header_value("webhook-timestamp"),
                             q.get_header_value("webhook-signature"), q.get_header_value("webhook-event"),
                             q.get_header_value("Content-Type"), q.body});
            r.status = static_cast<int>(hits_.size()) <= fail_first_ ? 500 : 204;
        });
        port_ = svr_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { svr_.listen_after_bind(); });
        for (int i = 0; i < 2000 && !svr_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ~Receiver() {
        svr_.stop();
        if (thread_.joinable()) thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
    std::vector<Hit> hits() {
        std::lock_guard<std::mutex> lock(mu_);
        return hits_;
    }

private:
    int fail_first_;
    int port_ = 0;
    httplib::Server svr_;
    std::thread thread_;
    std::mutex mu_;
    std::vector<Hit> hits_;
};

// Polls until the log has n entries (bounded).
std::vector<WebhookDelivery> wait_log(const WebhookSender& s, const std::string& id, size_t n) {
    for (int i = 0; i < 1500; ++i) {  // up to 30 s: only a hung sender reaches it
        auto log = s.log(id);
        if (log.size() >= n) return log;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return s.log(id);
}

FetchPolicy loopback_policy() {
    FetchPolicy p;
    p.allow_private.push_back(Cidr::parse("127.0.0.1/32"));
    p.connect_timeout_ms = 2000;
    p.total_timeout_ms = 5000;
    return p;
}

TEST(Webhooks, SignatureMatchesStandardWebhooksExample) {
    // The example of the Standard Webhooks specification.
    EXPECT_EQ(sign_webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                           R"({"test": 2432232314})"),
              "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    // Changing any part changes the signature.
    EXPECT_NE(sign_webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331,
                           R"({"test": 2432232314})"),
              "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    EXPECT_THROW(sign_webhook("whsec_not base64!", "m", 1, "{}"), tc::Error);
    EXPECT_EQ(sign_webhook("raw-secret", "m", 1, "{}").rfind("v1,", 0), 0u);
}

TEST(Webhooks, DefaultBackoffIsExponentialAndBoundedByAnHour) {
    const auto b = default_webhook_backoff();
    ASSERT_GE(b.size(), 5u);
    EXPECT_DOUBLE_EQ(b[0], 5);
    EXPECT_DOUBLE_EQ(b[1], 10);
    EXPECT_DOUBLE_EQ(b[2], 20);
    double total = 0;
    for (double w : b) {
        EXPECT_LE(w, 600);
        total += w;
    }
    EXPECT_LE(total, 3600);
    EXPECT_GT(total, 1800);
}

TEST(Webhooks, RetriesUntilSuccessAndLogsEveryAttempt) {
    Receiver rx(/*fail_first=*/2);
    const std::string body = R"({"type":"request.completed","data":{"request_id":"r1"}})";
    {
        WebhookSender sender(loopback_policy(), {0.1, 0.1, 0.1, 0.1});
        sender.send("r1", rx.url(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "request.completed", body);
        const auto log = wait_log(sender, "r1", 3);
        ASSERT_EQ(log.size(), 3u);
        EXPECT_EQ(log[0].attempt, 1);
        EXPECT_EQ(log[0].http_status, 500);
        EXPECT_FALSE(log[0].error.empty());
        EXPECT_EQ(log[1].attempt, 2);
        EXPECT_EQ(log[1].http_status, 500);
        EXPECT_EQ(log[2].attempt, 3);
        EXPECT_EQ(log[2].http_status, 204);
        EXPECT_TRUE(log[2].error.empty());
        EXPECT_GT(log[2].at_unix, 1600000000);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        EXPECT_EQ(sender.log("r1").size(), 3u);  // no attempt after the success
        EXPECT_TRUE(sender.idle());
        EXPECT_TRUE(sender.log("unknown").empty());
    }
    const auto hits = rx.hits();
    ASSERT_EQ(hits.size(), 3u);
    for (const auto& h : hits) {
        EXPECT_EQ(h.body, body);
        EXPECT_EQ(h.id, hits[0].id);  // one message id across retries (receivers deduplicate on it)
        EXPECT_EQ(h.id.rfind("msg_", 0), 0u);
        EXPECT_EQ(h.event, "request.completed");
        EXPECT_EQ(h.content_type, "application/json");
        // The receiver's verification: recompute the signature from the headers it got.
        EXPECT_EQ(h.signature, sign_webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h.id, std::stoll(h.timestamp), h.body));
    }
}

TEST(Webhooks, GivesUpAfterTheScheduleAndAppliesTheNetworkPolicy) {
    Receiver rx(/*fail_first=*/100);
    WebhookSender sender(loopback_policy(), {0.05, 0.05});
    sender.send("r2", rx.url(), "secret", "request.failed", "{}");
    const auto log = wait_log(sender, "r2", 3);
    ASSERT_EQ(log.size(), 3u);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(sender.log("r2").size(), 3u);  // 1 + backoff.size() attempts, then it stops
    EXPECT_EQ(rx.hits().size(), 3u);

    sender.forget("r2");
    EXPECT_TRUE(sender.log("r2").empty());

    // Without the allowlist, 127.0.0.1 is forbidden: one attempt logged with the reason, no retry (the URL
    // cannot become acceptable), nothing arrives.
    WebhookSender strict(FetchPolicy{}, {0.01, 0.01});
    strict.send("r3", rx.url(), "secret", "request.failed", "{}");
    const auto denied = wait_log(strict, "r3", 1);
    ASSERT_EQ(denied.size(), 1u);
    EXPECT_EQ(denied[0].http_status, 0);
    EXPECT_NE(denied[0].error.find("forbidden"), std::string::npos) << denied[0].error;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(strict.log("r3").size(), 1u);
    EXPECT_TRUE(strict.idle());
    strict.send("r5", "ftp://127.0.0.1/hook", "secret", "request.failed", "{}");
    const auto ftp = wait_log(strict, "r5", 1);
    ASSERT_EQ(ftp.size(), 1u);
    EXPECT_NE(ftp[0].error.find("scheme"), std::string::npos) << ftp[0].error;
    EXPECT_EQ(rx.hits().size(), 3u);
}

TEST(Webhooks, DestructorStopsPromptlyWithPendingRetries) {
    Receiver rx(/*fail_first=*/100);
    const auto t0 = std::chrono::steady_clock::now();
    {
        WebhookSender sender(loopback_policy());  // default schedule: next retry in 5 s
        sender.send("r4", rx.url(), "secret", "request.failed", "{}");
        wait_log(sender, "r4", 1);
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(4500));  // the retry was due at 5 s
}

}  // namespace
}  // namespace tc::server
