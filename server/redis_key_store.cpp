// Redis key store (see redis_key_store.h for the data model). The Lua scripts below are the only writers.
#include "server/redis_key_store.h"

#include <map>

#include "server/http_error.h"
#include "server/key_material.h"

namespace tc::server {

namespace {

namespace km = key_material;

constexpr int kOpTtlS = 60;  // how long a balance change's outcome answers a re-sent script

// ---- scripts ----------------------------------------------------------------------------------------------

// KEYS: record, index, list. ARGV: hex hash, id, record fields...
// A repeat of the same create (same hash and id: the first reply was lost) is a no-op; anything else that
// is already taken is an error (64 random bits of id, 256 of key: never in practice).
constexpr const char* kCreate = R"lua(
local owner = redis.call('HGET', KEYS[2], ARGV[1])
if owner then
  if owner == ARGV[2] then return 0 end
  return redis.error_reply('ERR key hash already indexed')
end
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('ERR key id already taken') end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[2])
return 1
)lua";

// KEYS: index. ARGV: hex hash, record key prefix. The record (HGETALL), or an empty array.
constexpr const char* kLookup = R"lua(
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return {} end
return redis.call('HGETALL', ARGV[2] .. id)
)lua";

// KEYS: list. ARGV: record key prefix. Every record in creation order.
constexpr const char* kList = R"lua(
local out = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  out[#out + 1] = redis.call('HGETALL', ARGV[1] .. id)
end
return out
)lua";

// KEYS: record. 1, or 0 for an unknown id (HSET alone would create a stub record).
constexpr const char* kRevoke = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'revoked', '1')
return 1
)lua";

// Shared head of the balance scripts. KEYS: record, operation. finish() records the outcome under the
// operation id and returns it; an operation that already ran answers its recorded outcome and changes nothing.
// Balances are integers below 2^50, exact as Lua numbers; Redis turns the returned numbers into integers.
constexpr const char* kBalanceHead = R"lua(
local function finish(status, credits)
  redis.call('HSET', KEYS[2], 's', status, 'c', credits)
  redis.call('EXPIRE', KEYS[2], ARGV[#ARGV])
  return {status, credits}
end
local done = redis.call('HMGET', KEYS[2], 's', 'c')
if done[1] then return {tonumber(done[1]), tonumber(done[2])} end
)lua";

// ARGV: amount, -amount (as text from the caller: Lua would write -0 for 0), ttl. Revoked and balance checked
// and the debit made in one step.
constexpr const char* kCharge = R"lua(
local v = redis.call('HMGET', KEYS[1], 'credits', 'revoked')
if not v[1] then return finish(-1, 0) end
local credits = tonumber(v[1])
if v[2] == '1' then return finish(-2, credits) end
if credits < tonumber(ARGV[1]) then return finish(0, credits) end
return finish(1, redis.call('HINCRBY', KEYS[1], 'credits', ARGV[2]))
)lua";

// ARGV: n (may be negative), max, ttl. Refused (0) when the balance would leave 0..max.
constexpr const char* kAddCredits = R"lua(
local v = redis.call('HGET', KEYS[1], 'credits')
if not v then return finish(-1, 0) end
local after = tonumber(v) + tonumber(ARGV[1])
if after < 0 or after > tonumber(ARGV[2]) then return finish(0, tonumber(v)) end
return finish(1, redis.call('HINCRBY', KEYS[1], 'credits', ARGV[1]))
)lua";

// ARGV: amount, max, ttl. Capped at max, as the SQLite store does; revoked keys are refunded too.
constexpr const char* kRefund = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return finish(-1, 0) end
local after = redis.call('HINCRBY', KEYS[1], 'credits', ARGV[1])
if after > tonumber(ARGV[2]) then
  after = tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'credits', ARGV[2])
end
return finish(1, after)
)lua";

// ---- record <-> hash --------------------------------------------------------------------------------------

struct Record {
    KeyInfo info;
    std::string hash;  // hex SHA-256
};

// HGETALL's flat [field, value, ...]; nullopt for a missing record (empty array) or one without an id.
std::optional<Record> parse_record(const RedisReply& r) {
    const auto& a = r.as_array();
    std::map<std::string, std::string> h;
    for (size_t i = 0; i + 1 < a.size(); i += 2)
        if (!a[i].is_array() && !a[i + 1].is_array() && !a[i].is_nil() && !a[i + 1].is_nil())
            h[a[i].as_string()] = a[i + 1].as_string();
    auto field = [&h](const char* f) {
        auto it = h.find(f);
        return it == h.end() ? std::string() : it->second;
    };
    Record rec;
    rec.info.id = field("id");
    if (rec.info.id.empty()) return std::nullopt;
    rec.info.name = field("name");
    RedisReply credits;
    credits.type = RedisReply::Type::String;
    credits.str = field("credits");
    rec.info.credits = credits.as_integer();  // RedisError (a 500) for a corrupt balance, never a guess
    rec.info.revoked = field("revoked") == "1";
    rec.info.created_at = field("created_at");
    rec.info.webhook_secret = field("webhook_secret");
    rec.hash = field("hash");
    return rec;
}

// Ids are "key_" + 16 hex digits; anything else is not looked up (and a raw key never becomes a Redis key name).
bool plausible_id(const std::string& id) { return id.size() <= 64 && id.rfind("key_", 0) == 0; }

}  // namespace

RedisKeyStore::RedisKeyStore(const std::string& url, RedisKeyStoreOptions opts)
    : opts_(std::move(opts)), url_(RedisUrl::parse(url).redacted()), conn_(RedisUrl::parse(url), opts_.redis) {
    conn_.command({"PING"});  // RedisError (a tc::Error) now, not on the first request
}

RedisKeyStore::~RedisKeyStore() = default;

template <class F>
auto RedisKeyStore::locked(F&& fn) const -> decltype(fn(std::declval<RedisConnection&>())) {
    std::lock_guard lk(mu_);
    try {
        // A connection that sat idle may have died with a Redis restart: its first command fails before
        // reaching the server. Once, on a fresh connection, it runs again (every script here is safe to
        // repeat: balance changes through their operation id, create through its id and hash).
        const bool reused = conn_.connected();
        try {
            return fn(conn_);
        } catch (const RedisError& e) {
            if (!e.io || !reused) throw;
        }
        return fn(conn_);
    } catch (const RedisError& e) {
        if (!e.io) throw;
        HttpError h(503, std::string("key store unavailable: ") + e.what());
        h.retry_after_s = 2;
        throw h;
    }
}

RedisKeyStore::Outcome RedisKeyStore::balance_op(const char* body, const std::string& id,
                                                 const std::vector<std::string>& args) {
    // Drawn once, outside the retry: a re-sent script must carry the same operation id.
    const std::string op = key("apikey-op:" + km::random_hex(16));
    std::vector<std::string> argv = args;
    argv.push_back(std::to_string(kOpTtlS));
    const std::string script = std::string(kBalanceHead) + body;
    const std::string record = key("apikey:" + (plausible_id(id) ? id : std::string("-")));
    return locked([&](RedisConnection& c) {
        const RedisReply r = c.eval(script, {record, op}, argv);
        return Outcome{r.at(0).as_integer(), r.at(1).as_integer()};
    });
}

std::string RedisKeyStore::create_key(const std::string& name, int64_t initial_credits, KeyInfo* info) {
    const KeyInfo k = km::new_record(name, initial_credits);
    const std::string raw_key = km::new_raw_key();
    const std::string hash = km::to_hex(km::key_hash(raw_key));
    locked([&](RedisConnection& c) {
        c.eval(kCreate, {key("apikey:" + k.id), key("apikey-index"), key("apikeys")},
               {hash, k.id, "id", k.id, "name", k.name, "hash", hash, "credits", std::to_string(k.credits),
                "revoked", "0", "created_at", k.created_at, "webhook_secret", k.webhook_secret});
    });
    if (info) *info = k;
    return raw_key;
}

std::optional<KeyInfo> RedisKeyStore::authenticate(const std::string& raw_key) const {
    if (!km::plausible_raw_key(raw_key)) return std::nullopt;
    const std::string hash = km::to_hex(km::key_hash(raw_key));
    const auto rec = locked([&](RedisConnection& c) {
        return parse_record(c.eval(kLookup, {key("apikey-index")}, {hash, key("apikey:")}));
    });
    // The index lookup found the record; the final decision is a constant-time comparison of the digests.
    if (!rec || !km::constant_time_equal(rec->hash, hash) || rec->info.revoked) return std::nullopt;
    return rec->info;
}

std::vector<KeyInfo> RedisKeyStore::list() const {
    const RedisReply r = locked([&](RedisConnection& c) { return c.eval(kList, {key("apikeys")}, {key("apikey:")}); });
    std::vector<KeyInfo> out;
    for (const auto& e : r.as_array())
        if (auto rec = parse_record(e)) out.push_back(std::move(rec->info));
    return out;
}

std::optional<KeyInfo> RedisKeyStore::get(const std::string& id) const {
    if (!plausible_id(id)) return std::nullopt;
    const auto rec = locked([&](RedisConnection& c) { return parse_record(c.command({"HGETALL", key("apikey:" + id)})); });
    if (!rec) return std::nullopt;
    return rec->info;
}

std::optional<std::string> RedisKeyStore::resolve_id(const std::string& key_or_id) const {
    if (auto k = get(key_or_id)) return k->id;
    if (!km::plausible_raw_key(key_or_id)) return std::nullopt;
    const std::string hash = km::to_hex(km::key_hash(key_or_id));
    const RedisReply r = locked([&](RedisConnection& c) { return c.command({"HGET", key("apikey-index"), hash}); });
    if (r.is_nil()) return std::nullopt;
    return r.as_string();
}

void RedisKeyStore::revoke(const std::string& id) {
    const int64_t done = plausible_id(id) ? locked([&](RedisConnection& c) {
        return c.eval(kRevoke, {key("apikey:" + id)}, {}).as_integer();
    })
                                          : 0;
    TC_CHECK(done == 1, "unknown key id '", id, "'");
}

int64_t RedisKeyStore::add_credits(const std::string& id, int64_t n) {
    TC_CHECK(n >= -km::kMaxCredits && n <= km::kMaxCredits, "credit amount out of range: ", n);
    const Outcome o = balance_op(kAddCredits, id, {std::to_string(n), std::to_string(km::kMaxCredits)});
    TC_CHECK(o.status != -1, "unknown key id '", id, "'");
    TC_CHECK(o.status == 1, "adding ", n, " credits to a balance of ", o.credits, " would leave it outside 0..",
             km::kMaxCredits);
    return o.credits;
}

bool RedisKeyStore::charge(const std::string& id, int64_t amount, int64_t* remaining) {
    TC_CHECK(amount >= 0 && amount <= km::kMaxCredits, "charge amount out of range: ", amount);
    const Outcome o = balance_op(kCharge, id, {std::to_string(amount), std::to_string(-amount)});
    if (o.status == -1) unauthorized("unknown API key");
    if (o.status == -2) unauthorized("API key revoked");
    if (remaining) *remaining = o.credits;
    return o.status == 1;
}

void RedisKeyStore::refund(const std::string& id, int64_t amount) {
    TC_CHECK(amount >= 0 && amount <= km::kMaxCredits, "refund amount out of range: ", amount);
    const Outcome o = balance_op(kRefund, id, {std::to_string(amount), std::to_string(km::kMaxCredits)});
    TC_CHECK(o.status == 1, "unknown key id '", id, "'");
}

int64_t RedisKeyStore::credits(const std::string& id) const {
    const RedisReply r = plausible_id(id) ? locked([&](RedisConnection& c) {
        return c.command({"HGET", key("apikey:" + id), "credits"});
    })
                                          : RedisReply{};
    TC_CHECK(!r.is_nil(), "unknown key id '", id, "'");
    return r.as_integer();
}

}  // namespace tc::server
