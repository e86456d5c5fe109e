// Exception -> response (see error_mapping.h).
#include "server/error_mapping.h"

#include <httplib.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "pipeline/ddim.h"
#include "server/http_error.h"

namespace tc::server {

ErrorResponse map_exception(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const HttpError& h) {
        // 503 (loading, stopping) is an expected state, not an incident worth a log line per request.
        if (h.status >= 500 && h.status != 503) std::fprintf(stderr, "server error %d: %s\n", h.status, h.what());
        return {h.status, h.what(), h.retry_after_s};
    } catch (const nlohmann::json::parse_error& p) {
        return {400, std::string("invalid JSON body: ") + p.what(), 0};
    } catch (const Cancelled&) {
        return {422, "cancelled", 0};
    } catch (const std::exception& x) {
        std::fprintf(stderr, "internal error: %s\n", x.what());
        return {500, "internal server error", 0};
    } catch (...) {
        std::fprintf(stderr, "internal error: unknown exception\n");
        return {500, "internal server error", 0};
    }
}

void write_error(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    // Messages can quote request input (a key, a cut multi-byte character): invalid UTF-8 is replaced, since
    // a throw here would leave the client without an answer.
    res.set_content(nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                    "application/json");
}

void write_error(httplib::Response& res, std::exception_ptr e) {
    const ErrorResponse r = map_exception(e);
    if (r.retry_after_s > 0) res.set_header("Retry-After", std::to_string(int64_t(std::ceil(r.retry_after_s))));
    write_error(res, r.status, r.message);
}

}  // namespace tc::server
