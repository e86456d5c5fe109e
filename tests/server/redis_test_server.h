// A throwaway redis-server for the gtest suites of the Redis stores (jobs, keys, rate limits, outbox): a child
// process on 127.0.0.1 and a free port, optionally with AOF in a directory, stopped (SIGTERM, then SIGKILL) by
// the destructor or stop() and restartable on the same port. Tests skip
// (GTEST_SKIP) when redis_server_binary() is empty: redis-server is a test prerequisite, not a build one.
#pragma once

#include <gtest/gtest.h>

#include <csignal>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/redis.h"

namespace tc::test {

inline std::string redis_server_binary() {
    for (const char* p : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"})
        if (access(p, X_OK) == 0) return p;
    return "";
}

inline int free_loopback_port() {
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

class TestRedisServer {
public:
    // No `dir`: no persistence. With `dir` and aof: AOF with appendfsync always there, so a stop()/start() (or a
    // SIGKILL) keeps every acknowledged write. The port stays the same across stop()/start().
    explicit TestRedisServer(std::string dir = "", bool aof = false)
        : port_(free_loopback_port()), dir_(std::move(dir)), aof_(aof) {
        start();
    }
    ~TestRedisServer() { stop(); }
    TestRedisServer(const TestRedisServer&) = delete;
    TestRedisServer& operator=(const TestRedisServer&) = delete;

    void start() {
        std::vector<std::string> args{redis_server_binary(), "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                      "--save", "", "--protected-mode", "no", "--appendonly", aof_ ? "yes" : "no"};
        if (aof_) args.insert(args.end(), {"--appendfsync", "always"});
        if (!dir_.empty()) {
            std::filesystem::create_directories(dir_);
            args.insert(args.end(), {"--dir", dir_});
        }
        pid_ = fork();
        if (pid_ == 0) {
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            const int devnull = ::open("/dev/null", O_WRONLY);
            if (devnull >= 0) {
                dup2(devnull, 1);
                dup2(devnull, 2);
            }
            execv(argv[0], argv.data());
            _exit(127);
        }
        // Until it answers PING (generous: ASan builds on busy machines; this only stops a hang).
        server::RedisConnection c(server::RedisUrl::parse(url()));
        for (int i = 0; i < 1500; ++i) {
            if (c.ping()) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        ADD_FAILURE() << "redis-server did not start on port " << port_;
    }
    void stop() {  // SIGTERM (Redis flushes its AOF), SIGKILL after 5 s
        if (pid_ <= 0) return;
        kill(pid_, SIGTERM);
        for (int i = 0; i < 500; ++i) {
            if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
                pid_ = -1;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
    int port() const { return port_; }

private:
    int port_;
    std::string dir_;
    bool aof_;
    pid_t pid_ = -1;
};

}  // namespace tc::test
