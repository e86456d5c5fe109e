// Outbound network policy: CIDR matching, forbidden-address classification, and the pinned libcurl request
// every user-supplied URL goes through. See net_policy.h for the rules; address ranges follow the IANA IPv4 and
// IPv6 Special-Purpose Address Registries (RFC 6890 and its updates).
#include "server/net_policy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <memory>

#include <curl/curl.h>

#include "core/error.h"

namespace tc::server {

namespace {

// ---- address bytes --------------------------------------------------------------------------------------

// The address as bytes: 4 for IPv4, 16 for IPv6; family 0 for anything else.
struct RawAddr {
    int family = 0;
    std::array<uint8_t, 16> b{};
};

RawAddr raw_of(const sockaddr_storage& ss) {
    RawAddr r;
    if (ss.ss_family == AF_INET) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
        r.family = AF_INET;
        std::memcpy(r.b.data(), &sin->sin_addr, 4);
    } else if (ss.ss_family == AF_INET6) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
        r.family = AF_INET6;
        std::memcpy(r.b.data(), &sin6->sin6_addr, 16);
    }
    return r;
}

bool prefix_equal(const uint8_t* a, const uint8_t* b, int bits) {
    const int full = bits / 8;
    if (std::memcmp(a, b, static_cast<size_t>(full)) != 0) return false;
    const int rest = bits % 8;
    if (rest == 0) return true;
    const uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

// True when the 16 bytes are ::ffff:a.b.c.d (IPv4-mapped).
bool is_v4_mapped(const uint8_t* b) {
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    return std::memcmp(b, kMapped, 12) == 0;
}

bool in_v4(uint32_t a, uint32_t net, int bits) {
    const uint32_t mask = bits == 0 ? 0u : ~0u << (32 - bits);
    return (a & mask) == (net & mask);
}

constexpr uint32_t v4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return a << 24 | b << 16 | c << 8 | d; }

bool v4_forbidden(const uint8_t* p) {
    const uint32_t a = uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
    struct Range { uint32_t net; int bits; };
    static const Range kForbidden[] = {
        {v4(0, 0, 0, 0), 8},          // "this network", includes 0.0.0.0 unspecified
        {v4(10, 0, 0, 0), 8},         // private
        {v4(100, 64, 0, 0), 10},      // CGNAT shared address space
        {v4(127, 0, 0, 0), 8},        // loopback
        {v4(169, 254, 0, 0), 16},     // link-local, includes the cloud metadata address 169.254.169.254
        {v4(172, 16, 0, 0), 12},      // private
        {v4(192, 0, 0, 0), 24},       // IETF protocol assignments
        {v4(192, 0, 2, 0), 24},       // TEST-NET-1
        {v4(192, 88, 99, 0), 24},     // 6to4 relay anycast (deprecated)
        {v4(192, 168, 0, 0), 16},     // private
        {v4(198, 18, 0, 0), 15},      // benchmarking
        {v4(198, 51, 100, 0), 24},    // TEST-NET-2
        {v4(203, 0, 113, 0), 24},     // TEST-NET-3
        {v4(224, 0, 0, 0), 4},        // multicast
        {v4(240, 0, 0, 0), 4},        // reserved, includes broadcast 255.255.255.255
    };
    for (const Range& r : kForbidden)
        if (in_v4(a, r.net, r.bits)) return true;
    return false;
}

bool v6_forbidden(const uint8_t* b) {
    // Transition forms that embed an IPv4 address: judge the embedded address.
    if (is_v4_mapped(b)) return v4_forbidden(b + 12);                          // ::ffff:0:0/96
    static const uint8_t kNat64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (std::memcmp(b, kNat64, 12) == 0) return v4_forbidden(b + 12);          // 64:ff9b::/96
    if (b[0] == 0x20 && b[1] == 0x02) return v4_forbidden(b + 2);              // 6to4 2002::/16

    // Everything outside global unicast 2000::/3 is not reachable on the public internet: ::, ::1,
    // IPv4-compatible ::/96, 64:ff9b:1::/48 local NAT64, 100::/64 discard, fc00::/7 ULA (includes the
    // metadata address fd00:ec2::254), fe80::/10 link-local, fec0::/10 site-local, ff00::/8 multicast.
    if ((b[0] & 0xE0) != 0x20) return true;

    // Special-purpose blocks inside 2000::/3.
    struct Range { uint8_t net[4]; int bits; };
    static const Range kForbidden[] = {
        {{0x20, 0x01, 0x00, 0x00}, 32},  // Teredo: the embedded client address is obfuscated; never a host
        {{0x20, 0x01, 0x00, 0x02}, 48},  // benchmarking 2001:2::/48 (prefix check below uses 32 bits + zero)
        {{0x20, 0x01, 0x00, 0x10}, 28},  // ORCHID (deprecated)
        {{0x20, 0x01, 0x00, 0x20}, 28},  // ORCHIDv2
        {{0x20, 0x01, 0x0d, 0xb8}, 32},  // documentation
        {{0x3f, 0xff, 0x00, 0x00}, 20},  // documentation (RFC 9637)
    };
    for (const Range& r : kForbidden) {
        if (r.bits <= 32) {
            if (prefix_equal(b, r.net, r.bits)) return true;
        } else {
            static const uint8_t kZero[2] = {0, 0};
            if (prefix_equal(b, r.net, 32) && prefix_equal(b + 4, kZero, r.bits - 32)) return true;
        }
    }
    return false;
}

}  // namespace

// ---- Cidr -----------------------------------------------------------------------------------------------

Cidr Cidr::parse(const std::string& text) {
    const size_t slash = text.find('/');
    const std::string addr = text.substr(0, slash);
    Cidr c;
    if (inet_pton(AF_INET, addr.c_str(), c.bytes.data()) == 1) {
        c.family = AF_INET;
        c.prefix = 32;
    } else if (inet_pton(AF_INET6, addr.c_str(), c.bytes.data()) == 1) {
        c.family = AF_INET6;
        c.prefix = 128;
    } else {
        TC_FAIL("invalid CIDR '", text, "': not an IPv4 or IPv6 address");
    }
    if (slash != std::string::npos) {
        const std::string p = text.substr(slash + 1);
        TC_CHECK(!p.empty() && p.size() <= 3 && std::all_of(p.begin(), p.end(), [](char ch) { return ch >= '0' && ch <= '9'; }),
                 "invalid CIDR '", text, "': bad prefix length");
        const int bits = std::stoi(p);
        TC_CHECK(bits <= c.prefix, "invalid CIDR '", text, "': prefix length above ", c.prefix);
        c.prefix = bits;
    }
    // Mask off host bits so that to_string() and comparisons see the network address.
    const int nbytes = c.family == AF_INET ? 4 : 16;
    for (int i = 0; i < nbytes; ++i) {
        const int keep = std::clamp(c.prefix - 8 * i, 0, 8);
        c.bytes[static_cast<size_t>(i)] &= static_cast<uint8_t>(keep == 0 ? 0 : 0xFF << (8 - keep));
    }
    return c;
}

bool Cidr::contains(const sockaddr_storage& addr) const {
    const RawAddr r = raw_of(addr);
    if (r.family == AF_INET && family == AF_INET) return prefix_equal(r.b.data(), bytes.data(), prefix);
    if (r.family == AF_INET6 && family == AF_INET6) return prefix_equal(r.b.data(), bytes.data(), prefix);
    if (r.family == AF_INET6 && family == AF_INET && is_v4_mapped(r.b.data()))
        return prefix_equal(r.b.data() + 12, bytes.data(), prefix);
    return false;
}

std::string Cidr::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(family, bytes.data(), buf, sizeof buf);
    return std::string(buf) + "/" + std::to_string(prefix);
}

// ---- classification -------------------------------------------------------------------------------------

bool is_forbidden_address(const sockaddr_storage& addr) {
    const RawAddr r = raw_of(addr);
    if (r.family == AF_INET) return v4_forbidden(r.b.data());
    if (r.family == AF_INET6) return v6_forbidden(r.b.data());
    return true;  // unix sockets and anything else
}

bool is_allowed_address(const sockaddr_storage& addr, const FetchPolicy& policy) {
    if (!is_forbidden_address(addr)) return true;
    return std::any_of(policy.allow_private.begin(), policy.allow_private.end(),
                       [&](const Cidr& c) { return c.contains(addr); });
}

std::string address_to_string(const sockaddr_storage& addr) {
    const RawAddr r = raw_of(addr);
    if (r.family == 0) return "(non-IP address)";
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(r.family, r.b.data(), buf, sizeof buf);
    return buf;
}

bool parse_address(const std::string& text, sockaddr_storage& out) {
    out = {};
    auto* sin = reinterpret_cast<sockaddr_in*>(&out);
    if (inet_pton(AF_INET, text.c_str(), &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        return true;
    }
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out);
    if (inet_pton(AF_INET6, text.c_str(), &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        return true;
    }
    out = {};
    return false;
}

// ---- pinned request --------------------------------------------------------------------------------------

namespace {

struct CurlEasyDeleter { void operator()(CURL* c) const { curl_easy_cleanup(c); } };
struct CurlUrlDeleter { void operator()(CURLU* u) const { curl_url_cleanup(u); } };
struct CurlSlistDeleter { void operator()(curl_slist* l) const { curl_slist_free_all(l); } };
struct CurlStrDeleter { void operator()(char* s) const { curl_free(s); } };
struct AddrinfoDeleter { void operator()(addrinfo* a) const { freeaddrinfo(a); } };
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlUrl = std::unique_ptr<CURLU, CurlUrlDeleter>;
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;
using CurlStr = std::unique_ptr<char, CurlStrDeleter>;
using Addrinfo = std::unique_ptr<addrinfo, AddrinfoDeleter>;

// curl_global_init is not thread-safe before 7.84; do it once, before any thread can race on it.
void ensure_curl_global() {
    static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) throw PolicyError("libcurl initialisation failed");
}

std::string url_part(CURLU* u, CURLUPart part, unsigned flags = 0) {
    char* out = nullptr;
    if (curl_url_get(u, part, &out, flags) != CURLUE_OK || out == nullptr) return {};
    CurlStr holder(out);
    return std::string(out);
}

std::string lower(std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

struct Target {
    std::string host;      // without IPv6 brackets
    std::string port;
    bool numeric = false;  // the URL names an IP address
    std::vector<sockaddr_storage> addrs;
};

// Parses the URL, resolves its host once and checks every address against the policy.
Target check_target(const std::string& url, const FetchPolicy& policy) {
    CurlUrl u(curl_url());
    if (!u) throw PolicyError("out of memory");
    if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) throw ForbiddenTarget("invalid URL");
    const std::string scheme = lower(url_part(u.get(), CURLUPART_SCHEME));
    if (scheme != "http" && scheme != "https")
        throw ForbiddenTarget("unsupported URL scheme '" + scheme + "' (only http and https)");
    if (!url_part(u.get(), CURLUPART_ZONEID).empty()) throw ForbiddenTarget("IPv6 zone ids are not allowed");
    Target t;
    t.host = url_part(u.get(), CURLUPART_HOST);
    t.port = url_part(u.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
    if (t.host.empty()) throw ForbiddenTarget("URL has no host");
    if (t.host.size() > 2 && t.host.front() == '[' && t.host.back() == ']') t.host = t.host.substr(1, t.host.size() - 2);

    sockaddr_storage literal{};
    if (parse_address(t.host, literal)) {
        t.numeric = true;
        t.addrs.push_back(literal);
    } else {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* res = nullptr;
        if (getaddrinfo(t.host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr)
            throw PolicyError("cannot resolve host '" + t.host + "'");
        Addrinfo holder(res);
        for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
            if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
            sockaddr_storage ss{};
            std::memcpy(&ss, ai->ai_addr, std::min<size_t>(ai->ai_addrlen, sizeof ss));
            const std::string s = address_to_string(ss);
            if (std::none_of(t.addrs.begin(), t.addrs.end(), [&](const sockaddr_storage& o) { return address_to_string(o) == s; }))
                t.addrs.push_back(ss);
        }
        if (t.addrs.empty()) throw PolicyError("host '" + t.host + "' has no IP address");
    }
    // The stricter rule: one forbidden address rejects the host (a DNS name mixing public and private
    // addresses is either misconfigured or an attack).
    for (const sockaddr_storage& a : t.addrs)
        if (!is_allowed_address(a, policy))
            throw ForbiddenTarget("host '" + t.host + "' resolves to a forbidden address (" + address_to_string(a) + ")");
    return t;
}

struct Transfer {
    const FetchPolicy* policy = nullptr;
    const std::atomic<bool>* cancel = nullptr;
    std::vector<uint8_t> body;
    bool too_large = false;
    bool blocked = false;  // the socket callback refused an address
};

size_t on_write(char* data, size_t size, size_t nmemb, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t n = size * nmemb;
    if (t->body.size() + n > t->policy->max_bytes) {
        t->too_large = true;
        return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    t->body.insert(t->body.end(), reinterpret_cast<const uint8_t*>(data), reinterpret_cast<const uint8_t*>(data) + n);
    return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    const auto* t = static_cast<Transfer*>(user);
    return t->cancel != nullptr && t->cancel->load() ? 1 : 0;
}

// Defence in depth: whatever address curl is about to connect to is checked again.
curl_socket_t on_open_socket(void* user, curlsocktype purpose, curl_sockaddr* address) {
    auto* t = static_cast<Transfer*>(user);
    if (purpose != CURLSOCKTYPE_IPCXN || address == nullptr) return CURL_SOCKET_BAD;
    sockaddr_storage ss{};
    std::memcpy(&ss, &address->addr, std::min<size_t>(address->addrlen, sizeof ss));
    if (!is_allowed_address(ss, *t->policy)) {
        t->blocked = true;
        return CURL_SOCKET_BAD;
    }
    return ::socket(address->family, address->socktype, address->protocol);
}

std::string resolve_entry(const Target& t) {
    std::string e = t.host + ":" + t.port + ":";
    for (size_t i = 0; i < t.addrs.size(); ++i) {
        const std::string a = address_to_string(t.addrs[i]);
        if (i) e += ",";
        e += t.addrs[i].ss_family == AF_INET6 ? "[" + a + "]" : a;
    }
    return e;
}

}  // namespace

HttpResponse pinned_http_request(const HttpRequest& request, const FetchPolicy& policy) {
    ensure_curl_global();
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::milliseconds(policy.total_timeout_ms);
    std::string url = request.url;
    std::string method = request.method;
    for (int hop = 0;; ++hop) {
        const Target target = check_target(url, policy);
        const long remaining_ms = static_cast<long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
        if (remaining_ms <= 0) throw PolicyError("request timed out");

        CurlEasy curl(curl_easy_init());
        if (!curl) throw PolicyError("out of memory");
        CURL* c = curl.get();
        Transfer xfer;
        xfer.policy = &policy;
        xfer.cancel = request.cancel;

        CurlSlist resolve;
        if (!target.numeric) {
            resolve.reset(curl_slist_append(nullptr, resolve_entry(target).c_str()));
            curl_easy_setopt(c, CURLOPT_RESOLVE, resolve.get());
        }
        CurlSlist headers;
        for (const auto& [k, v] : request.headers) {
            curl_slist* next = curl_slist_append(headers.get(), (k + ": " + v).c_str());
            if (next == nullptr) throw PolicyError("out of memory");
            (void)headers.release();
            headers.reset(next);
        }
        curl_easy_setopt(c, CURLOPT_URL, url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
        curl_easy_setopt(c, CURLOPT_PROTOCOLS, long(CURLPROTO_HTTP | CURLPROTO_HTTPS));
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, long(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_PROXY, "");   // never through a proxy from the environment
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::min(policy.connect_timeout_ms, remaining_ms));
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, remaining_ms);
        curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(policy.max_bytes));
        curl_easy_setopt(c, CURLOPT_USERAGENT, "tooncrafter-server");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &xfer);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
        curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &xfer);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &xfer);
        if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
        if (method == "POST") {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.c_str());
        } else if (method != "GET") {
            throw PolicyError("unsupported method " + method);
        }

        const CURLcode rc = curl_easy_perform(c);
        if (rc != CURLE_OK) {
            if (xfer.too_large || rc == CURLE_FILESIZE_EXCEEDED)
                throw ResponseTooLarge("response larger than " + std::to_string(policy.max_bytes) + " bytes");
            if (xfer.blocked) throw ForbiddenTarget("connection to a forbidden address refused");
            if (rc == CURLE_OPERATION_TIMEDOUT) throw PolicyError("request timed out");
            if (rc == CURLE_ABORTED_BY_CALLBACK) throw PolicyError("request cancelled");
            throw PolicyError(std::string("request failed: ") + curl_easy_strerror(rc));
        }
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 300 && status < 400) {
            char* location = nullptr;
            curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location);
            if (location != nullptr && *location != '\0') {
                if (hop >= policy.max_redirects)
                    throw PolicyError("too many redirects (more than " + std::to_string(policy.max_redirects) + ")");
                url = location;  // absolute, resolved by curl against the current URL
                if (status == 303) method = "GET";
                continue;
            }
        }
        HttpResponse resp;
        resp.status = status;
        char* ct = nullptr;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        if (ct != nullptr) resp.content_type = ct;
        resp.body = std::move(xfer.body);
        resp.final_url = url;
        resp.redirects = hop;
        return resp;
    }
}

}  // namespace tc::server
