// `tooncrafter`: the command-line entry point. Parses arguments with CLI11 and dispatches to a
// subcommand in cli/cmd_*.cpp. This is an edge: every exception is caught here and reported as one line.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "cpu/blas_setup.h"
#include "engine/backends.h"

int main(int argc, char** argv) {
    tc::cpu::reexec_for_blas_kernels(argv);  // before any work: see cpu/blas_setup.h
    CLI::App app{"tooncrafter: ToonCrafter keyframe-to-video inference (native C++)"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("tooncrafter 0.1.0"));

    std::string inspect_path;
    auto* inspect = app.add_subcommand("inspect", "List the tensors of a .ckpt or .safetensors file");
    inspect->add_option("file", inspect_path, "checkpoint file (.ckpt torch zip or .safetensors)")->required();

    std::string text, vocab;
    auto* tokenize = app.add_subcommand("tokenize", "Print the 77 CLIP token ids of TEXT as a JSON array");
    tokenize->add_option("text", text, "the prompt")->required();
    tokenize->add_option("--vocab", vocab,
                         "bpe_simple_vocab_16e6.txt.gz (default: $TOONCRAFTER_VOCAB, then the model cache directory)");

    tc::cli::GenerateOptions gen;
    CLI::App* generate = tc::cli::add_generate_command(app, gen);

    tc::cli::FilmOptions film_opts;
    CLI::App* film = tc::cli::add_film_command(app, film_opts);

    tc::cli::DownloadOptions dl;
    CLI::App* download = tc::cli::add_download_command(app, dl);

    tc::cli::ServeOptions serve_opts;
    CLI::App* serve = tc::cli::add_serve_command(app, serve_opts);

    tc::cli::WorkerOptions worker_opts;  // scale-out: `worker --queue redis://...` (cli/cmd_worker.cpp)
    CLI::App* worker = tc::cli::add_worker_command(app, worker_opts);

    tc::cli::KeysOptions keys_opts;  // `keys ...` and `credits add`
    tc::cli::add_keys_commands(app, keys_opts);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 1;
    }

    try {
        tc::init_backends();
        if (*inspect) return tc::cli::cmd_inspect(inspect_path);
        if (*tokenize) return tc::cli::cmd_tokenize(text, vocab);
        if (*generate) return tc::cli::cmd_generate(gen);
        if (*film) return tc::cli::cmd_film(film_opts);
        if (*download) return tc::cli::cmd_download(dl);
        if (*serve) return tc::cli::cmd_serve(serve_opts);
        if (*worker) return tc::cli::cmd_worker(worker_opts);
        if (!keys_opts.action.empty()) return tc::cli::cmd_keys(keys_opts);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
    return 1;
}
