// A cache of freed large CPU blocks, reused for allocations of exactly the same size.
// Why: glibc serves blocks over 32 MB with fresh mmap()s and returns them on free, so every large tensor
// of a denoising step is page-faulted in again (page faults and kernel page clearing were ~12% of a demo
// profile, bench/RESULTS.md). A model computes the same shapes step after step, so exact sizes repeat.
// Bounded: at most TC_CPU_BLOCK_CACHE_MB (default 512; 0 = off) of freed blocks are held, only blocks of
// 1 MiB or more; beyond that, blocks go back to the system as before. Off under ASan.
#pragma once

#include <cstddef>

namespace tc {

// A 64-byte-aligned block of `bytes` (a multiple of 64), from the cache or the system; nullptr when out of
// memory. Not zeroed.
void* cpu_block_take(size_t bytes);
// Returns a block from cpu_block_take with its size: cached when it fits under the cap, else freed.
void cpu_block_give(void* p, size_t bytes);

}  // namespace tc
