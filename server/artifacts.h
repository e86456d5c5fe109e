// Output files of finished jobs: a local directory under --data-dir, each file named by 128 random bits from
// OpenSSL (32 hex characters) plus its extension, served at /files/<name> without the API key while the
// result lives (the name is the capability). Names are validated before any path is built from them.
#pragma once

#include <string>

namespace tc::server {

// 32 lowercase hex characters from RAND_bytes (request ids and artifact names).
std::string random_hex_id();
bool is_hex_id(const std::string& s);  // exactly 32 lowercase hex characters

class ArtifactStore {
public:
    explicit ArtifactStore(std::string dir);  // created if absent
    const std::string& dir() const { return dir_; }
    // A fresh unguessable name with this extension (".mp4", ...).
    std::string new_name(const std::string& extension) const;
    // True when `name` is one new_name could have produced (no slash, no dots but the extension's).
    static bool valid_name(const std::string& name);
    // The file's path; throws HttpError 404 for an invalid name.
    std::string path(const std::string& name) const;
    bool exists(const std::string& name) const;
    void remove(const std::string& name) const;  // missing file = no-op
    static std::string mime_type(const std::string& name);

private:
    std::string dir_;
};

}  // namespace tc::server
