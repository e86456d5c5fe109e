// image_N values to bytes: URL (fetched through pinned_http_request), data: URI, or bare base64.
#include "server/image_input.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "server/http_error.h"

namespace tc::server {

namespace {

// -1 for a byte outside the standard base64 alphabet.
constexpr std::array<int8_t, 256> make_decode_table() {
    std::array<int8_t, 256> t{};
    for (auto& v : t) v = -1;
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    return t;
}
constexpr std::array<int8_t, 256> kDecode = make_decode_table();
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
            return false;
    return true;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

std::vector<uint8_t> decode_or_throw(std::string_view b64, const std::string& field, const FetchPolicy& policy) {
    bool too_large = false;
    auto bytes = base64_decode_strict(b64, policy.max_bytes, &too_large);
    if (too_large)
        throw_http(413, field + ": image larger than " + std::to_string(policy.max_bytes) + " bytes");
    if (!bytes) bad_request(field + ": invalid base64 (standard alphabet with '=' padding, no whitespace)");
    if (bytes->empty()) bad_request(field + ": empty image");
    return std::move(*bytes);
}

// data:[<mediatype>][;param=value]*;base64,<data>
std::vector<uint8_t> load_data_uri(std::string_view value, const std::string& field, const FetchPolicy& policy) {
    const size_t comma = value.find(',');
    if (comma == std::string_view::npos) bad_request(field + ": malformed data URI (no ',')");
    const std::string header = lower(value.substr(5, comma - 5));  // after "data:"
    const size_t semi = header.find(';');
    const std::string media = header.substr(0, semi);
    if (media.rfind("image/", 0) != 0 || media.size() == 6)
        bad_request(field + ": data URI media type must be image/*, got '" + media.substr(0, 64) + "'");
    if (header.size() < 7 || header.compare(header.size() - 7, 7, ";base64") != 0)
        bad_request(field + ": data URI must be base64-encoded (';base64,')");
    return decode_or_throw(value.substr(comma + 1), field, policy);
}

std::vector<uint8_t> load_url(const std::string& url, const std::string& field, const FetchPolicy& policy) {
    HttpResponse resp;
    try {
        HttpRequest req;
        req.url = url;
        req.headers.emplace_back("Accept", "image/*");
        resp = pinned_http_request(req, policy);
    } catch (const ResponseTooLarge&) {
        throw_http(413, field + ": image larger than " + std::to_string(policy.max_bytes) + " bytes");
    } catch (const PolicyError& e) {
        bad_request(field + ": cannot fetch URL: " + std::string(e.what()));
    }
    if (resp.status < 200 || resp.status >= 300)
        bad_request(field + ": fetching the URL returned HTTP " + std::to_string(resp.status));
    if (resp.body.empty()) bad_request(field + ": the URL returned an empty body");
    return std::move(resp.body);
}

}  // namespace

std::optional<std::vector<uint8_t>> base64_decode_strict(std::string_view text, size_t max_bytes, bool* too_large) {
    if (too_large) *too_large = false;
    if (text.size() % 4 != 0) return std::nullopt;
    size_t pad = 0;
    if (!text.empty() && text.back() == '=') pad = (text.size() >= 2 && text[text.size() - 2] == '=') ? 2 : 1;
    const size_t decoded = text.size() / 4 * 3 - pad;
    if (decoded > max_bytes) {
        if (too_large) *too_large = true;
        return std::nullopt;
    }
    std::vector<uint8_t> out;
    out.reserve(decoded);
    const size_t body = text.size() - pad;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < body; ++i) {
        const int v = kDecode[static_cast<unsigned char>(text[i])];
        if (v < 0) return std::nullopt;  // includes '=' in the middle and whitespace
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<uint8_t>((acc >> bits) & 0xFF));
        }
    }
    // Canonical form: the bits left over before the padding must be zero.
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
    if (out.size() != decoded) return std::nullopt;
    return out;
}

std::string base64_encode(const uint8_t* data, size_t size) {
    std::string out;
    out.reserve((size + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= size; i += 3) {
        const uint32_t v = uint32_t(data[i]) << 16 | uint32_t(data[i + 1]) << 8 | data[i + 2];
        out += kAlphabet[v >> 18 & 63];
        out += kAlphabet[v >> 12 & 63];
        out += kAlphabet[v >> 6 & 63];
        out += kAlphabet[v & 63];
    }
    if (size - i == 1) {
        const uint32_t v = uint32_t(data[i]) << 16;
        out += kAlphabet[v >> 18 & 63];
        out += kAlphabet[v >> 12 & 63];
        out += "==";
    } else if (size - i == 2) {
        const uint32_t v = uint32_t(data[i]) << 16 | uint32_t(data[i + 1]) << 8;
        out += kAlphabet[v >> 18 & 63];
        out += kAlphabet[v >> 12 & 63];
        out += kAlphabet[v >> 6 & 63];
        out += '=';
    }
    return out;
}

std::vector<uint8_t> load_image_bytes(const std::string& value_in, const std::string& field, const FetchPolicy& policy) {
    const std::string_view value = trim(value_in);
    if (value.empty()) bad_request(field + ": empty value (expected an http(s) URL, a data: URI or base64)");
    if (starts_with_nocase(value, "http://") || starts_with_nocase(value, "https://"))
        return load_url(std::string(value), field, policy);
    if (starts_with_nocase(value, "data:")) return load_data_uri(value, field, policy);
    // Base64 never contains ':'; anything with one is a URL of a scheme we do not fetch (file:, ftp:, gopher:).
    const size_t colon = value.find(':');
    if (colon != std::string_view::npos)
        bad_request(field + ": unsupported URL scheme '" + lower(value.substr(0, std::min<size_t>(colon, 16))) +
                    "' (use http, https, a data: URI or base64)");
    return decode_or_throw(value, field, policy);
}

}  // namespace tc::server
