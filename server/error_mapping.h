// The ONE place that turns an exception into an HTTP error response (DESIGN.md section 3, "Errors"):
//   HttpError              -> its status (+ Retry-After for 429/503), its message
//   nlohmann parse errors  -> 400 "invalid JSON body: ..."
//   tc::Cancelled          -> 422 "cancelled"
//   anything else          -> 500 "internal server error" (the real message goes to the log, not the client;
//                             e.g. an engine that throws something other than its tc::Error validation errors)
// The body is always JSON {"error": "..."} (valid UTF-8 even when the message quoted invalid input).
#pragma once

#include <exception>
#include <string>

namespace httplib {
struct Response;
}

namespace tc::server {

struct ErrorResponse {
    int status = 500;
    std::string message;
    double retry_after_s = 0;
};

ErrorResponse map_exception(std::exception_ptr e);
// map_exception, then writes status, headers and {"error": message} into `res`.
void write_error(httplib::Response& res, std::exception_ptr e);
void write_error(httplib::Response& res, int status, const std::string& message);

}  // namespace tc::server
