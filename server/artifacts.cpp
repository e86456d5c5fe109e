// Artifact directory (see artifacts.h).
#include "server/artifacts.h"

#include <openssl/rand.h>

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "server/http_error.h"

namespace tc::server {

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

ArtifactStore::ArtifactStore(std::string dir) : dir_(std::move(dir)) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    TC_CHECK(!ec, "cannot create artifact directory ", dir_, ": ", ec.message());
}

std::string ArtifactStore::new_name(const std::string& extension) const { return random_hex_id() + extension; }

bool ArtifactStore::valid_name(const std::string& name) {
    if (name.size() < 33 || !is_hex_id(name.substr(0, 32))) return false;
    const std::string ext = name.substr(32);
    return ext == ".mp4" || ext == ".webm" || ext == ".gif" || ext == ".zip";
}

std::string ArtifactStore::path(const std::string& name) const {
    if (!valid_name(name)) not_found("file not found");
    return dir_ + "/" + name;
}

bool ArtifactStore::exists(const std::string& name) const {
    return valid_name(name) && std::filesystem::exists(dir_ + "/" + name);
}

void ArtifactStore::remove(const std::string& name) const {
    if (!valid_name(name)) return;
    std::error_code ec;
    std::filesystem::remove(dir_ + "/" + name, ec);
}

std::string ArtifactStore::mime_type(const std::string& name) {
    auto ends = [&](const char* e) { return name.size() >= std::strlen(e) && name.compare(name.size() - std::strlen(e), std::string::npos, e) == 0; };
    if (ends(".mp4")) return "video/mp4";
    if (ends(".webm")) return "video/webm";
    if (ends(".gif")) return "image/gif";
    if (ends(".zip")) return "application/zip";
    return "application/octet-stream";
}

}  // namespace tc::server
