// A synchronous Redis client over hiredis (Debian libhiredis-dev) for the scale-out job store
// (server/redis_job_store.h): one connection from a redis://[:PASSWORD@]HOST[:PORT][/DB] URL, binary-safe
// commands as argument vectors, replies copied into a plain value type (so no hiredis object outlives a call and
// a malformed reply is a tc::Error, never a crash), connect/command timeouts, and a reconnect before the next
// command once the connection broke. A command is never retried blindly: XADD/INCR are not idempotent.
// Not thread-safe: one connection per thread, or a mutex around it (RedisJobStore does the latter).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"

struct redisContext;

namespace tc::server {

// `io` = the connection failed (refused, timeout, reset): the server was unreachable, not wrong.
struct RedisError : Error {
    bool io;
    RedisError(const std::string& message, bool io_) : Error(message), io(io_) {}
};

struct RedisUrl {
    std::string host = "127.0.0.1";
    int port = 6379;
    int db = 0;
    std::string password;  // "" = no AUTH
    std::string username;  // Redis 6 ACL user; "" = the default user
    // Parses redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]; throws tc::Error naming what is wrong.
    static RedisUrl parse(const std::string& url);
    std::string redacted() const;  // the URL without the password (logs, /health)
};

// One reply, copied out of hiredis. Accessors throw RedisError (io = false) when the type is not the one asked
// for, so code that meets an unexpected reply fails one request instead of reading garbage.
struct RedisReply {
    enum class Type { Nil, String, Status, Integer, Array, Error };
    Type type = Type::Nil;
    std::string str;        // String, Status, Error
    int64_t integer = 0;    // Integer
    std::vector<RedisReply> elements;  // Array

    bool is_nil() const { return type == Type::Nil; }
    bool is_array() const { return type == Type::Array; }
    const std::string& as_string() const;  // String or Status
    int64_t as_integer() const;            // Integer (or a String holding an integer)
    const std::vector<RedisReply>& as_array() const&;  // Array; Nil reads as an empty array
    const RedisReply& at(size_t i) const&;  // array element, bounds-checked
    // Not on a temporary: `for (auto& e : conn.command(...).as_array())` would iterate a destroyed reply.
    void as_array() && = delete;
    void at(size_t) && = delete;
};

struct RedisOptions {
    double connect_timeout_s = 2;
    double command_timeout_s = 5;
};

class RedisConnection {
public:
    explicit RedisConnection(RedisUrl url, RedisOptions opts = {});  // connects lazily (first command)
    ~RedisConnection();
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    // Runs one command. Throws RedisError: io = true when the connection failed (the next call reconnects),
    // io = false for an error reply (`-ERR ...`, `-NOSCRIPT`, wrong type).
    RedisReply command(const std::vector<std::string>& args);
    // EVAL script with keys and args.
    RedisReply eval(const std::string& script, const std::vector<std::string>& keys,
                    const std::vector<std::string>& args);
    // PING; false (with the reason in *error) instead of a throw.
    bool ping(std::string* error = nullptr);
    // Bumped on every (re)connect, so a caller can redo per-connection setup (consumer groups after a restart).
    uint64_t connects() const { return connects_; }
    bool connected() const { return ctx_ != nullptr; }
    const RedisUrl& url() const { return url_; }

private:
    void connect();
    void drop();
    RedisUrl url_;
    RedisOptions opts_;
    struct ContextDeleter {
        void operator()(redisContext* c) const;
    };
    std::unique_ptr<redisContext, ContextDeleter> ctx_;
    uint64_t connects_ = 0;
};

}  // namespace tc::server
