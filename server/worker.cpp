// The worker thread (see worker.h).
#include "server/worker.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "media/image_decode.h"
#include "media/video_encode.h"
#include "pipeline/ddim.h"

namespace tc::server {

Request make_engine_request(const GenerationParams& p, const ImageLoader& load) {
    Request r;
    for (size_t i = 0; load && i < p.images.size(); ++i) {
        const std::string field = "image_" + std::to_string(i + 1);
        const std::vector<uint8_t> bytes = load(p.images[i], field);  // its errors name the field
        try {
            r.keyframes.push_back(media::decode_image(bytes.data(), bytes.size()));
        } catch (const std::exception& e) {
            TC_FAIL(field, ": ", e.what());
        }
    }
    r.prompt = p.prompt;
    r.negative_prompt = p.negative_prompt;
    r.seed = p.seed;
    r.max_width = p.max_width;
    r.max_height = p.max_height;
    r.loop = p.loop;
    r.interpolate = p.interpolate;
    r.color_correction = p.color_correction;
    r.steps = p.steps;
    r.cfg_scale = p.cfg_scale;
    r.frame_stride = p.frame_stride;
    r.frames_per_segment = p.frames_per_segment;
    if (p.fps > 0) r.fps = p.fps;
    return r;
}

Worker::Worker(JobManager& jobs, const EngineSlot& engines, ImageLoader load)
    : jobs_(jobs), engines_(engines), load_(std::move(load)) {}

Worker::~Worker() { stop(); }

void Worker::start() {
    stop_ = false;
    thread_ = std::thread([this] { loop(); });
    if (jobs_.shared()) keeper_ = std::thread([this] { keep_claims(); });
}

void Worker::stop() {
    stop_ = true;
    jobs_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (keeper_.joinable()) keeper_.join();
}

std::string Worker::current_job() const {
    std::lock_guard lk(current_mu_);
    return current_;
}

void Worker::keep_claims() {
    // Several renewals per claim-idle period, so one slow round trip does not cost the claim.
    const double period_s = std::clamp(jobs_.options().claim_idle_s / 4, 0.05, 1.0);
    while (!stop_) {
        std::this_thread::sleep_for(std::chrono::duration<double>(period_s));
        const std::string id = current_job();
        if (id.empty()) continue;
        try {
            if (!jobs_.keep_claimed(id) && current_job() == id) {
                std::fprintf(stderr, "worker: lost the claim on job %s (taken over or finished elsewhere)\n",
                             id.c_str());
                lost_ = true;
            }
        } catch (const std::exception& e) {
            // The store is unreachable: the claim may still be ours; try again next period.
            std::fprintf(stderr, "worker: cannot renew the claim on job %s: %s\n", id.c_str(), e.what());
        }
    }
}

void Worker::loop() {
    while (!stop_) {
        try {
            // Held for the whole job: the engine outlives a slot change made meanwhile.
            const std::shared_ptr<const ServingEngine> engine = engines_.engine();
            if (!engine) {
                // Still loading (or no local engine): queued jobs wait. The timeout bounds stop().
                engines_.wait_for_change(engines_.version(), std::chrono::milliseconds(250));
                continue;
            }
            const uint64_t seen = jobs_.version();
            if (auto job = jobs_.claim_next()) {
                run_job(*job, *engine);
                continue;
            }
            jobs_.wait_for_change(seen, std::chrono::milliseconds(250));
        } catch (const std::exception& e) {
            // The store failed (disk full, ...): log and keep the thread alive; the job stays where it was.
            std::fprintf(stderr, "worker: %s\n", e.what());
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
    }
}

void Worker::run_job(const JobRecord& job, const ServingEngine& engine) {
    busy_ = true;
    lost_ = false;
    {
        std::lock_guard lk(current_mu_);
        current_ = job.id;
    }
    struct ClearCurrent {
        Worker* w;
        ~ClearCurrent() {
            std::lock_guard lk(w->current_mu_);
            w->current_.clear();
        }
    } clear_current{this};
    std::string out_name;
    try {
        const GenerationParams p = params_from_json(nlohmann::json::parse(job.params));
        Request req = make_engine_request(p, load_);
        auto last_step = std::chrono::steady_clock::now();
        auto progress = [&](const Progress& pr) {
            if (pr.stage == "denoise" && on_step_) {
                const auto now = std::chrono::steady_clock::now();
                on_step_(std::chrono::duration<double>(now - last_step).count());
                last_step = now;
            }
            report(job.id, pr.stage, pr.done, pr.total, pr.segment);
        };
        // On shutdown the job stops at its next cancel check and is given back to the queue (give_back).
        auto cancelled = [&] { return stop_.load() || lost_.load() || jobs_.cancel_requested(job.id); };
        if (jobs_.cancel_requested(job.id)) throw Cancelled();
        Video v = engine.run(req, progress, cancelled);
        report(job.id, "output", 0, 1, -1);  // the engine's "encode" is the VAE
        media::EncodeOptions eo;
        eo.format = media::parse_video_format(p.output_format);
        eo.fps = v.fps;
        out_name = jobs_.artifacts().new_name(media::video_extension(eo.format));
        // Written to a staging file, then published (moved into place, or uploaded to S3).
        media::encode_video(v.frames, jobs_.artifacts().staging_path(out_name), eo);
        const int64_t bytes = jobs_.artifacts().publish(out_name);
        if (jobs_.complete(job.id, out_name, media::video_mime_type(eo.format), bytes)) {
            completed_.fetch_add(1);
        } else {
            // Finished elsewhere meanwhile, or another worker owns it now: this output is nobody's.
            jobs_.artifacts().remove(out_name);
        }
    } catch (const Cancelled&) {
        // A claim lost to another worker: nothing to write. A clean stop: the job goes back to the queue,
        // unless its cancel was requested too (then, as when the user's cancel alone stopped it, FAILED).
        if (lost_ || (stop_ && !jobs_.cancel_requested(job.id) && give_back(job.id))) {
            busy_ = false;
            return;
        }
        record_failure(job.id, "cancelled");
    } catch (const std::exception& e) {
        if (!out_name.empty()) jobs_.artifacts().remove(out_name);
        if (!lost_) record_failure(job.id, e.what());
    }
    busy_ = false;
}

void Worker::report(const std::string& id, const std::string& stage, int done, int total, int segment) {
    if (!jobs_.shared()) {
        jobs_.progress(id, stage, done, total, segment);
        return;
    }
    // A shared store that is briefly unreachable (Redis restarting) must not fail the running job: progress
    // is advisory, the next report carries the newer numbers.
    try {
        jobs_.progress(id, stage, done, total, segment);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "worker: progress of job %s not recorded: %s\n", id.c_str(), e.what());
    }
}

bool Worker::give_back(const std::string& id) {
    {
        // No longer this worker's current job: the claim keeper stops renewing it, and its renewal failing
        // after the release is not taken for a lost claim.
        std::lock_guard lk(current_mu_);
        current_.clear();
    }
    try {
        if (jobs_.release(id)) {
            std::fprintf(stderr, "worker: stopping; job %s is queued again (this run does not count as an attempt)\n",
                         id.c_str());
            return true;
        }
        // Refused: a cancel came meanwhile (record it), or the job is no longer ours (nothing to write).
        return !jobs_.cancel_requested(id);
    } catch (const std::exception& e) {
        // The store is unreachable: the job stays claimed by this worker, and the crash path takes over: a
        // shared store's job is taken over once the claim goes stale, a local one is re-queued by the next start
        // (both count this run as an attempt).
        std::fprintf(stderr, "worker: cannot give job %s back to the queue: %s\n", id.c_str(), e.what());
        return true;
    }
}

void Worker::record_failure(const std::string& id, const std::string& error) {
    try {
        jobs_.fail(id, error);
        failed_.fetch_add(1);
    } catch (const std::exception& e) {
        // The store is unreachable: the job stays claimed by this worker; a shared store's job is taken over
        // (and re-run) once the claim goes stale, a local one is re-queued by the next start.
        std::fprintf(stderr, "worker: cannot record the failure of job %s (%s): %s\n", id.c_str(), error.c_str(),
                     e.what());
    }
}

}  // namespace tc::server
