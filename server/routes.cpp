// The HTTP routes of DESIGN.md section 3. Each handler is wrapped by `guarded`, which sends any exception
// through error_mapping (the one place that turns exceptions into responses). Request ids and file names are
// validated (32 hex characters) before any lookup, so "../etc/passwd" is simply an unknown id: 404.
// Readiness: until the engine slot is ready, submits answer 503 with Retry-After and /health 503 with what is
// loading; polls, results, files and cancels of existing jobs never need the engine.
#include "server/routes.h"

#include <httplib.h>
#include <openssl/evp.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "server/error_mapping.h"
#include "server/finisher.h"
#include "server/http_error.h"
#include "server/image_input.h"
#include "server/params.h"
#include "server/playground/playground.h"

namespace tc::server {

using json = nlohmann::json;

// ---- metrics ----------------------------------------------------------------------------------------------

void ServerMetrics::observe_http(double s) {
    std::lock_guard lk(mu_);
    for (size_t i = 0; i < std::size(kBuckets); ++i)
        if (s <= kBuckets[i]) ++http_buckets_[i];
    ++http_count_;
    http_sum_ += s;
}

void ServerMetrics::observe_step(double s) {
    std::lock_guard lk(mu_);
    ++step_count_;
    step_sum_ += s;
}

std::string ServerMetrics::render() const {
    std::lock_guard lk(mu_);
    std::ostringstream o;
    o << "# HELP tooncrafter_http_request_duration_seconds HTTP request latency.\n"
      << "# TYPE tooncrafter_http_request_duration_seconds histogram\n";
    for (size_t i = 0; i < std::size(kBuckets); ++i)
        o << "tooncrafter_http_request_duration_seconds_bucket{le=\"" << kBuckets[i] << "\"} " << http_buckets_[i]
          << "\n";
    o << "tooncrafter_http_request_duration_seconds_bucket{le=\"+Inf\"} " << http_count_ << "\n"
      << "tooncrafter_http_request_duration_seconds_sum " << http_sum_ << "\n"
      << "tooncrafter_http_request_duration_seconds_count " << http_count_ << "\n"
      << "# HELP tooncrafter_denoise_step_seconds Time of one denoising step (all segments of a request).\n"
      << "# TYPE tooncrafter_denoise_step_seconds summary\n"
      << "tooncrafter_denoise_step_seconds_sum " << step_sum_ << "\n"
      << "tooncrafter_denoise_step_seconds_count " << step_count_ << "\n"
      << "# HELP tooncrafter_submits_total Accepted generation requests.\n"
      << "# TYPE tooncrafter_submits_total counter\n"
      << "tooncrafter_submits_total " << submits_.load() << "\n";
    return o.str();
}

namespace {

// ---- helpers ----------------------------------------------------------------------------------------------

using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

Handler guarded(Handler h) {
    return [h = std::move(h)](const httplib::Request& req, httplib::Response& res) {
        try {
            h(req, res);
        } catch (...) {
            write_error(res, std::current_exception());
        }
    };
}

// Strings echoed from requests or errors may hold invalid UTF-8 (a cut multi-byte character): replaced, never
// a throw from dump().
void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

// Seconds a client is told to wait (Retry-After) while the model loads.
constexpr double kRetryWhileLoadingS = 10;

// 503 for a submit before the engine is ready (loading, or failed to load).
[[noreturn]] void not_ready_yet(const EngineSlot::Status& st) {
    HttpError e(503, st.phase == EngineSlot::Phase::Failed
                         ? "the model failed to load: " + st.detail
                         : "the model is not loaded yet (" + st.detail + "); retry later");
    e.retry_after_s = kRetryWhileLoadingS;
    throw e;
}

bool starts_with_nocase(const std::string& s, const char* prefix) {
    for (size_t i = 0; prefix[i]; ++i)
        if (i >= s.size() || std::tolower((unsigned char)s[i]) != prefix[i]) return false;
    return true;
}

bool is_http_url(const std::string& s) { return starts_with_nocase(s, "http://") || starts_with_nocase(s, "https://"); }

std::string sha256_hex(const std::string& data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    TC_CHECK(EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) == 1, "sha256 failed");
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (unsigned i = 0; i < len; ++i) {
        s += hex[md[i] >> 4];
        s += hex[md[i] & 15];
    }
    return s;
}

// The caller's API key record (auth on), else nullopt. 401 when auth is on and the key is missing/invalid.
std::optional<KeyInfo> authenticate(ServerContext& ctx, const httplib::Request& req) {
    if (!ctx.keys) return std::nullopt;
    const std::string key = api_key_from_headers(req.get_header_value("x-api-key"),
                                                 req.get_header_value("Authorization"));
    if (key.empty()) unauthorized("missing API key (send the x-api-key header)");
    auto info = ctx.keys->authenticate(key);
    if (!info) {
        // A real key that was revoked is known but no longer permitted: 403 (the reference's "insufficient
        // permissions"); anything else is 401. Only a raw key (never a key id) can reach the 403.
        if (key.rfind("tc_", 0) == 0)
            if (auto id = ctx.keys->resolve_id(key); id && id->rfind("key_", 0) == 0)
                if (auto k = ctx.keys->get(*id); k && k->revoked) forbidden("API key " + k->id + " was revoked");
        unauthorized("invalid API key");
    }
    return info;
}

// The job named by the path, visible to this caller; 404 otherwise (an unknown, expired, malformed or
// someone else's id all look the same).
JobRecord find_job(ServerContext& ctx, const httplib::Request& req, const std::string& id) {
    const auto caller = authenticate(ctx, req);
    auto j = is_hex_id(id) ? ctx.jobs.get(id) : std::nullopt;
    if (!j) not_found("request " + (is_hex_id(id) ? id : std::string("id")) + " not found");
    if (caller) {
        const json p = json::parse(j->params);
        if (p.value("key_id", std::string()) != caller->id) not_found("request " + id + " not found");
    }
    return *j;
}

// /files/<name> on this server, or a presigned S3 URL (the artifact store decides).
std::string output_url(ServerContext& ctx, const JobRecord& j) { return ctx.jobs.artifacts().url(j.output, ctx.public_url); }

json metrics_of(const JobRecord& j) {
    json m{{"created_at", j.created_at}};
    if (j.started_at > 0) {
        m["started_at"] = j.started_at;
        m["queue_time_s"] = j.started_at - j.created_at;
    }
    if (j.finished_at > 0) {
        m["completed_at"] = j.finished_at;
        if (j.started_at > 0) m["inference_time_s"] = j.finished_at - j.started_at;
        m["total_time_s"] = j.finished_at - j.created_at;
    }
    m["attempts"] = j.attempts;
    return m;
}

// The request's webhook as the status shows it (finisher.h has the stored shape): the delivery state the
// finisher stored, or, before it took the job, "pending" with no deliveries. Absent without a webhook.
std::optional<json> webhook_json(const JobRecord& j) {
    json st = j.webhook.empty() ? json() : json::parse(j.webhook, nullptr, false);
    if (st.is_object()) return st;
    const json p = json::parse(j.params, nullptr, false);
    const std::string url = p.is_object() ? p.value("webhook", std::string()) : std::string();
    if (url.empty()) return std::nullopt;
    return json{{"url_host", url_host(url)}, {"state", "pending"}, {"deliveries", json::array()}};
}

json status_json(ServerContext& ctx, const JobRecord& j) {
    json s{{"request_id", j.id}, {"status", job_state_name(j.state)}, {"metrics", metrics_of(j)}};
    if (j.state == JobState::Queued) s["queue_position"] = ctx.jobs.queue_position(j.id);
    if (j.started_at > 0)
        s["progress"] = json{{"stage", j.stage}, {"step", j.step}, {"total", j.total_steps}, {"segment", j.segment}};
    if (j.state == JobState::Failed) s["error"] = j.error;
    if (j.state == JobState::Completed) s["output"] = output_url(ctx, j);
    if (auto w = webhook_json(j)) s["webhook"] = *w;
    return s;
}

int status_code_of(const JobRecord& j) { return j.state == JobState::Failed ? 422 : 200; }

struct SubmitOutcome {
    JobRecord job;
    std::optional<int64_t> remaining_credits;
};

// Validates and enqueues a generation request (v1 and v2 share it). Charges credits when auth is on; a
// replayed Idempotency-Key is not charged again.
// The parameter limits: the engine's when there is one, else the configuration's (an API node).
ParamLimits param_limits(ServerContext& ctx, const ServingEngine* engine) {
    ParamLimits l;
    if (engine) l.allowed_max_sides = engine->allowed_max_sides();
    else if (!ctx.cfg.allowed_max_sides.empty()) l.allowed_max_sides = ctx.cfg.allowed_max_sides;
    return l;
}

// The request body as JSON. The Content-Type is not insisted on (curl -d sends form-urlencoded; the body is
// parsed as JSON whatever it says) except multipart, whose body httplib takes apart: that is a clear 400.
json parse_body(const httplib::Request& req) {
    if (req.is_multipart_form_data())
        bad_request("Content-Type multipart/form-data is not supported: send a JSON object (application/json)");
    if (req.body.find_first_not_of(" \t\r\n") == std::string::npos)
        bad_request("empty request body: send a JSON object with image_1 and image_2");
    try {
        return json::parse(req.body);
    } catch (const json::exception& e) {
        // parse_error, and out_of_range for a number beyond double (1e400): the client's, so 400.
        bad_request(std::string("invalid JSON body: ") + e.what());
    }
}

SubmitOutcome submit(ServerContext& ctx, const httplib::Request& req) {
    const auto caller = authenticate(ctx, req);
    const EngineSlot::Status ready = ctx.engines.status();
    if (ready.phase != EngineSlot::Phase::Ready) not_ready_yet(ready);
    const std::string who = caller ? caller->id : req.remote_addr;
    double retry = 0;
    if (!ctx.submit_limiter.allow(who, &retry)) rate_limited("too many requests: slow down", retry);

    const json body = parse_body(req);
    const std::shared_ptr<const ServingEngine> engine = ctx.engines.engine();  // null on an API node
    GenerationParams p = parse_params(body, param_limits(ctx, engine.get()));
    // Model-dependent validation (frames_per_segment, FILM for interpolate, ...) before anything is fetched:
    // plan with stand-in keyframes; the real sizes only change the output size. The engine's validation
    // errors (tc::Error) are the client's: 400; anything else is the server's: 500 through error_mapping.
    if (engine) {
        try {
            Request probe = make_engine_request(p, {});
            for (size_t i = 0; i < p.images.size(); ++i)
                probe.keyframes.push_back(Tensor::zeros({64, 64, 3}, DType::U8));
            engine->plan(probe);
        } catch (const HttpError&) {
            throw;
        } catch (const Error& e) {
            bad_request(e.what());
        }
    }

    // Inline images (data: URI, base64) are checked now so a typo is a 400, not a FAILED job; URLs are
    // fetched by the worker (with the SSRF rules: a forbidden URL fails the job, naming the field).
    for (size_t i = 0; i < p.images.size(); ++i)
        if (!is_http_url(p.images[i]))
            (void)load_image_bytes(p.images[i], "image_" + std::to_string(i + 1), ctx.fetch_policy);

    json stored = params_to_json(p);
    int64_t price = 0;
    std::optional<int64_t> remaining;
    if (caller) {
        price = request_price(int(p.images.size()), p.loop, p.interpolate);
        stored["key_id"] = caller->id;
        stored["price"] = price;
    }
    const std::string idem = req.get_header_value("Idempotency-Key");
    if (idem.size() > 255) bad_request("Idempotency-Key is too long (at most 255 characters)");
    const std::string scoped_idem = idem.empty() ? "" : (caller ? caller->id : std::string("-")) + ":" + idem;
    // The hash covers the body as sent (not the canonical form): a null seed draws a new seed each time.
    const std::string body_hash = sha256_hex(req.body);

    // A replay answers the first job without charging again (JobManager::submit re-checks atomically).
    if (auto prev = ctx.jobs.find_by_idempotency_key(scoped_idem)) {
        if (prev->body_hash != body_hash)
            conflict("Idempotency-Key '" + idem + "' was already used with a different request body");
        if (caller) remaining = ctx.keys->credits(caller->id);
        return {*prev, remaining};
    }
    if (caller) {
        // Charged before the job exists (so two racing submits cannot both spend the last credit); a replay
        // is refunded just below.
        int64_t left = 0;
        if (!ctx.keys->charge(caller->id, price, &left))
            insufficient_credits("insufficient credits: this request costs " + std::to_string(price) +
                                 ", the key has " + std::to_string(left));
        remaining = left;
    }
    try {
        JobManager::Submitted s = ctx.jobs.submit(stored.dump(), scoped_idem, body_hash);
        if (s.replayed && caller) {
            ctx.keys->refund(caller->id, price);
            remaining = ctx.keys->credits(caller->id);
        }
        ctx.metrics.count_submit();
        return {s.job, remaining};
    } catch (...) {
        if (caller) ctx.keys->refund(caller->id, price);
        throw;
    }
}

void set_common_headers(ServerContext& ctx, httplib::Response& res, const std::optional<int64_t>& remaining) {
    if (remaining) res.set_header("x-remaining-credits", std::to_string(*remaining));
    if (auto e = ctx.engines.engine(); e && e->is_demo())
        res.set_header("x-tooncrafter-demo", "true: random-weight demo model, outputs are noise");
}

// ---- routes -----------------------------------------------------------------------------------------------

void post_v2(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    const SubmitOutcome s = submit(ctx, req);
    const std::string base = ctx.public_url + "/v2/requests/" + s.job.id;
    set_common_headers(ctx, res, s.remaining_credits);
    send_json(res, 200,
              json{{"request_id", s.job.id},
                   {"status", job_state_name(s.job.state)},
                   {"status_url", base + "/status"},
                   {"response_url", base},
                   {"poll_url", base + "/status"},
                   {"cancel_url", base + "/cancel"},
                   {"events_url", base + "/events"}});
}

// Synchronous: the job goes through the same queue and worker; this thread waits for its end.
void post_v1(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    SubmitOutcome s = submit(ctx, req);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(ctx.cfg.sync_timeout_s);
    std::optional<JobRecord> j;
    for (;;) {
        const uint64_t seen = ctx.jobs.version();
        j = ctx.jobs.get(s.job.id);
        if (!j) throw_http(500, "the request disappeared before it finished");
        if (j->state == JobState::Completed || j->state == JobState::Failed) break;
        if (ctx.stopping)
            not_ready(ctx.jobs.shared() ? "this API node is shutting down; request " + j->id +
                                              " goes on: poll /v2/requests/" + j->id + "/status on another node"
                                        : "the server is shutting down; request " + j->id + " will run after restart");
        if (std::chrono::steady_clock::now() > deadline)
            throw_http(504, "timed out waiting for the result; poll /v2/requests/" + j->id + "/status");
        ctx.jobs.wait_for_change(seen, std::chrono::milliseconds(500));
    }
    if (ctx.keys && j->state == JobState::Failed) {
        // The refund is an after-finish hook (server/finisher.h), run just after the job finished, maybe by
        // another process: wait a little for it so x-remaining-credits includes it (bounded: the header is
        // advisory and the failure is the answer).
        const auto refund_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (j->hooks_pending && !j->refunded && !ctx.stopping &&
               std::chrono::steady_clock::now() < refund_deadline) {
            const uint64_t seen = ctx.jobs.version();
            auto now = ctx.jobs.get(j->id);
            if (!now) break;
            j = now;
            if (!j->hooks_pending || j->refunded) break;
            ctx.jobs.wait_for_change(seen, std::chrono::milliseconds(250));
        }
        const json p = json::parse(j->params);
        s.remaining_credits = ctx.keys->credits(p.value("key_id", std::string()));
    }
    set_common_headers(ctx, res, s.remaining_credits);
    if (j->state == JobState::Failed) unprocessable(j->error);
    const std::string bytes = ctx.jobs.artifacts().read(j->output);
    const GenerationParams p = params_from_json(json::parse(j->params));
    res.set_header("x-request-id", j->id);
    if (p.base64) {
        send_json(res, 200, json{{"image", base64_encode(bytes)}, {"request_id", j->id}});
    } else {
        res.status = 200;
        res.set_content(bytes, j->output_mime);
    }
}

void get_status(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    const JobRecord j = find_job(ctx, req, req.matches[1]);
    send_json(res, status_code_of(j), status_json(ctx, j));
}

void get_result(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    const JobRecord j = find_job(ctx, req, req.matches[1]);
    json r{{"request_id", j.id}, {"status", job_state_name(j.state)}, {"metrics", metrics_of(j)}};
    if (auto w = webhook_json(j)) r["webhook"] = *w;
    if (j.state == JobState::Completed) {
        const GenerationParams p = params_from_json(json::parse(j.params));
        if (p.base64) r["output"] = base64_encode(ctx.jobs.artifacts().read(j.output));
        else r["output"] = output_url(ctx, j);
        r["output_url"] = output_url(ctx, j);
        r["content_type"] = j.output_mime;
        send_json(res, 200, r);
    } else if (j.state == JobState::Failed) {
        r["error"] = j.error;
        send_json(res, 422, r);
    } else {
        if (j.state == JobState::Queued) r["queue_position"] = ctx.jobs.queue_position(j.id);
        send_json(res, 202, r);
    }
}

void post_cancel(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    const JobRecord found = find_job(ctx, req, req.matches[1]);
    const JobRecord j = ctx.jobs.cancel(found.id);
    json r = status_json(ctx, j);
    r["cancel_requested"] = true;
    send_json(res, status_code_of(j), r);
}

// Server-sent events: `status` on every state change, `progress` on every progress change, `done` (with the
// final status) when the job finishes, then the stream ends.
void get_events(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    const JobRecord first = find_job(ctx, req, req.matches[1]);
    struct State {
        std::string last_status, last_progress;
        bool finished = false;
    };
    auto st = std::make_shared<State>();
    ServerContext* c = &ctx;
    const std::string id = first.id;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider("text/event-stream", [c, st, id](size_t, httplib::DataSink& sink) {
        if (st->finished || c->stopping) {
            sink.done();
            return true;
        }
        const uint64_t seen = c->jobs.version();
        auto j = c->jobs.get(id);
        std::string out;
        if (!j) {
            out = "event: done\ndata: " + json{{"request_id", id}, {"status", "FAILED"}, {"error", "expired"}}.dump() + "\n\n";
            st->finished = true;
        } else {
            const json s = status_json(*c, *j);
            const std::string status = job_state_name(j->state);
            if (status != st->last_status) {
                out += "event: status\ndata: " + json{{"request_id", id}, {"status", status}}.dump() + "\n\n";
                st->last_status = status;
            }
            if (s.contains("progress")) {
                const std::string pr = s["progress"].dump();
                if (pr != st->last_progress) {
                    out += "event: progress\ndata: " + pr + "\n\n";
                    st->last_progress = pr;
                }
            }
            if (j->state == JobState::Completed || j->state == JobState::Failed) {
                out += "event: done\ndata: " + s.dump() + "\n\n";
                st->finished = true;
            }
        }
        if (out.empty()) out = ": keep-alive\n\n";
        if (!sink.write(out.data(), out.size())) return false;
        if (!st->finished) c->jobs.wait_for_change(seen, std::chrono::milliseconds(1000));
        return true;
    });
}

void get_file(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    if (!ArtifactStore::valid_name(name)) not_found("file not found");
    const std::string bytes = ctx.jobs.artifacts().read(name);  // 404 when unknown (S3 stores: proxied)
    res.status = 200;
    res.set_header("Cache-Control", "private, max-age=3600");
    res.set_content(bytes, ArtifactStore::mime_type(name));
}

// Liveness and readiness: 200 only when submits can be accepted; 503 while the model loads (with what the
// loader is doing in `detail`), after it failed, and while stopping.
// ---- scale-out (docs/scale-out.md): an API node over a shared store ------------------------------------------

// Redis reachability and the workers whose heartbeats are current, for /health; false (503 sent) when the
// store is unreachable.
bool shared_store_health(ServerContext& ctx, httplib::Response& res, json& out) {
    JobStore& store = ctx.jobs.store();
    const std::string err = store.health_error();
    out["queue"] = json{{"url", store.describe()}, {"reachable", err.empty()}};
    if (!err.empty()) {
        out["queue"]["error"] = err;
        out["status"] = "queue unavailable";
        out["ready"] = false;
        res.set_header("Retry-After", "2");
        send_json(res, 503, out);
        return false;
    }
    json list = json::array();
    int busy = 0;
    for (const auto& b : store.live_workers()) {
        json info = json::parse(b.info_json, nullptr, false);
        if (!info.is_object()) info = json::object();
        info["id"] = b.id;
        if (info.value("busy", false)) ++busy;
        list.push_back(info);
    }
    out["workers"] = list.size();
    out["workers_busy"] = busy;
    out["worker_busy"] = busy > 0;
    out["worker_list"] = list;
    return true;
}

std::string prom_label(const std::string& v) {
    std::string o;
    for (char c : v) {
        if (c == '\\' || c == '"') o += '\\';
        if (c == '\n') o += "\\n";
        else o += c;
    }
    return o;
}

// Per-worker series from the live workers' heartbeats (jobs done, busy, denoising step times).
std::string shared_store_metrics(ServerContext& ctx) {
    std::ostringstream o;
    const auto live = ctx.jobs.store().live_workers();
    o << "# HELP tooncrafter_workers_live Workers whose heartbeat is current.\n# TYPE tooncrafter_workers_live gauge\n"
      << "tooncrafter_workers_live " << live.size() << "\n";
    o << "# HELP tooncrafter_remote_worker_busy 1 while the worker runs a job.\n"
      << "# TYPE tooncrafter_remote_worker_busy gauge\n";
    std::ostringstream jobs, steps, steps_n;
    for (const auto& b : live) {
        const json info = json::parse(b.info_json, nullptr, false);
        if (!info.is_object()) continue;
        const std::string w = "worker=\"" + prom_label(b.id) + "\"";
        o << "tooncrafter_remote_worker_busy{" << w << "} " << (info.value("busy", false) ? 1 : 0) << "\n";
        jobs << "tooncrafter_remote_worker_jobs_total{" << w << ",result=\"completed\"} "
             << info.value("jobs_completed", int64_t(0)) << "\n"
             << "tooncrafter_remote_worker_jobs_total{" << w << ",result=\"failed\"} "
             << info.value("jobs_failed", int64_t(0)) << "\n";
        steps << "tooncrafter_remote_worker_step_seconds_sum{" << w << "} " << info.value("step_seconds_sum", 0.0) << "\n";
        steps_n << "tooncrafter_remote_worker_step_seconds_count{" << w << "} " << info.value("steps", int64_t(0)) << "\n";
    }
    o << "# HELP tooncrafter_remote_worker_jobs_total Jobs a worker finished since it started.\n"
      << "# TYPE tooncrafter_remote_worker_jobs_total counter\n" << jobs.str()
      << "# HELP tooncrafter_remote_worker_step_seconds Denoising step wall time on a worker.\n"
      << "# TYPE tooncrafter_remote_worker_step_seconds summary\n" << steps.str() << steps_n.str();
    return o.str();
}

void get_health(ServerContext& ctx, const httplib::Request&, httplib::Response& res) {
    json shared_info;  // API node over Redis: reachability and live workers (replace the local worker's fields)
    if (ctx.jobs.shared() && !shared_store_health(ctx, res, shared_info)) return;
    const EngineSlot::Status st = ctx.engines.status();
    const std::shared_ptr<const ServingEngine> engine = ctx.engines.engine();
    const bool ready = st.phase == EngineSlot::Phase::Ready && !ctx.stopping;
    const char* status = ctx.stopping                             ? "stopping"
                         : st.phase == EngineSlot::Phase::Loading ? "loading"
                         : st.phase == EngineSlot::Phase::Failed  ? "failed"
                                                                  : "ok";
    json h{{"status", status},
           {"ready", ready},
           {"model_loaded", engine != nullptr},
           {"demo", engine && engine->is_demo()},
           {"workers", engine ? 1 : 0},
           {"worker_busy", ctx.worker.busy()},
           {"queue_depth", ctx.jobs.count(JobState::Queued)},
           {"auth", ctx.keys != nullptr},
           {"interpolate_available", engine && engine->has_film()}};
    if (!st.detail.empty()) h["detail"] = st.detail;
    if (!shared_info.is_null()) h.update(shared_info);
    if (engine && engine->is_demo()) h["warning"] = "demo model with random weights: outputs are noise";
    if (!ready && !ctx.stopping) res.set_header("Retry-After", std::to_string(int64_t(kRetryWhileLoadingS)));
    send_json(res, ready ? 200 : 503, h);
}

void get_metrics(ServerContext& ctx, const httplib::Request&, httplib::Response& res) {
    std::ostringstream o;
    o << "# HELP tooncrafter_queue_depth Jobs waiting for a worker.\n# TYPE tooncrafter_queue_depth gauge\n"
      << "tooncrafter_queue_depth " << ctx.jobs.count(JobState::Queued) << "\n"
      << "# HELP tooncrafter_jobs Jobs currently retained, by state.\n# TYPE tooncrafter_jobs gauge\n";
    for (JobState s : {JobState::Queued, JobState::Processing, JobState::Completed, JobState::Failed})
        o << "tooncrafter_jobs{state=\"" << job_state_name(s) << "\"} " << ctx.jobs.count(s) << "\n";
    o << "# HELP tooncrafter_worker_busy 1 while the worker runs a job.\n# TYPE tooncrafter_worker_busy gauge\n"
      << "tooncrafter_worker_busy " << (ctx.worker.busy() ? 1 : 0) << "\n"
      << ctx.metrics.render();
    if (ctx.jobs.shared()) o << shared_store_metrics(ctx);
    res.status = 200;
    res.set_content(o.str(), "text/plain; version=0.0.4");
}

// ---- playground (server/playground/) ----------------------------------------------------------------------

// The embedded playground page: public (no key; its API calls carry the key the user types), with a strict
// CSP (playground.h) and the demo header so even the page's own response says when outputs are noise.
void get_playground(ServerContext& ctx, const httplib::Request&, httplib::Response& res) {
    set_common_headers(ctx, res, std::nullopt);
    res.set_header("Content-Security-Policy", playground_csp());
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Cache-Control", "no-cache");
    res.status = 200;
    res.set_content(std::string(playground_html()), "text/html; charset=utf-8");
}

}  // namespace

void register_routes(httplib::Server& svr, ServerContext& ctx) {
    ServerContext* c = &ctx;
    auto bind = [c](void (*fn)(ServerContext&, const httplib::Request&, httplib::Response&)) {
        return guarded([c, fn](const httplib::Request& req, httplib::Response& res) { fn(*c, req, res); });
    };
    svr.Post("/v1/tooncrafter", bind(post_v1));
    svr.Post("/v2/tooncrafter", bind(post_v2));
    // [^/]+ keeps the id one path segment; the handlers then accept only 32 hex characters.
    svr.Get(R"(/v2/requests/([^/]+)/status)", bind(get_status));
    svr.Get(R"(/v2/requests/([^/]+)/events)", bind(get_events));
    // Cancel takes no body. Registered with a content reader so httplib does not insist on reading one:
    // `curl -X POST .../cancel` sends neither Content-Length nor a body, which httplib's own body reading
    // answers with 400. A body that is sent anyway is read and ignored (keep-alive needs it consumed).
    svr.Post(R"(/v2/requests/([^/]+)/cancel)",
             [c](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& content) {
                 guarded([c, &content](const httplib::Request& rq, httplib::Response& rs) {
                     if (rq.has_header("Content-Length") || rq.has_header("Transfer-Encoding"))
                         content([](const char*, size_t) { return true; });
                     post_cancel(*c, rq, rs);
                 })(req, res);
             });
    svr.Get(R"(/v2/requests/([^/]+))", bind(get_result));
    svr.Get(R"(/files/([^/]+))", bind(get_file));
    // Service routes.
    svr.Get("/health", bind(get_health));
    svr.Get("/metrics", bind(get_metrics));
    svr.Get("/", bind(get_playground));  // the playground page (public)
    svr.Get("/playground", bind(get_playground));
    svr.Get("/openapi.json", guarded([c](const httplib::Request&, httplib::Response& res) {
                res.status = 200;
                res.set_content(openapi_json(c->public_url), "application/json");
            }));
}

}  // namespace tc::server
