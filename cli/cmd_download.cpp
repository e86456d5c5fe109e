// `tooncrafter download`: fetches the model files into the model cache directory (or --dir), one after the
// other, with resume and SHA-256 checks (engine/model_download.h). Prints one summary line per file on stdout.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"
#include "cli/paths.h"
#include "core/error.h"
#include "engine/model_download.h"

namespace tc::cli {

CLI::App* add_download_command(CLI::App& app, DownloadOptions& o) {
    auto* d = app.add_subcommand("download", "Download the model files (checkpoint, CLIP vocabulary, FILM weights)");
    d->add_option("--dir", o.dir, "target directory (default: $TOONCRAFTER_MODEL_DIR, else the cache directory)");
    d->add_option("--only", o.only, "download only these file names (repeatable)");
    d->add_option("--manifest", o.manifest, "JSON list of {name, url, sha256, size} replacing the built-in list");
    d->add_flag("-q,--quiet", o.quiet, "no progress output");
    return d;
}

int cmd_download(const DownloadOptions& o) {
    try {
        auto entries = o.manifest.empty() ? default_manifest() : load_manifest(o.manifest);
        for (const auto& want : o.only) {
            bool known = false;
            for (const auto& e : entries) known = known || e.name == want;
            TC_CHECK(known, "--only '", want, "' is not in the manifest");
        }
        const char* base = std::getenv("TOONCRAFTER_DOWNLOAD_BASE");
        const std::string dir = o.dir.empty() ? model_cache_dir() : o.dir;
        FetchOptions fo;
        fo.quiet = o.quiet;
        int unverified = 0;
        for (auto e : entries) {
            if (!o.only.empty() && std::find(o.only.begin(), o.only.end(), e.name) == o.only.end()) continue;
            e.url = rebase_url(e.url, e.name, base ? base : "");
            if (!o.quiet) std::fprintf(stderr, "%s <- %s\n", e.name.c_str(), e.url.c_str());
            FetchResult r = fetch_file(e, dir, fo);
            const bool skipped = r.status == FetchResult::Status::Skipped;
            std::string check = r.verified_by.empty()
                                    ? "sha256 " + r.sha256 + " NOT verified against a published hash (recorded in " +
                                          e.name + ".sha256)"
                                    : (r.sha256.empty() ? std::string("size matches")
                                                        : "sha256 " + r.sha256 + " verified (" + r.verified_by + ")");
            if (r.verified_by.empty()) ++unverified;
            std::printf("%s: %s %s (%llu bytes%s), %s\n", e.name.c_str(), skipped ? "present" : "downloaded",
                        r.path.c_str(), (unsigned long long)r.size, r.resumed ? ", resumed" : "", check.c_str());
        }
        if (unverified > 0 && !o.quiet)
            std::fprintf(stderr,
                         "note: %d file(s) could not be checked against a published sha256; compare the recorded "
                         "hashes with a trusted source\n",
                         unverified);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
}

}  // namespace tc::cli
