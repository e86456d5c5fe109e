// FILM (film_net, full size: 34.4 M parameters, random weights scaled like the golden generator's) on the
// CPU: seconds per interpolated frame at 512x320 (ToonCrafter's output size), median of 3 runs after one
// warm-up. Built only with -DTC_BENCH=ON. Usage: bench_film [width height runs]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "cpu/blas_setup.h"
#include "engine/backends.h"
#include "models/film.h"

int main(int argc, char** argv) {
    tc::cpu::reexec_for_blas_kernels(argv);  // before any work: see cpu/blas_setup.h
    const int64_t W = argc > 2 ? std::atoll(argv[1]) : 512, H = argc > 2 ? std::atoll(argv[2]) : 320;
    const int runs = argc > 3 ? std::atoi(argv[3]) : 3;
    tc::init_backends();
    tc::Film film;  // released film_net config
    std::mt19937 rng(1234);
    std::normal_distribution<float> normal(0.f, 1.f);
    int64_t total = 0;
    film.visit_params([&](const std::string& name, tc::Param& p) {
        std::vector<float> v(static_cast<size_t>(tc::shape_numel(p.shape)));
        const bool weight = p.shape.size() == 4;
        const float s = weight ? 1.2f / std::sqrt(float(p.shape[1] * p.shape[2] * p.shape[3])) : 0.1f;
        for (float& x : v) x = normal(rng) * s;
        p.value = tc::Tensor::from_vector(v, p.shape);
        total += int64_t(v.size());
        (void)name;
    });
    std::vector<float> img(static_cast<size_t>(3 * H * W));
    std::uniform_real_distribution<float> uni(0.f, 1.f);
    for (float& x : img) x = uni(rng);
    tc::Tensor x0 = tc::Tensor::from_vector(img, {1, 3, H, W});
    for (float& x : img) x = uni(rng);
    tc::Tensor x1 = tc::Tensor::from_vector(img, {1, 3, H, W});
    tc::Tensor dt = tc::Tensor::full({1, 1}, 0.5f);

    std::printf("bench_film: film_net %lld params, %lldx%lld, %d runs\n", (long long)total, (long long)W,
                (long long)H, runs);
    tc::film_interpolate(film, x0, x1, dt);  // warm-up
    std::vector<double> t;
    for (int i = 0; i < runs; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        tc::film_interpolate(film, x0, x1, dt);
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        std::printf("  run %d: %.3f s\n", i, t.back());
    }
    std::sort(t.begin(), t.end());
    std::printf("[bench] film %lldx%lld cpu median=%.3f s/frame\n", (long long)W, (long long)H, t[t.size() / 2]);
    return 0;
}
