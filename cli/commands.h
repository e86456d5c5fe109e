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

// `tooncrafter generate`: two keyframes -> the in-between video (cli/cmd_generate.cpp). Defaults are the
// official scripts/run.sh values except the prompt (the API's default).
struct GenerateOptions {
    std::string config;                 // official-layout YAML; empty = the built-in official 512 config
    std::string ckpt;                   // model.ckpt (torch zip) or .safetensors
    std::string vocab;                  // bpe_simple_vocab_16e6.txt.gz; empty = beside the ckpt, then the cache
    std::vector<std::string> images;    // exactly two keyframes (PNG)
    std::string prompt = "cartoon character animation";
    std::string negative_prompt;        // "" = the official unconditional branch
    int steps = 50;
    double cfg_scale = 7.5;
    double frame_stride = 10;
    double eta = 1.0;
    double guidance_rescale = 0.7;
    uint64_t seed = 123;
    std::string noise_file;             // test hook: replay noise_00, noise_01, ... from a safetensors file
    std::string raw_out;                // optional safetensors with frames [3,T,H,W] F32, frames_uint8, latent
    bool no_middle_fix = false;
    int width = 0, height = 0;          // output size; 0 = the config's latent size x 8
    std::string output;                 // -o: frames go to <output without extension>_frames/frame_XX.png
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

}  // namespace tc::cli
