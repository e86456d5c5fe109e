// The in-process worker of `tooncrafter serve` (DESIGN.md section 6): one thread that claims the oldest
// queued job, turns its parameters into an engine Request (keyframes fetched/decoded with
// server/image_input.h and media::decode_image), runs Engine::run with progress and cancel callbacks wired to
// the JobManager, and encodes the video into the artifact directory with media::encode_video.
// It also runs the retention sweep between jobs.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "server/jobs.h"
#include "server/params.h"

namespace tc::server {

// Turns one image_N value (URL, data: URI or base64) into encoded bytes; errors name `field` ("image_3").
// The server's loader is server/image_input.h load_image_bytes with its FetchPolicy.
using ImageLoader = std::function<std::vector<uint8_t>(const std::string& value, const std::string& field)>;

// Builds the engine request from validated parameters (images decoded through `load`; an empty `load` leaves
// the keyframes empty).
Request make_engine_request(const GenerationParams& p, const ImageLoader& load);

// Metrics hook: the wall time of each denoising step.
using StepTimeFn = std::function<void(double seconds)>;

class Worker {
public:
    Worker(JobManager& jobs, const Engine& engine, ImageLoader load);
    ~Worker();  // stops and joins
    void start();
    void stop();
    bool busy() const { return busy_.load(); }
    void on_step(StepTimeFn f) { on_step_ = std::move(f); }

    // Runs one claimed job to its end (COMPLETED or FAILED). Public for tests.
    void run_job(const JobRecord& job);

private:
    void loop();
    JobManager& jobs_;
    const Engine& engine_;
    ImageLoader load_;
    StepTimeFn on_step_;
    std::atomic<bool> stop_{false}, busy_{false};
    std::thread thread_;
};

}  // namespace tc::server
