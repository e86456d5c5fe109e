// The CPU block cache (see cpu_block_cache.h).
#include "core/cpu_block_cache.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

namespace tc {

namespace {

constexpr size_t kMinCachedBytes = size_t(1) << 20;

class BlockCache {
public:
    BlockCache() {
        const char* env = std::getenv("TC_CPU_BLOCK_CACHE_MB");
#ifdef __SANITIZE_ADDRESS__
        cap_ = 0;  // under ASan every block goes back at once, so use-after-free stays detectable
#else
        cap_ = size_t(512) << 20;
#endif
        if (env) {
            try {
                cap_ = size_t(std::stoull(env)) << 20;
            } catch (const std::exception&) {  // a malformed value keeps the default
            }
        }
    }
    void* take(size_t bytes) {
        if (bytes >= kMinCachedBytes) {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = free_.find(bytes);
            if (it != free_.end()) {
                void* p = it->second;
                free_.erase(it);
                cached_ -= bytes;
                return p;
            }
        }
        return std::aligned_alloc(64, bytes);
    }
    void give(void* p, size_t bytes) {
        if (!p) return;
        if (bytes >= kMinCachedBytes) {
            std::lock_guard<std::mutex> lock(mu_);
            if (cached_ + bytes <= cap_) {
                free_.emplace(bytes, p);
                cached_ += bytes;
                return;
            }
        }
        std::free(p);
    }

private:
    std::mutex mu_;
    std::multimap<size_t, void*> free_;
    size_t cached_ = 0, cap_ = 0;
};

// Never destroyed: tensors held by statics may be freed after main returns.
BlockCache& cache() {
    static BlockCache* c = new BlockCache;
    return *c;
}

}  // namespace

void* cpu_block_take(size_t bytes) { return cache().take(bytes); }
void cpu_block_give(void* p, size_t bytes) { cache().give(p, bytes); }

}  // namespace tc
