// The `--model demo` engine (engine/demo_model.h) on the CPU: seconds per request for 2 keyframes at the
// API's default settings (steps 20, cfg 7, colour correction on), median of N runs, with the time of each
// stage and the machine's load average (the numbers depend on what else runs). Built only with
// -DTC_BENCH=ON. Usage: [BENCH_DEMO_VERBOSE=1] [BENCH_DEMO_PROFILE=1] bench_demo [side runs steps]   (defaults: 256 3 20)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/cpu_block_cache.h"
#include "cpu/blas_setup.h"
#include "engine/backends.h"
#include "engine/engine.h"
#include "op_profiler.h"

namespace {

std::string load_average() {
    std::ifstream f("/proc/loadavg");
    std::string a, b, c;
    f >> a >> b >> c;
    return a + " " + b + " " + c;
}

// A smooth colour image, different per keyframe, so that the pipeline sees ordinary content.
tc::Tensor keyframe(int64_t side, int which) {
    tc::Tensor t = tc::Tensor::empty({side, side, 3}, tc::DType::U8);
    uint8_t* d = t.data<uint8_t>();
    for (int64_t y = 0; y < side; ++y)
        for (int64_t x = 0; x < side; ++x) {
            d[(y * side + x) * 3 + 0] = uint8_t((x * 255) / side);
            d[(y * side + x) * 3 + 1] = uint8_t((y * 255) / side);
            d[(y * side + x) * 3 + 2] = uint8_t(which * 120 + 60);
        }
    return t;
}

}  // namespace

int main(int argc, char** argv) {
    tc::cpu::reexec_for_blas_kernels(argv);  // before any work: see cpu/blas_setup.h
    const int64_t side = argc > 1 ? std::atoll(argv[1]) : 256;
    const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
    const int steps = argc > 3 ? std::atoi(argv[3]) : 20;
    const bool verbose = std::getenv("BENCH_DEMO_VERBOSE") != nullptr;  // print every progress report
    tc::init_backends();
    // BENCH_DEMO_PROFILE=1: time every op (bench/op_profiler.h) and print the table after each run.
    tc::bench::OpProfiler* prof = std::getenv("BENCH_DEMO_PROFILE") ? &tc::bench::OpProfiler::install() : nullptr;

    auto t0 = std::chrono::steady_clock::now();
    const auto engine = tc::Engine::load_demo(0);
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("bench_demo: demo model built in %.3f s; %lldx%lld, 2 keyframes, steps %d, %d runs; load avg %s\n",
                load_s, (long long)side, (long long)side, steps, runs, load_average().c_str());

    tc::Request req;
    req.keyframes = {keyframe(side, 0), keyframe(side, 1)};
    req.max_width = side;
    req.max_height = side;
    req.steps = steps;

    std::vector<double> times;
    for (int i = 0; i < runs; ++i) {
        if (prof) prof->reset();
        std::map<std::string, double> stage_s;  // time from the previous report to the last report of a stage
        auto last = std::chrono::steady_clock::now();
        const auto start = last;
        auto on_progress = [&](const tc::Progress& p) {
            const auto now = std::chrono::steady_clock::now();
            stage_s[p.stage] += std::chrono::duration<double>(now - last).count();
            last = now;
            if (verbose)
                std::printf("    %7.2f s  %s %d/%d\n", std::chrono::duration<double>(now - start).count(), p.stage.c_str(),
                            p.done, p.total);
            std::fflush(stdout);
        };
        const tc::Video v = engine->run(req, on_progress);
        times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        std::printf("  run %d: %.3f s, %lld frames %lldx%lld at %.0f fps;", i, times.back(), (long long)v.frames.size(0),
                    (long long)v.frames.size(2), (long long)v.frames.size(1), v.fps);
        for (const auto& [stage, s] : stage_s) std::printf(" %s %.2f", stage.c_str(), s);
        const tc::CpuBlockCacheStats cs = tc::cpu_block_cache_stats();
        std::printf("; block cache %lld hits %lld misses (cumulative), %zu MB held of %zu; load avg %s\n",
                    (long long)cs.hits, (long long)cs.misses, cs.cached_bytes >> 20, cs.cap_bytes >> 20,
                    load_average().c_str());
        if (prof) prof->print(stdout);
    }
    std::sort(times.begin(), times.end());
    std::printf("[bench] demo %lldx%lld steps %d cpu median=%.3f s/request (load avg %s)\n", (long long)side,
                (long long)side, steps, times[times.size() / 2], load_average().c_str());
    return 0;
}
