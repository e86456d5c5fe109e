// Model resolution, download and loading for `tooncrafter serve` (see serve_loader.h).
#include "cli/serve_loader.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "cli/paths.h"
#include "core/error.h"
#include "engine/model_download.h"

namespace tc::cli {

namespace {

namespace fs = std::filesystem;

std::string first_existing(const std::vector<std::string>& candidates) {
    std::error_code ec;
    for (const auto& c : candidates)
        if (fs::is_regular_file(c, ec)) return c;
    return "";
}

void demo_banner(const std::string& why) {
    std::fprintf(stderr,
                 "\n"
                 "  *****************************************************************************\n"
                 "  *  DEMO MODE (%s): a tiny model with RANDOM weights.\n"
                 "  *  The whole API works, but every video is NOISE.\n"
                 "  *  For real results: `tooncrafter download`, then `tooncrafter serve`\n"
                 "  *  (or --model /path/to/model.ckpt).\n"
                 "  *****************************************************************************\n\n",
                 why.c_str());
}

std::shared_ptr<const Engine> load_demo(const ServeOptions& o, const std::string& why) {
    std::string vocab = o.vocab;
    if (vocab.empty()) {
        try {
            vocab = find_vocab({});
        } catch (const std::exception&) {
            vocab.clear();  // the demo then uses its byte-level stand-in tokenizer
        }
    }
    demo_banner(why);
    return Engine::load_demo(0, vocab);
}

std::string describe_progress(const std::string& name, uint64_t done, uint64_t total) {
    char s[160];
    const double gib = 1024.0 * 1024.0 * 1024.0;
    if (total > 0)
        std::snprintf(s, sizeof s, "downloading %s %d%% (%.2f of %.2f GiB)", name.c_str(),
                      int(double(done) * 100 / double(total)), double(done) / gib, double(total) / gib);
    else
        std::snprintf(s, sizeof s, "downloading %s (%.2f GiB so far)", name.c_str(), double(done) / gib);
    return s;
}

// Fetches the manifest's files that `dir` lacks: the vocabulary and the checkpoint are needed (throws when
// they cannot be had), FILM is optional (a warning). Fails fast when offline: the first file gets a single
// short attempt, and only once bytes have arrived are the usual retries worth it.
void download_missing(const std::string& dir, const std::function<void(const std::string&)>& progress,
                      const std::atomic<bool>& stop) {
    const char* base = std::getenv("TOONCRAFTER_DOWNLOAD_BASE");
    bool online = false;
    for (DownloadEntry e : default_manifest()) {
        if (fs::is_regular_file(fs::path(dir) / e.name)) continue;
        const bool optional = e.name.rfind("film", 0) == 0;
        e.url = rebase_url(e.url, e.name, base ? base : "");
        std::fprintf(stderr, "%s <- %s\n", e.name.c_str(), e.url.c_str());
        FetchOptions fo;
        fo.connect_timeout_s = 5;
        fo.attempts = online ? 3 : 1;
        fo.retry_delay_ms = 500;
        int last_percent = -1;
        fo.on_progress = [&](uint64_t done, uint64_t total) {
            const int percent = total ? int(double(done) * 100 / double(total)) : int(done >> 26);  // 64 MiB steps
            if (percent != last_percent) {
                last_percent = percent;
                progress(describe_progress(e.name, done, total));
            }
            return !stop.load();
        };
        progress(describe_progress(e.name, 0, 0));
        try {
            try {
                fetch_file(e, dir, fo);
            } catch (const std::exception&) {
                // Bytes arrived (a .part exists): the network works, the transfer broke; retry and resume.
                std::error_code ec;
                if (online || stop || fs::file_size(fs::path(dir) / (e.name + ".part"), ec) == 0 || ec) throw;
                fo.attempts = 3;
                fetch_file(e, dir, fo);
            }
            online = true;
        } catch (const std::exception& x) {
            if (!optional || stop) throw;
            std::fprintf(stderr, "warning: %s not downloaded (%s); interpolate will be unavailable\n",
                         e.name.c_str(), x.what());
        }
    }
}

}  // namespace

void check_serve_model_options(const ServeOptions& o) {
    if (!o.model.empty() && o.model != "demo")
        TC_CHECK(fs::is_regular_file(o.model), "--model ", o.model, " does not exist (or is not a file)");
    TC_CHECK(o.config.empty() || fs::is_regular_file(o.config), "--config ", o.config, " does not exist");
    TC_CHECK(o.vocab.empty() || fs::is_regular_file(o.vocab), "--vocab ", o.vocab, " does not exist");
    TC_CHECK(o.film.empty() || fs::is_regular_file(o.film), "--film ", o.film, " does not exist");
}

std::shared_ptr<const Engine> load_serving_engine(const ServeOptions& o,
                                                  const std::function<void(const std::string&)>& progress,
                                                  const std::atomic<bool>& stop) {
    if (o.model == "demo") {
        progress("building the demo model");
        return load_demo(o, "--model demo");
    }
    std::string model = o.model;
    if (model.empty()) {
        const std::string dir = model_cache_dir();
        auto cached = [&] { return first_existing({dir + "/model.ckpt", dir + "/model.safetensors"}); };
        model = cached();
        if (model.empty() && o.no_download) {
            progress("building the demo model");
            return load_demo(o, "no model in " + dir + " and downloads are off");
        }
        if (model.empty()) {
            try {
                std::fprintf(stderr, "no model in %s: downloading it (--no-download to skip)\n", dir.c_str());
                download_missing(dir, progress, stop);
            } catch (const std::exception& e) {
                if (stop) throw;
                std::fprintf(stderr, "download failed: %s\n", e.what());
                progress("building the demo model");
                return load_demo(o, "no model in " + dir + " and the download failed");
            }
            model = cached();
            TC_CHECK(!model.empty(), "the download finished but ", dir, " has no model.ckpt");
        }
    }

    EngineConfig cfg;
    cfg.model_path = model;
    cfg.config_path = o.config;
    const std::string dir = fs::path(model).parent_path().string();
    cfg.vocab_path = o.vocab.empty() ? find_vocab({dir}) : o.vocab;
    cfg.film_path = o.film.empty() ? first_existing({dir + "/film_net_fp32.pt", dir + "/film_net_fp16.pt",
                                                     dir + "/film_net.safetensors"})
                                   : o.film;
    if (!o.allowed_max_sides.empty()) cfg.allowed_max_sides = o.allowed_max_sides;
    progress("loading " + model);
    std::fprintf(stderr, "loading %s ...\n", model.c_str());
    return Engine::load(cfg);
}

}  // namespace tc::cli
