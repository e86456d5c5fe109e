// The embedded playground page (server/playground/) without a browser: the build embedded the current
// index.html byte for byte, and the CSP lists the SHA-256 of the page's real inline script and style blocks and
// nothing looser. (tests/python/test_playground.py then checks in Chromium that the page runs under it.)
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <fstream>
#include <iterator>
#include <string>

#include "server/image_input.h"
#include "server/playground/playground.h"

namespace tc::server {
namespace {

std::string csp_hash(std::string_view text) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EXPECT_EQ(EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr), 1);
    return "'sha256-" + base64_encode(md, len) + "'";
}

// The last `<tag>` block of the page: the real one (the header comment only mentions tags, and comes first).
std::string_view last_block(std::string_view html, const std::string& tag) {
    const size_t open = html.rfind("<" + tag + ">");
    const size_t start = open + tag.size() + 2;
    const size_t end = html.find("</" + tag + ">", start);
    EXPECT_NE(open, std::string_view::npos);
    EXPECT_NE(end, std::string_view::npos);
    return html.substr(start, end - start);
}

TEST(Playground, EmbedsTheSourcePageExactly) {
    std::ifstream f(std::string(TC_SOURCE_DIR) + "/server/playground/index.html", std::ios::binary);
    ASSERT_TRUE(f) << "server/playground/index.html not found";
    const std::string source(std::istreambuf_iterator<char>(f), {});
    EXPECT_EQ(playground_html(), source) << "the embedded page is stale: rebuild";
    EXPECT_EQ(playground_html().substr(0, 15), "<!DOCTYPE html>");
}

TEST(Playground, CspAllowsOnlyThePagesOwnInlineBlocks) {
    const std::string& csp = playground_csp();
    const std::string_view html = playground_html();
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("script-src " + csp_hash(last_block(html, "script")) + ";"), std::string::npos) << csp;
    EXPECT_NE(csp.find("style-src " + csp_hash(last_block(html, "style")) + ";"), std::string::npos) << csp;
    EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
    for (const char* loose : {"unsafe-inline", "unsafe-eval", "*", "http:", "https:"})
        EXPECT_EQ(csp.find(loose), std::string::npos) << loose << " in " << csp;
    // One hash each: a second script or style block would need its own (and would be a sign of a mistake).
    EXPECT_EQ(csp.find("'sha256-", csp.find("'sha256-") + 1), csp.find("style-src ") + 10) << csp;
}

}  // namespace
}  // namespace tc::server
