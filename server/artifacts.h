// Output files of finished jobs ("artifacts"). Each is named by 128 random bits from OpenSSL (32 hex
// characters) plus its extension; the name is the capability, so names are validated before any path or key is
// built from them. ArtifactStore is the interface the JobManager, the worker and the routes use; the store is
// chosen by URL (make_artifact_store, `--storage`):
//  - file:///dir (the default, under --data-dir): a local directory, served by this server at
//    /files/<name> without the API key while the result lives;
//  - s3://bucket/prefix?endpoint=...&region=...: any S3-compatible store (server/s3_client.h); the output
//    URL is a presigned GET whose lifetime is the retention period, objects are deleted on expiry.
// The worker writes an output to staging_path(name) and then publish(name)es it, so a half-written file is
// never visible under its name.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace tc::server {

// 32 lowercase hex characters from RAND_bytes (request ids and artifact names).
std::string random_hex_id();
bool is_hex_id(const std::string& s);  // exactly 32 lowercase hex characters

class ArtifactStore {
public:
    virtual ~ArtifactStore() = default;

    // A fresh unguessable name with this extension (".mp4", ...).
    std::string new_name(const std::string& extension) const;
    // True when `name` is one new_name could have produced (no slash, no dots but the extension's).
    static bool valid_name(const std::string& name);
    static std::string mime_type(const std::string& name);

    // The local file the worker writes the artifact `name` into before publish() (its directory exists).
    virtual std::string staging_path(const std::string& name) = 0;
    // Makes the staged file the artifact `name` (renamed into place, or uploaded); returns its size in bytes.
    // The staged file is gone afterwards, also when this throws.
    virtual int64_t publish(const std::string& name) = 0;
    // The artifact's bytes; HttpError 404 for an invalid or unknown name.
    virtual std::string read(const std::string& name) = 0;
    virtual bool exists(const std::string& name) = 0;
    // Deletes the artifact and any staged file of that name; a missing one is not an error. Never throws (a
    // failure is logged): the retention sweep must go on with the other files.
    virtual void remove(const std::string& name) noexcept = 0;
    // The URL clients download the artifact from; server_url is this server's public base URL (no trailing
    // slash), used by stores the server itself serves.
    virtual std::string url(const std::string& name, const std::string& server_url) const = 0;
    // For logs: "file:///data/files", "s3://bucket/prefix (endpoint ...)"; never credentials.
    virtual std::string describe() const = 0;
};

// file:///dir: the artifacts are files in a local (or shared) directory.
class LocalArtifactStore : public ArtifactStore {
public:
    explicit LocalArtifactStore(std::string dir);  // created if absent
    const std::string& dir() const { return dir_; }
    // The file's path; throws HttpError 404 for an invalid name.
    std::string path(const std::string& name) const;

    std::string staging_path(const std::string& name) override;
    int64_t publish(const std::string& name) override;
    std::string read(const std::string& name) override;
    bool exists(const std::string& name) override;
    void remove(const std::string& name) noexcept override;
    std::string url(const std::string& name, const std::string& server_url) const override;
    std::string describe() const override { return "file://" + dir_; }

private:
    std::string dir_;
};

struct ArtifactStoreOptions {
    double retention_s = 3600;  // lifetime of presigned URLs (S3 caps them at 7 days)
    // Local scratch directory where outputs are written before their upload (S3); empty = the system's
    // temporary directory.
    std::string staging_dir;
    // Check at construction that the store is reachable (S3: HEAD bucket), so a bad configuration fails at
    // start and not on the first finished job.
    bool verify = true;
};

// The store named by `url`:
//   file:///abs/dir (or a plain path)
//   s3://BUCKET[/PREFIX][?endpoint=http://host:port&region=us-east-1&...]
// S3 query parameters: endpoint (S3-compatible store; path-style addressing unless path_style=false; without
// it: AWS, virtual-hosted), region (else AWS_REGION / AWS_DEFAULT_REGION, else us-east-1), access_key_id,
// secret_access_key, session_token (else the standard AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
// AWS_SESSION_TOKEN environment variables), multipart_threshold and part_size (bytes; default 8 MiB each),
// path_style (true/false), timeout (seconds per request). An unknown parameter is an error (typos fail loudly).
std::unique_ptr<ArtifactStore> make_artifact_store(const std::string& url, const ArtifactStoreOptions& opts = {});

}  // namespace tc::server
