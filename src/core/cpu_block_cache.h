// A cache of freed large CPU blocks, reused by later allocations of a similar size.
// Why: glibc serves blocks over 32 MB (its largest mmap threshold) with fresh mmap()s and unmaps them on free,
// so every large tensor and scratch buffer is page-faulted in and cleared by the kernel again: page faults
// and kernel page clearing were ~20% of a demo request (bench/RESULTS.md).
// Sizes of 1 MiB or more are rounded up to one of 8 classes per power of two (at most 12.5% more address
// space; the tail of a block is never touched by a smaller user, so it costs no physical memory until a
// larger one writes it), so blocks are shared between shapes that differ a little.
// Bounded: at most TC_CPU_BLOCK_CACHE_MB of freed blocks are held (default: 1/8 of the physical memory,
// between 256 MB and 4 GB; 0 = off); beyond that, blocks go back to the system as before. Off under ASan.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tc {

// The size a request of `bytes` is served with (a multiple of 64; the class size for large blocks).
size_t cpu_block_size(size_t bytes);
// A 64-byte-aligned block of cpu_block_size(bytes) bytes, from the cache or the system; nullptr when out of
// memory. Not zeroed.
void* cpu_block_take(size_t bytes);
// Returns a block from cpu_block_take(bytes) (the same `bytes`): cached when it fits under the cap, else freed.
void cpu_block_give(void* p, size_t bytes);

struct CpuBlockCacheStats {
    int64_t hits = 0, misses = 0;  // large takes served from the cache / from the system
    size_t cached_bytes = 0, cap_bytes = 0;
};
CpuBlockCacheStats cpu_block_cache_stats();

// A scratch buffer of floats from the block cache (RAII): not zeroed; grows, never shrinks.
class CpuScratch {
public:
    CpuScratch() = default;
    ~CpuScratch() { release(); }
    CpuScratch(const CpuScratch&) = delete;
    CpuScratch& operator=(const CpuScratch&) = delete;
    // At least n floats (previous contents are not kept when it grows); throws tc::Error when out of memory.
    float* reserve(size_t n);

private:
    void release();
    float* data_ = nullptr;
    size_t bytes_ = 0;  // as passed to cpu_block_take
};

}  // namespace tc
