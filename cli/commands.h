// The subcommands of the `tooncrafter` CLI. main.cpp parses the command line with CLI11 and calls one of
// these; each returns the process exit code (0 ok, 1 usage, 2 bad input / runtime error) and prints
// errors as one line `error: ...` on stderr.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace tc::cli {

// `tooncrafter generate`: 2..10 keyframes -> a video (cli/cmd_generate.cpp), run on the Engine
// (engine/engine.h) unless a test hook (--noise / --raw-out) selects the legacy two-keyframe interpolate()
// path. Defaults are the official scripts/run.sh values (steps 50, cfg 7.5, eta 1, seed 123, empty negative
// prompt = the official unconditional branch) except the prompt (the API's default).
struct GenerateOptions {
    std::string config;                 // official-layout YAML; empty = the built-in official 512 config
    std::string ckpt;                   // model.ckpt (torch zip) or .safetensors
    std::string vocab;                  // bpe_simple_vocab_16e6.txt.gz; empty = beside the ckpt, then the cache
    std::string film_weights;           // FILM weights (.pt or .safetensors); needed by --interpolate
    std::vector<std::string> positional_images;  // keyframes given as positional arguments (first)
    std::vector<std::string> images;    // keyframes given with --image (after the positional ones)
    std::string prompt = "cartoon character animation";
    std::string negative_prompt;        // "" = the official unconditional branch
    int steps = 50;
    double cfg_scale = 7.5;
    double frame_stride = 10;
    double eta = 1.0;
    double guidance_rescale = 0.7;
    uint64_t seed = 123;
    bool loop = false;                  // last keyframe back to the first
    bool interpolate = false;           // FILM 2x
    bool no_color_correction = false;
    double fps = 8;                     // of the generated frames (doubled by --interpolate)
    std::string output_format;          // mp4 | webm | gif | frames_zip; empty = from the output's extension
    std::string noise_file;             // test hook: replay noise_00, noise_01, ... from a safetensors file
    std::string raw_out;                // test hook: safetensors with frames [3,T,H,W] F32, frames_uint8, latent
    bool no_middle_fix = false;         // legacy path only
    // Engine path: the max_width x max_height box (0 = 512). Legacy (test hook) path: the exact output size
    // (0 = the config's latent size x 8). --width / --height are hidden aliases.
    int max_width = 0, max_height = 0;
    std::string output;                 // -o
    bool quiet = false;
};
int cmd_generate(const GenerateOptions& opts);
// Declares the `generate` subcommand and its options on `app`, bound to `opts` (main.cpp: one call, then
// `if (*sub) return cmd_generate(opts);`).
CLI::App* add_generate_command(CLI::App& app, GenerateOptions& opts);

int cmd_inspect(const std::string& path);
int cmd_tokenize(const std::string& text, const std::string& vocab_path);

// `tooncrafter film`: FILM (film_net) 2x frame interpolation of tensors (cli/cmd_film.cpp). Test hook: reads
// x0, x1 [B,3,H,W] in [0,1] and optional dt [B,1] (default 0.5) from --in, runs film_interpolate (pad to
// multiples of 64, clamp, crop) and writes tensor `out` [B,3,H,W] F32 to --raw-out.
struct FilmOptions {
    std::string weights;  // film_net_fp32.pt / film_net_fp16.pt (either key generation) or .safetensors
    std::string in;       // safetensors with x0, x1 [, dt]
    std::string raw_out;  // safetensors receiving `out`
    double dt = 0.5;      // used when --in has no dt
    bool quiet = false;
};
int cmd_film(const FilmOptions& opts);
CLI::App* add_film_command(CLI::App& app, FilmOptions& opts);

// `tooncrafter download`: fetches the model files (engine/model_download.h) into --dir (default: the model
// cache directory), resuming .part files and checking SHA-256. TOONCRAFTER_DOWNLOAD_BASE=<base> fetches each
// file from <base>/<name> instead (mirrors, tests); --manifest FILE replaces the built-in list.
struct DownloadOptions {
    std::string dir;
    bool quiet = false;
    std::vector<std::string> only;
    std::string manifest;  // JSON list of {name, url, sha256, size}; empty = the built-in manifest
};
CLI::App* add_download_command(CLI::App& app, DownloadOptions& opts);
int cmd_download(const DownloadOptions& opts);

// `tooncrafter keys create|list|revoke` and `tooncrafter credits add` (cli/cmd_keys.cpp): API keys and
// credits in <data-dir>/keys.db (server/auth.h), or with --queue (or $TOONCRAFTER_QUEUE) in the Redis that
// the API nodes share. Data dir: --data-dir, else $TOONCRAFTER_DATA_DIR, else ./tooncrafter-data. `keys create`
// prints only the new key on stdout. main.cpp: one add_keys_commands call
// (it declares both `keys` and `credits`), then `if (!keys_opts.action.empty()) return cmd_keys(keys_opts);`.
struct KeysOptions {
    std::string action;    // set by the parsed subcommand: create | list | revoke | credits-add
    std::string data_dir;
    std::string queue;     // redis://...: the shared key store of the scale-out API nodes; "" = data_dir's
    std::string name;      // create
    int64_t credits = 0;   // create: initial credits; credits add: the amount
    std::string target;    // revoke / credits add: the key id or the raw key
    bool json = false;     // list
};
CLI::App* add_keys_commands(CLI::App& app, KeysOptions& opts);
int cmd_keys(const KeysOptions& opts);

// `tooncrafter serve` (cli/cmd_serve.cpp): the HTTP API of DESIGN.md section 3 with one in-process worker
// (server/http_server.h). It binds first and loads the model in the background (503 until ready). Every flag can also come from the environment as TOONCRAFTER_<FLAG> (upper case,
// dashes as underscores: TOONCRAFTER_PUBLIC_URL, TOONCRAFTER_NO_AUTH=1, ...); the command line wins.
struct ServeOptions {
    std::string host = "0.0.0.0";
    int port = 8000;
    std::string data_dir = "./tooncrafter-data";
    std::string model;          // PATH (model.ckpt / .safetensors) | "demo" | empty = the cache, else download,
                                // else demo (cli/serve_loader.h)
    std::string config;         // model YAML (with --model PATH); empty = the official 512 config
    std::string vocab;          // CLIP vocabulary; empty = beside the model, then the cache
    std::string film;           // FILM weights for interpolate; empty = beside the model if present
    std::string public_url;     // base of the URLs in v2 responses; empty = http://<host>:<port>
    std::vector<std::string> allow_private_fetch;  // CIDRs image URLs may reach (tests, trusted LANs)
    std::vector<int64_t> allowed_max_sides;        // override of 256,512,768: for small models and tests only
    bool no_auth = false;
    bool no_download = false;   // no model in the cache: the demo, without trying to download the model
    double retention = 3600;    // seconds results live after finishing
    double rate_limit = 0;      // submits per second per key; 0 = unlimited
    int max_attempts = 3;
    std::string storage;        // artifact store URL: file:///dir | s3://bucket/prefix?...; empty = <data-dir>/files
    std::string queue;          // redis://HOST:PORT/DB: API node of the scale-out setup (no engine; docs/scale-out.md)
    std::vector<double> webhook_backoff;  // seconds between webhook attempts; empty = the default (tests only)
};
CLI::App* add_serve_command(CLI::App& app, ServeOptions& opts);
int cmd_serve(const ServeOptions& opts);

// `tooncrafter worker` (cli/cmd_worker.cpp): a remote GPU/CPU worker of the scale-out setup (docs/scale-out.md):
// loads the engine, then claims jobs from the Redis queue, runs them, writes the outputs to --storage and
// records the results; heartbeats while alive; takes over jobs of workers that died.
struct WorkerOptions {
    std::string queue;          // redis://HOST:PORT/DB (required)
    std::string storage;        // file:///DIR | s3://...: where outputs go (the API nodes serve them from there)
    std::string model = "demo"; // PATH | demo | "" (= the cache directory, as for serve)
    std::string config, vocab, film;
    std::vector<int64_t> allowed_max_sides;
    std::string worker_id;      // "" = <hostname>-<pid>
    double claim_idle = 60;     // seconds without a renewal before another worker takes a job over
    int max_attempts = 3;       // claims of one job before it is failed
    double retention = 3600;    // seconds finished jobs live (must match the API nodes')
    double heartbeat = 2;       // seconds between heartbeats (each lives 3 periods)
    std::vector<std::string> allow_private_fetch;
    std::string data_dir = "./tooncrafter-worker";  // scratch (staging of uploads)
};
CLI::App* add_worker_command(CLI::App& app, WorkerOptions& opts);
int cmd_worker(const WorkerOptions& opts);

}  // namespace tc::cli
