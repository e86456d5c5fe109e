// Outbound network policy for URLs that users send us (image_N URLs, webhook URLs): which addresses a
// request may reach (DESIGN.md section 6, "Image fetching"), CIDR allowlists, and one pinned HTTP request
// primitive that enforces the policy on every hop. Server-side request forgery is the threat: a user URL
// must never reach loopback, the private network, link-local / cloud metadata addresses, or any of those
// smuggled inside an IPv6 transition address (IPv4-mapped, NAT64, 6to4).
#pragma once

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tc::server {

// An IPv4 or IPv6 network, "10.0.0.0/8", "fd00::/8", or a bare address (a /32 or /128).
struct Cidr {
    int family = 0;                      // AF_INET or AF_INET6
    std::array<uint8_t, 16> bytes{};     // network address, first 4 bytes used for IPv4
    int prefix = 0;                      // 0..32 or 0..128

    // Throws tc::Error on anything malformed (bad address, prefix out of range, host bits set are allowed
    // and masked off).
    static Cidr parse(const std::string& text);
    // An IPv4 network also contains the IPv4-mapped IPv6 form (::ffff:a.b.c.d) of its addresses.
    bool contains(const sockaddr_storage& addr) const;
    std::string to_string() const;
};

struct FetchPolicy {
    std::vector<Cidr> allow_private;     // exceptions to is_forbidden_address (tests: 127.0.0.1/32)
    size_t max_bytes = 30u << 20;
    int max_redirects = 3;
    long connect_timeout_ms = 5000;
    long total_timeout_ms = 30000;       // for the whole request, all redirects together
};

// True for addresses a user URL must never reach: loopback, private (10/8, 172.16/12, 192.168/16),
// link-local (169.254/16, fe80::/10), CGNAT 100.64/10, multicast, unspecified, broadcast, 0/8, reserved and
// documentation ranges, ULA fc00::/7, site-local fec0::/10, any IPv6 outside global unicast 2000::/3, Teredo,
// and IPv4-mapped / IPv4-compatible / NAT64 (64:ff9b::/96) / 6to4 (2002::/16) addresses embedding a forbidden
// IPv4 address; the metadata addresses 169.254.169.254 and fd00:ec2::254 are covered by the ranges above.
bool is_forbidden_address(const sockaddr_storage& addr);

// !is_forbidden_address(addr) or addr lies in one of policy.allow_private.
bool is_allowed_address(const sockaddr_storage& addr, const FetchPolicy& policy);

// "93.184.216.34" / "2606:4700::1".
std::string address_to_string(const sockaddr_storage& addr);
// Parses a numeric address; false if it is not one.
bool parse_address(const std::string& text, sockaddr_storage& out);

// One HTTP request whose every connection goes only to policy-checked addresses: the host is resolved once,
// every address must be allowed (one forbidden address rejects the URL), curl is pinned to the checked
// addresses (CURLOPT_RESOLVE) and re-checks the socket address it connects to; http/https only, no proxy,
// redirects followed by hand up to policy.max_redirects with the same checks, body capped at
// policy.max_bytes while streaming, timeouts from the policy. Throws PolicyError for a policy violation or a
// transport failure (the message is safe to show to the user); a non-2xx final status is returned, not thrown.
struct PolicyError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// The URL itself is unacceptable (bad scheme, unparsable, forbidden address): retrying cannot help.
struct ForbiddenTarget : PolicyError {
    using PolicyError::PolicyError;
};
// The body exceeded policy.max_bytes (announced by Content-Length or counted while streaming).
struct ResponseTooLarge : PolicyError {
    using PolicyError::PolicyError;
};

struct HttpRequest {
    std::string method = "GET";          // GET or POST
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;                    // POST body
    const std::atomic<bool>* cancel = nullptr;  // set -> abort the transfer promptly
};

struct HttpResponse {
    long status = 0;
    std::string content_type;
    std::vector<uint8_t> body;
    std::string final_url;
    int redirects = 0;
};

HttpResponse pinned_http_request(const HttpRequest& request, const FetchPolicy& policy);

}  // namespace tc::server
