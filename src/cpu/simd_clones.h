// Per-CPU versions of the reference backend's hot leaf loops without building for one CPU.
// The library is compiled for baseline x86-64 (SSE2: 4 floats per instruction, and no vector double
// reductions) so that one binary runs anywhere. TC_SIMD_CLONES on a function makes GCC compile it three
// times (x86-64-v4 = AVX-512, v3 = AVX2 + FMA, and the baseline) and pick one at load time from CPUID (an
// ifunc), so the `omp simd` loops inside use 16- or 8-float vectors where the CPU has them.
// Use it on leaf functions only: GCC outlines `omp parallel` bodies into separate functions before it
// clones, so a loop inside a parallel region of a cloned function is NOT cloned; call a cloned leaf from
// the parallel region instead. tc_cpu is compiled with -ffp-contract=off, so the clones round every
// operation as the baseline does (no fused multiply-adds: the tiny golden model's 2-element GroupNorms
// amplify a last-bit change ~1000x, and FMA contraction pushed the e2e parity past its budget); only the
// lane order of `reduction` sums differs between clones.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(TC_NO_SIMD_CLONES)
#define TC_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TC_SIMD_CLONES
#endif
