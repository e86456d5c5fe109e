// A small S3 client for the artifact store (server/artifacts.h): PUT object, multipart upload for large
// files (CreateMultipartUpload / UploadPart / CompleteMultipartUpload, AbortMultipartUpload on any failure),
// GET, HEAD, DELETE and presigned GET URLs, against AWS S3 or any S3-compatible store (MinIO, Ceph RGW,
// R2, moto, ...). Requests go through libcurl and are signed with SigV4 (server/sigv4.h); payloads are signed
// (x-amz-content-sha256 is the body's real hash). Errors carry the HTTP status and the <Code>/<Message> of the
// store's XML error body; no message ever contains the secret key, a signature or a presigned URL.
// Transient failures (connection errors, 5xx, SlowDown) are retried a few times with backoff.
// Thread-safe: every request uses its own curl handle.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "server/sigv4.h"

namespace tc::server {

struct S3Config {
    std::string bucket;
    std::string region = "us-east-1";
    // scheme://host[:port] of an S3-compatible store ("http://127.0.0.1:9000"); empty = AWS itself
    // (https://s3.REGION.amazonaws.com).
    std::string endpoint;
    // Path-style addressing (ENDPOINT/BUCKET/KEY), what S3-compatible stores expect; false = virtual-hosted
    // (BUCKET.HOST/KEY), what AWS prefers.
    bool path_style = true;
    sigv4::Credentials credentials;
    long connect_timeout_s = 10;
    long request_timeout_s = 600;  // one request end to end (a whole part upload)
    int max_attempts = 3;          // tries of one request on transient failures
    // Files larger than this are uploaded in parts of part_size bytes (S3 wants >= 5 MiB for all but the
    // last part; tests lower both to force several parts through a small file).
    int64_t multipart_threshold = int64_t(8) << 20;
    int64_t part_size = int64_t(8) << 20;
};

// An error answer of the store (or a transport failure: http_status 0, code "NetworkError").
struct S3Error : Error {
    long http_status = 0;
    std::string code;  // "NoSuchKey", "SignatureDoesNotMatch", ...
    S3Error(long status, std::string code_, const std::string& message)
        : Error(message), http_status(status), code(std::move(code_)) {}
};

struct S3ObjectInfo {
    int64_t size = 0;
    std::string etag;  // as the store sends it, quotes included; multipart uploads end in "-<parts>"
};

// What a request sends: nothing, bytes in memory, or a byte range of a file (streamed, never loaded whole).
struct S3Body {
    std::string_view mem;
    std::string file;  // when set, `length` bytes from `offset` of this file
    int64_t offset = 0, length = 0;
    int64_t size() const { return file.empty() ? int64_t(mem.size()) : length; }
};

struct S3Response {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  // lower-case names
};

class S3Client {
public:
    explicit S3Client(S3Config cfg);
    const S3Config& config() const { return cfg_; }

    // Uploads a local file: one PUT up to multipart_threshold bytes, else a multipart upload. Returns the
    // number of parts (0 for a single PUT).
    int put_file(const std::string& key, const std::string& path, const std::string& content_type);
    void put_object(const std::string& key, std::string_view body, const std::string& content_type);
    // The object's bytes; S3Error with http_status 404 when it does not exist.
    std::string get_object(const std::string& key) const;
    std::optional<S3ObjectInfo> head_object(const std::string& key) const;
    // Deleting a missing object is not an error (S3 answers 204 either way).
    void delete_object(const std::string& key) const;
    // Throws S3Error when the bucket is missing or the credentials cannot reach it.
    void head_bucket() const;
    // A URL anyone can GET the object with for expires_s seconds (clamped to 1 .. 7 days).
    std::string presigned_get_url(const std::string& key, long expires_s) const;

    // One signed request on `key` (empty: the bucket), retried on transient failures; a non-2xx answer throws
    // S3Error. `op` names the operation in errors ("PutObject"); payload_hash is the body's hex SHA-256.
    S3Response request(const std::string& op, const std::string& method, const std::string& key,
                       const sigv4::Params& query, const sigv4::Params& headers, const S3Body& body,
                       const std::string& payload_hash) const;

    // "s3://bucket/key" for messages.
    std::string describe(const std::string& key) const { return "s3://" + cfg_.bucket + "/" + key; }

private:
    struct Target {
        std::string url_base;       // scheme://host[:port]
        std::string host;           // the Host header (and what is signed)
        std::string canonical_uri;  // encoded path
    };
    Target target(const std::string& key) const;
    int put_multipart(const std::string& key, const std::string& path, int64_t size, const std::string& content_type);

    S3Config cfg_;
    std::string scheme_, authority_, base_path_;  // parsed endpoint
};

}  // namespace tc::server
