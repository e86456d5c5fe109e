// How the CPU backend uses OpenBLAS: one BLAS thread (OpenMP owns the cores: cpu/gemm.cpp splits large
// products itself), and the right kernels on CPUs that this OpenBLAS does not recognise.
//
// Why: Debian bookworm's OpenBLAS (0.3.21, pthread build) picks its kernels from the CPU model number at load
// time. On CPUs newer than the library (seen here: a Sapphire Rapids VM reporting "Intel Xeon Processor") it
// falls back to "Prescott" (SSE3) kernels, ~7x slower than its AVX-512 ones on the same machine
// (bench/RESULTS.md, demo model). The choice can only be changed through the OPENBLAS_CORETYPE environment
// variable, read once when the library loads, so the fix is to set it and re-execute the program before any
// work starts. Separately, its pthread pool spins against OpenMP's when a GEMM is called inside an OpenMP
// region (attention, convolutions): sched_yield took 21% of a demo profile.
#pragma once

#include <string>

namespace tc::cpu {

// The kernel family OpenBLAS chose ("SkylakeX", "Haswell", "Prescott", ...).
std::string blas_core_name();

// The OPENBLAS_CORETYPE this CPU should use when OpenBLAS fell back to its generic "Prescott" kernels although
// the CPU and the OS support AVX-512 (F, BW, DQ, VL; "SkylakeX") or AVX2 + FMA ("Haswell"); "" otherwise
// (including when the choice was already right or OPENBLAS_CORETYPE is set).
std::string better_blas_coretype();

// Call first thing in main(): when better_blas_coretype() names a better kernel family, sets
// OPENBLAS_CORETYPE and re-executes /proc/self/exe with the same arguments (once: TC_BLAS_REEXEC marks the
// second run). TC_NO_BLAS_REEXEC=1 turns this off. Returns normally when nothing is to be done or exec failed.
void reexec_for_blas_kernels(char** argv);

// One OpenBLAS thread (called by register_cpu_backend()).
void configure_blas_threads();

}  // namespace tc::cpu
