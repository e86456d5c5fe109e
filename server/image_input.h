// The image_N request fields as bytes: an http(s) URL fetched under the network policy (net_policy.h), a
// data: URI (data:image/png;base64,...), or bare base64 (DESIGN.md sections 3 and 6). Decoding the image is
// the caller's job; this file only gets the bytes safely and boundedly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/net_policy.h"

namespace tc::server {

// Returns the raw bytes named by `value`. Errors are HttpError naming `field` ("image_3: ..."): 400 for a bad
// value, a forbidden or unreachable URL, a non-2xx answer; 413 when the bytes exceed policy.max_bytes (checked
// from the encoded length before decoding base64, and while streaming a download).
std::vector<uint8_t> load_image_bytes(const std::string& value, const std::string& field, const FetchPolicy& policy);

// Strict RFC 4648 base64 (standard alphabet, '=' padding required, canonical trailing bits, no whitespace).
// nullopt on any violation. The decoded size is computed from the length first; if it exceeds max_bytes,
// *too_large is set (when given) and nothing is decoded.
std::optional<std::vector<uint8_t>> base64_decode_strict(std::string_view text, size_t max_bytes,
                                                         bool* too_large = nullptr);
std::string base64_encode(const uint8_t* data, size_t size);
inline std::string base64_encode(std::string_view s) {
    return base64_encode(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace tc::server
