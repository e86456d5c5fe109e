// Which engine `tooncrafter serve` runs, and loading it (DESIGN.md section 6, model resolution):
//   --model PATH   that file; a missing or unreadable one is a hard error, never a fallback to the demo;
//   --model demo   the random-weight demo model, built in memory;
//   (no --model)   the model cache directory's model.ckpt / model.safetensors when present; else the model
//                  files are downloaded there (engine/model_download.h), unless --no-download; when no
//                  download is possible, the demo with a loud banner.
// cmd_serve.cpp binds the HTTP server first and runs load_serving_engine on a background thread, so /health
// can say what is happening (the `progress` texts) while submits answer 503.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "engine/engine.h"

namespace tc::cli {

// Cheap checks worth failing on before the server binds: explicit paths (--model, --config, --vocab, --film)
// that do not exist. Throws tc::Error.
void check_serve_model_options(const ServeOptions& o);

// Resolves and loads the engine as described above. `progress` receives one-line descriptions of the current
// step ("downloading model.ckpt 34% (3.4 of 10.0 GiB)", "loading ..."); `stop` set aborts a download (then
// this throws). Throws tc::Error when the engine cannot be had (a bad --model, broken cached weights).
std::shared_ptr<const Engine> load_serving_engine(const ServeOptions& o,
                                                  const std::function<void(const std::string&)>& progress,
                                                  const std::atomic<bool>& stop);

}  // namespace tc::cli
