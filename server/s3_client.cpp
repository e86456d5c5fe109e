// The S3 client (see s3_client.h): one signed libcurl request per call, bodies streamed from memory or from a
// byte range of a file (so a multipart upload never holds more than curl's buffer in memory).
#include "server/s3_client.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>
#include <vector>

namespace tc::server {

namespace {

struct CurlEasyDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct CurlSlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};
struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;
using File = std::unique_ptr<std::FILE, FileCloser>;

void curl_init_once() {
    static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    TC_CHECK(rc == CURLE_OK, "curl_global_init failed: ", curl_easy_strerror(rc));
}

File open_at(const std::string& path, int64_t offset) {
    File f(std::fopen(path.c_str(), "rb"));
    TC_CHECK(f, "cannot open ", path);
    TC_CHECK(fseeko(f.get(), off_t(offset), SEEK_SET) == 0, "cannot seek in ", path);
    return f;
}

// SHA-256 (hex) of `length` bytes of a file from `offset`, read in blocks.
std::string file_sha256(const std::string& path, int64_t offset, int64_t length) {
    File f = open_at(path, offset);
    std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
    TC_CHECK(ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1, "SHA-256 init failed");
    std::vector<char> buf(1 << 20);
    for (int64_t left = length; left > 0;) {
        const size_t want = size_t(std::min<int64_t>(left, int64_t(buf.size())));
        const size_t got = std::fread(buf.data(), 1, want, f.get());
        TC_CHECK(got == want, "short read of ", path);
        TC_CHECK(EVP_DigestUpdate(ctx.get(), buf.data(), got) == 1, "SHA-256 update failed");
        left -= int64_t(got);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    TC_CHECK(EVP_DigestFinal_ex(ctx.get(), md, &len) == 1, "SHA-256 final failed");
    return sigv4::to_hex(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::string decode_entities(std::string s) {
    static const std::pair<const char*, const char*> ents[] = {
        {"&quot;", "\""}, {"&apos;", "'"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}};
    for (const auto& [from, to] : ents)
        for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += std::strlen(to))
            s.replace(at, std::strlen(from), to);
    return s;
}

std::string xml_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '&') out += "&amp;";
        else if (c == '<') out += "&lt;";
        else if (c == '>') out += "&gt;";
        else out += c;
    }
    return out;
}

// The text of the first <tag>...</tag> (S3's answers are flat enough for this), entities decoded.
std::string xml_text(const std::string& xml, const std::string& tag) {
    const std::string open = "<" + tag + ">", close = "</" + tag + ">";
    const auto a = xml.find(open);
    if (a == std::string::npos) return "";
    const auto b = xml.find(close, a + open.size());
    if (b == std::string::npos) return "";
    return decode_entities(xml.substr(a + open.size(), b - a - open.size()));
}

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(std::string s) {
    const auto a = s.find_first_not_of(" \t\r\n");
    if (a == std::string::npos) return "";
    const auto b = s.find_last_not_of(" \t\r\n");
    return s.substr(a, b - a + 1);
}

}  // namespace

// ---- one request ------------------------------------------------------------------------------------------

namespace {

struct ReadState {
    const S3Body* body = nullptr;
    std::FILE* f = nullptr;
    int64_t left = 0;
    size_t mem_pos = 0;
};

size_t read_cb(char* buf, size_t size, size_t n, void* user) {
    auto* st = static_cast<ReadState*>(user);
    const size_t cap = size * n;
    if (st->f) {
        const size_t want = size_t(std::min<int64_t>(st->left, int64_t(cap)));
        const size_t got = want ? std::fread(buf, 1, want, st->f) : 0;
        if (got != want) return CURL_READFUNC_ABORT;  // the file shrank under us
        st->left -= int64_t(got);
        return got;
    }
    const size_t want = std::min(cap, st->body->mem.size() - st->mem_pos);
    std::memcpy(buf, st->body->mem.data() + st->mem_pos, want);
    st->mem_pos += want;
    return want;
}

size_t write_cb(char* data, size_t size, size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

size_t header_cb(char* data, size_t size, size_t n, void* user) {
    auto* headers = static_cast<std::map<std::string, std::string>*>(user);
    const std::string line(data, size * n);
    if (line.rfind("HTTP/", 0) == 0) headers->clear();  // a new response (after 100 Continue)
    const auto colon = line.find(':');
    if (colon != std::string::npos) (*headers)[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    return size * n;
}

bool transient(long status, const std::string& code) {
    return status == 0 || status >= 500 || code == "SlowDown" || code == "RequestTimeout";
}

CurlSlist header_list(const std::vector<std::string>& lines) {
    CurlSlist list;
    for (const auto& l : lines) {
        curl_slist* next = curl_slist_append(list.get(), l.c_str());
        TC_CHECK(next, "curl_slist_append failed");
        (void)list.release();  // `next` is the same list, one entry longer
        list.reset(next);
    }
    return list;
}

}  // namespace

S3Client::S3Client(S3Config cfg) : cfg_(std::move(cfg)) {
    curl_init_once();
    TC_CHECK(!cfg_.bucket.empty(), "S3: no bucket given");
    TC_CHECK(!cfg_.region.empty(), "S3: no region given");
    TC_CHECK(cfg_.part_size >= 1 && cfg_.multipart_threshold >= 0,
             "S3: the part size must be positive and the multipart threshold not negative");
    TC_CHECK(cfg_.max_attempts >= 1, "S3: max_attempts must be at least 1");
    const std::string& ep = cfg_.endpoint;
    if (ep.empty()) {
        scheme_ = "https";
        authority_ = "s3." + cfg_.region + ".amazonaws.com";
    } else {
        const auto sep = ep.find("://");
        TC_CHECK(sep != std::string::npos, "S3 endpoint '", ep, "' has no scheme (http:// or https://)");
        scheme_ = lower(ep.substr(0, sep));
        TC_CHECK(scheme_ == "http" || scheme_ == "https", "S3 endpoint '", ep, "' is not http:// or https://");
        const std::string rest = ep.substr(sep + 3);
        const auto slash = rest.find('/');
        authority_ = rest.substr(0, slash);
        if (slash != std::string::npos) base_path_ = rest.substr(slash);
        while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
        // No user:password@ (credentials belong in the env) and nothing after the path.
        TC_CHECK(!authority_.empty() && authority_.find_first_of("@?# ") == std::string::npos &&
                     base_path_.find_first_of("?# ") == std::string::npos,
                 "S3 endpoint '", ep, "' is not scheme://host[:port][/path]");
    }
}

S3Client::Target S3Client::target(const std::string& key) const {
    Target t;
    const std::string path = sigv4::uri_encode(key, false);
    if (cfg_.path_style) {
        t.host = authority_;
        t.canonical_uri = base_path_ + "/" + sigv4::uri_encode(cfg_.bucket) + (key.empty() ? "" : "/" + path);
    } else {
        t.host = cfg_.bucket + "." + authority_;
        t.canonical_uri = base_path_ + "/" + path;
    }
    t.url_base = scheme_ + "://" + t.host;
    return t;
}

S3Response S3Client::request(const std::string& op, const std::string& method, const std::string& key,
                             const sigv4::Params& query, const sigv4::Params& headers, const S3Body& body,
                             const std::string& payload_hash) const {
    const Target t = target(key);
    const std::string qs = sigv4::canonical_query(query);
    const std::string url = t.url_base + t.canonical_uri + (qs.empty() ? "" : "?" + qs);
    for (int attempt = 1;; ++attempt) {
        // Signed afresh on every try: the date is part of the signature.
        sigv4::Request sr{method, t.canonical_uri, query, headers, payload_hash};
        sr.headers.emplace_back("host", t.host);
        const std::string auth = sigv4::sign_headers(sr, cfg_.credentials, cfg_.region, "s3", std::time(nullptr));
        std::vector<std::string> lines;
        for (const auto& [n, v] : sr.headers) lines.push_back(n + ": " + v);
        lines.push_back("Authorization: " + auth);
        lines.push_back("Expect:");  // no 100-continue round trip
        const CurlSlist hdrs = header_list(lines);

        S3Response res;
        ReadState rs;
        rs.body = &body;
        File file;
        if (!body.file.empty()) {
            file = open_at(body.file, body.offset);
            rs.f = file.get();
            rs.left = body.length;
        }
        CurlEasy c(curl_easy_init());
        TC_CHECK(c, "curl_easy_init failed");
        CURL* h = c.get();
        char errbuf[CURL_ERROR_SIZE] = {0};
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs.get());
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, cfg_.connect_timeout_s);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, cfg_.request_timeout_s);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);  // a stalled transfer fails after 60 s
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &res.body);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &res.headers);
        if (method == "HEAD") {
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (method == "PUT" || method == "POST") {
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
            curl_easy_setopt(h, CURLOPT_READDATA, &rs);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(body.size()));
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
        } else if (method != "GET") {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
        }
        const CURLcode rc = curl_easy_perform(h);
        std::string code, message;
        if (rc != CURLE_OK) {
            code = "NetworkError";
            message = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        } else {
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res.status);
            if (res.status >= 200 && res.status < 300) return res;
            code = xml_text(res.body, "Code");
            message = xml_text(res.body, "Message");
            if (code.empty())  // HEAD answers have no body
                code = res.status == 404   ? "NotFound"
                       : res.status == 403 ? "AccessDenied"
                                           : "HTTP" + std::to_string(res.status);
        }
        if (attempt < cfg_.max_attempts && transient(res.status, code)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(250 << (attempt - 1)));
            continue;
        }
        // The URL is not in the message: a presigned or signed URL must not end up in logs.
        std::string what = "S3 " + op + " " + describe(key) + " failed: ";
        if (res.status) what += "HTTP " + std::to_string(res.status) + " ";
        what += code;
        if (!message.empty()) what += ": " + message;
        if (rc != CURLE_OK) what += " (endpoint " + scheme_ + "://" + t.host + ")";
        throw S3Error(res.status, code, what);
    }
}

// ---- operations -------------------------------------------------------------------------------------------

void S3Client::put_object(const std::string& key, std::string_view data, const std::string& content_type) {
    S3Body b;
    b.mem = data;
    request("PutObject", "PUT", key, {}, (sigv4::Params{{"content-type", content_type}}), b,
               sigv4::sha256_hex(data));
}

int S3Client::put_file(const std::string& key, const std::string& path, const std::string& content_type) {
    std::error_code ec;
    const auto size = int64_t(std::filesystem::file_size(path, ec));
    TC_CHECK(!ec, "cannot read ", path, ": ", ec.message());
    if (size > cfg_.multipart_threshold) return put_multipart(key, path, size, content_type);
    S3Body b;
    b.file = path;
    b.length = size;
    request("PutObject", "PUT", key, {}, (sigv4::Params{{"content-type", content_type}}), b,
               file_sha256(path, 0, size));
    return 0;
}

int S3Client::put_multipart(const std::string& key, const std::string& path, int64_t size,
                            const std::string& content_type) {
    // S3 allows 10000 parts: a huge file gets larger parts.
    const int64_t part = std::max(cfg_.part_size, (size + 9999) / 10000);
    const std::string empty_sha = sigv4::sha256_hex("");
    const S3Response created = request("CreateMultipartUpload", "POST", key, (sigv4::Params{{"uploads", ""}}),
                                        (sigv4::Params{{"content-type", content_type}}), S3Body{}, empty_sha);
    const std::string upload_id = xml_text(created.body, "UploadId");
    if (upload_id.empty())
        throw S3Error(created.status, "InvalidResponse",
                      "S3 CreateMultipartUpload " + describe(key) + " failed: no UploadId in the answer");
    int parts = 0;
    try {
        std::string xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
        for (int64_t off = 0; off < size; off += part) {
            ++parts;
            S3Body b;
            b.file = path;
            b.offset = off;
            b.length = std::min(part, size - off);
            const S3Response r = request(
                "UploadPart", "PUT", key,
                (sigv4::Params{{"partNumber", std::to_string(parts)}, {"uploadId", upload_id}}), {}, b,
                file_sha256(path, off, b.length));
            const auto etag = r.headers.find("etag");
            if (etag == r.headers.end() || etag->second.empty())
                throw S3Error(r.status, "InvalidResponse",
                              "S3 UploadPart " + describe(key) + " failed: no ETag for part " + std::to_string(parts));
            xml += "<Part><PartNumber>" + std::to_string(parts) + "</PartNumber><ETag>" + xml_escape(etag->second) +
                   "</ETag></Part>";
        }
        xml += "</CompleteMultipartUpload>";
        S3Body b;
        b.mem = xml;
        const S3Response done = request("CompleteMultipartUpload", "POST", key,
                                         (sigv4::Params{{"uploadId", upload_id}}),
                                         (sigv4::Params{{"content-type", "application/xml"}}), b, sigv4::sha256_hex(xml));
        // S3 may answer 200 and still fail the completion (the error is then in the body).
        if (done.body.find("<Error>") != std::string::npos)
            throw S3Error(done.status, xml_text(done.body, "Code"),
                          "S3 CompleteMultipartUpload " + describe(key) + " failed: " + xml_text(done.body, "Code") +
                              ": " + xml_text(done.body, "Message"));
    } catch (const std::exception&) {
        // The parts already stored cost money until the upload is aborted.
        try {
            request("AbortMultipartUpload", "DELETE", key, (sigv4::Params{{"uploadId", upload_id}}), {}, S3Body{},
                       empty_sha);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "warning: %s\n", e.what());
        }
        throw;
    }
    return parts;
}

std::string S3Client::get_object(const std::string& key) const {
    return request("GetObject", "GET", key, {}, {}, S3Body{}, sigv4::sha256_hex("")).body;
}

std::optional<S3ObjectInfo> S3Client::head_object(const std::string& key) const {
    try {
        const S3Response r = request("HeadObject", "HEAD", key, {}, {}, S3Body{}, sigv4::sha256_hex(""));
        S3ObjectInfo info;
        if (auto it = r.headers.find("content-length"); it != r.headers.end()) info.size = std::stoll(it->second);
        if (auto it = r.headers.find("etag"); it != r.headers.end()) info.etag = it->second;
        return info;
    } catch (const S3Error& e) {
        if (e.http_status == 404) return std::nullopt;
        throw;
    }
}

void S3Client::delete_object(const std::string& key) const {
    request("DeleteObject", "DELETE", key, {}, {}, S3Body{}, sigv4::sha256_hex(""));
}

void S3Client::head_bucket() const {
    request("HeadBucket", "HEAD", std::string(), {}, {}, S3Body{}, sigv4::sha256_hex(""));
}

std::string S3Client::presigned_get_url(const std::string& key, long expires_s) const {
    const Target t = target(key);
    const long e = std::clamp(expires_s, 1L, 604800L);
    return t.url_base + t.canonical_uri + "?" +
           sigv4::presign_query("GET", t.canonical_uri, t.host, {}, cfg_.credentials, cfg_.region, "s3",
                                std::time(nullptr), e);
}

}  // namespace tc::server
