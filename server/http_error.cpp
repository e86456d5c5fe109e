// HttpError constructors out of line, so every throw site stays one call.
#include "server/http_error.h"

namespace tc::server {

void throw_http(int status, const std::string& message) { throw HttpError(status, message); }

void rate_limited(const std::string& m, double retry_after_s) {
    HttpError e(429, m);
    e.retry_after_s = retry_after_s;
    throw e;
}

}  // namespace tc::server
