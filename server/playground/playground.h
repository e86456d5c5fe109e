// The web playground served at GET / (DESIGN.md sections 1 and 3): one static HTML page, compiled into the binary
// at build time (cmake/embed_file.cmake turns server/playground/index.html into a byte array), so the server
// needs no files installed beside it. The page is public; the API calls it makes carry the user's key.
#pragma once

#include <string>
#include <string_view>

namespace tc::server {

// The page's bytes (UTF-8 HTML).
std::string_view playground_html();

// The Content-Security-Policy the page is served with: nothing may load from elsewhere, and the page's inline
// <script> and <style> blocks run only because their SHA-256 hashes are listed (so injected markup could run
// nothing). Computed once from the embedded page.
const std::string& playground_csp();

}  // namespace tc::server
