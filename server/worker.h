// The in-process worker of `tooncrafter serve` (DESIGN.md section 6): one thread that claims the oldest
// queued job, turns its parameters into an engine Request (keyframes fetched/decoded with
// server/image_input.h and media::decode_image), runs Engine::run with progress and cancel callbacks wired to
// the JobManager, and encodes the video into the artifact directory with media::encode_video.
// It takes the engine from the server's EngineSlot and claims nothing until the slot has one (jobs accepted
// before that stay QUEUED). The retention sweep is the server's (http_server.cpp), not the worker's: it must
// also run while a long job occupies the worker.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "server/engine_slot.h"
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
    Worker(JobManager& jobs, const EngineSlot& engines, ImageLoader load);
    ~Worker();  // stops and joins
    void start();
    // Stops and joins. A job running now stops at its next cancel check and goes back to the queue without
    // counting as an attempt (a job whose cancel was requested is FAILED "cancelled" instead).
    void stop();
    bool busy() const { return busy_.load(); }
    void on_step(StepTimeFn f) { on_step_ = std::move(f); }
    // Jobs this worker finished (heartbeat metrics of remote workers), and the one it runs now ("" = none).
    uint64_t jobs_completed() const { return completed_.load(); }
    uint64_t jobs_failed() const { return failed_.load(); }
    std::string current_job() const;

    // Runs one claimed job to its end (COMPLETED or FAILED) on `engine`. Public for tests.
    void run_job(const JobRecord& job, const ServingEngine& engine);

private:
    void loop();
    JobManager& jobs_;
    const EngineSlot& engines_;
    ImageLoader load_;
    StepTimeFn on_step_;
    std::atomic<bool> stop_{false}, busy_{false};
    std::thread thread_;

    // Shared job stores (server/redis_job_store.h): a second thread renews the running job's claim so other
    // workers do not take it over; when the claim is lost (this worker was presumed dead, or the job was
    // finished elsewhere) the job is abandoned at its next cancel check, without writing a result.
    void keep_claims();
    void report(const std::string& id, const std::string& stage, int done, int total, int segment);
    void record_failure(const std::string& id, const std::string& error);
    // A clean stop interrupted the job: it goes back to the queue without counting as an attempt
    // (JobManager::release). false = a cancel was requested meanwhile: the caller records FAILED "cancelled".
    bool give_back(const std::string& id);
    std::thread keeper_;
    mutable std::mutex current_mu_;
    std::string current_;
    std::atomic<bool> lost_{false};
    std::atomic<uint64_t> completed_{0}, failed_{0};
};

}  // namespace tc::server
