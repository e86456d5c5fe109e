// The Redis key store (server/redis_key_store.h) against a real redis-server on a free loopback port (skipped
// when redis-server is not installed): create/authenticate/list/get/resolve, revoke, charge/refund/add with
// the SQLite store's semantics (unknown ids, 401 on unknown or revoked keys), concurrent charges from several
// "nodes" (store objects, each its own connection) that must never overdraw, a charge whose reply is lost
// (re-sent on a new connection: applied once), only hashes in Redis, Redis going away (503), and the factory.
#include <gtest/gtest.h>

#include <poll.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <openssl/evp.h>

#include "redis_test_server.h"
#include "server/auth.h"
#include "server/http_error.h"
#include "server/redis.h"
#include "server/redis_key_store.h"
#include "server/sqlite_key_store.h"

namespace {

using namespace tc::server;
using tc::test::TestRedisServer;

class RedisKeyStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (tc::test::redis_server_binary().empty()) GTEST_SKIP() << "redis-server is not installed";
        redis_ = std::make_unique<TestRedisServer>();
    }
    std::unique_ptr<KeyStore> store() const { return make_key_store("", redis_->url()); }
    std::unique_ptr<TestRedisServer> redis_;
};

int http_status_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const HttpError& e) {
        return e.status;
    }
    return 0;
}

// A TCP relay between one client at a time and Redis that can drop the next reply: the command reached Redis
// and ran, the client sees its connection die (what a network cut or a command timeout looks like).
class LossyRelay {
public:
    explicit LossyRelay(int upstream_port) : upstream_port_(upstream_port) {
        listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        EXPECT_EQ(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
        EXPECT_EQ(listen(listen_fd_, 4), 0);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~LossyRelay() {
        stop_ = true;
        thread_.join();
        close(listen_fd_);
    }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
    void drop_next_reply() { drop_ = true; }
    int dropped() const { return dropped_; }

private:
    void run() {
        while (!stop_) {
            pollfd l{listen_fd_, POLLIN, 0};
            if (poll(&l, 1, 50) <= 0) continue;
            const int client = accept(listen_fd_, nullptr, nullptr);
            if (client < 0) continue;
            const int up = socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            a.sin_port = htons(uint16_t(upstream_port_));
            if (connect(up, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) pump(client, up);
            close(up);
            close(client);
        }
    }
    // Until either side closes, the relay stops, or a reply is dropped.
    void pump(int client, int up) {
        char buf[65536];
        while (!stop_) {
            pollfd fds[2] = {{client, POLLIN, 0}, {up, POLLIN, 0}};
            if (poll(fds, 2, 50) <= 0) continue;
            for (int i = 0; i < 2; ++i) {
                if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                const ssize_t n = read(fds[i].fd, buf, sizeof buf);
                if (n <= 0) return;
                if (i == 1 && drop_.exchange(false)) {
                    ++dropped_;
                    return;  // the reply is lost: both connections close
                }
                if (write(fds[1 - i].fd, buf, size_t(n)) != n) return;
            }
        }
    }
    int upstream_port_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false}, drop_{false};
    std::atomic<int> dropped_{0};
    std::thread thread_;
};

int port_of(const std::string& url) { return RedisUrl::parse(url).port; }

}  // namespace

TEST_F(RedisKeyStoreTest, CreateAuthenticateListAcrossNodes) {
    auto node1 = store();
    auto node2 = store();
    EXPECT_EQ(node1->describe(), redis_->url());
    KeyInfo info;
    const std::string key = node1->create_key("alice", 10, &info);
    EXPECT_EQ(key.rfind("tc_", 0), 0u);
    EXPECT_EQ(key.size(), 3u + 64u);
    EXPECT_EQ(info.id.rfind("key_", 0), 0u);
    EXPECT_EQ(info.created_at.size(), 20u);
    EXPECT_EQ(info.webhook_secret.rfind("whsec_", 0), 0u);

    // The other node knows the key at once.
    const auto auth = node2->authenticate(key);
    ASSERT_TRUE(auth.has_value());
    EXPECT_EQ(auth->id, info.id);
    EXPECT_EQ(auth->name, "alice");
    EXPECT_EQ(auth->credits, 10);
    EXPECT_FALSE(auth->revoked);
    EXPECT_EQ(auth->created_at, info.created_at);
    EXPECT_EQ(auth->webhook_secret, info.webhook_secret);

    const std::string key2 = node2->create_key("bob \"quoted\"", 0);
    EXPECT_NE(key, key2);
    const auto all = node1->list();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].name, "alice");  // creation order
    EXPECT_EQ(all[1].name, "bob \"quoted\"");
    EXPECT_EQ(node1->get(info.id)->credits, 10);
    EXPECT_EQ(node2->resolve_id(info.id), info.id);
    EXPECT_EQ(node2->resolve_id(key), info.id);
    EXPECT_EQ(node1->resolve_id(key2), all[1].id);
}

TEST_F(RedisKeyStoreTest, UnknownAndMalformedKeys) {
    auto s = store();
    const std::string key = s->create_key("k", 1);
    EXPECT_FALSE(s->authenticate("").has_value());
    EXPECT_FALSE(s->authenticate("tc_").has_value());
    EXPECT_FALSE(s->authenticate("nope").has_value());
    std::string wrong = key;
    wrong.back() = wrong.back() == '0' ? '1' : '0';
    EXPECT_FALSE(s->authenticate(wrong).has_value());
    EXPECT_FALSE(s->authenticate(key + "x").has_value());
    EXPECT_FALSE(s->authenticate(std::string(100000, 'a')).has_value());

    for (const std::string& id :
         std::vector<std::string>{"key_missing", "", "tc_notanid", "key_*", std::string(1000, 'k')}) {
        EXPECT_THROW(s->revoke(id), tc::Error) << id;
        EXPECT_THROW(s->add_credits(id, 5), tc::Error) << id;
        EXPECT_THROW(s->refund(id, 5), tc::Error) << id;
        EXPECT_THROW(s->credits(id), tc::Error) << id;
        EXPECT_EQ(http_status_of([&] { s->charge(id, 1); }), 401) << id;
        EXPECT_FALSE(s->get(id).has_value()) << id;
        EXPECT_FALSE(s->resolve_id(id).has_value()) << id;
    }
    // Nothing above created a record.
    EXPECT_EQ(s->list().size(), 1u);
}

TEST_F(RedisKeyStoreTest, RevokedKeyRefusedOnEveryNode) {
    auto node1 = store();
    auto node2 = store();
    KeyInfo info;
    const std::string key = node1->create_key("r", 5, &info);
    ASSERT_TRUE(node2->authenticate(key).has_value());
    node2->revoke(info.id);
    node2->revoke(info.id);  // idempotent
    EXPECT_FALSE(node1->authenticate(key).has_value());
    EXPECT_TRUE(node1->list()[0].revoked);
    EXPECT_TRUE(node1->get(info.id)->revoked);
    // A key revoked between authentication and charging is refused with 401, and nothing is charged.
    EXPECT_EQ(http_status_of([&] { node1->charge(info.id, 1); }), 401);
    EXPECT_EQ(node1->credits(info.id), 5);
    // The raw key still resolves (the CLI and the 403 of routes.cpp name a revoked key by its raw value).
    EXPECT_EQ(node1->resolve_id(key), info.id);
}

TEST_F(RedisKeyStoreTest, ChargeRefundAddCredits) {
    auto s = store();
    KeyInfo info;
    s->create_key("c", 5, &info);
    int64_t remaining = -1;
    EXPECT_TRUE(s->charge(info.id, 3, &remaining));
    EXPECT_EQ(remaining, 2);
    EXPECT_FALSE(s->charge(info.id, 3, &remaining));  // insufficient: nothing changes
    EXPECT_EQ(remaining, 2);
    EXPECT_EQ(s->credits(info.id), 2);
    EXPECT_TRUE(s->charge(info.id, 0, &remaining));
    EXPECT_EQ(remaining, 2);
    s->refund(info.id, 3);
    EXPECT_EQ(s->credits(info.id), 5);
    EXPECT_EQ(s->add_credits(info.id, 10), 15);
    EXPECT_EQ(s->add_credits(info.id, -15), 0);
    EXPECT_THROW(s->add_credits(info.id, -1), tc::Error);  // never below zero
    EXPECT_EQ(s->credits(info.id), 0);
    EXPECT_THROW(s->charge(info.id, -1), tc::Error);
    EXPECT_THROW(s->refund(info.id, -1), tc::Error);
    EXPECT_THROW(s->create_key("neg", -1), tc::Error);
    // Large balances stay exact (Lua numbers are doubles; the store keeps balances below 2^50).
    const int64_t big = (int64_t(1) << 50) - 3;
    EXPECT_EQ(s->add_credits(info.id, big), big);
    EXPECT_TRUE(s->charge(info.id, 1, &remaining));
    EXPECT_EQ(remaining, big - 1);
    EXPECT_THROW(s->add_credits(info.id, 5), tc::Error);  // above the cap
    s->refund(info.id, 100);                               // capped, not refused
    EXPECT_EQ(s->credits(info.id), int64_t(1) << 50);
}

TEST_F(RedisKeyStoreTest, ConcurrentChargesNeverOverdraw) {
    // 8 threads on 4 nodes (store objects, one connection each), 100 charges of 1 each, on 500 credits.
    std::vector<std::unique_ptr<KeyStore>> nodes;
    for (int i = 0; i < 4; ++i) nodes.push_back(store());
    KeyInfo info;
    nodes[0]->create_key("race", 500, &info);
    std::atomic<int> granted{0};
    std::atomic<bool> bad_balance{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 100; ++i) {
                int64_t left = -1;
                if (nodes[size_t(t % 4)]->charge(info.id, 1, &left)) {
                    ++granted;
                    if (left < 0) bad_balance = true;
                } else if (left != 0) {
                    bad_balance = true;  // refused only when the balance is really gone
                }
            }
        });
    for (auto& th : threads) th.join();
    EXPECT_FALSE(bad_balance.load());
    EXPECT_EQ(granted.load(), 500);
    EXPECT_EQ(nodes[3]->credits(info.id), 0);
}

TEST_F(RedisKeyStoreTest, LostReplyChargesOnce) {
    LossyRelay relay(port_of(redis_->url()));
    auto s = make_key_store("", relay.url());
    KeyInfo info;
    s->create_key("lossy", 10, &info);

    // The charge runs on Redis, its reply is lost, the store re-sends it on a new connection: the recorded
    // outcome answers, so the key pays once.
    relay.drop_next_reply();
    int64_t left = -1;
    EXPECT_TRUE(s->charge(info.id, 3, &left));
    EXPECT_EQ(relay.dropped(), 1);
    EXPECT_EQ(left, 7);
    EXPECT_EQ(s->credits(info.id), 7);

    relay.drop_next_reply();
    s->refund(info.id, 2);
    EXPECT_EQ(relay.dropped(), 2);
    EXPECT_EQ(s->credits(info.id), 9);

    relay.drop_next_reply();
    EXPECT_EQ(s->add_credits(info.id, 1), 10);
    EXPECT_EQ(relay.dropped(), 3);
    EXPECT_EQ(s->credits(info.id), 10);

    // A lost create reply: the repeat is recognised, one key exists.
    relay.drop_next_reply();
    const std::string key = s->create_key("again", 1);
    EXPECT_EQ(relay.dropped(), 4);
    EXPECT_TRUE(s->authenticate(key).has_value());
    EXPECT_EQ(s->list().size(), 2u);
}

TEST_F(RedisKeyStoreTest, StoresOnlyTheHash) {
    auto s = store();
    const std::string key = s->create_key("h", 1);
    const std::string secret = key.substr(3);  // the random part, as hex
    RedisConnection c(RedisUrl::parse(redis_->url()));
    int values = 0;
    const RedisReply names = c.command({"KEYS", "*"});
    for (const auto& k : names.as_array()) {
        const std::string name = k.as_string();
        EXPECT_EQ(name.rfind("tooncrafter:", 0), 0u) << name;
        EXPECT_EQ(name.find(secret), std::string::npos) << name;
        const std::string type = c.command({"TYPE", name}).as_string();
        const RedisReply v = type == "hash"   ? c.command({"HGETALL", name})
                             : type == "list" ? c.command({"LRANGE", name, "0", "-1"})
                                              : c.command({"GET", name});
        for (const auto& e : v.as_array()) {
            ++values;
            EXPECT_EQ(e.as_string().find(secret), std::string::npos) << name;
        }
    }
    EXPECT_GT(values, 0);
    // The index holds the SHA-256 of the whole key, as hex.
    unsigned char md[32];
    unsigned int len = 0;
    ASSERT_EQ(EVP_Digest(key.data(), key.size(), md, &len, EVP_sha256(), nullptr), 1);
    std::string hex;
    for (unsigned i = 0; i < len; ++i) {
        static const char* d = "0123456789abcdef";
        hex += d[md[i] >> 4];
        hex += d[md[i] & 15];
    }
    EXPECT_FALSE(c.command({"HGET", "tooncrafter:apikey-index", hex}).is_nil());
}

TEST_F(RedisKeyStoreTest, RedisGoneIsServiceUnavailable) {
    auto s = store();
    KeyInfo info;
    const std::string key = s->create_key("gone", 3, &info);
    redis_.reset();  // stops redis-server
    EXPECT_EQ(http_status_of([&] { s->authenticate(key); }), 503);
    EXPECT_EQ(http_status_of([&] { s->charge(info.id, 1); }), 503);
    try {
        s->refund(info.id, 1);
        FAIL() << "refund without Redis succeeded";
    } catch (const HttpError& e) {
        EXPECT_EQ(e.status, 503);
        EXPECT_GT(e.retry_after_s, 0);
    }
}

TEST(RedisKeyStore, UnreachableRedisFailsAtConstruction) {
    const std::string url = "redis://127.0.0.1:" + std::to_string(tc::test::free_loopback_port()) + "/0";
    EXPECT_THROW(make_key_store("", url), tc::Error);
    EXPECT_THROW(make_key_store("", "http://not-redis"), tc::Error);
}

TEST(KeyStoreFactory, EmptyQueueIsSqliteInTheDataDir) {
    const auto dir = std::filesystem::temp_directory_path() / ("tc_keyfactory_" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    {
        auto s = make_key_store(dir.string(), "");
        EXPECT_NE(dynamic_cast<SqliteKeyStore*>(s.get()), nullptr);
        EXPECT_EQ(s->describe(), keys_db_path(dir.string()));
        s->create_key("x", 1);
    }
    EXPECT_TRUE(std::filesystem::exists(keys_db_path(dir.string())));
    std::filesystem::remove_all(dir);
}
