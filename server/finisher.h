// The Finisher: runs the after-finish hooks of finished jobs (refunds and webhooks) from the durable outbox
// that the job store keeps (job_store.h take_hooks). It runs in the processes that have the key store and the
// webhook secrets: the single-process server and every API node of the scale-out setup, never a worker. So a
// job finished by a remote worker, by a process that died right after finishing it, or by the restart recovery
// gets its refund and its webhook like any other.
//
// One thread takes pending hooks (new ones, and those another finisher left unrenewed for claim_idle_s: it
// died), and for each job:
//  - refund: a FAILED job's price goes back to its key, at most once (the store's refunded mark is set first);
//  - webhook: queued on the WebhookSender with webhook-id "msg_<request id>" (the same on every attempt, in every
//    process); after each attempt the delivery state is stored in the job record (the status shows it), so a
//    restart or another node resumes the retries where they stood. While retries are pending the finisher
//    holds the hooks and renews its hold; when the delivery ends (delivered, or given up) the hooks are done.
// The stored webhook state (JSON, also the `webhook` field of the request status; docs/serving.md):
//   {"url_host": "hooks.example.com", "event": "request.failed", "webhook_id": "msg_<id>",
//    "state": "pending" | "delivered" | "failed" | "skipped", "next_attempt_at": <unix s, while pending>,
//    "deliveries": [{"attempt": 1, "at": <unix s>, "http_status": 500, "error": "HTTP 500"}, ...]}
// Never the secret, never the URL's path or query (they may carry a token).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/jobs.h"
#include "server/net_policy.h"
#include "server/webhooks.h"

namespace tc::server {

class KeyStore;

struct FinisherOptions {
    std::string consumer;            // this finisher's name among the outbox's consumers; unique per process
    double claim_idle_s = 60;        // hooks held this long without a renewal are taken over by another finisher
    double poll_s = 1;               // the longest wait between looks at the outbox (a local finish wakes it)
    FetchPolicy policy;              // for webhook URLs (SSRF rules; redirects are never followed)
    std::vector<double> backoff_s;   // webhook retry schedule; empty = default_webhook_backoff()
    std::string server_secret;       // signs webhooks of requests without an API key (--no-auth)
};

// A process-unique finisher name: "<prefix>-<hostname>-<pid>-<random>" (the random part: a restarted container
// often has the same pid).
std::string default_finisher_name(const std::string& prefix);

// The host[:port] of a URL, without user info, path or query ("" when there is none).
std::string url_host(const std::string& url);

class Finisher {
public:
    // keys: null without auth. output_url: the URL of a COMPLETED job's output for the webhook body.
    Finisher(JobManager& jobs, KeyStore* keys, std::function<std::string(const JobRecord&)> output_url,
             FinisherOptions opts);
    ~Finisher();  // stop()
    Finisher(const Finisher&) = delete;
    Finisher& operator=(const Finisher&) = delete;

    void start();  // the thread
    // Stops the thread and the sender; an attempt in flight is aborted and not recorded (the next finisher
    // makes it again). The hooks held stay pending in the store.
    void stop();

    // One pass without the thread (tests): takes pending hooks, refunds, queues webhooks, renews the holds.
    // Returns how many jobs' hooks were taken.
    int run_once();
    // Jobs whose webhook this finisher is delivering now (held hooks).
    size_t held() const;
    const std::string& name() const { return opts_.consumer; }

private:
    void loop();
    void handle(const JobRecord& j);
    void refund(const JobRecord& j, const nlohmann::json& params);
    void renew_held();
    bool on_attempt(const WebhookMessage& m, const WebhookAttempt& a);
    std::string secret_for(const nlohmann::json& params) const;

    JobManager& jobs_;
    KeyStore* keys_;
    std::function<std::string(const JobRecord&)> output_url_;
    FinisherOptions opts_;
    mutable std::mutex mu_;
    std::map<std::string, nlohmann::json> held_;  // request id -> its webhook state (while retries are pending)
    std::chrono::steady_clock::time_point next_renew_{};
    std::atomic<bool> stop_{false};
    std::thread thread_;
    std::unique_ptr<WebhookSender> sender_;  // its observer is this object: stopped before anything else goes
    WebhookSender* sender_raw_ = nullptr;    // the same, for the observer (runs while stop() resets sender_)
};

}  // namespace tc::server
