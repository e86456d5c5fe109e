// Redis job store (see redis_job_store.h for the data model; docs/scale-out.md for the failure handling).
// The Lua scripts below are the only places that change more than one key; each one runs atomically.
#include "server/redis_job_store.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>

#include "server/http_error.h"

namespace tc::server {

namespace {

// ---- record <-> hash --------------------------------------------------------------------------------------

std::string num(double v) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

double to_double(const std::map<std::string, std::string>& h, const char* f) {
    auto it = h.find(f);
    if (it == h.end() || it->second.empty()) return 0;
    double v = 0;
    const auto r = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    return r.ec == std::errc() && std::isfinite(v) ? v : 0;
}

int64_t to_int(const std::map<std::string, std::string>& h, const char* f, int64_t def = 0) {
    auto it = h.find(f);
    if (it == h.end() || it->second.empty()) return def;
    int64_t v = 0;
    const auto r = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    return r.ec == std::errc() ? v : def;
}

std::string to_str(const std::map<std::string, std::string>& h, const char* f) {
    auto it = h.find(f);
    return it == h.end() ? std::string() : it->second;
}

// The fields update() writes (every JobRecord field but the store-managed worker and stream id).
std::vector<std::string> record_fields(const JobRecord& j) {
    return {"id",          j.id,
            "state",       job_state_name(j.state),
            "params",      j.params,
            "created_at",  num(j.created_at),
            "started_at",  num(j.started_at),
            "finished_at", num(j.finished_at),
            "attempts",    std::to_string(j.attempts),
            "stage",       j.stage,
            "step",        std::to_string(j.step),
            "total_steps", std::to_string(j.total_steps),
            "segment",     std::to_string(j.segment),
            "error",       j.error,
            "output",      j.output,
            "output_mime", j.output_mime,
            "output_bytes", std::to_string(j.output_bytes),
            "idempotency_key", j.idempotency_key,
            "body_hash",   j.body_hash,
            "cancel_requested", j.cancel_requested ? "1" : "0"};
}

// HGETALL's flat [field, value, ...] array; nullopt for a missing key (empty array) or a record without id.
std::optional<JobRecord> parse_record(const RedisReply& r) {
    const auto& a = r.as_array();
    if (a.size() < 2) return std::nullopt;
    std::map<std::string, std::string> h;
    for (size_t i = 0; i + 1 < a.size(); i += 2)
        if (!a[i].is_array() && !a[i + 1].is_array() && !a[i].is_nil() && !a[i + 1].is_nil())
            h[a[i].as_string()] = a[i + 1].as_string();
    JobRecord j;
    j.id = to_str(h, "id");
    if (j.id.empty()) return std::nullopt;
    try {
        j.state = parse_job_state(to_str(h, "state"));
    } catch (const std::exception&) {
        throw RedisError("job " + j.id + " has an unknown state in Redis", false);
    }
    j.params = to_str(h, "params");
    j.created_at = to_double(h, "created_at");
    j.started_at = to_double(h, "started_at");
    j.finished_at = to_double(h, "finished_at");
    j.attempts = int(to_int(h, "attempts"));
    j.stage = to_str(h, "stage");
    j.step = int(to_int(h, "step"));
    j.total_steps = int(to_int(h, "total_steps"));
    j.segment = int(to_int(h, "segment", -1));
    j.error = to_str(h, "error");
    j.output = to_str(h, "output");
    j.output_mime = to_str(h, "output_mime");
    j.output_bytes = to_int(h, "output_bytes");
    j.idempotency_key = to_str(h, "idempotency_key");
    j.body_hash = to_str(h, "body_hash");
    j.cancel_requested = to_str(h, "cancel_requested") == "1";
    j.worker = to_str(h, "worker");
    j.hooks_pending = to_str(h, "hooks_pending") == "1";
    j.refunded = to_str(h, "refunded") == "1";
    j.webhook = to_str(h, "webhook");
    return j;
}

// ---- scripts ----------------------------------------------------------------------------------------------

// KEYS: job, idem, stream, state set, version. ARGV: idem key ("" = none), id, queued?("1"), fields...
constexpr const char* kCreate = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('EXISTS a job with this id exists') end
if ARGV[1] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('EXISTS the idempotency key is taken')
end
local sid = ''
if ARGV[3] == '1' then sid = redis.call('XADD', KEYS[3], '*', 'id', ARGV[2]) end
redis.call('HSET', KEYS[1], 'sid', sid, unpack(ARGV, 4))
if ARGV[1] ~= '' then redis.call('SET', KEYS[2], ARGV[2]) end
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('INCR', KEYS[5])
return sid
)lua";

// KEYS: job. ARGV: prefix, writer ("" = API node), retention seconds, group, fields...
// Refuses (0) a missing job, a finished one, and a worker that is not the job's current owner. The cancel
// flag only ever goes up. Finishing sets the expiries, indexes the job for the sweep, retires its entry
// (XACK + XDEL) if a worker had it, and puts the job into the after-finish outbox (an entry of the `hooks`
// stream, hooks_pending = 1, hsid = that entry) in this same atomic step. The entry of a job cancelled while
// queued stays until a worker reads and drops it: deleting an undelivered entry would make the group's `lag`
// (XINFO GROUPS; KEDA scales on it) unknown until the group reads past it.
constexpr const char* kUpdate = R"lua(
local p = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local cur = redis.call('HMGET', KEYS[1], 'state', 'worker', 'sid', 'id', 'idempotency_key')
local old = cur[1]
if old == 'COMPLETED' or old == 'FAILED' then return 0 end
if ARGV[2] ~= '' and cur[2] and cur[2] ~= '' and cur[2] ~= ARGV[2] then return 0 end
local new, finished_at, output = old, '0', ''
for i = 5, #ARGV, 2 do
  local f, v = ARGV[i], ARGV[i + 1]
  if f == 'cancel_requested' then
    if v == '1' then redis.call('HSET', KEYS[1], f, '1') end
  elseif f ~= 'id' then
    redis.call('HSET', KEYS[1], f, v)
    if f == 'state' then new = v elseif f == 'finished_at' then finished_at = v elseif f == 'output' then output = v end
  end
end
local id = cur[4]
if new ~= old then
  redis.call('SREM', p .. 'state:' .. old, id)
  redis.call('SADD', p .. 'state:' .. new, id)
end
if new == 'COMPLETED' or new == 'FAILED' then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  if cur[5] and cur[5] ~= '' then redis.call('EXPIRE', p .. 'idem:' .. cur[5], ARGV[3]) end
  redis.call('ZADD', p .. 'finished', finished_at, id .. ' ' .. output)
  if cur[3] and cur[3] ~= '' and old ~= 'QUEUED' then
    redis.call('XACK', p .. 'queue', ARGV[4], cur[3])
    redis.call('XDEL', p .. 'queue', cur[3])
  end
  local hs = redis.call('XADD', p .. 'hooks', '*', 'id', id)
  redis.call('HSET', KEYS[1], 'hooks_pending', '1', 'hsid', hs)
end
redis.call('INCR', p .. 'version')
return 1
)lua";

// KEYS: job. ARGV: prefix, worker, now, stream id, group. Takes a delivered entry's job: QUEUED (fresh) or
// PROCESSING (its worker died); a finished or expired job's entry is retired instead (false).
constexpr const char* kClaim = R"lua(
local p = ARGV[1]
local st = redis.call('HGET', KEYS[1], 'state')
if (not st) or st == 'COMPLETED' or st == 'FAILED' then
  redis.call('XACK', p .. 'queue', ARGV[5], ARGV[4])
  redis.call('XDEL', p .. 'queue', ARGV[4])
  return false
end
local id = redis.call('HGET', KEYS[1], 'id')
redis.call('HSET', KEYS[1], 'state', 'PROCESSING', 'started_at', ARGV[3], 'worker', ARGV[2], 'sid', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if st ~= 'PROCESSING' then
  redis.call('SREM', p .. 'state:' .. st, id)
  redis.call('SADD', p .. 'state:PROCESSING', id)
end
redis.call('INCR', p .. 'version')
return redis.call('HGETALL', KEYS[1])
)lua";

// KEYS: job, stream. ARGV: prefix, group, consumer. A worker stopping cleanly gives its job back (job_store.h
// release_claim): only when the job is PROCESSING, its `worker` is this consumer, the entry is still pending
// under this consumer (like kRenew) and no cancel was requested. The entry is retired (XACK + XDEL) and the job
// XADDed again, so XREADGROUP delivers it to any worker at once; a stream takes new entries only at its end,
// so it queues last. (Left pending for XAUTOCLAIM it would keep its place, but the group's `lag`, which the
// autoscaler reads, would not count it: with the workers scaled to zero nobody would take it.) attempts - 1:
// the interrupted run does not count. A repeat (the reply lost with the connection) finds it QUEUED: 0.
constexpr const char* kRelease = R"lua(
local p = ARGV[1]
local cur = redis.call('HMGET', KEYS[1], 'state', 'worker', 'sid', 'id', 'cancel_requested', 'attempts')
if cur[1] ~= 'PROCESSING' or cur[2] ~= ARGV[3] or (not cur[3]) or cur[3] == '' or (not cur[4]) then return 0 end
if cur[5] == '1' then return 0 end
local pe = redis.call('XPENDING', KEYS[2], ARGV[2], cur[3], cur[3], 1)
if #pe == 0 or pe[1][2] ~= ARGV[3] then return 0 end
redis.call('XACK', KEYS[2], ARGV[2], cur[3])
redis.call('XDEL', KEYS[2], cur[3])
local sid = redis.call('XADD', KEYS[2], '*', 'id', cur[4])
local attempts = math.max(0, (tonumber(cur[6]) or 0) - 1)
redis.call('HSET', KEYS[1], 'state', 'QUEUED', 'sid', sid, 'worker', '', 'attempts', tostring(attempts),
  'started_at', '0', 'stage', '', 'step', '0', 'total_steps', '0', 'segment', '-1')
redis.call('SREM', p .. 'state:PROCESSING', cur[4])
redis.call('SADD', p .. 'state:QUEUED', cur[4])
redis.call('INCR', p .. 'version')
return 1
)lua";

// KEYS: job, stream. ARGV: group, consumer. Resets the entry's idle time if this consumer still owns it.
constexpr const char* kRenew = R"lua(
local sid = redis.call('HGET', KEYS[1], 'sid')
if (not sid) or sid == '' then return 0 end
if redis.call('HGET', KEYS[1], 'state') ~= 'PROCESSING' then return 0 end
local pe = redis.call('XPENDING', KEYS[2], ARGV[1], sid, sid, 1)
if #pe == 0 or pe[1][2] ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[2], ARGV[1], ARGV[2], 0, sid, 'JUSTID')
return 1
)lua";

// KEYS: finished zset. ARGV: prefix, cutoff, limit, hooks group. Deletes finished jobs (hash, idempotency key,
// set memberships, the outbox entry: an expired job's hooks go with it) and returns [id, output, ...] of those this call removed (so one sweeper deletes each file).
constexpr const char* kSweep = R"lua(
local p = ARGV[1]
local ms = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, m in ipairs(ms) do
  if redis.call('ZREM', KEYS[1], m) == 1 then
    local sp = string.find(m, ' ', 1, true)
    local id, output = m, ''
    if sp then id = string.sub(m, 1, sp - 1); output = string.sub(m, sp + 1) end
    local key = p .. 'job:' .. id
    local hs = redis.call('HGET', key, 'hsid')
    if hs and hs ~= '' then
      redis.call('XACK', p .. 'hooks', ARGV[4], hs)
      redis.call('XDEL', p .. 'hooks', hs)
    end
    local idem = redis.call('HGET', key, 'idempotency_key')
    if idem and idem ~= '' and redis.call('GET', p .. 'idem:' .. idem) == id then redis.call('DEL', p .. 'idem:' .. idem) end
    redis.call('DEL', key)
    for _, s in ipairs({'QUEUED', 'PROCESSING', 'COMPLETED', 'FAILED'}) do redis.call('SREM', p .. 'state:' .. s, id) end
    table.insert(out, id)
    table.insert(out, output)
  end
end
if #out > 0 then redis.call('INCR', p .. 'version') end
return out
)lua";

// ---- the after-finish outbox (job_store.h take_hooks): stream `hooks`, consumer group `api` ----------------

// KEYS: job, hooks stream. ARGV: group, entry id. A delivered (or taken-over) outbox entry: the job's record
// when its hooks are still pending and this is its current entry; otherwise (expired, done, a stale
// duplicate) the entry is retired and nil returned.
constexpr const char* kTakeHook = R"lua(
local pend = redis.call('HMGET', KEYS[1], 'hooks_pending', 'hsid')
if pend[1] ~= '1' or pend[2] ~= ARGV[2] then
  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[2], ARGV[2])
  return false
end
return redis.call('HGETALL', KEYS[1])
)lua";

// KEYS: job, hooks stream. ARGV: group, consumer. Resets the idle time of the job's outbox entry if this
// consumer holds it and the hooks are still pending.
constexpr const char* kRenewHook = R"lua(
local pend = redis.call('HMGET', KEYS[1], 'hooks_pending', 'hsid')
if pend[1] ~= '1' or (not pend[2]) or pend[2] == '' then return 0 end
local pe = redis.call('XPENDING', KEYS[2], ARGV[1], pend[2], pend[2], 1)
if #pe == 0 or pe[1][2] ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[2], ARGV[1], ARGV[2], 0, pend[2], 'JUSTID')
return 1
)lua";

// KEYS: job. Sets the refunded mark once; 1 = this call set it. (HSETNX alone would create a hash for an
// expired job.)
constexpr const char* kMarkRefunded = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], 'refunded', '1')
)lua";

// KEYS: job, version. ARGV: webhook state JSON. Written although the job is final (update() refuses that);
// the hash keeps its expiry.
constexpr const char* kWebhookState = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'webhook', ARGV[1])
redis.call('INCR', KEYS[2])
return 1
)lua";

// KEYS: job, hooks stream, version. ARGV: group. The hooks are done: not pending, the entry retired.
constexpr const char* kFinishHooks = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local hs = redis.call('HGET', KEYS[1], 'hsid')
redis.call('HSET', KEYS[1], 'hooks_pending', '0')
if hs and hs ~= '' then
  redis.call('XACK', KEYS[2], ARGV[1], hs)
  redis.call('XDEL', KEYS[2], hs)
end
redis.call('INCR', KEYS[3])
return 1
)lua";

// KEYS: job, stream. ARGV: group, prefix. Queued jobs whose entries come before this one and after the
// group's last delivered entry; -1 when the job is not queued.
constexpr const char* kPosition = R"lua(
if redis.call('HGET', KEYS[1], 'state') ~= 'QUEUED' then return -1 end
local sid = redis.call('HGET', KEYS[1], 'sid')
if (not sid) or sid == '' then return -1 end
local last = '0-0'
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[2])) do
  local name, ld
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then ld = g[i + 1] end
  end
  if name == ARGV[1] and ld then last = ld end
end
local n = 0
for _, e in ipairs(redis.call('XRANGE', KEYS[2], '(' .. last, '(' .. sid)) do
  local f = e[2]
  if f and f[2] and redis.call('HGET', ARGV[2] .. 'job:' .. f[2], 'state') == 'QUEUED' then n = n + 1 end
end
return n
)lua";

// The id field of a stream entry's [field, value, ...] array ("" when absent or malformed).
std::string entry_job_id(const RedisReply& fields) {
    if (!fields.is_array()) return "";
    const auto& f = fields.as_array();
    for (size_t i = 0; i + 1 < f.size(); i += 2)
        if (f[i].type == RedisReply::Type::String && f[i].str == "id" && f[i + 1].type == RedisReply::Type::String)
            return f[i + 1].str;
    return "";
}

}  // namespace

RedisJobStore::RedisJobStore(const std::string& url, RedisJobStoreOptions opts)
    : opts_(std::move(opts)), conn_(RedisUrl::parse(url), opts_.redis) {
    url_ = conn_.url().redacted();
    TC_CHECK(!opts_.prefix.empty(), "Redis key prefix must not be empty");
    TC_CHECK(opts_.retention_s > 0, "retention must be positive");
    std::lock_guard lk(mu_);
    try {
        ensure_group(conn_);
        group_ready_for_ = conn_.connects();
    } catch (const RedisError& e) {
        TC_FAIL("job queue ", url_, ": ", e.what());
    }
}

RedisJobStore::~RedisJobStore() = default;

void RedisJobStore::ensure_group(RedisConnection& c) {
    // From "0": a group created after jobs were queued (or finished) still delivers them.
    for (const auto& [stream, group] : {std::pair{key("queue"), opts_.group}, std::pair{key("hooks"), opts_.hooks_group}}) {
        try {
            c.command({"XGROUP", "CREATE", stream, group, "0", "MKSTREAM"});
        } catch (const RedisError& e) {
            if (e.io || std::string(e.what()).find("BUSYGROUP") == std::string::npos) throw;
        }
    }
}

template <class F>
auto RedisJobStore::locked(F&& fn) -> decltype(fn(std::declval<RedisConnection&>())) {
    std::lock_guard lk(mu_);
    auto run = [&] {
        if (!conn_.connected() || group_ready_for_ != conn_.connects()) {
            // First command on a new connection (Redis restarted, or the old one broke): the stream and its
            // group may be gone (a restart without persistence): recreate them before anything uses them.
            conn_.command({"PING"});
            ensure_group(conn_);
            group_ready_for_ = conn_.connects();
        }
        return fn(conn_);
    };
    try {
        // A connection that sat idle may have died with a Redis restart: the first command on it fails before
        // reaching the server. Once, on a fresh connection, it runs again (every script here tolerates a
        // repeat: create refuses an existing id, updates rewrite the same values).
        const bool reused = conn_.connected();
        try {
            return run();
        } catch (const RedisError& e) {
            if (!e.io || !reused) throw;
        }
        return run();
    } catch (const RedisError& e) {
        if (std::string(e.what()).find("NOGROUP") != std::string::npos) group_ready_for_ = 0;  // recreate next time
        if (!e.io) throw;
        HttpError h(503, std::string("job queue unavailable: ") + e.what());
        h.retry_after_s = 2;
        throw h;
    }
}

void RedisJobStore::create(const JobRecord& j) {
    TC_CHECK(!j.id.empty(), "job without id");
    const std::string idem_key = j.idempotency_key.empty() ? key("idem:-") : key("idem:" + j.idempotency_key);
    std::vector<std::string> args{j.idempotency_key, j.id, j.state == JobState::Queued ? "1" : "0"};
    for (auto& f : record_fields(j)) args.push_back(std::move(f));
    locked([&](RedisConnection& c) {
        c.eval(kCreate, {key("job:" + j.id), idem_key, key("queue"), key("state:" + job_state_name(j.state)), key("version")},
               args);
        return 0;
    });
}

std::optional<JobRecord> RedisJobStore::get(const std::string& id) {
    return locked([&](RedisConnection& c) { return parse_record(c.command({"HGETALL", key("job:" + id)})); });
}

std::optional<JobRecord> RedisJobStore::find_by_idempotency_key(const std::string& k) {
    if (k.empty()) return std::nullopt;
    return locked([&](RedisConnection& c) -> std::optional<JobRecord> {
        const RedisReply id = c.command({"GET", key("idem:" + k)});
        if (id.is_nil()) return std::nullopt;
        auto j = parse_record(c.command({"HGETALL", key("job:" + id.as_string())}));
        if (j && j->idempotency_key != k) return std::nullopt;
        return j;
    });
}

bool RedisJobStore::update(const JobRecord& j) {
    const int64_t ttl = std::max<int64_t>(1, int64_t(std::ceil(opts_.retention_s)));
    std::vector<std::string> args{opts_.prefix, opts_.consumer, std::to_string(ttl), opts_.group};
    for (auto& f : record_fields(j)) args.push_back(std::move(f));
    return locked([&](RedisConnection& c) { return c.eval(kUpdate, {key("job:" + j.id)}, args).as_integer() == 1; });
}

std::optional<JobRecord> RedisJobStore::claim_entry(RedisConnection& c, const std::string& id, const std::string& sid,
                                                    double now) {
    if (id.empty()) {  // not one of ours: retire it
        c.command({"XACK", key("queue"), opts_.group, sid});
        c.command({"XDEL", key("queue"), sid});
        return std::nullopt;
    }
    const RedisReply r =
        c.eval(kClaim, {key("job:" + id)}, {opts_.prefix, opts_.consumer, num(now), sid, opts_.group});
    if (r.is_nil()) return std::nullopt;
    return parse_record(r);
}

std::optional<JobRecord> RedisJobStore::claim_next_queued(double now) {
    TC_CHECK(!opts_.consumer.empty(), "this job store has no worker id: API nodes do not claim jobs");
    return locked([&](RedisConnection& c) -> std::optional<JobRecord> {
        // Entries of jobs cancelled while queued (or expired) are skipped; a bounded number per call.
        for (int i = 0; i < 32; ++i) {
            const RedisReply r = c.command(
                {"XREADGROUP", "GROUP", opts_.group, opts_.consumer, "COUNT", "1", "STREAMS", key("queue"), ">"});
            if (r.is_nil() || r.as_array().empty()) return std::nullopt;
            const RedisReply& entries = r.at(0).at(1);
            if (entries.as_array().empty()) return std::nullopt;
            const RedisReply& e = entries.at(0);
            const std::string sid = e.at(0).as_string();
            if (auto j = claim_entry(c, entry_job_id(e.at(1)), sid, now)) return j;
        }
        return std::nullopt;
    });
}

std::optional<JobRecord> RedisJobStore::claim_stale(double now, double idle_s) {
    TC_CHECK(!opts_.consumer.empty(), "this job store has no worker id: API nodes do not claim jobs");
    const int64_t idle_ms = std::max<int64_t>(1, int64_t(idle_s * 1000));
    return locked([&](RedisConnection& c) -> std::optional<JobRecord> {
        for (int i = 0; i < 16; ++i) {
            const RedisReply r = c.command({"XAUTOCLAIM", key("queue"), opts_.group, opts_.consumer,
                                            std::to_string(idle_ms), "0-0", "COUNT", "1"});
            const auto& entries = r.at(1).as_array();
            if (entries.empty()) return std::nullopt;
            const RedisReply& e = entries.at(0);
            const std::string sid = e.at(0).as_string();
            // A deleted entry comes back with nil fields: retire it.
            if (auto j = claim_entry(c, e.at(1).is_nil() ? "" : entry_job_id(e.at(1)), sid, now)) return j;
        }
        return std::nullopt;
    });
}

bool RedisJobStore::renew_claim(const std::string& id) {
    if (opts_.consumer.empty()) return false;
    return locked([&](RedisConnection& c) {
        return c.eval(kRenew, {key("job:" + id), key("queue")}, {opts_.group, opts_.consumer}).as_integer() == 1;
    });
}

bool RedisJobStore::release_claim(const std::string& id) {
    if (opts_.consumer.empty()) return false;  // an API node claims nothing
    return locked([&](RedisConnection& c) {
        return c.eval(kRelease, {key("job:" + id), key("queue")}, {opts_.prefix, opts_.group, opts_.consumer})
                   .as_integer() == 1;
    });
}

bool RedisJobStore::cancel_flag(const std::string& id) {
    return locked([&](RedisConnection& c) {
        const RedisReply r = c.command({"HGET", key("job:" + id), "cancel_requested"});
        return !r.is_nil() && r.as_string() == "1";
    });
}

uint64_t RedisJobStore::change_counter() {
    return locked([&](RedisConnection& c) {
        const RedisReply r = c.command({"GET", key("version")});
        return r.is_nil() ? uint64_t(0) : uint64_t(r.as_integer());
    });
}

std::vector<JobRecord> RedisJobStore::list(std::optional<JobState> state) {
    return locked([&](RedisConnection& c) {
        std::vector<std::string> ids;
        for (JobState s : {JobState::Queued, JobState::Processing, JobState::Completed, JobState::Failed}) {
            if (state && *state != s) continue;
            const RedisReply members = c.command({"SMEMBERS", key("state:" + job_state_name(s))});
            for (const auto& m : members.as_array()) ids.push_back(m.as_string());
        }
        std::vector<JobRecord> out;
        for (const auto& id : ids)
            if (auto j = parse_record(c.command({"HGETALL", key("job:" + id)})); j && (!state || j->state == *state))
                out.push_back(std::move(*j));
        std::stable_sort(out.begin(), out.end(),
                         [](const JobRecord& a, const JobRecord& b) { return a.created_at < b.created_at; });
        return out;
    });
}

std::vector<JobRecord> RedisJobStore::delete_finished_before(double cutoff) {
    return locked([&](RedisConnection& c) {
        std::vector<JobRecord> out;
        const RedisReply r = c.eval(kSweep, {key("finished")}, {opts_.prefix, num(cutoff), "500", opts_.hooks_group});
        const auto& a = r.as_array();
        for (size_t i = 0; i + 1 < a.size(); i += 2) {
            JobRecord j;
            j.id = a[i].as_string();
            j.output = a[i + 1].as_string();
            j.state = j.output.empty() ? JobState::Failed : JobState::Completed;
            out.push_back(std::move(j));
        }
        return out;
    });
}

std::vector<JobRecord> RedisJobStore::take_hooks(const std::string& consumer, double, double idle_s, int max) {
    TC_CHECK(!consumer.empty(), "take_hooks(): a consumer name is required");
    const int64_t idle_ms = std::max<int64_t>(1, int64_t(idle_s * 1000));
    const std::string count = std::to_string(std::max(1, max));
    return locked([&](RedisConnection& c) {
        std::vector<std::pair<std::string, std::string>> entries;  // (entry id, job id)
        auto collect = [&](const RedisReply& list) {
            for (const auto& e : list.as_array())
                entries.emplace_back(e.at(0).as_string(), e.at(1).is_nil() ? "" : entry_job_id(e.at(1)));
        };
        // Entries another consumer (or an earlier process of this one) left idle: their holder died. The cursor
        // continues over calls, so entries held and renewed by live consumers do not hide idle ones behind.
        {
            const RedisReply r = c.command({"XAUTOCLAIM", key("hooks"), opts_.hooks_group, consumer,
                                            std::to_string(idle_ms), hooks_cursor_, "COUNT", count});
            hooks_cursor_ = r.at(0).as_string();
            collect(r.at(1));
        }
        // Then new entries, each delivered to one consumer of the group.
        {
            const RedisReply r = c.command({"XREADGROUP", "GROUP", opts_.hooks_group, consumer, "COUNT", count,
                                            "STREAMS", key("hooks"), ">"});
            if (!r.is_nil())
                for (const auto& stream : r.as_array()) collect(stream.at(1));
        }
        std::vector<JobRecord> out;
        for (const auto& [sid, id] : entries) {
            if (id.empty()) {  // deleted meanwhile, or not ours: retire it
                c.command({"XACK", key("hooks"), opts_.hooks_group, sid});
                c.command({"XDEL", key("hooks"), sid});
                continue;
            }
            const RedisReply r = c.eval(kTakeHook, {key("job:" + id), key("hooks")}, {opts_.hooks_group, sid});
            if (r.is_nil()) continue;
            if (auto j = parse_record(r)) out.push_back(std::move(*j));
        }
        return out;
    });
}

bool RedisJobStore::renew_hooks(const std::string& consumer, const std::string& id, double) {
    return locked([&](RedisConnection& c) {
        return c.eval(kRenewHook, {key("job:" + id), key("hooks")}, {opts_.hooks_group, consumer}).as_integer() == 1;
    });
}

bool RedisJobStore::mark_refunded(const std::string& id) {
    return locked([&](RedisConnection& c) { return c.eval(kMarkRefunded, {key("job:" + id)}, {}).as_integer() == 1; });
}

bool RedisJobStore::set_webhook_state(const std::string& id, const std::string& state_json) {
    return locked([&](RedisConnection& c) {
        return c.eval(kWebhookState, {key("job:" + id), key("version")}, {state_json}).as_integer() == 1;
    });
}

void RedisJobStore::finish_hooks(const std::string& id) {
    locked([&](RedisConnection& c) {
        c.eval(kFinishHooks, {key("job:" + id), key("hooks"), key("version")}, {opts_.hooks_group});
        return 0;
    });
}

int64_t RedisJobStore::count(JobState state) {
    return locked([&](RedisConnection& c) { return c.command({"SCARD", key("state:" + job_state_name(state))}).as_integer(); });
}

int64_t RedisJobStore::queue_position(const std::string& id) {
    return locked([&](RedisConnection& c) {
        return c.eval(kPosition, {key("job:" + id), key("queue")}, {opts_.group, opts_.prefix}).as_integer();
    });
}

void RedisJobStore::heartbeat(const WorkerBeat& beat, double ttl_s) {
    const int64_t ttl_ms = std::max<int64_t>(100, int64_t(ttl_s * 1000));
    locked([&](RedisConnection& c) {
        c.command({"SET", key("worker:" + beat.id), beat.info_json, "PX", std::to_string(ttl_ms)});
        c.command({"SADD", key("workers"), beat.id});
        return 0;
    });
}

std::vector<WorkerBeat> RedisJobStore::live_workers() {
    return locked([&](RedisConnection& c) {
        std::vector<WorkerBeat> out;
        const RedisReply members = c.command({"SMEMBERS", key("workers")});  // (the loop must not outlive it)
        for (const auto& m : members.as_array()) {
            const std::string id = m.as_string();
            const RedisReply info = c.command({"GET", key("worker:" + id)});
            if (info.is_nil()) {
                c.command({"SREM", key("workers"), id});  // its beat expired: gone
                continue;
            }
            out.push_back({id, info.as_string()});
        }
        std::sort(out.begin(), out.end(), [](const WorkerBeat& a, const WorkerBeat& b) { return a.id < b.id; });
        return out;
    });
}

std::string RedisJobStore::health_error() {
    try {
        return locked([&](RedisConnection& c) {
            const RedisReply r = c.command({"PING"});
            (void)r;
            return std::string();
        });
    } catch (const std::exception& e) {
        return e.what();
    }
}

RedisJobStore::StreamInfo RedisJobStore::stream_info() {
    return locked([&](RedisConnection& c) {
        StreamInfo s;
        s.length = c.command({"XLEN", key("queue")}).as_integer();
        const RedisReply groups = c.command({"XINFO", "GROUPS", key("queue")});
        for (const auto& g : groups.as_array()) {
            const auto& f = g.as_array();
            std::string name;
            int64_t pending = 0, lag = -1;
            for (size_t i = 0; i + 1 < f.size(); i += 2) {
                if (f[i].type != RedisReply::Type::String) continue;
                if (f[i].str == "name") name = f[i + 1].as_string();
                else if (f[i].str == "pending" && f[i + 1].type == RedisReply::Type::Integer) pending = f[i + 1].integer;
                else if (f[i].str == "lag" && f[i + 1].type == RedisReply::Type::Integer) lag = f[i + 1].integer;
            }
            if (name == opts_.group) {
                s.pending = pending;
                s.lag = lag;
            }
        }
        return s;
    });
}

}  // namespace tc::server
