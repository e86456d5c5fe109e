// The worker thread (see worker.h).
#include "server/worker.h"

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

Worker::Worker(JobManager& jobs, const Engine& engine, ImageLoader load)
    : jobs_(jobs), engine_(engine), load_(std::move(load)) {}

Worker::~Worker() { stop(); }

void Worker::start() {
    stop_ = false;
    thread_ = std::thread([this] { loop(); });
}

void Worker::stop() {
    stop_ = true;
    jobs_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Worker::loop() {
    auto last_sweep = std::chrono::steady_clock::now() - std::chrono::hours(1);
    while (!stop_) {
        try {
            if (std::chrono::steady_clock::now() - last_sweep > std::chrono::milliseconds(250)) {
                jobs_.sweep_expired();
                last_sweep = std::chrono::steady_clock::now();
            }
            const uint64_t seen = jobs_.version();
            if (auto job = jobs_.claim_next()) {
                run_job(*job);
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

void Worker::run_job(const JobRecord& job) {
    busy_ = true;
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
            jobs_.progress(job.id, pr.stage, pr.done, pr.total, pr.segment);
        };
        // On shutdown the job is abandoned mid-run: it stays PROCESSING and the next start re-queues it.
        auto cancelled = [&] { return stop_.load() || jobs_.cancel_requested(job.id); };
        if (jobs_.cancel_requested(job.id)) throw Cancelled();
        Video v = engine_.run(req, progress, cancelled);
        jobs_.progress(job.id, "output", 0, 1, -1);  // the engine's "encode" is the VAE
        media::EncodeOptions eo;
        eo.format = media::parse_video_format(p.output_format);
        eo.fps = v.fps;
        out_name = jobs_.artifacts().new_name(media::video_extension(eo.format));
        const std::string path = jobs_.artifacts().path(out_name);
        media::encode_video(v.frames, path, eo);
        jobs_.complete(job.id, out_name, media::video_mime_type(eo.format),
                       int64_t(std::filesystem::file_size(path)));
    } catch (const Cancelled&) {
        if (stop_ && !jobs_.cancel_requested(job.id)) {
            busy_ = false;
            return;
        }
        jobs_.fail(job.id, "cancelled");
    } catch (const std::exception& e) {
        if (!out_name.empty()) jobs_.artifacts().remove(out_name);
        jobs_.fail(job.id, e.what());
    }
    busy_ = false;
}

}  // namespace tc::server
