// SigV4 signing (see sigv4.h). The steps follow AWS's "Signature Version 4" description for S3:
// canonical request -> SHA-256 -> string to sign -> HMAC with the derived signing key.
#include "server/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace tc::server::sigv4 {

namespace {

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Header values: leading/trailing spaces removed, inner runs of spaces collapsed to one.
std::string trim_value(std::string_view v) {
    std::string out;
    bool space = false;
    for (char c : v) {
        if (c == ' ' || c == '\t') {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += c;
    }
    return out;
}

// Headers as lower-case name -> trimmed value, sorted by name.
Params canonical_headers(const Params& headers) {
    Params h;
    h.reserve(headers.size());
    for (const auto& [n, v] : headers) h.emplace_back(lower(n), trim_value(v));
    std::stable_sort(h.begin(), h.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    // A repeated header signs as one line with the values joined by commas.
    Params merged;
    for (auto& kv : h) {
        if (!merged.empty() && merged.back().first == kv.first) merged.back().second += "," + kv.second;
        else merged.push_back(std::move(kv));
    }
    return merged;
}

}  // namespace

std::string to_hex(std::string_view bytes) {
    static const char* hex = "0123456789abcdef";
    std::string s;
    s.reserve(bytes.size() * 2);
    for (unsigned char b : bytes) {
        s += hex[b >> 4];
        s += hex[b & 15];
    }
    return s;
}

std::string sha256_hex(std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    TC_CHECK(EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) == 1, "SHA-256 failed");
    return to_hex(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    TC_CHECK(HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
                  data.size(), md, &len) != nullptr,
             "HMAC-SHA256 failed");
    return std::string(reinterpret_cast<const char*>(md), len);
}

std::string uri_encode(std::string_view s, bool encode_slash) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && !encode_slash)) {
            out += char(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string amz_date(std::time_t t) {
    std::tm tm{};
    TC_CHECK(gmtime_r(&t, &tm) != nullptr, "gmtime_r failed");
    char buf[32];
    TC_CHECK(std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm) == 16, "cannot format the date");
    return buf;
}

std::string canonical_query(const Params& query) {
    std::vector<std::pair<std::string, std::string>> enc;
    enc.reserve(query.size());
    for (const auto& [n, v] : query) enc.emplace_back(uri_encode(n), uri_encode(v));
    std::sort(enc.begin(), enc.end());
    std::string out;
    for (const auto& [n, v] : enc) {
        if (!out.empty()) out += '&';
        out += n + "=" + v;
    }
    return out;
}

std::string signed_headers(const Params& headers) {
    std::string out;
    for (const auto& [n, v] : canonical_headers(headers)) {
        if (!out.empty()) out += ';';
        out += n;
    }
    return out;
}

std::string canonical_request(const Request& r) {
    std::string out = r.method + "\n" + r.canonical_uri + "\n" + canonical_query(r.query) + "\n";
    for (const auto& [n, v] : canonical_headers(r.headers)) out += n + ":" + v + "\n";
    out += "\n" + signed_headers(r.headers) + "\n" + r.payload_hash;
    return out;
}

std::string string_to_sign(const std::string& date, const Scope& scope, const std::string& creq) {
    return "AWS4-HMAC-SHA256\n" + date + "\n" + scope.str() + "\n" + sha256_hex(creq);
}

std::string signing_key(const std::string& secret, const Scope& scope) {
    std::string k = hmac_sha256("AWS4" + secret, scope.date);
    k = hmac_sha256(k, scope.region);
    k = hmac_sha256(k, scope.service);
    return hmac_sha256(k, "aws4_request");
}

std::string signature(const std::string& secret, const Scope& scope, const std::string& sts) {
    return to_hex(hmac_sha256(signing_key(secret, scope), sts));
}

std::string sign_headers(Request& r, const Credentials& c, const std::string& region, const std::string& service,
                         std::time_t now) {
    const std::string date = amz_date(now);
    const Scope scope{date.substr(0, 8), region, service};
    r.headers.emplace_back("x-amz-date", date);
    if (service == "s3") r.headers.emplace_back("x-amz-content-sha256", r.payload_hash);
    if (!c.session_token.empty()) r.headers.emplace_back("x-amz-security-token", c.session_token);
    const std::string sts = string_to_sign(date, scope, canonical_request(r));
    return "AWS4-HMAC-SHA256 Credential=" + c.access_key_id + "/" + scope.str() +
           ",SignedHeaders=" + signed_headers(r.headers) + ",Signature=" + signature(c.secret_access_key, scope, sts);
}

std::string presign_query(const std::string& method, const std::string& canonical_uri, const std::string& host,
                          const Params& extra, const Credentials& c, const std::string& region,
                          const std::string& service, std::time_t now, long expires_s) {
    TC_CHECK(expires_s >= 1 && expires_s <= 604800, "a presigned URL lives 1 s to 7 days, not ", expires_s, " s");
    const std::string date = amz_date(now);
    const Scope scope{date.substr(0, 8), region, service};
    Request r;
    r.method = method;
    r.canonical_uri = canonical_uri;
    r.query = extra;
    r.query.emplace_back("X-Amz-Algorithm", "AWS4-HMAC-SHA256");
    r.query.emplace_back("X-Amz-Credential", c.access_key_id + "/" + scope.str());
    r.query.emplace_back("X-Amz-Date", date);
    r.query.emplace_back("X-Amz-Expires", std::to_string(expires_s));
    r.query.emplace_back("X-Amz-SignedHeaders", "host");
    if (!c.session_token.empty()) r.query.emplace_back("X-Amz-Security-Token", c.session_token);
    r.headers = {{"host", host}};
    r.payload_hash = "UNSIGNED-PAYLOAD";
    const std::string sts = string_to_sign(date, scope, canonical_request(r));
    return canonical_query(r.query) + "&X-Amz-Signature=" + signature(c.secret_access_key, scope, sts);
}

}  // namespace tc::server::sigv4
