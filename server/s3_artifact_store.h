// The S3 artifact store (`--storage s3://bucket/prefix?...`, see artifacts.h): outputs are written to a local
// staging file, uploaded (multipart above the threshold) to BUCKET/PREFIX/<name>, and handed to clients as
// presigned GET URLs valid for the retention period; the retention sweep deletes the objects. Reads (the v1
// synchronous answer, base64 results, /files/<name>) go through the same client.
#pragma once

#include <string>

#include "server/artifacts.h"
#include "server/s3_client.h"

namespace tc::server {

class S3ArtifactStore : public ArtifactStore {
public:
    S3ArtifactStore(S3Config cfg, std::string prefix, const ArtifactStoreOptions& opts);

    // The object key of an artifact: PREFIX/<name> (or <name> without a prefix).
    std::string key(const std::string& name) const { return prefix_.empty() ? name : prefix_ + "/" + name; }
    // HEAD bucket: throws with the store's error when the bucket cannot be reached with these credentials.
    void verify() const;
    const S3Client& client() const { return client_; }

    std::string staging_path(const std::string& name) override;
    int64_t publish(const std::string& name) override;
    std::string read(const std::string& name) override;
    bool exists(const std::string& name) override;
    void remove(const std::string& name) noexcept override;
    std::string url(const std::string& name, const std::string& server_url) const override;
    std::string describe() const override;

private:
    S3Client client_;
    std::string prefix_;
    std::string staging_dir_;
    long url_lifetime_s_;
};

}  // namespace tc::server
