// `tooncrafter serve`: loads the engine (a model file, or the random-weight demo), then runs the HTTP server
// (server/http_server.h) until SIGINT/SIGTERM. Model resolution follows DESIGN.md section 6: --model PATH
// fails hard when the file is missing or bad; --model demo builds the demo in memory; no --model uses the
// cache directory's model.ckpt / model.safetensors when present, else the demo with a loud banner.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <unistd.h>

#include "cli/commands.h"
#include "cli/paths.h"
#include "core/error.h"
#include "engine/engine.h"
#include "server/http_server.h"

namespace tc::cli {

namespace {

namespace fs = std::filesystem;

// The write end of the signal pipe (the one global: a signal handler can reach nothing else).
volatile sig_atomic_t g_signal_pipe = -1;

volatile sig_atomic_t g_signals_seen = 0;

// First signal: graceful stop (the running job stops at its next cancel check and is re-queued on the next
// start). A second signal exits at once (a long VAE decode may otherwise hold the process for a while).
void on_signal(int sig) {
    if (g_signals_seen != 0) _exit(128 + sig);
    g_signals_seen = 1;
    const unsigned char b = static_cast<unsigned char>(sig);
    if (g_signal_pipe >= 0) {
        const ssize_t n = write(g_signal_pipe, &b, 1);
        (void)n;
    }
}

std::string first_existing(const std::vector<std::string>& candidates) {
    std::error_code ec;
    for (const auto& c : candidates)
        if (fs::is_regular_file(c, ec)) return c;
    return "";
}

void demo_banner(const char* why) {
    std::fprintf(stderr,
                 "\n"
                 "  *****************************************************************************\n"
                 "  *  DEMO MODE (%s): a tiny model with RANDOM weights.\n"
                 "  *  The whole API works, but every video is NOISE.\n"
                 "  *  For real results: `tooncrafter download`, then `tooncrafter serve`\n"
                 "  *  (or --model /path/to/model.ckpt).\n"
                 "  *****************************************************************************\n\n",
                 why);
}

std::unique_ptr<Engine> load_engine(const ServeOptions& o) {
    std::string model = o.model;
    const char* demo_why = "--model demo";
    if (model.empty()) {
        model = first_existing({model_cache_dir() + "/model.ckpt", model_cache_dir() + "/model.safetensors"});
        demo_why = "no model in the cache directory";
    }
    std::unique_ptr<Engine> engine;
    if (model.empty() || model == "demo") {
        std::string vocab = o.vocab;
        if (vocab.empty()) {
            try {
                vocab = find_vocab({});
            } catch (const std::exception&) {
                vocab.clear();  // the demo then uses its byte-level stand-in tokenizer
            }
        }
        demo_banner(demo_why);
        engine = Engine::load_demo(0, vocab);
    } else {
        TC_CHECK(fs::is_regular_file(model), "--model ", model, " does not exist");
        EngineConfig cfg;
        cfg.model_path = model;
        cfg.config_path = o.config;
        const std::string dir = fs::path(model).parent_path().string();
        cfg.vocab_path = o.vocab.empty() ? find_vocab({dir}) : o.vocab;
        cfg.film_path = o.film.empty() ? first_existing({dir + "/film_net_fp32.pt", dir + "/film_net_fp16.pt",
                                                         dir + "/film_net.safetensors"})
                                       : o.film;
        if (!o.allowed_max_sides.empty()) cfg.allowed_max_sides = o.allowed_max_sides;
        std::fprintf(stderr, "loading %s ...\n", model.c_str());
        engine = Engine::load(cfg);
    }
    return engine;
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
    s->add_flag("--no-auth", o.no_auth, "no API keys or credits (local use only)")->envname("TOONCRAFTER_NO_AUTH");
    s->add_option("--retention", o.retention, "seconds results live after finishing")
        ->envname("TOONCRAFTER_RETENTION")
        ->capture_default_str();
    s->add_option("--rate-limit", o.rate_limit, "submits per second per API key (0 = unlimited)")
        ->envname("TOONCRAFTER_RATE_LIMIT");
    s->add_option("--max-attempts", o.max_attempts, "restarts a job survives before it is failed")
        ->envname("TOONCRAFTER_MAX_ATTEMPTS");
    return s;
}

int cmd_serve(const ServeOptions& o) {
    try {
        TC_CHECK(o.port >= 0 && o.port <= 65535, "--port must be 0..65535");
        TC_CHECK(o.retention > 0, "--retention must be positive");
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

        std::unique_ptr<Engine> engine = load_engine(o);
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
        server::HttpServer srv(cfg, *engine);
        srv.start();
        std::fprintf(stderr, "tooncrafter serving on %s:%d (public URL %s)%s%s\n", o.host.c_str(), srv.port(),
                     srv.public_url().c_str(), cfg.auth ? "" : ", NO AUTH", engine->is_demo() ? ", DEMO MODEL" : "");
        if (cfg.auth && srv.keys())
            std::fprintf(stderr, "API keys: `tooncrafter keys create --data-dir %s --credits N`\n", o.data_dir.c_str());
        if (o.public_url.empty() && (o.host == "0.0.0.0" || o.host == "::"))
            std::fprintf(stderr, "note: set --public-url to the address clients use; v2 responses link to %s\n",
                         srv.public_url().c_str());
        std::thread signals([&] {
            unsigned char sig = 0;
            if (read(fds[0], &sig, 1) == 1 && sig != 0)
                std::fprintf(stderr, "signal %d: stopping (a running job is re-queued on the next start; "
                             "signal again to exit at once)\n", int(sig));
            srv.stop();
        });
        srv.wait();
        // Stopped without a signal: wake the signal thread so it can be joined.
        const unsigned char zero = 0;
        if (write(fds[1], &zero, 1) != 1) std::fprintf(stderr, "warning: cannot wake the signal thread\n");
        signals.join();
        srv.stop();
        g_signal_pipe = -1;
        close(fds[0]);
        close(fds[1]);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
}

}  // namespace tc::cli
