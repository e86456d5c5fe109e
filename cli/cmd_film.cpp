// `tooncrafter film`: runs FILM (models/film.h) on a pair (or a batch of pairs) of frames stored as
// tensors, the way the port's inference.py does for one in-between frame: zero-pad to multiples of 64,
// run, clamp to [0, 1], crop back. Used by tests and for checking a downloaded film_net file.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "models/film.h"

namespace tc::cli {

CLI::App* add_film_command(CLI::App& app, FilmOptions& o) {
    auto* f = app.add_subcommand("film", "FILM (film_net) 2x frame interpolation of tensors x0, x1 -> out");
    f->add_option("--weights", o.weights, "film_net_fp32.pt / film_net_fp16.pt (TorchScript) or .safetensors")
        ->required();
    f->add_option("--in", o.in, "safetensors with x0, x1 [B,3,H,W] in [0,1] and optional dt [B,1]")->required();
    f->add_option("--raw-out", o.raw_out, "safetensors to write: out [B,3,H,W] F32")->required();
    f->add_option("--dt", o.dt, "time of the in-between frame when --in has no dt")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    f->add_flag("-q,--quiet", o.quiet, "no progress output");
    return f;
}

int cmd_film(const FilmOptions& o) {
    try {
        auto t0 = std::chrono::steady_clock::now();
        auto model = load_film(o.weights);
        auto in = SafeTensorsFile::open(o.in);
        TC_CHECK(in.contains("x0") && in.contains("x1"), "'", o.in, "' must hold tensors x0 and x1");
        Tensor x0 = in.get("x0").to(DType::F32), x1 = in.get("x1").to(DType::F32);
        TC_CHECK(x0.dim() == 4 && x0.size(1) == 3 && x0.shape() == x1.shape(), "x0 ", x0.describe(), " and x1 ",
                 x1.describe(), " must both be [B, 3, H, W]");
        const int64_t B = x0.size(0);
        Tensor dt = in.contains("dt") ? in.get("dt").to(DType::F32) : Tensor::full({B, 1}, float(o.dt));
        TC_CHECK(dt.numel() == B || dt.numel() == 1, "dt ", dt.describe(), " must have one value per sample");
        Tensor out = film_interpolate(*model, x0, x1, dt);
        save_safetensors(o.raw_out, {{"out", out}});
        if (!o.quiet)
            std::fprintf(stderr, "film: %s (%s keys, filters %lld) %lldx%lld x%lld in %.2f s -> %s\n",
                         o.weights.c_str(), model->key_generation.c_str(), (long long)model->config().filters,
                         (long long)x0.size(2), (long long)x0.size(3), (long long)B,
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                         o.raw_out.c_str());
        return 0;
    } catch (const Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
}

}  // namespace tc::cli
