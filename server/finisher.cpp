// The after-finish hooks (see finisher.h).
#include "server/finisher.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "core/error.h"
#include "server/artifacts.h"
#include "server/auth.h"

namespace tc::server {

using json = nlohmann::json;

std::string default_finisher_name(const std::string& prefix) {
    char host[256] = {0};
    if (gethostname(host, sizeof host - 1) != 0 || !host[0]) std::snprintf(host, sizeof host, "host");
    std::string h;
    for (const char* p = host; *p && h.size() < 48; ++p)
        h += (std::isalnum(static_cast<unsigned char>(*p)) || *p == '-' || *p == '.') ? *p : '-';
    return prefix + "-" + h + "-" + std::to_string(getpid()) + "-" + random_hex_id().substr(0, 8);
}

std::string url_host(const std::string& url) {
    size_t start = url.find("://");
    start = start == std::string::npos ? 0 : start + 3;
    size_t end = url.find_first_of("/?#", start);
    std::string authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (const size_t at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
    return authority;
}

Finisher::Finisher(JobManager& jobs, KeyStore* keys, std::function<std::string(const JobRecord&)> output_url,
                   FinisherOptions opts)
    : jobs_(jobs), keys_(keys), output_url_(std::move(output_url)), opts_(std::move(opts)) {
    TC_CHECK(!opts_.consumer.empty(), "the finisher needs a consumer name");
    TC_CHECK(opts_.claim_idle_s > 0, "the finisher's claim idle time must be positive");
    sender_ = std::make_unique<WebhookSender>(opts_.policy, opts_.backoff_s);
    sender_raw_ = sender_.get();
    sender_->set_observer([this](const WebhookMessage& m, const WebhookAttempt& a) { return on_attempt(m, a); });
}

Finisher::~Finisher() { stop(); }

void Finisher::start() {
    stop_ = false;
    thread_ = std::thread([this] { loop(); });
}

void Finisher::stop() {
    stop_ = true;
    jobs_.notify_all();
    if (thread_.joinable()) thread_.join();
    sender_.reset();  // joins the sender's thread: no observer call after this
}

size_t Finisher::held() const {
    std::lock_guard lk(mu_);
    return held_.size();
}

void Finisher::loop() {
    // Also often enough to renew the holds several times per idle period.
    const double wait_s = std::min(std::clamp(opts_.poll_s, 0.01, 60.0), std::clamp(opts_.claim_idle_s / 4, 0.05, 5.0));
    const auto poll = std::chrono::milliseconds(int64_t(wait_s * 1000));
    while (!stop_) {
        const uint64_t seen = jobs_.version();
        try {
            run_once();
        } catch (const std::exception& e) {
            // The store is unreachable (Redis restarting): the hooks stay pending; the next pass retries.
            std::fprintf(stderr, "after-finish hooks: %s\n", e.what());
        }
        if (stop_) break;
        jobs_.wait_for_change(seen, poll);
        // A job that changes often (progress of a running job) must not turn this into a busy loop.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

int Finisher::run_once() {
    if (!sender_) return 0;
    const auto taken = jobs_.take_hooks(opts_.consumer, opts_.claim_idle_s, 32);
    for (const JobRecord& j : taken) {
        {
            std::lock_guard lk(mu_);
            if (held_.count(j.id)) continue;  // ours already (a renewal came late): its delivery is under way
        }
        try {
            handle(j);
        } catch (const std::exception& e) {
            // Left pending under this finisher's hold: taken again once the hold goes stale (claim_idle_s).
            std::fprintf(stderr, "job %s: after-finish hooks failed: %s\n", j.id.c_str(), e.what());
        }
    }
    renew_held();
    return int(taken.size());
}

void Finisher::renew_held() {
    // Several renewals per idle period, so one slow round trip does not cost the hold.
    const auto now = std::chrono::steady_clock::now();
    if (now < next_renew_) return;
    next_renew_ = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(std::clamp(opts_.claim_idle_s / 4, 0.05, 5.0)));
    std::vector<std::string> ids;
    {
        std::lock_guard lk(mu_);
        for (const auto& [id, st] : held_) ids.push_back(id);
    }
    for (const auto& id : ids) {
        bool mine = true;
        try {
            mine = jobs_.renew_hooks(opts_.consumer, id);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "job %s: cannot renew the webhook's hold: %s\n", id.c_str(), e.what());
            continue;  // unreachable store: maybe still ours; next period
        }
        if (mine) continue;
        // Taken over by another finisher (this one was presumed dead), or the job expired: stop retrying here.
        std::fprintf(stderr, "job %s: webhook retries handed over (taken over elsewhere, or the job expired)\n",
                     id.c_str());
        sender_->cancel(id);
        std::lock_guard lk(mu_);
        held_.erase(id);
    }
}

std::string Finisher::secret_for(const json& p) const {
    const std::string key_id = p.value("key_id", std::string());
    if (keys_ && !key_id.empty())
        if (auto k = keys_->get(key_id)) return k->webhook_secret;
    return opts_.server_secret;
}

void Finisher::refund(const JobRecord& j, const json& p) {
    if (j.state != JobState::Failed || j.refunded) return;
    const std::string key_id = p.value("key_id", std::string());
    const int64_t price = p.value("price", int64_t(0));
    if (key_id.empty() || price <= 0) return;
    if (!keys_) {
        // A job charged on a node with auth, finished here: API nodes must share one auth setting.
        std::fprintf(stderr, "job %s: %lld credits of key %s not refunded: this node runs without API keys "
                     "(--no-auth); run every API node with the same setting\n", j.id.c_str(),
                     static_cast<long long>(price), key_id.c_str());
        return;
    }
    // Marked first, refunded second. A finisher that dies between the two loses this one refund (logged below
    // when it is an error; a crash is not), but a refund can never be paid twice. The other order would pay it
    // again whenever a finisher died after refunding and before marking: its hooks are taken over by another
    // process, which has no way to tell that the credits already went back.
    if (!jobs_.mark_refunded(j.id)) return;
    try {
        keys_->refund(key_id, price);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "job %s: %lld credits of key %s NOT refunded: %s\n", j.id.c_str(),
                     static_cast<long long>(price), key_id.c_str(), e.what());
    }
}

void Finisher::handle(const JobRecord& j) {
    const json p = json::parse(j.params);
    refund(j, p);
    const std::string url = p.value("webhook", std::string());
    if (url.empty()) {
        jobs_.finish_hooks(j.id);
        return;
    }
    const std::string event = j.state == JobState::Completed ? "completed" : "failed";
    json st = j.webhook.empty() ? json() : json::parse(j.webhook, nullptr, false);
    const bool fresh = !st.is_object();
    if (fresh)
        st = json{{"url_host", url_host(url)},
                  {"event", "request." + event},
                  {"webhook_id", "msg_" + j.id},
                  {"state", "pending"},
                  {"deliveries", json::array()}};
    const auto filter = p.value("webhook_events_filter", std::vector<std::string>{});
    if (fresh && !filter.empty() && std::find(filter.begin(), filter.end(), event) == filter.end()) {
        st["state"] = "skipped";  // the request asked for other events only
        jobs_.record_webhook(j.id, st.dump());
        jobs_.finish_hooks(j.id);
        return;
    }
    if (st.value("state", std::string()) != "pending") {  // ended before; only the done mark was missing
        jobs_.finish_hooks(j.id);
        return;
    }
    json data{{"request_id", j.id}, {"status", job_state_name(j.state)}};
    if (j.state == JobState::Completed) data["output"] = output_url_(j);
    else data["error"] = j.error;
    // The body is rebuilt from the record on a resume: the same except a presigned output URL (signed afresh).
    const json body{{"type", "request." + event}, {"timestamp", int64_t(j.finished_at)}, {"data", data}};
    WebhookMessage m;
    m.request_id = j.id;
    m.url = url;
    m.secret = secret_for(p);
    m.event_type = "request." + event;
    m.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
    m.msg_id = st.value("webhook_id", "msg_" + j.id);
    m.attempts_done = st.contains("deliveries") && st["deliveries"].is_array() ? int(st["deliveries"].size()) : 0;
    m.due_unix = st.value("next_attempt_at", 0.0);
    if (fresh) jobs_.record_webhook(j.id, st.dump());
    {
        std::lock_guard lk(mu_);
        held_[j.id] = st;
    }
    sender_->send(std::move(m));
}

bool Finisher::on_attempt(const WebhookMessage& m, const WebhookAttempt& a) {
    json st;
    const bool final = a.next != WebhookAttempt::Next::Retry;
    {
        std::lock_guard lk(mu_);
        auto it = held_.find(m.request_id);
        if (it == held_.end()) return false;  // handed over meanwhile
        json& s = it->second;
        if (!s.contains("deliveries") || !s["deliveries"].is_array()) s["deliveries"] = json::array();
        s["deliveries"].push_back(json{{"attempt", a.delivery.attempt},
                                       {"at", a.delivery.at_unix},
                                       {"http_status", a.delivery.http_status},
                                       {"error", a.delivery.error}});
        s["state"] = a.next == WebhookAttempt::Next::Delivered ? "delivered"
                     : a.next == WebhookAttempt::Next::GaveUp  ? "failed"
                                                               : "pending";
        if (final) s.erase("next_attempt_at");
        else s["next_attempt_at"] = a.next_at_unix;
        st = s;
    }
    bool exists = true;
    try {
        exists = jobs_.record_webhook(m.request_id, st.dump(-1, ' ', false, json::error_handler_t::replace));
        if (exists && final) jobs_.finish_hooks(m.request_id);
    } catch (const std::exception& e) {
        // Not stored: a retry goes on from memory; a final outcome stays pending in the store and is taken up
        // again after claim_idle_s (one more delivery, with the same webhook-id).
        std::fprintf(stderr, "job %s: webhook state not stored: %s\n", m.request_id.c_str(), e.what());
        if (!final) return true;
    }
    if (final || !exists) {
        sender_raw_->forget(m.request_id);  // (sender_ itself may be mid-reset: stop() waits for this call)
        std::lock_guard lk(mu_);
        held_.erase(m.request_id);
    }
    return exists;  // a job that expired meanwhile: its webhook stops here
}

}  // namespace tc::server
