// The op profiler (see op_profiler.h).
#include "op_profiler.h"

#include <algorithm>
#include <vector>

namespace tc::bench {

OpProfiler& OpProfiler::install(Device device) {
    static OpProfiler* p = new OpProfiler(backend(device));  // lives as long as the registration
    register_backend(device, p);
    return *p;
}

void OpProfiler::print(std::FILE* out, double min_share) const {
    std::map<std::string, Stat> by_op;
    double total = 0;
    for (const auto& [k, s] : stats_) {
        by_op[k.first].seconds += s.seconds;
        by_op[k.first].calls += s.calls;
        total += s.seconds;
    }
    std::vector<std::pair<std::string, Stat>> ops(by_op.begin(), by_op.end());
    std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
    std::fprintf(out, "[ops] %.3f s in ops\n", total);
    for (const auto& [op, s] : ops)
        if (s.seconds >= min_share * total)
            std::fprintf(out, "[ops] %-18s %8.3f s %5.1f%% %7ld calls\n", op.c_str(), s.seconds, 100 * s.seconds / total, s.calls);
    std::vector<std::pair<std::pair<std::string, std::string>, Stat>> rows(stats_.begin(), stats_.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
    for (size_t i = 0; i < rows.size() && i < 25; ++i) {
        const auto& [k, s] = rows[i];
        if (s.seconds < min_share * total) break;
        std::fprintf(out, "[ops]   %-16s %8.3f s %5.1f%% %6ld x %s\n", k.first.c_str(), s.seconds, 100 * s.seconds / total,
                     s.calls, k.second.c_str());
    }
}

}  // namespace tc::bench
