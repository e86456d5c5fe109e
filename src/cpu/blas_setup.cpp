// OpenBLAS kernel choice and threading (see blas_setup.h for why).
#include "cpu/blas_setup.h"

#include <cblas.h>
#include <cpuid.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace tc::cpu {

namespace {

// XCR0: which register states the OS saves (Intel SDM vol. 1, 13.3). Only valid when CPUID.1:ECX.OSXSAVE is set.
uint64_t read_xcr0() {
    uint32_t eax = 0, edx = 0;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (uint64_t(edx) << 32) | eax;
}

struct CpuFeatures {
    bool avx2_fma = false;  // and the OS saves YMM state
    bool avx512 = false;    // F + BW + DQ + VL, and the OS saves ZMM state
};

CpuFeatures cpu_features() {
    CpuFeatures f;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool osxsave = c & (1u << 27), fma = c & (1u << 12), avx = c & (1u << 28);
    if (!osxsave || !avx) return f;
    const uint64_t xcr0 = read_xcr0();
    const bool ymm_state = (xcr0 & 0x6) == 0x6;            // SSE + AVX
    const bool zmm_state = (xcr0 & 0xE6) == 0xE6;          // + opmask, ZMM_Hi256, Hi16_ZMM
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
    const bool avx2 = b & (1u << 5);
    const bool avx512 = (b & (1u << 16)) && (b & (1u << 17)) && (b & (1u << 30)) && (b & (1u << 31));  // F DQ BW VL
    f.avx2_fma = avx2 && fma && ymm_state;
    f.avx512 = f.avx2_fma && avx512 && zmm_state;
    return f;
}

}  // namespace

std::string blas_core_name() {
    const char* name = openblas_get_corename();
    return name ? name : "";
}

std::string better_blas_coretype() {
    if (std::getenv("OPENBLAS_CORETYPE")) return "";
    // Only the generic fallback is overridden: a family OpenBLAS recognised is its own business.
    if (blas_core_name() != "Prescott") return "";
    const CpuFeatures f = cpu_features();
    if (f.avx512) return "SkylakeX";
    if (f.avx2_fma) return "Haswell";
    return "";
}

void reexec_for_blas_kernels(char** argv) {
    if (std::getenv("TC_BLAS_REEXEC") || std::getenv("TC_NO_BLAS_REEXEC")) return;
    const std::string core = better_blas_coretype();
    if (core.empty()) return;
    setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
    setenv("TC_BLAS_REEXEC", "1", 1);
    execv("/proc/self/exe", argv);
    // exec failed (no /proc): go on with the generic kernels.
    unsetenv("OPENBLAS_CORETYPE");
}

void configure_blas_threads() { openblas_set_num_threads(1); }

}  // namespace tc::cpu
