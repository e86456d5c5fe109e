// The S3 artifact store (see s3_artifact_store.h).
#include "server/s3_artifact_store.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "server/http_error.h"

namespace tc::server {

namespace fs = std::filesystem;

namespace {
constexpr long kMaxPresignS = 604800;  // SigV4 presigned URLs live at most 7 days
}

S3ArtifactStore::S3ArtifactStore(S3Config cfg, std::string prefix, const ArtifactStoreOptions& opts)
    : client_(std::move(cfg)), prefix_(std::move(prefix)) {
    staging_dir_ = opts.staging_dir.empty() ? (fs::temp_directory_path() / "tooncrafter-staging").string()
                                            : opts.staging_dir;
    std::error_code ec;
    fs::create_directories(staging_dir_, ec);
    TC_CHECK(!ec, "cannot create the staging directory ", staging_dir_, ": ", ec.message());
    const double r = std::ceil(std::max(1.0, opts.retention_s));
    url_lifetime_s_ = r > double(kMaxPresignS) ? kMaxPresignS : long(r);
    if (r > double(kMaxPresignS))
        std::fprintf(stderr,
                     "warning: output URLs are presigned for 7 days (the S3 maximum), less than --retention; "
                     "GET /v2/requests/<id> returns a fresh URL\n");
}

void S3ArtifactStore::verify() const { client_.head_bucket(); }

std::string S3ArtifactStore::describe() const {
    const S3Config& c = client_.config();
    return "s3://" + c.bucket + (prefix_.empty() ? "" : "/" + prefix_) + " (region " + c.region +
           (c.endpoint.empty() ? ", AWS" : ", endpoint " + c.endpoint) + ")";
}

std::string S3ArtifactStore::staging_path(const std::string& name) {
    TC_CHECK(valid_name(name), "invalid artifact name");
    return staging_dir_ + "/" + name;
}

int64_t S3ArtifactStore::publish(const std::string& name) {
    const std::string staged = staging_path(name);
    // The staged copy goes whatever happens: a failed upload fails the job, and nothing would clean it later.
    struct Cleanup {
        std::string path;
        ~Cleanup() {
            std::error_code ec;
            fs::remove(path, ec);
        }
    } cleanup{staged};
    std::error_code ec;
    const auto size = int64_t(fs::file_size(staged, ec));
    TC_CHECK(!ec, "cannot read the output file: ", ec.message());
    const int parts = client_.put_file(key(name), staged, mime_type(name));
    std::fprintf(stderr, "stored %s (%lld bytes%s)\n", client_.describe(key(name)).c_str(), (long long)size,
                 parts ? (", " + std::to_string(parts) + "-part upload").c_str() : "");
    return size;
}

std::string S3ArtifactStore::read(const std::string& name) {
    if (!valid_name(name)) not_found("file not found");
    try {
        return client_.get_object(key(name));
    } catch (const S3Error& e) {
        if (e.http_status == 404) not_found("file not found");
        throw;
    }
}

bool S3ArtifactStore::exists(const std::string& name) {
    return valid_name(name) && client_.head_object(key(name)).has_value();
}

void S3ArtifactStore::remove(const std::string& name) noexcept {
    if (!valid_name(name)) return;
    std::error_code ec;
    fs::remove(staging_dir_ + "/" + name, ec);
    try {
        client_.delete_object(key(name));
    } catch (const std::exception& e) {
        // Left behind: a bucket lifecycle rule is the backstop (docs/scale-out.md).
        std::fprintf(stderr, "warning: could not delete an expired output: %s\n", e.what());
    }
}

std::string S3ArtifactStore::url(const std::string& name, const std::string&) const {
    TC_CHECK(valid_name(name), "invalid artifact name");
    return client_.presigned_get_url(key(name), url_lifetime_s_);
}

}  // namespace tc::server
