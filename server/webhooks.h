// Webhook delivery in the Standard Webhooks style (https://www.standardwebhooks.com, DESIGN.md section 3):
// headers webhook-id / webhook-timestamp / webhook-signature ("v1," + base64 HMAC-SHA256 over
// "<id>.<timestamp>.<body>"), sent from one background thread, retried with exponential backoff, with a
// delivery log per request. The webhook URL goes through the same network policy as image URLs
// (net_policy.h), without redirects; a URL the policy forbids fails at once, without retries.
// The sender keeps nothing durable itself: an observer (server/finisher.h) is told of every attempt and what
// comes next, and stores that in the job record, so that a delivery resumes (same webhook-id, attempt count and
// due time) in another process or after a restart, through send(WebhookMessage) with the stored facts.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
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

// One message to deliver.
struct WebhookMessage {
    std::string request_id, url, secret, event_type, body;
    std::string msg_id;        // the webhook-id header; "" = a new random one
    int attempts_done = 0;     // attempts made before (a delivery resumed after a restart or a take-over)
    double due_unix = 0;       // the next attempt not before this unix time (0 = at once)
};

// What one attempt led to, for the observer.
struct WebhookAttempt {
    enum class Next { Retry, Delivered, GaveUp };
    WebhookDelivery delivery;
    Next next = Next::Retry;
    double next_at_unix = 0;   // Retry: when the next attempt is due
};

// Called on the sender's thread after every attempt (not for one aborted by the sender's shutdown: that attempt
// is made again by whoever resumes the delivery). Returns false to drop the message's remaining retries.
using WebhookObserver = std::function<bool(const WebhookMessage& m, const WebhookAttempt& a)>;

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
    // The general form: a given webhook-id, attempts already made, a due time. A message whose attempts are
    // all spent is not sent; the observer hears GaveUp at once.
    void send(WebhookMessage m);
    // Set before the first send.
    void set_observer(WebhookObserver f) { observer_ = std::move(f); }
    // Drops the queued retries of a request (an attempt in flight completes and is reported, not retried).
    void cancel(const std::string& request_id);
    // Attempts per message: 1 + the waits of the schedule.
    int max_attempts() const { return static_cast<int>(backoff_s_.size()) + 1; }

    // The delivery attempts for a request, oldest first (empty for an unknown id).
    std::vector<WebhookDelivery> log(const std::string& request_id) const;
    // Drops a request's log (retention: call when the request expires).
    void forget(const std::string& request_id);

    // True when nothing is queued or in flight (for tests and graceful shutdown).
    bool idle() const;

private:
    struct Message {
        WebhookMessage m;
        std::chrono::steady_clock::time_point due;
    };
    void run();
    WebhookAttempt attempt(Message& m);

    FetchPolicy policy_;
    std::vector<double> backoff_s_;
    WebhookObserver observer_;
    std::set<std::string> dropped_;  // cancelled while an attempt was in flight
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Message> pending_;
    std::map<std::string, std::vector<WebhookDelivery>> log_;
    int in_flight_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;  // last: started after every member above exists
};

}  // namespace tc::server
