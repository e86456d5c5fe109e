// Errors that carry an HTTP status. Library code below the server throws tc::Error; the server's own
// modules throw HttpError where the status is known (400 for a bad field, 404 for an unknown id, ...).
// One place (server/error_mapping) turns any exception into the JSON error response.
#pragma once

#include <string>

#include "core/error.h"

namespace tc::server {

struct HttpError : Error {
    int status;
    double retry_after_s = 0;  // 429 and 503: the Retry-After header
    HttpError(int status_, const std::string& message) : Error(message), status(status_) {}
};

[[noreturn]] void throw_http(int status, const std::string& message);
[[noreturn]] inline void bad_request(const std::string& m) { throw_http(400, m); }
[[noreturn]] inline void unauthorized(const std::string& m) { throw_http(401, m); }
[[noreturn]] inline void forbidden(const std::string& m) { throw_http(403, m); }
[[noreturn]] inline void not_found(const std::string& m) { throw_http(404, m); }
[[noreturn]] inline void insufficient_credits(const std::string& m) { throw_http(406, m); }
[[noreturn]] inline void conflict(const std::string& m) { throw_http(409, m); }
[[noreturn]] inline void too_large(const std::string& m) { throw_http(413, m); }
[[noreturn]] inline void unprocessable(const std::string& m) { throw_http(422, m); }
[[noreturn]] void rate_limited(const std::string& m, double retry_after_s);
[[noreturn]] inline void not_ready(const std::string& m) { throw_http(503, m); }

}  // namespace tc::server
