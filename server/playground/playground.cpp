// The embedded playground page and its Content-Security-Policy (see playground.h). The bytes come from the
// build-generated playground_html.cpp; the CSP hashes are computed here from those same bytes, so editing
// index.html can never leave a stale hash behind.
#include "server/playground/playground.h"

#include <openssl/evp.h>

#include <cstddef>
#include <vector>

#include "core/error.h"
#include "server/image_input.h"

namespace tc::server {

// Defined in the generated source (cmake/embed_file.cmake).
extern const unsigned char kPlaygroundHtml[];
extern const std::size_t kPlaygroundHtml_size;

namespace {

// The text of every `<tag>...</tag>` block written with a bare opening tag (the page writes its blocks so),
// skipping HTML comments (the page's header comment names its blocks).
std::vector<std::string_view> inline_blocks(std::string_view html, std::string_view tag) {
    const std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
    std::vector<std::string_view> out;
    size_t pos = 0;
    for (;;) {
        const size_t comment = html.find("<!--", pos), start_tag = html.find(open, pos);
        if (start_tag == std::string_view::npos) break;
        if (comment < start_tag) {
            const size_t end = html.find("-->", comment + 4);
            TC_CHECK(end != std::string_view::npos, "playground: unterminated HTML comment");
            pos = end + 3;
            continue;
        }
        const size_t start = start_tag + open.size();
        const size_t end = html.find(close, start);
        TC_CHECK(end != std::string_view::npos, "playground: unterminated <", tag, "> block");
        out.push_back(html.substr(start, end - start));
        pos = end + close.size();
    }
    return out;
}

// CSP source expressions 'sha256-<base64>' for each block.
std::string hash_sources(std::string_view html, std::string_view tag) {
    std::string out;
    for (std::string_view block : inline_blocks(html, tag)) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        TC_CHECK(EVP_Digest(block.data(), block.size(), md, &len, EVP_sha256(), nullptr) == 1, "sha256 failed");
        out += " 'sha256-" + base64_encode(md, len) + "'";
    }
    return out.empty() ? " 'none'" : out;
}

}  // namespace

std::string_view playground_html() {
    return {reinterpret_cast<const char*>(kPlaygroundHtml), kPlaygroundHtml_size};
}

const std::string& playground_csp() {
    static const std::string csp = [] {
        const std::string_view html = playground_html();
        // 'self' for the API calls, the events stream and the result video; data: and blob: for thumbnails
        // of the user's own files. No frames, no plugins, no form posts, no base-URL tricks.
        return "default-src 'none'; script-src" + hash_sources(html, "script") + "; style-src" +
               hash_sources(html, "style") +
               "; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; base-uri 'none'; "
               "form-action 'none'; frame-ancestors 'none'";
    }();
    return csp;
}

}  // namespace tc::server
