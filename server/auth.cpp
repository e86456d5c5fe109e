// The parts of auth.h shared by both key stores: the store factory, the request price and API key header
// parsing. The stores themselves: sqlite_key_store.cpp, redis_key_store.cpp.
#include "server/auth.h"

#include <cctype>
#include <filesystem>
#include <string_view>

#include "core/error.h"
#include "server/redis_key_store.h"
#include "server/sqlite_key_store.h"

namespace tc::server {

namespace {

std::string trim(const std::string& s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return s.substr(b, e - b);
}

}  // namespace

std::unique_ptr<KeyStore> KeyStore::open(const std::string& path) { return SqliteKeyStore::open(path); }

std::unique_ptr<KeyStore> make_key_store(const std::string& data_dir, const std::string& queue_url) {
    if (queue_url.empty()) return SqliteKeyStore::open(keys_db_path(data_dir));
    return std::make_unique<RedisKeyStore>(queue_url);
}

// ------------------------------------------------------------------ free functions
int64_t request_price(int num_images, bool loop, bool interpolate) {
    TC_CHECK(num_images >= 2 && num_images <= 10, "a request has 2..10 images (got ", num_images, ")");
    const int64_t segments = loop ? num_images : num_images - 1;
    return segments * (interpolate ? 2 : 1);
}

std::string api_key_from_headers(const std::string& x_api_key, const std::string& authorization) {
    std::string key = trim(x_api_key);
    if (!key.empty()) return key;
    const std::string auth = trim(authorization);
    // RFC 7235: the auth-scheme is case-insensitive, followed by one or more spaces.
    constexpr std::string_view scheme = "bearer";
    if (auth.size() <= scheme.size()) return "";
    for (size_t i = 0; i < scheme.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(auth[i])) != scheme[i]) return "";
    if (auth[scheme.size()] != ' ' && auth[scheme.size()] != '\t') return "";
    return trim(auth.substr(scheme.size()));
}

std::string keys_db_path(const std::string& data_dir) {
    return (std::filesystem::path(data_dir) / "keys.db").string();
}

}  // namespace tc::server
