// Webhook delivery in the Standard Webhooks style (https://www.standardwebhooks.com, DESIGN.md section 3):
// headers webhook-id / webhook-timestamp / webhook-signature ("v1," + base64 HMAC-SHA256 over
// "<id>.<timestamp>.<body>"), sent from one background thread, retried with exponential backoff, with a
// delivery log per request. The webhook URL goes through the same network policy as image URLs
// (net_policy.h), without redirects; a URL the policy forbids fails at once, without retries.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/net_policy.h"

namespace tc::server {

// "v1," + base64(HMAC-SHA256(key, msg_id + "." + timestamp + "." + body)). A secret "whsec_<base64>" uses the
// decoded bytes as key (the Standard Webhooks convention); any other secret is used as raw bytes.
std::string sign_webhook(const std::string& secret, const std::string& msg_id, int64_t timestamp,
                         const std::string& body);

struct WebhookDelivery {
    int attempt;         // 1-based
    int64_t at_unix;     // when the attempt was made
    int http_status;     // 0 when no HTTP answer arrived
    std::string error;   // empty on success (2xx)
};

// Default schedule between attempts: 5 s doubling, capped at 10 minutes per wait, about one hour in total.
std::vector<double> default_webhook_backoff();

class WebhookSender {
public:
    // backoff_s[i] is the wait before attempt i+2; attempts = backoff_s.size() + 1. Empty = the default.
    explicit WebhookSender(FetchPolicy policy, std::vector<double> backoff_s = {});
    ~WebhookSender();  // stops the thread promptly (an in-flight request is aborted; pending retries dropped)
    WebhookSender(const WebhookSender&) = delete;
    WebhookSender& operator=(const WebhookSender&) = delete;

    // Queues one message. The POSTed body is body_json exactly as given (the caller builds the payload, e.g.
    // {"type": event_type, "timestamp": ..., "data": {...}}); event_type is recorded and sent as the
    // `webhook-event` header. The same webhook-id is used on every retry so receivers can deduplicate.
    void send(const std::string& request_id, const std::string& url, const std::string& secret,
              const std::string& event_type, const std::string& body_json);

    // The delivery attempts for a request, oldest first (empty for an unknown id).
    std::vector<WebhookDelivery> log(const std::string& request_id) const;
    // Drops a request's log (retention: call when the request expires).
    void forget(const std::string& request_id);

    // True when nothing is queued or in flight (for tests and graceful shutdown).
    bool idle() const;

private:
    struct Message {
        std::string request_id, url, secret, event_type, body, msg_id;
        int attempts_done = 0;
        std::chrono::steady_clock::time_point due;
    };
    void run();
    void attempt(Message& m);

    FetchPolicy policy_;
    std::vector<double> backoff_s_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Message> pending_;
    std::map<std::string, std::vector<WebhookDelivery>> log_;
    int in_flight_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;  // last: started after every member above exists
};

}  // namespace tc::server
