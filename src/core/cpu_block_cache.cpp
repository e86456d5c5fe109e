// The CPU block cache (see cpu_block_cache.h).
#include "core/cpu_block_cache.h"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "core/error.h"

namespace tc {

namespace {

constexpr size_t kMinCachedBytes = size_t(1) << 20;

size_t default_cap() {
#ifdef __SANITIZE_ADDRESS__
    return 0;  // under ASan every block goes back at once, so use-after-free stays detectable
#else
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    const size_t phys = pages > 0 && page > 0 ? size_t(pages) * size_t(page) : size_t(2) << 30;
    return std::clamp(phys / 8, size_t(256) << 20, size_t(4) << 30);
#endif
}

class BlockCache {
public:
    BlockCache() : cap_(default_cap()) {
        if (const char* env = std::getenv("TC_CPU_BLOCK_CACHE_MB")) {
            try {
                cap_ = size_t(std::stoull(env)) << 20;
            } catch (const std::exception&) {  // a malformed value keeps the default
            }
        }
    }
    void* take(size_t bytes) {
        const size_t size = cpu_block_size(bytes);
        if (size >= kMinCachedBytes) {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = free_.find(size);
            if (it != free_.end()) {
                void* p = it->second;
                free_.erase(it);
                cached_ -= size;
                ++hits_;
                return p;
            }
            ++misses_;
        }
        return std::aligned_alloc(64, size);
    }
    void give(void* p, size_t bytes) {
        if (!p) return;
        const size_t size = cpu_block_size(bytes);
        if (size >= kMinCachedBytes) {
            std::lock_guard<std::mutex> lock(mu_);
            if (cached_ + size <= cap_) {
                free_.emplace(size, p);
                cached_ += size;
                return;
            }
        }
        std::free(p);
    }
    CpuBlockCacheStats stats() {
        std::lock_guard<std::mutex> lock(mu_);
        return {hits_, misses_, cached_, cap_};
    }

private:
    std::mutex mu_;
    std::multimap<size_t, void*> free_;
    size_t cached_ = 0, cap_ = 0;
    int64_t hits_ = 0, misses_ = 0;
};

// Never destroyed: tensors held by statics may be freed after main returns.
BlockCache& cache() {
    static BlockCache* c = new BlockCache;
    return *c;
}

}  // namespace

size_t cpu_block_size(size_t bytes) {
    const size_t b = (bytes + 63) / 64 * 64;
    if (b < kMinCachedBytes) return b;
    // 8 classes per power of two: the top 4 bits of the size, rounded up.
    const int shift = std::bit_width(b) - 4;
    const size_t step = size_t(1) << shift;
    return (b + step - 1) / step * step;
}

void* cpu_block_take(size_t bytes) { return cache().take(bytes); }
void cpu_block_give(void* p, size_t bytes) { cache().give(p, bytes); }
CpuBlockCacheStats cpu_block_cache_stats() { return cache().stats(); }

float* CpuScratch::reserve(size_t n) {
    const size_t bytes = n * sizeof(float);
    if (bytes <= bytes_ && data_) return data_;
    release();
    data_ = static_cast<float*>(cpu_block_take(bytes));
    TC_CHECK(data_ != nullptr || bytes == 0, "out of memory allocating a ", bytes, "-byte scratch buffer");
    bytes_ = bytes;
    return data_;
}

void CpuScratch::release() {
    if (data_) cpu_block_give(data_, bytes_);
    data_ = nullptr;
    bytes_ = 0;
}

}  // namespace tc
