// Model-file lookup for the CLI.
#include "cli/paths.h"

#include <cstdlib>
#include <filesystem>

#include "core/error.h"

namespace tc::cli {

namespace fs = std::filesystem;
static constexpr const char* kVocabName = "bpe_simple_vocab_16e6.txt.gz";

std::string model_cache_dir() {
    if (const char* d = std::getenv("TOONCRAFTER_MODEL_DIR"); d && *d) return d;
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/tooncrafter";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/tooncrafter";
    return ".tooncrafter-cache";
}

std::string find_vocab(const std::vector<std::string>& dirs) {
    if (const char* v = std::getenv("TOONCRAFTER_VOCAB"); v && *v) {
        TC_CHECK(fs::exists(v), "TOONCRAFTER_VOCAB points to a missing file: ", v);
        return v;
    }
    std::string looked;
    std::vector<std::string> all = dirs;
    all.push_back(model_cache_dir());
    for (const auto& d : all) {
        fs::path p = fs::path(d) / kVocabName;
        if (fs::exists(p)) return p.string();
        looked += (looked.empty() ? "" : ", ") + p.string();
    }
    TC_FAIL("CLIP vocabulary ", kVocabName, " not found (looked in: ", looked,
            "); pass --vocab FILE or set TOONCRAFTER_VOCAB");
}

}  // namespace tc::cli
