// hiredis wrapper (see redis.h).
#include "server/redis.h"

#include <hiredis/hiredis.h>

#include <cctype>
#include <charconv>
#include <cmath>

namespace tc::server {

namespace {

int parse_int(const std::string& s, const char* what, const std::string& url) {
    int v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    TC_CHECK(ec == std::errc() && p == s.data() + s.size() && !s.empty(), "invalid ", what, " in Redis URL ", url);
    return v;
}

std::string percent_decode(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            out.push_back(char(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

timeval to_timeval(double s) {
    timeval tv{};
    tv.tv_sec = time_t(std::floor(s));
    tv.tv_usec = suseconds_t((s - std::floor(s)) * 1e6);
    return tv;
}

RedisReply copy_reply(const redisReply* r, int depth = 0) {
    RedisReply out;
    if (!r) return out;
    TC_CHECK(depth < 32, "redis reply nested too deeply");
    switch (r->type) {
        case REDIS_REPLY_STRING:
            out.type = RedisReply::Type::String;
            out.str.assign(r->str ? r->str : "", r->str ? r->len : 0);
            break;
        case REDIS_REPLY_STATUS:
            out.type = RedisReply::Type::Status;
            out.str.assign(r->str ? r->str : "", r->str ? r->len : 0);
            break;
        case REDIS_REPLY_ERROR:
            out.type = RedisReply::Type::Error;
            out.str.assign(r->str ? r->str : "", r->str ? r->len : 0);
            break;
        case REDIS_REPLY_INTEGER:
            out.type = RedisReply::Type::Integer;
            out.integer = r->integer;
            break;
        case REDIS_REPLY_ARRAY:
            out.type = RedisReply::Type::Array;
            out.elements.reserve(r->elements);
            for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy_reply(r->element[i], depth + 1));
            break;
        default:  // NIL and anything newer than this hiredis knows
            out.type = RedisReply::Type::Nil;
    }
    return out;
}

struct ReplyDeleter {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};

}  // namespace

RedisUrl RedisUrl::parse(const std::string& url) {
    const std::string scheme = "redis://";
    TC_CHECK(url.rfind(scheme, 0) == 0, "queue URL must start with redis:// (got '", url, "')");
    std::string rest = url.substr(scheme.size());
    RedisUrl u;
    if (const size_t q = rest.find('?'); q != std::string::npos) rest = rest.substr(0, q);
    if (const size_t at = rest.rfind('@'); at != std::string::npos) {
        const std::string cred = rest.substr(0, at);
        rest = rest.substr(at + 1);
        const size_t colon = cred.find(':');
        if (colon == std::string::npos) {
            u.password = percent_decode(cred);
        } else {
            u.username = percent_decode(cred.substr(0, colon));
            u.password = percent_decode(cred.substr(colon + 1));
        }
    }
    TC_CHECK(!rest.empty() && rest[0] != '/', "no host in Redis URL ", url);
    std::string hostport = rest;
    if (const size_t slash = rest.find('/'); slash != std::string::npos) {
        hostport = rest.substr(0, slash);
        const std::string db = rest.substr(slash + 1);
        if (!db.empty()) u.db = parse_int(db, "database number", url);
        TC_CHECK(u.db >= 0 && u.db < 100000, "invalid database number in Redis URL ", url);
    }
    if (!hostport.empty() && hostport.front() == '[') {  // [IPv6]:port
        const size_t close = hostport.find(']');
        TC_CHECK(close != std::string::npos, "invalid host in Redis URL ", url);
        u.host = hostport.substr(1, close - 1);
        const std::string tail = hostport.substr(close + 1);
        if (!tail.empty()) {
            TC_CHECK(tail[0] == ':', "invalid host in Redis URL ", url);
            u.port = parse_int(tail.substr(1), "port", url);
        }
    } else if (const size_t colon = hostport.rfind(':'); colon != std::string::npos) {
        u.host = hostport.substr(0, colon);
        u.port = parse_int(hostport.substr(colon + 1), "port", url);
    } else if (!hostport.empty()) {
        u.host = hostport;
    }
    TC_CHECK(!u.host.empty(), "no host in Redis URL ", url);
    TC_CHECK(u.port > 0 && u.port <= 65535, "port out of range in Redis URL ", url);
    return u;
}

std::string RedisUrl::redacted() const {
    std::string s = "redis://";
    if (!password.empty()) s += (username.empty() ? "" : username) + ":***@";
    const bool v6 = host.find(':') != std::string::npos;
    s += (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + std::to_string(db);
    return s;
}

const std::string& RedisReply::as_string() const {
    if (type != Type::String && type != Type::Status) throw RedisError("unexpected Redis reply (not a string)", false);
    return str;
}

int64_t RedisReply::as_integer() const {
    if (type == Type::Integer) return integer;
    if (type == Type::String) {
        int64_t v = 0;
        const auto [p, ec] = std::from_chars(str.data(), str.data() + str.size(), v);
        if (ec == std::errc() && p == str.data() + str.size() && !str.empty()) return v;
    }
    throw RedisError("unexpected Redis reply (not an integer)", false);
}

const std::vector<RedisReply>& RedisReply::as_array() const& {
    static const std::vector<RedisReply> empty;
    if (type == Type::Nil) return empty;
    if (type != Type::Array) throw RedisError("unexpected Redis reply (not an array)", false);
    return elements;
}

const RedisReply& RedisReply::at(size_t i) const& {
    const auto& a = as_array();
    if (i >= a.size()) throw RedisError("unexpected Redis reply (array too short)", false);
    return a[i];
}

void RedisConnection::ContextDeleter::operator()(redisContext* c) const { redisFree(c); }

RedisConnection::RedisConnection(RedisUrl url, RedisOptions opts) : url_(std::move(url)), opts_(opts) {}

RedisConnection::~RedisConnection() = default;

void RedisConnection::drop() { ctx_.reset(); }

void RedisConnection::connect() {
    ctx_.reset(redisConnectWithTimeout(url_.host.c_str(), url_.port, to_timeval(opts_.connect_timeout_s)));
    if (!ctx_ || ctx_->err) {
        const std::string why = ctx_ ? ctx_->errstr : "out of memory";
        drop();
        throw RedisError("cannot connect to Redis at " + url_.redacted() + ": " + why, true);
    }
    redisSetTimeout(ctx_.get(), to_timeval(opts_.command_timeout_s));
    redisEnableKeepAlive(ctx_.get());
    ++connects_;
    try {
        if (!url_.password.empty()) {
            if (url_.username.empty()) command({"AUTH", url_.password});
            else command({"AUTH", url_.username, url_.password});
        }
        if (url_.db != 0) command({"SELECT", std::to_string(url_.db)});
    } catch (const RedisError& e) {
        drop();
        throw RedisError(std::string("Redis at ") + url_.redacted() + ": " + e.what(), e.io);
    }
}

RedisReply RedisConnection::command(const std::vector<std::string>& args) {
    TC_CHECK(!args.empty(), "empty Redis command");
    if (!ctx_) connect();
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    std::unique_ptr<redisReply, ReplyDeleter> r(
        static_cast<redisReply*>(redisCommandArgv(ctx_.get(), int(argv.size()), argv.data(), lens.data())));
    if (!r) {
        const std::string why = ctx_->errstr[0] ? ctx_->errstr : "connection lost";
        drop();  // the next command reconnects
        throw RedisError("Redis " + args[0] + " failed: " + why, true);
    }
    RedisReply out = copy_reply(r.get());
    if (out.type == RedisReply::Type::Error) {
        // A restarting server answers -LOADING; a replica that lost its master -MASTERDOWN: both are transient.
        const bool transient = out.str.rfind("LOADING", 0) == 0 || out.str.rfind("MASTERDOWN", 0) == 0 ||
                               out.str.rfind("BUSY ", 0) == 0;  // a long script; not BUSYGROUP
        throw RedisError("Redis " + args[0] + ": " + out.str, transient);
    }
    return out;
}

RedisReply RedisConnection::eval(const std::string& script, const std::vector<std::string>& keys,
                                 const std::vector<std::string>& args) {
    // EVAL (not EVALSHA): a restarted server has an empty script cache, and these scripts are small.
    std::vector<std::string> cmd{"EVAL", script, std::to_string(keys.size())};
    cmd.insert(cmd.end(), keys.begin(), keys.end());
    cmd.insert(cmd.end(), args.begin(), args.end());
    return command(cmd);
}

bool RedisConnection::ping(std::string* error) {
    try {
        const RedisReply r = command({"PING"});
        return r.type == RedisReply::Type::Status || r.type == RedisReply::Type::String;
    } catch (const std::exception& e) {
        if (error) *error = e.what();
        return false;
    }
}

}  // namespace tc::server
