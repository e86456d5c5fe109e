// The CPU reference backend: plain fp32 loops, OpenBLAS for GEMM, OpenMP where it is free.
// Readable first; it is the twin every CUDA kernel is tested against.
#pragma once

#include "core/ops.h"

namespace tc::cpu {

void register_cpu_backend();
Backend& cpu_backend();

}  // namespace tc::cpu
