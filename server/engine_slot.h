// Where the server finds its engine, and whether it has one yet (DESIGN.md section 3: 503 until ready).
// `tooncrafter serve` binds first and loads (or downloads) the model on a background thread, so the slot
// starts Loading; the loader reports what it is doing (set_progress, shown by /health) and ends with
// set_engine (Ready) or set_failed. An API node whose work runs on remote workers is Ready with no local
// engine (set_ready_without_engine): its routes then take parameter limits from the server configuration.
//
// The routes and the worker see the engine through ServingEngine, the few calls the server makes; a
// tc::Engine is wrapped by set_engine, tests substitute fakes (an engine that throws, blocks, ...).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace tc::server {

// What the server needs of an engine (tc::Engine's calls of the same names).
class ServingEngine {
public:
    virtual ~ServingEngine() = default;
    // Validation before a job is accepted: throws tc::Error with a message fit for a 400 response.
    virtual RequestPlan plan(const Request& req) const = 0;
    virtual Video run(const Request& req, const ProgressFn& progress, const CancelFn& cancelled) const = 0;
    virtual bool is_demo() const = 0;
    virtual bool has_film() const = 0;
    virtual std::vector<int64_t> allowed_max_sides() const = 0;
};

// A tc::Engine as a ServingEngine (shares ownership of it).
std::shared_ptr<const ServingEngine> serve_engine(std::shared_ptr<const Engine> engine);

class EngineSlot {
public:
    enum class Phase { Loading, Ready, Failed };
    struct Status {
        Phase phase = Phase::Loading;
        std::string detail;    // Loading: what is happening; Failed: the error; Ready: "" (or why no engine)
        bool has_engine = false;
    };

    // Loading: what the loader is doing now ("downloading model.ckpt 34% (3.4/10.0 GiB)").
    void set_progress(const std::string& detail);
    void set_engine(std::shared_ptr<const Engine> engine);
    void set_serving_engine(std::shared_ptr<const ServingEngine> engine);
    // Ready with no local engine: jobs are run elsewhere (remote workers); `why` is shown by /health.
    void set_ready_without_engine(const std::string& why);
    void set_failed(const std::string& error);

    Status status() const;
    // The engine when Ready with one, else null. Callers keep the pointer for the duration of their use.
    std::shared_ptr<const ServingEngine> engine() const;
    bool ready() const { return status().phase == Phase::Ready; }
    // Blocks until the status changes from `seen_version` or the timeout passes.
    uint64_t version() const;
    void wait_for_change(uint64_t seen_version, std::chrono::milliseconds timeout) const;

private:
    void changed(std::unique_lock<std::mutex>& lk);
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    Status status_{Phase::Loading, "starting", false};
    std::shared_ptr<const ServingEngine> engine_;
    uint64_t version_ = 0;
};

}  // namespace tc::server
