// Standard Webhooks signing and the background delivery thread (see webhooks.h).
#include "server/webhooks.h"

#include <algorithm>
#include <chrono>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "core/error.h"
#include "server/image_input.h"

namespace tc::server {

std::string sign_webhook(const std::string& secret, const std::string& msg_id, int64_t timestamp,
                         const std::string& body) {
    std::vector<uint8_t> key;
    static const std::string kPrefix = "whsec_";
    if (secret.rfind(kPrefix, 0) == 0) {
        auto decoded = base64_decode_strict(std::string_view(secret).substr(kPrefix.size()), 1u << 16);
        TC_CHECK(decoded.has_value(), "webhook secret: 'whsec_' must be followed by base64");
        key = std::move(*decoded);
    } else {
        key.assign(secret.begin(), secret.end());
    }
    const std::string payload = msg_id + "." + std::to_string(timestamp) + "." + body;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    // HMAC() is the one-shot API (not deprecated in OpenSSL 3); it owns no handle we must free.
    const unsigned char* ok = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                                   reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), mac, &mac_len);
    TC_CHECK(ok != nullptr, "HMAC-SHA256 failed");
    return "v1," + base64_encode(mac, mac_len);
}

std::vector<double> default_webhook_backoff() {
    // 5, 10, 20, ... capped at 600 s per wait, until the waits add up to an hour.
    std::vector<double> out;
    double total = 0, wait = 5;
    while (total + wait <= 3600) {
        out.push_back(wait);
        total += wait;
        wait = std::min(wait * 2, 600.0);
    }
    return out;
}

namespace {

std::string new_message_id() {
    unsigned char raw[16];
    TC_CHECK(RAND_bytes(raw, sizeof raw) == 1, "RAND_bytes failed");
    static const char* hex = "0123456789abcdef";
    std::string id = "msg_";
    for (unsigned char b : raw) {
        id += hex[b >> 4];
        id += hex[b & 15];
    }
    return id;
}

int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double unix_now_precise() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

WebhookSender::WebhookSender(FetchPolicy policy, std::vector<double> backoff_s)
    : policy_(std::move(policy)), backoff_s_(backoff_s.empty() ? default_webhook_backoff() : std::move(backoff_s)) {
    policy_.max_redirects = 0;               // a redirect is a failed delivery, never followed
    policy_.max_bytes = std::min<size_t>(policy_.max_bytes, 64u << 10);  // the receiver's answer is not used
    thread_ = std::thread([this] { run(); });
}

WebhookSender::~WebhookSender() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void WebhookSender::send(const std::string& request_id, const std::string& url, const std::string& secret,
                         const std::string& event_type, const std::string& body_json) {
    send(WebhookMessage{request_id, url, secret, event_type, body_json, "", 0, 0});
}

void WebhookSender::send(WebhookMessage wm) {
    if (wm.msg_id.empty()) wm.msg_id = new_message_id();
    if (wm.attempts_done >= max_attempts()) {
        // Resumed after its last attempt was made but before the outcome was stored: nothing left to try.
        if (observer_) {
            WebhookAttempt a;
            a.delivery = WebhookDelivery{wm.attempts_done, unix_now(), 0, "no attempts left"};
            a.next = WebhookAttempt::Next::GaveUp;
            observer_(wm, a);
        }
        return;
    }
    Message m;
    const double wait_s = std::max(0.0, wm.due_unix - unix_now_precise());
    m.due = std::chrono::steady_clock::now() +
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(wait_s));
    m.m = std::move(wm);
    {
        std::lock_guard<std::mutex> lock(mu_);
        dropped_.erase(m.m.request_id);
        pending_.push_back(std::move(m));
    }
    cv_.notify_all();
}

void WebhookSender::cancel(const std::string& request_id) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto before = pending_.size();
    pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                  [&](const Message& m) { return m.m.request_id == request_id; }),
                   pending_.end());
    if (pending_.size() == before && in_flight_ > 0) dropped_.insert(request_id);
}

std::vector<WebhookDelivery> WebhookSender::log(const std::string& request_id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = log_.find(request_id);
    return it == log_.end() ? std::vector<WebhookDelivery>{} : it->second;
}

bool WebhookSender::idle() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pending_.empty() && in_flight_ == 0;
}

void WebhookSender::run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
        if (pending_.empty()) {
            cv_.wait(lock, [&] { return stop_ || !pending_.empty(); });
            continue;
        }
        auto next = std::min_element(pending_.begin(), pending_.end(),
                                     [](const Message& a, const Message& b) { return a.due < b.due; });
        if (next->due > std::chrono::steady_clock::now()) {
            cv_.wait_until(lock, next->due);  // woken early by send() or stop
            continue;
        }
        Message m = std::move(*next);
        pending_.erase(next);
        ++in_flight_;
        lock.unlock();
        const WebhookAttempt a = attempt(m);  // the network call runs without the lock
        // An attempt aborted by the shutdown is not an attempt: whoever resumes the delivery makes it again.
        bool keep = !stop_;
        if (keep) {
            {
                std::lock_guard<std::mutex> g(mu_);
                log_[m.m.request_id].push_back(a.delivery);
            }
            if (observer_) {
                try {
                    keep = observer_(m.m, a);
                } catch (const std::exception&) {
                    keep = true;  // the observer could not store the outcome: keep retrying regardless
                }
            }
        }
        lock.lock();
        --in_flight_;
        if (dropped_.erase(m.m.request_id) > 0) keep = false;
        if (keep && a.next == WebhookAttempt::Next::Retry && !stop_) {
            m.due = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(backoff_s_[static_cast<size_t>(m.m.attempts_done - 1)]));
            pending_.push_back(std::move(m));
        }
    }
}

// One delivery attempt; m.m.attempts_done counts it. Delivered on a 2xx; GaveUp for an unacceptable URL or
// when the schedule is spent; Retry otherwise.
WebhookAttempt WebhookSender::attempt(Message& msg) {
    WebhookMessage& m = msg.m;
    const int number = ++m.attempts_done;
    WebhookAttempt a;
    a.delivery = WebhookDelivery{number, unix_now(), 0, {}};
    WebhookDelivery& d = a.delivery;
    bool permanent = false;  // the URL is unacceptable: no retry
    try {
        HttpRequest req;
        req.method = "POST";
        req.url = m.url;
        req.body = m.body;
        req.cancel = &stop_;
        req.headers = {{"Content-Type", "application/json"},
                       {"webhook-id", m.msg_id},
                       {"webhook-timestamp", std::to_string(d.at_unix)},
                       {"webhook-signature", sign_webhook(m.secret, m.msg_id, d.at_unix, m.body)},
                       {"webhook-event", m.event_type}};
        const HttpResponse resp = pinned_http_request(req, policy_);
        d.http_status = static_cast<int>(resp.status);
        if (resp.status < 200 || resp.status >= 300) d.error = "HTTP " + std::to_string(resp.status);
    } catch (const ForbiddenTarget& e) {
        d.error = e.what();
        permanent = true;
    } catch (const std::exception& e) {
        d.error = e.what();
    }
    if (d.error.empty()) {
        a.next = WebhookAttempt::Next::Delivered;
    } else if (permanent || number > static_cast<int>(backoff_s_.size())) {
        a.next = WebhookAttempt::Next::GaveUp;
    } else {
        a.next = WebhookAttempt::Next::Retry;
        a.next_at_unix = unix_now_precise() + backoff_s_[static_cast<size_t>(number - 1)];
    }
    return a;
}

void WebhookSender::forget(const std::string& request_id) {
    std::lock_guard<std::mutex> lock(mu_);
    log_.erase(request_id);
}

}  // namespace tc::server
