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

}  // namespace tc::cli
