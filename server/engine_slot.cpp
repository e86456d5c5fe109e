// The server's engine slot and the tc::Engine adapter (see engine_slot.h).
#include "server/engine_slot.h"

#include "core/error.h"

namespace tc::server {

namespace {

class EngineAdapter final : public ServingEngine {
public:
    explicit EngineAdapter(std::shared_ptr<const Engine> e) : e_(std::move(e)) {}
    RequestPlan plan(const Request& req) const override { return e_->plan(req); }
    Video run(const Request& req, const ProgressFn& progress, const CancelFn& cancelled) const override {
        return e_->run(req, progress, cancelled);
    }
    bool is_demo() const override { return e_->is_demo(); }
    bool has_film() const override { return e_->has_film(); }
    std::vector<int64_t> allowed_max_sides() const override { return e_->config().allowed_max_sides; }

private:
    std::shared_ptr<const Engine> e_;
};

}  // namespace

std::shared_ptr<const ServingEngine> serve_engine(std::shared_ptr<const Engine> engine) {
    TC_CHECK(engine, "serve_engine: no engine");
    return std::make_shared<EngineAdapter>(std::move(engine));
}

void EngineSlot::changed(std::unique_lock<std::mutex>& lk) {
    ++version_;
    lk.unlock();
    cv_.notify_all();
}

void EngineSlot::set_progress(const std::string& detail) {
    std::unique_lock lk(mu_);
    if (status_.phase != Phase::Loading) return;  // a late report from a finished loader
    status_.detail = detail;
    changed(lk);
}

void EngineSlot::set_engine(std::shared_ptr<const Engine> engine) { set_serving_engine(serve_engine(std::move(engine))); }

void EngineSlot::set_serving_engine(std::shared_ptr<const ServingEngine> engine) {
    TC_CHECK(engine, "EngineSlot::set_serving_engine: no engine");
    std::unique_lock lk(mu_);
    engine_ = std::move(engine);
    status_ = Status{Phase::Ready, "", true};
    changed(lk);
}

void EngineSlot::set_ready_without_engine(const std::string& why) {
    std::unique_lock lk(mu_);
    engine_.reset();
    status_ = Status{Phase::Ready, why, false};
    changed(lk);
}

void EngineSlot::set_failed(const std::string& error) {
    std::unique_lock lk(mu_);
    engine_.reset();
    status_ = Status{Phase::Failed, error, false};
    changed(lk);
}

EngineSlot::Status EngineSlot::status() const {
    std::lock_guard lk(mu_);
    return status_;
}

std::shared_ptr<const ServingEngine> EngineSlot::engine() const {
    std::lock_guard lk(mu_);
    return engine_;
}

uint64_t EngineSlot::version() const {
    std::lock_guard lk(mu_);
    return version_;
}

void EngineSlot::wait_for_change(uint64_t seen, std::chrono::milliseconds timeout) const {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, timeout, [&] { return version_ != seen; });
}

}  // namespace tc::server
