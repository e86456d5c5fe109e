// Key, id and secret generation, hashing and comparison for the key stores (see key_material.h).
#include "server/key_material.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <ctime>

#include "core/error.h"

namespace tc::server::key_material {

namespace {

constexpr const char* kKeyPrefix = "tc_";

std::string random_bytes(size_t n) {
    std::string out(n, '\0');
    TC_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), int(n)) == 1,
             "key store: the system random generator failed");
    return out;
}

std::string to_base64(const std::string& bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()), int(bytes.size()));
    out.resize(size_t(n));
    return out;
}

std::string utc_now_iso8601() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace

std::string to_hex(const std::string& bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}

std::string random_hex(size_t n) { return to_hex(random_bytes(n)); }

std::string new_raw_key() { return kKeyPrefix + to_hex(random_bytes(32)); }

KeyInfo new_record(const std::string& name, int64_t credits) {
    TC_CHECK(credits >= 0 && credits <= kMaxCredits, "credits must be in 0..", kMaxCredits, " (got ", credits, ")");
    KeyInfo k;
    k.id = "key_" + to_hex(random_bytes(8));
    k.name = name;
    k.credits = credits;
    k.revoked = false;
    k.created_at = utc_now_iso8601();
    k.webhook_secret = "whsec_" + to_base64(random_bytes(24));
    return k;
}

std::string key_hash(const std::string& raw_key) {
    std::string h(32, '\0');
    unsigned int len = 0;
    TC_CHECK(EVP_Digest(raw_key.data(), raw_key.size(), reinterpret_cast<unsigned char*>(h.data()), &len,
                        EVP_sha256(), nullptr) == 1 &&
                 len == h.size(),
             "key store: SHA-256 failed");
    return h;
}

bool plausible_raw_key(const std::string& k) {
    return k.size() > 3 && k.size() <= 256 && k.compare(0, 3, kKeyPrefix) == 0;
}

bool constant_time_equal(const std::string& a, const std::string& b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace tc::server::key_material
