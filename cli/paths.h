// Where the CLI looks for model files it was not told about explicitly.
#pragma once

#include <string>
#include <vector>

namespace tc::cli {

// The model cache directory: $TOONCRAFTER_MODEL_DIR, else $XDG_CACHE_HOME/tooncrafter, else ~/.cache/tooncrafter.
std::string model_cache_dir();

// The CLIP vocabulary: $TOONCRAFTER_VOCAB, then each of `dirs`, then the model cache directory.
// Throws with the list of places it looked when none has the file.
std::string find_vocab(const std::vector<std::string>& dirs);

}  // namespace tc::cli
