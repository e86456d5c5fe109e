// AWS Signature Version 4 (SigV4), the request signing of S3 and every S3-compatible store: canonical
// request, string to sign, signing key, the Authorization header and presigned (query-string) URLs, computed
// with OpenSSL's SHA-256 and HMAC-SHA256. Pure functions of their inputs (the clock is a parameter) so that
// AWS's published examples can be checked byte for byte (tests/server/test_sigv4.cpp).
// Nothing here logs or returns the secret key; only the derived signature leaves these functions.
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tc::server::sigv4 {

struct Credentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;  // temporary credentials (STS); empty for long-term keys
};

// Name/value pairs, not yet encoded (query parameters, headers).
using Params = std::vector<std::pair<std::string, std::string>>;

std::string sha256_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);  // the raw 32-byte MAC
std::string to_hex(std::string_view bytes);                            // lowercase

// Percent-encoding as SigV4 defines it: A-Z a-z 0-9 - . _ ~ stay, every other byte becomes %XX (upper-case
// hex); '/' stays too when encode_slash is false (object key paths).
std::string uri_encode(std::string_view s, bool encode_slash = true);

// "20130524T000000Z" (UTC) for a unix time.
std::string amz_date(std::time_t t);

// The credential scope: DATE/REGION/SERVICE/aws4_request.
struct Scope {
    std::string date;  // YYYYMMDD
    std::string region;
    std::string service;
    std::string str() const { return date + "/" + region + "/" + service + "/aws4_request"; }
};

struct Request {
    std::string method;         // "GET", "PUT", ...
    std::string canonical_uri;  // the path, already URI-encoded once ("/test%24file.text"); S3 never double-encodes
    Params query;               // decoded; encoded and sorted by canonical_query
    Params headers;             // any case; must include host
    std::string payload_hash;   // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

// Encoded, sorted "a=1&b=2" (a parameter without a value gives "name=").
std::string canonical_query(const Params& query);
// "host;range;x-amz-date": lower-case names, sorted.
std::string signed_headers(const Params& headers);
std::string canonical_request(const Request& r);
std::string string_to_sign(const std::string& amz_date, const Scope& scope, const std::string& canonical_request);
// HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request" (raw bytes).
std::string signing_key(const std::string& secret, const Scope& scope);
// The hex signature of a string to sign.
std::string signature(const std::string& secret, const Scope& scope, const std::string& string_to_sign);

// Header signing: adds x-amz-date, x-amz-content-sha256 (service "s3" only) and x-amz-security-token (when the
// credentials have a token) to r.headers, then returns the Authorization header's value.
std::string sign_headers(Request& r, const Credentials& c, const std::string& region, const std::string& service,
                         std::time_t now);

// Query signing (a presigned URL): the complete query string, X-Amz-Signature last, for `method` on
// `canonical_uri` at `host` (signed header: host only; payload UNSIGNED-PAYLOAD). `extra` are further query
// parameters the URL carries (signed too). expires_s: 1..604800 (S3's limit, seven days).
std::string presign_query(const std::string& method, const std::string& canonical_uri, const std::string& host,
                          const Params& extra, const Credentials& c, const std::string& region,
                          const std::string& service, std::time_t now, long expires_s);

}  // namespace tc::server::sigv4
