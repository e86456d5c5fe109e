// `tooncrafter worker`: a remote worker of the scale-out setup (DESIGN.md section 6, docs/scale-out.md).
// Loads the engine like `serve` does (cli/serve_loader.h), then runs the same Worker as the in-process server
// (server/worker.h) over the Redis job store (server/redis_job_store.h) with this worker's id as its consumer
// name: it takes over jobs whose worker stopped renewing its claim for --claim-idle seconds, claims new ones,
// renews its claim while a job runs, and writes outputs to --storage, which the API nodes serve from.
// A heartbeat thread publishes what the worker does (busy, jobs done, step times) for the API nodes' /health
// and /metrics, and runs the retention sweep. SIGINT/SIGTERM stop it: a job it was running stops at its next
// cancel check and goes back to the queue with its attempt given back (JobManager::release); after a crash it
// is taken over by another worker after --claim-idle instead.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/serve_loader.h"
#include "core/error.h"
#include "server/artifacts.h"
#include "server/engine_slot.h"
#include "server/image_input.h"
#include "server/jobs.h"
#include "server/net_policy.h"
#include "server/redis_job_store.h"
#include "server/worker.h"

namespace tc::cli {

namespace {

volatile sig_atomic_t g_worker_stop = 0;
volatile sig_atomic_t g_worker_signals = 0;

void on_worker_signal(int sig) {
    if (g_worker_signals != 0) _exit(128 + sig);  // second signal: at once
    g_worker_signals = 1;
    g_worker_stop = 1;
}

bool valid_worker_id(const std::string& id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
    return true;
}

std::string default_worker_id() {
    char host[256] = {0};
    if (gethostname(host, sizeof host - 1) != 0 || !host[0]) std::snprintf(host, sizeof host, "worker");
    std::string id;
    for (const char* p = host; *p && id.size() < 48; ++p)
        id += (std::isalnum(static_cast<unsigned char>(*p)) || *p == '-' || *p == '.') ? *p : '-';
    return id + "-" + std::to_string(getpid());
}

// The engine options of `serve` that the loader reads.
ServeOptions loader_options(const WorkerOptions& o) {
    ServeOptions s;
    s.model = o.model;
    s.config = o.config;
    s.vocab = o.vocab;
    s.film = o.film;
    s.allowed_max_sides = o.allowed_max_sides;
    s.no_download = false;
    return s;
}

}  // namespace

CLI::App* add_worker_command(CLI::App& app, WorkerOptions& o) {
    auto* w = app.add_subcommand("worker", "Run jobs from a Redis queue (scale-out; see docs/scale-out.md)");
    w->add_option("--queue", o.queue, "redis://[:PASSWORD@]HOST:PORT/DB shared with the API nodes")
        ->envname("TOONCRAFTER_QUEUE")
        ->required();
    w->add_option("--storage", o.storage,
                  "where outputs go, as the API nodes' --storage: file:///DIR (a shared directory) or "
                  "s3://BUCKET/PREFIX?endpoint=...")
        ->envname("TOONCRAFTER_STORAGE")
        ->required();
    w->add_option("--model", o.model, "model.ckpt / .safetensors, 'demo' (random weights), or '' for the cache")
        ->envname("TOONCRAFTER_MODEL")
        ->capture_default_str();
    w->add_option("--config", o.config, "model YAML (default: the official 512 model)")->envname("TOONCRAFTER_CONFIG");
    w->add_option("--vocab", o.vocab, "CLIP bpe_simple_vocab_16e6.txt.gz")->envname("TOONCRAFTER_VOCAB");
    w->add_option("--film", o.film, "FILM weights (needed for interpolate)")->envname("TOONCRAFTER_FILM");
    w->add_option("--allowed-max-sides", o.allowed_max_sides,
                  "accepted max_width/max_height values instead of 256,512,768 (small models and tests only)")
        ->envname("TOONCRAFTER_ALLOWED_MAX_SIDES")
        ->delimiter(',');
    w->add_option("--worker-id", o.worker_id, "this worker's name in the queue (default HOSTNAME-PID)")
        ->envname("TOONCRAFTER_WORKER_ID");
    w->add_option("--claim-idle", o.claim_idle,
                  "seconds a running job may go without its worker renewing the claim before another worker "
                  "takes it over (the worker renews every min(1 s, this / 4))")
        ->envname("TOONCRAFTER_CLAIM_IDLE")
        ->capture_default_str();
    w->add_option("--max-attempts", o.max_attempts, "claims of one job before it is failed")
        ->envname("TOONCRAFTER_MAX_ATTEMPTS")
        ->capture_default_str();
    w->add_option("--retention", o.retention, "seconds results live after finishing (as the API nodes')")
        ->envname("TOONCRAFTER_RETENTION")
        ->capture_default_str();
    w->add_option("--heartbeat", o.heartbeat, "seconds between heartbeats")
        ->envname("TOONCRAFTER_HEARTBEAT")
        ->capture_default_str();
    w->add_option("--allow-private-fetch", o.allow_private_fetch,
                  "CIDR that image URLs may reach despite the SSRF rules (repeatable; tests, trusted LANs)")
        ->envname("TOONCRAFTER_ALLOW_PRIVATE_FETCH")
        ->delimiter(',');
    w->add_option("--data-dir", o.data_dir, "scratch directory (outputs waiting for their upload)")
        ->envname("TOONCRAFTER_DATA_DIR")
        ->capture_default_str();
    return w;
}

int cmd_worker(const WorkerOptions& o) {
    try {
        const std::string id = o.worker_id.empty() ? default_worker_id() : o.worker_id;
        TC_CHECK(valid_worker_id(id), "--worker-id must be 1-64 characters of A-Z a-z 0-9 . _ -");
        TC_CHECK(o.claim_idle > 0, "--claim-idle must be positive");
        TC_CHECK(o.max_attempts >= 1, "--max-attempts must be at least 1");
        TC_CHECK(o.retention > 0, "--retention must be positive");
        TC_CHECK(o.heartbeat > 0, "--heartbeat must be positive");
        const ServeOptions lo = loader_options(o);
        check_serve_model_options(lo);

        struct sigaction sa {};
        sa.sa_handler = on_worker_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, nullptr);
        sigaction(SIGTERM, &sa, nullptr);

        // The queue and the storage first: a wrong URL fails in seconds, not after a model load.
        server::RedisJobStoreOptions ro;
        ro.consumer = id;
        ro.retention_s = o.retention;
        server::RedisJobStore store(o.queue, ro);
        std::filesystem::create_directories(o.data_dir);
        server::ArtifactStoreOptions ao;
        ao.retention_s = o.retention;
        ao.staging_dir = o.data_dir + "/staging";
        std::unique_ptr<server::ArtifactStore> artifacts = server::make_artifact_store(o.storage, ao);
        server::JobManager jobs(store, *artifacts, server::JobManagerOptions{o.retention, o.max_attempts, o.claim_idle});

        std::atomic<bool> stop_load{false};
        std::thread watch_load([&] {
            while (!stop_load && !g_worker_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
            stop_load = true;
        });
        std::shared_ptr<const Engine> engine;
        try {
            engine = load_serving_engine(lo, [](const std::string& what) { std::fprintf(stderr, "%s\n", what.c_str()); },
                                         stop_load);
        } catch (...) {
            stop_load = true;
            watch_load.join();
            throw;
        }
        stop_load = true;
        watch_load.join();
        if (g_worker_stop) return 0;
        server::EngineSlot slot;
        slot.set_engine(engine);

        server::FetchPolicy policy;
        for (const auto& cidr : o.allow_private_fetch) policy.allow_private.push_back(server::Cidr::parse(cidr));
        server::Worker worker(jobs, slot, [&policy](const std::string& v, const std::string& field) {
            return server::load_image_bytes(v, field, policy);
        });
        std::atomic<uint64_t> steps{0};
        std::mutex step_mu;
        double step_sum = 0;
        worker.on_step([&](double s) {
            steps.fetch_add(1);
            std::lock_guard lk(step_mu);
            step_sum += s;
        });

        const double started = server::now_seconds();
        auto beat = [&] {
            nlohmann::json info{{"busy", worker.busy()},
                                {"job", worker.current_job()},
                                {"jobs_completed", worker.jobs_completed()},
                                {"jobs_failed", worker.jobs_failed()},
                                {"steps", steps.load()},
                                {"started_at", started},
                                {"pid", int64_t(getpid())},
                                {"demo", engine->is_demo()},
                                {"claim_idle_s", o.claim_idle}};
            {
                std::lock_guard lk(step_mu);
                info["step_seconds_sum"] = step_sum;
            }
            store.heartbeat({id, info.dump()}, 3 * o.heartbeat);
        };

        worker.start();
        std::fprintf(stderr, "worker %s: claiming jobs from %s (claim idle %.3g s, max attempts %d), outputs to %s%s\n",
                     id.c_str(), store.describe().c_str(), o.claim_idle, o.max_attempts, artifacts->describe().c_str(),
                     engine->is_demo() ? ", DEMO MODEL" : "");
        auto next_sweep = std::chrono::steady_clock::now();
        while (!g_worker_stop) {
            try {
                beat();
                if (std::chrono::steady_clock::now() >= next_sweep) {
                    jobs.sweep_expired();
                    next_sweep = std::chrono::steady_clock::now() +
                                 std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                     std::chrono::duration<double>(std::clamp(o.retention / 4, 1.0, 60.0)));
                }
            } catch (const std::exception& e) {
                std::fprintf(stderr, "worker %s: heartbeat: %s\n", id.c_str(), e.what());
            }
            // Sleep in small slices so a signal stops the worker promptly.
            const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.heartbeat);
            while (!g_worker_stop && std::chrono::steady_clock::now() < until)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        std::fprintf(stderr, "worker %s: stopping (a running job goes back to the queue at its next step)\n",
                     id.c_str());
        worker.stop();
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
}

}  // namespace tc::cli
