// Throughput of the scale-out job queue itself (server/redis_job_store.h through the JobManager): jobs per
// second through submit -> claim -> complete with a no-op engine, against a local redis-server started here on
// a free loopback port (no persistence). One producer (an API node's store) submits N jobs while W worker
// threads, each with its own store connection and consumer id (as separate worker processes would have),
// claim and complete them; the clock runs from the first submit to the last completion. Each configuration
// runs 3 times; the median is printed.
//   bench_queue [--jobs N] [--workers 1,2,4] [--redis-server PATH]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/artifacts.h"
#include "server/jobs.h"
#include "server/redis.h"
#include "server/redis_job_store.h"

namespace {

using namespace tc::server;
using Clock = std::chrono::steady_clock;

int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

// redis-server as a child process; killed by the destructor.
struct RedisChild {
    pid_t pid = -1;
    std::string url;
    RedisChild(const std::string& bin, int port) {
        url = "redis://127.0.0.1:" + std::to_string(port) + "/0";
        pid = fork();
        if (pid == 0) {
            const int devnull = open("/dev/null", O_WRONLY);
            if (devnull >= 0) {
                dup2(devnull, 1);
                dup2(devnull, 2);
            }
            execl(bin.c_str(), bin.c_str(), "--port", std::to_string(port).c_str(), "--bind", "127.0.0.1", "--save",
                  "", "--appendonly", "no", static_cast<char*>(nullptr));
            _exit(127);
        }
        RedisConnection c(RedisUrl::parse(url));
        for (int i = 0; i < 500 && !c.ping(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ~RedisChild() {
        if (pid > 0) {
            kill(pid, SIGTERM);
            waitpid(pid, nullptr, 0);
        }
    }
};

double run_once(const std::string& url, ArtifactStore& artifacts, int jobs, int workers, int round) {
    const std::string prefix = "bench" + std::to_string(round) + "w" + std::to_string(workers) + ":";
    RedisJobStoreOptions api_opts;
    api_opts.prefix = prefix;
    RedisJobStore api_store(url, api_opts);
    JobManager api(api_store, artifacts);
    std::atomic<int> done{0};
    std::vector<std::thread> ts;
    std::atomic<bool> go{false};
    for (int w = 0; w < workers; ++w)
        ts.emplace_back([&, w] {
            RedisJobStoreOptions o;
            o.prefix = prefix;
            o.consumer = "w" + std::to_string(w);
            RedisJobStore s(url, o);
            JobManager jm(s, artifacts);
            while (!go) std::this_thread::yield();
            while (done.load() < jobs) {
                if (auto j = jm.claim_next()) {
                    // The no-op engine: one progress report, then the result.
                    jm.progress(j->id, "denoise", 1, 1, 0);
                    if (jm.complete(j->id, random_hex_id() + ".mp4", "video/mp4", 0)) done.fetch_add(1);
                } else {
                    std::this_thread::sleep_for(std::chrono::microseconds(200));
                }
            }
        });
    const auto t0 = Clock::now();
    go = true;
    for (int i = 0; i < jobs; ++i) api.submit("{}", "", "h");
    for (auto& t : ts) t.join();
    return jobs / std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    int jobs = 2000;
    std::vector<int> worker_counts{1, 2, 4};
    std::string bin = "/usr/bin/redis-server";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--jobs")) jobs = std::max(1, std::atoi(argv[i + 1]));
        else if (!std::strcmp(argv[i], "--redis-server")) bin = argv[i + 1];
        else if (!std::strcmp(argv[i], "--workers")) {
            worker_counts.clear();
            for (const char* p = argv[i + 1]; *p;) {
                worker_counts.push_back(std::max(1, std::atoi(p)));
                while (*p && *p != ',') ++p;
                if (*p == ',') ++p;
            }
        }
    }
    if (access(bin.c_str(), X_OK) != 0) {
        std::fprintf(stderr, "bench_queue: %s not found (apt-get install redis-server)\n", bin.c_str());
        return 2;
    }
    try {
        RedisChild redis(bin, free_port());
        const auto dir = std::filesystem::temp_directory_path() / ("tc-bench-queue-" + random_hex_id());
        LocalArtifactStore artifacts(dir.string());
        std::printf("queue throughput: %d jobs, submit -> claim -> complete (no-op engine), redis-server local\n", jobs);
        std::printf("%-8s %12s   %s\n", "workers", "median j/s", "runs");
        int round = 0;
        for (int w : worker_counts) {
            std::vector<double> r;
            for (int k = 0; k < 3; ++k) r.push_back(run_once(redis.url, artifacts, jobs, w, round++));
            std::vector<double> sorted = r;
            std::sort(sorted.begin(), sorted.end());
            std::printf("%-8d %12.0f   %.0f %.0f %.0f\n", w, sorted[1], r[0], r[1], r[2]);
            std::fflush(stdout);
        }
        std::filesystem::remove_all(dir);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_queue: %s\n", e.what());
        return 1;
    }
    return 0;
}
