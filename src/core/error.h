// Error handling for the whole engine: library code throws tc::Error through TC_CHECK and never aborts.
// Exceptions are caught only at the edges (CLI main, HTTP handlers, workers).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace tc {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

namespace detail {
// Builds the message only on failure: TC_CHECK(cond, "a", x, "b") streams every argument.
template <typename... Args>
[[noreturn]] void fail(const char* file, int line, const char* cond, const Args&... args) {
    std::ostringstream os;
    ((os << args), ...);
    if (sizeof...(Args) == 0) os << "check failed: " << cond;
    (void)file;
    (void)line;
    throw Error(os.str());
}
}  // namespace detail

}  // namespace tc

// TC_CHECK(cond, message parts...): throws tc::Error with the concatenated message when cond is false.
#define TC_CHECK(cond, ...)                                                             \
    do {                                                                                \
        if (!(cond)) ::tc::detail::fail(__FILE__, __LINE__, #cond __VA_OPT__(, ) __VA_ARGS__); \
    } while (0)

// TC_FAIL(message parts...): unconditional throw.
#define TC_FAIL(...) ::tc::detail::fail(__FILE__, __LINE__, "failure" __VA_OPT__(, ) __VA_ARGS__)
