// `tooncrafter serve`: binds the HTTP server (server/http_server.h) at once, loads the engine on a background
// thread (cli/serve_loader.h: --model PATH, --model demo, or the cache directory's model, downloaded when
// missing, else the demo with a loud banner) and serves until SIGINT/SIGTERM. Until the engine is ready,
// submits and /health answer 503 and /health says what is loading. A model that fails to load ends the process
// with exit status 2 (an explicit --model that does not exist fails before binding).
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

#include <unistd.h>

#include "cli/commands.h"
#include "cli/serve_loader.h"
#include "core/error.h"
#include "engine/engine.h"
#include "server/http_server.h"

namespace tc::cli {

namespace {

// The write end of the signal pipe (the one global: a signal handler can reach nothing else).
volatile sig_atomic_t g_signal_pipe = -1;

volatile sig_atomic_t g_signals_seen = 0;

// First signal: graceful stop (the running job stops at its next cancel check and goes back to the queue with its
// attempt given back, to run on the next start; an API node runs no job: the queued ones wait in Redis for the
// workers). A second signal exits at once
// (a long VAE decode may otherwise hold the process for a while).
void on_signal(int sig) {
    if (g_signals_seen != 0) _exit(128 + sig);
    g_signals_seen = 1;
    const unsigned char b = static_cast<unsigned char>(sig);
    if (g_signal_pipe >= 0) {
        const ssize_t n = write(g_signal_pipe, &b, 1);
        (void)n;
    }
}

// The server configuration the options describe.
server::ServerConfig server_config(const ServeOptions& o) {
    server::ServerConfig cfg;
    cfg.host = o.host;
    cfg.port = o.port;
    cfg.data_dir = o.data_dir;
    cfg.public_url = o.public_url;
    cfg.auth = !o.no_auth;
    cfg.retention_s = o.retention;
    cfg.allow_private_fetch = o.allow_private_fetch;
    cfg.submit_rate_per_s = o.rate_limit;
    cfg.max_attempts = o.max_attempts;
    cfg.allowed_max_sides = o.allowed_max_sides;
    cfg.storage = o.storage;
    cfg.queue = o.queue;
    cfg.webhook_backoff_s = o.webhook_backoff;
    return cfg;
}

// Loads the engine into the running server's slot (on its own thread). A failure is fatal: logged, the slot
// marked failed (/health says why) and the server stopped; *exit_code becomes 2.
void load_into(server::HttpServer& srv, const ServeOptions& o, const std::atomic<bool>& stop,
               std::atomic<int>& exit_code) {
    server::EngineSlot& slot = srv.engine_slot();
    try {
        std::shared_ptr<const Engine> engine =
            load_serving_engine(o, [&slot](const std::string& what) { slot.set_progress(what); }, stop);
        slot.set_engine(engine);
        std::fprintf(stderr, "model ready%s: accepting requests\n",
                     engine->is_demo() ? " (DEMO MODEL: random weights, outputs are noise)" : "");
    } catch (const std::exception& e) {
        if (stop) return;  // shutting down: the aborted download is not an error
        std::fprintf(stderr, "error: %s\n", e.what());
        slot.set_failed(e.what());
        exit_code = 2;
        srv.stop();
    }
}

}  // namespace

CLI::App* add_serve_command(CLI::App& app, ServeOptions& o) {
    auto* s = app.add_subcommand("serve", "Run the HTTP API (Segmind-compatible) with an in-process worker");
    s->add_option("--host", o.host, "address to listen on")->envname("TOONCRAFTER_HOST")->capture_default_str();
    s->add_option("--port", o.port, "port to listen on")->envname("TOONCRAFTER_PORT")->capture_default_str();
    s->add_option("--data-dir", o.data_dir, "job store, output files and API keys")
        ->envname("TOONCRAFTER_DATA_DIR")
        ->capture_default_str();
    s->add_option("--model", o.model, "model.ckpt / .safetensors, or 'demo' (random weights, outputs are noise)")
        ->envname("TOONCRAFTER_MODEL");
    s->add_option("--config", o.config, "model YAML (default: the official 512 model)")->envname("TOONCRAFTER_CONFIG");
    s->add_option("--vocab", o.vocab, "CLIP bpe_simple_vocab_16e6.txt.gz")->envname("TOONCRAFTER_VOCAB");
    s->add_option("--film", o.film, "FILM weights (needed for interpolate)")->envname("TOONCRAFTER_FILM");
    s->add_option("--public-url", o.public_url,
                  "base URL clients reach this server at; v2 responses link to it (default http://HOST:PORT)")
        ->envname("TOONCRAFTER_PUBLIC_URL");
    s->add_option("--allow-private-fetch", o.allow_private_fetch,
                  "CIDR that image URLs may reach despite the SSRF rules (repeatable; tests, trusted LANs)")
        ->envname("TOONCRAFTER_ALLOW_PRIVATE_FETCH")
        ->delimiter(',');
    s->add_option("--allowed-max-sides", o.allowed_max_sides,
                  "accepted max_width/max_height values instead of 256,512,768 (small models and tests only)")
        ->envname("TOONCRAFTER_ALLOWED_MAX_SIDES")
        ->delimiter(',');
    s->add_flag("--no-download", o.no_download,
                "without a model in the cache directory, run the demo instead of downloading the model")
        ->envname("TOONCRAFTER_NO_DOWNLOAD");
    s->add_flag("--no-auth", o.no_auth, "no API keys or credits (local use only)")->envname("TOONCRAFTER_NO_AUTH");
    s->add_option("--retention", o.retention, "seconds results live after finishing")
        ->envname("TOONCRAFTER_RETENTION")
        ->capture_default_str();
    s->add_option("--rate-limit", o.rate_limit, "submits per second per API key (0 = unlimited)")
        ->envname("TOONCRAFTER_RATE_LIMIT");
    s->add_option("--max-attempts", o.max_attempts, "restarts a job survives before it is failed")
        ->envname("TOONCRAFTER_MAX_ATTEMPTS");
    // Artifact storage (server/artifacts.h; docs/scale-out.md "Storage"). S3 credentials come from
    // AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, never from the command line's defaults.
    s->add_option("--storage", o.storage,
                  "where outputs go: file:///DIR (default: DATA_DIR/files) or "
                  "s3://BUCKET/PREFIX?endpoint=http://HOST:PORT&region=REGION (presigned output URLs)")
        ->envname("TOONCRAFTER_STORAGE");
    // Scale-out (docs/scale-out.md): an API node; `tooncrafter worker --queue` processes run the jobs.
    s->add_option("--queue", o.queue,
                  "redis://[:PASSWORD@]HOST:PORT/DB: keep jobs in Redis for `tooncrafter worker` processes "
                  "(this node loads no model and runs no job)")
        ->envname("TOONCRAFTER_QUEUE");
    // Tests only: a short schedule lets a suite see retries (and resume them after a restart) in seconds.
    s->add_option("--webhook-backoff", o.webhook_backoff,
                  "seconds between webhook delivery attempts, e.g. 0.5,0.5 = 3 attempts (default: 5 s doubling, "
                  "about an hour in all; for tests)")
        ->envname("TOONCRAFTER_WEBHOOK_BACKOFF")
        ->delimiter(',')
        ->check(CLI::PositiveNumber);
    return s;
}

int cmd_serve(const ServeOptions& o) {
    try {
        TC_CHECK(o.port >= 0 && o.port <= 65535, "--port must be 0..65535");
        TC_CHECK(o.retention > 0, "--retention must be positive");
        check_serve_model_options(o);
        // SIGINT/SIGTERM may land on any thread (OpenBLAS threads exist already): the handler only writes a
        // byte to a pipe; a plain thread reads it and stops the server.
        int fds[2];
        TC_CHECK(pipe(fds) == 0, "pipe() failed");
        g_signal_pipe = fds[1];
        struct sigaction sa {};
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, nullptr);
        sigaction(SIGTERM, &sa, nullptr);

        const server::ServerConfig cfg = server_config(o);
        server::HttpServer srv(cfg);
        srv.start();  // answers at once: 503 with what is loading until the engine is in its slot
        std::fprintf(stderr, "tooncrafter serving on %s:%d (public URL %s)%s; loading the model\n", o.host.c_str(),
                     srv.port(), srv.public_url().c_str(), cfg.auth ? "" : ", NO AUTH");
        if (cfg.auth && srv.keys())
            std::fprintf(stderr, "API keys: `tooncrafter keys create --data-dir %s --credits N`\n", o.data_dir.c_str());
        if (o.public_url.empty() && (o.host == "0.0.0.0" || o.host == "::"))
            std::fprintf(stderr, "note: set --public-url to the address clients use; v2 responses link to %s\n",
                         srv.public_url().c_str());

        std::atomic<bool> stopping{false};
        std::atomic<int> exit_code{0};
        std::thread loader([&] {
            if (o.queue.empty()) {
                load_into(srv, o, stopping, exit_code);
            } else {
                // API node: the workers have the engines; parameter limits come from --allowed-max-sides.
                srv.engine_slot().set_ready_without_engine("jobs run on remote workers (tooncrafter worker --queue)");
                std::fprintf(stderr, "API node: no local model; jobs run on `tooncrafter worker` processes\n");
            }
        });
        std::thread signals([&] {
            unsigned char sig = 0;
            // What happens to the jobs: with the SQLite store this process runs them (a running one goes back to
            // the queue and runs on the next start); an API node runs none (they stay in Redis, the workers go on). Either way
            // pending webhook retries stay in the store and resume on the next start (or on another API node).
            if (read(fds[0], &sig, 1) == 1 && sig != 0)
                std::fprintf(stderr, "signal %d: stopping (%s; signal again to exit at once)\n", int(sig),
                             o.queue.empty() ? "queued jobs and the running one wait for the next start"
                                             : "API node: queued and running jobs stay in Redis for the workers");
            stopping = true;  // aborts a download in progress
            srv.stop();
        });
        srv.wait();
        stopping = true;
        // Stopped without a signal (the loader failed): wake the signal thread so it can be joined.
        const unsigned char zero = 0;
        if (write(fds[1], &zero, 1) != 1) std::fprintf(stderr, "warning: cannot wake the signal thread\n");
        signals.join();
        loader.join();  // a load in progress (not a download) is waited for; a second signal exits at once
        srv.stop();
        g_signal_pipe = -1;
        close(fds[0]);
        close(fds[1]);
        return exit_code;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
}

}  // namespace tc::cli
