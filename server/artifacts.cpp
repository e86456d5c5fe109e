// Artifact names, the local-directory store and the store factory (see artifacts.h).
#include "server/artifacts.h"

#include <openssl/rand.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "core/error.h"
#include "server/http_error.h"
#include "server/s3_artifact_store.h"

namespace tc::server {

namespace fs = std::filesystem;

std::string random_hex_id() {
    unsigned char b[16];
    TC_CHECK(RAND_bytes(b, sizeof b) == 1, "OpenSSL RAND_bytes failed");
    static const char* hex = "0123456789abcdef";
    std::string s(32, '0');
    for (int i = 0; i < 16; ++i) {
        s[size_t(2 * i)] = hex[b[i] >> 4];
        s[size_t(2 * i + 1)] = hex[b[i] & 15];
    }
    return s;
}

bool is_hex_id(const std::string& s) {
    if (s.size() != 32) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

// ---- names (every store) ----------------------------------------------------------------------------------

std::string ArtifactStore::new_name(const std::string& extension) const { return random_hex_id() + extension; }

bool ArtifactStore::valid_name(const std::string& name) {
    if (name.size() < 33 || !is_hex_id(name.substr(0, 32))) return false;
    const std::string ext = name.substr(32);
    return ext == ".mp4" || ext == ".webm" || ext == ".gif" || ext == ".zip";
}

std::string ArtifactStore::mime_type(const std::string& name) {
    auto ends = [&](const char* e) { return name.size() >= std::strlen(e) && name.compare(name.size() - std::strlen(e), std::string::npos, e) == 0; };
    if (ends(".mp4")) return "video/mp4";
    if (ends(".webm")) return "video/webm";
    if (ends(".gif")) return "image/gif";
    if (ends(".zip")) return "application/zip";
    return "application/octet-stream";
}

// ---- file:///dir ------------------------------------------------------------------------------------------

LocalArtifactStore::LocalArtifactStore(std::string dir) : dir_(std::move(dir)) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    TC_CHECK(!ec, "cannot create artifact directory ", dir_, ": ", ec.message());
}

std::string LocalArtifactStore::path(const std::string& name) const {
    if (!valid_name(name)) not_found("file not found");
    return dir_ + "/" + name;
}

// "<name>.part" in the same directory: the rename in publish() is atomic, and valid_name() rejects the
// staging name, so /files never serves a half-written file.
std::string LocalArtifactStore::staging_path(const std::string& name) {
    TC_CHECK(valid_name(name), "invalid artifact name");
    return dir_ + "/" + name + ".part";
}

int64_t LocalArtifactStore::publish(const std::string& name) {
    const std::string staged = staging_path(name);
    std::error_code ec;
    fs::rename(staged, dir_ + "/" + name, ec);
    if (ec) {
        fs::remove(staged, ec);
        TC_FAIL("cannot store the output in ", dir_, ": ", ec.message());
    }
    const auto size = fs::file_size(dir_ + "/" + name, ec);
    TC_CHECK(!ec, "cannot read the stored output's size: ", ec.message());
    return int64_t(size);
}

std::string LocalArtifactStore::read(const std::string& name) {
    std::ifstream f(path(name), std::ios::binary);
    if (!f) not_found("file not found");
    return std::string(std::istreambuf_iterator<char>(f), {});
}

bool LocalArtifactStore::exists(const std::string& name) {
    std::error_code ec;
    return valid_name(name) && fs::exists(dir_ + "/" + name, ec);
}

void LocalArtifactStore::remove(const std::string& name) noexcept {
    if (!valid_name(name)) return;
    std::error_code ec;
    fs::remove(dir_ + "/" + name, ec);
    fs::remove(dir_ + "/" + name + ".part", ec);
}

std::string LocalArtifactStore::url(const std::string& name, const std::string& server_url) const {
    return server_url + "/files/" + name;
}

// ---- the factory ------------------------------------------------------------------------------------------

namespace {

// %XX decoding of one query value. '+' stays '+' (secret keys contain it).
std::string percent_decode(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%') {
            TC_CHECK(i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
                         std::isxdigit(static_cast<unsigned char>(s[i + 2])),
                     "bad %-escape in the --storage URL");
            out += char(std::stoi(s.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

int64_t parse_size(const std::string& name, const std::string& v) {
    size_t used = 0;
    long long n = -1;
    try {
        n = std::stoll(v, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    TC_CHECK(used == v.size() && n >= 0, "--storage: ", name, " must be a number of bytes, not '", v, "'");
    return n;
}

std::unique_ptr<ArtifactStore> make_s3(const std::string& url, const ArtifactStoreOptions& opts) {
    std::string rest = url.substr(5);  // after "s3://"
    std::string query;
    if (const auto q = rest.find('?'); q != std::string::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    const auto slash = rest.find('/');
    S3Config cfg;
    cfg.bucket = rest.substr(0, slash);
    std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    TC_CHECK(!cfg.bucket.empty() && cfg.bucket.find_first_of(" #%") == std::string::npos,
             "--storage s3://BUCKET[/PREFIX]: bad bucket name '", cfg.bucket, "'");

    std::map<std::string, std::string> params;
    for (size_t at = 0; at < query.size();) {
        auto amp = query.find('&', at);
        if (amp == std::string::npos) amp = query.size();
        const std::string kv = query.substr(at, amp - at);
        at = amp + 1;
        if (kv.empty()) continue;
        const auto eq = kv.find('=');
        params[percent_decode(kv.substr(0, eq))] = eq == std::string::npos ? "" : percent_decode(kv.substr(eq + 1));
    }
    auto take = [&](const char* name, const std::string& fallback) {
        auto it = params.find(name);
        if (it == params.end()) return fallback;
        std::string v = it->second;
        params.erase(it);
        return v;
    };
    cfg.endpoint = take("endpoint", env("AWS_ENDPOINT_URL_S3").empty() ? env("AWS_ENDPOINT_URL") : env("AWS_ENDPOINT_URL_S3"));
    std::string region = take("region", env("AWS_REGION").empty() ? env("AWS_DEFAULT_REGION") : env("AWS_REGION"));
    cfg.region = region.empty() ? "us-east-1" : region;
    cfg.credentials.access_key_id = take("access_key_id", env("AWS_ACCESS_KEY_ID"));
    cfg.credentials.secret_access_key = take("secret_access_key", env("AWS_SECRET_ACCESS_KEY"));
    cfg.credentials.session_token = take("session_token", env("AWS_SESSION_TOKEN"));
    cfg.path_style = !cfg.endpoint.empty();
    const std::string ps = take("path_style", "");
    if (!ps.empty()) {
        TC_CHECK(ps == "true" || ps == "false", "--storage: path_style must be true or false");
        cfg.path_style = ps == "true";
    }
    if (auto v = take("multipart_threshold", ""); !v.empty()) cfg.multipart_threshold = parse_size("multipart_threshold", v);
    if (auto v = take("part_size", ""); !v.empty()) cfg.part_size = parse_size("part_size", v);
    if (auto v = take("timeout", ""); !v.empty()) cfg.request_timeout_s = long(parse_size("timeout", v));
    TC_CHECK(cfg.part_size >= 1, "--storage: part_size must be positive");
    TC_CHECK(cfg.request_timeout_s >= 1, "--storage: timeout must be positive");
    if (!params.empty()) TC_FAIL("--storage: unknown S3 parameter '", params.begin()->first, "'");
    TC_CHECK(!cfg.credentials.access_key_id.empty() && !cfg.credentials.secret_access_key.empty(),
             "--storage s3://", cfg.bucket, ": no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
    auto store = std::make_unique<S3ArtifactStore>(std::move(cfg), prefix, opts);
    if (opts.verify) store->verify();
    return store;
}

}  // namespace

std::unique_ptr<ArtifactStore> make_artifact_store(const std::string& url, const ArtifactStoreOptions& opts) {
    TC_CHECK(!url.empty(), "--storage: empty URL");
    if (url.rfind("s3://", 0) == 0) return make_s3(url, opts);
    if (url.rfind("file://", 0) == 0) {
        const std::string dir = url.substr(7);
        TC_CHECK(!dir.empty(), "--storage file:///DIR: no directory");
        return std::make_unique<LocalArtifactStore>(dir);
    }
    TC_CHECK(url.find("://") == std::string::npos, "--storage: unsupported URL scheme in '",
             url.substr(0, url.find("://")), "://' (file:// or s3://)");
    return std::make_unique<LocalArtifactStore>(url);
}

}  // namespace tc::server
