// The bad-request corpus (docs/serving.md, "Bad input"): malformed bodies, a wrong type for every parameter,
// out-of-range and non-finite numbers, too few / too many images, oversized images and bodies, invalid UTF-8,
// unknown keys, path traversal and odd characters in request ids and file names, SSRF image URLs (private,
// loopback, metadata, encoded addresses, other schemes, a redirect to a private address). Each case asserts the
// exact status, the {"error": "..."} body, and that the error names the field (or, where a JSON parser or the
// HTTP layer rejects the request before any field exists, what was wrong with it). After the corpus the server
// still answers /health, a valid request still completes, and only the accepted requests cost credits.
//
// Decisions the corpus pins down:
//  - image_3 without image_2 is "image_2 is required" (400); gaps after image_2 are allowed: image_1, image_2,
//    image_4 are used in that order (three keyframes).
//  - The Content-Type is not insisted on (curl -d sends form-urlencoded): a JSON body is parsed whatever the
//    header says, except multipart/form-data, which is a 400.
//  - Image URLs are fetched by the worker, not at submit: a forbidden URL fails the job (FAILED, 422 naming the
//    field); the corpus sends those to /v1, which answers the failure itself. Other schemes (file:, gopher:,
//    ftp:, javascript:) are refused at submit (400).
//  - Parse-level failures (not JSON, NaN, 1e400, invalid UTF-8) cannot name a field: "invalid JSON body".
#include <gtest/gtest.h>

#include "tests/server/http_test_util.h"

namespace {

using namespace tc::test::http;

struct Case {
    std::string name;
    std::string method;  // GET | POST
    std::string path;
    std::string body;    // sent as is
    int status;
    std::string needle;  // must appear in the error text
    std::string content_type = "application/json";
    httplib::Headers headers = {};
};

// The valid body with one field changed (a JSON fragment spliced in as the value, so anything can be sent).
std::string with_field(const std::string& key, const std::string& raw_value) {
    json b = valid_body();
    b.erase(key);
    std::string s = b.dump();
    return "{\"" + key + "\":" + raw_value + "," + s.substr(1);
}
std::string without(std::initializer_list<const char*> keys) {
    json b = valid_body();
    for (const char* k : keys) b.erase(k);
    return b.dump();
}
std::string quoted(const std::string& s) { return json(s).dump(); }

std::vector<Case> corpus() {
    const std::string v2 = "/v2/tooncrafter", v1 = "/v1/tooncrafter";
    const std::string id = "0123456789abcdef0123456789abcdef";
    std::vector<Case> c;
    auto bad = [&](std::string name, std::string body, std::string needle, int status = 400) {
        c.push_back(Case{std::move(name), "POST", v2, std::move(body), status, std::move(needle)});
    };
    auto get404 = [&](std::string name, std::string path) {
        c.push_back(Case{std::move(name), "GET", std::move(path), "", 404, "not found"});
    };
    // Bodies that are not a JSON object.
    bad("malformed JSON", "{not json", "invalid JSON body");
    bad("truncated JSON", "{\"image_1\": \"", "invalid JSON body");
    bad("trailing garbage", valid_body().dump() + " xyz", "invalid JSON body");
    bad("empty body", "", "empty request body");
    bad("whitespace body", " \r\n\t ", "empty request body");
    bad("JSON array body", "[" + valid_body().dump() + "]", "JSON object");
    bad("JSON string body", "\"image_1\"", "JSON object");
    bad("JSON number body", "42", "JSON object");
    bad("JSON null body", "null", "JSON object");
    bad("NaN literal", with_field("seed", "NaN"), "invalid JSON body");
    bad("Infinity literal", with_field("cfg_scale", "Infinity"), "invalid JSON body");
    bad("number beyond double", with_field("seed", "1e400"), "invalid JSON body");
    bad("invalid UTF-8 in a string", with_field("prompt", "\"caf\xc3\x28 \xff\xfe\""), "invalid JSON body");
    bad("lone UTF-16 surrogate", with_field("prompt", "\"\\ud800\""), "invalid JSON body");
    // Wrong types and values, every parameter.
    bad("seed as string", with_field("seed", "\"42\""), "seed");
    bad("seed negative", with_field("seed", "-1"), "seed");
    bad("seed fractional", with_field("seed", "1.5"), "seed");
    bad("seed 2^64", with_field("seed", "18446744073709551616"), "seed");
    bad("seed boolean", with_field("seed", "true"), "seed");
    bad("steps zero", with_field("steps", "0"), "steps");
    bad("steps huge", with_field("steps", "1000000000"), "steps");
    bad("steps fractional", with_field("steps", "2.5"), "steps");
    bad("steps 1e300", with_field("steps", "1e300"), "steps");
    bad("steps array", with_field("steps", "[20]"), "steps");
    bad("cfg_scale negative", with_field("cfg_scale", "-1"), "cfg_scale");
    bad("cfg_scale 1e308", with_field("cfg_scale", "1e308"), "cfg_scale");
    bad("cfg_scale string", with_field("cfg_scale", "\"7\""), "cfg_scale");
    bad("frame_stride zero", with_field("frame_stride", "0"), "frame_stride");
    bad("fps zero", with_field("fps", "0"), "fps");
    bad("fps huge", with_field("fps", "1000"), "fps");
    bad("frames_per_segment object", with_field("frames_per_segment", "{\"n\": 8}"), "frames_per_segment");
    bad("frames_per_segment not the model's", with_field("frames_per_segment", "16"), "frames_per_segment");
    bad("max_width not allowed", with_field("max_width", "300"), "max_width");
    bad("max_width string", with_field("max_width", "\"64\""), "max_width");
    bad("max_height negative", with_field("max_height", "-64"), "max_height");
    bad("max_height 1e20", with_field("max_height", "1e20"), "max_height");
    bad("loop string", with_field("loop", "\"true\""), "loop");
    bad("loop number", with_field("loop", "1"), "loop");
    bad("interpolate string", with_field("interpolate", "\"yes\""), "interpolate");
    bad("interpolate without FILM", with_field("interpolate", "true"), "interpolate");
    bad("color_correction number", with_field("color_correction", "0"), "color_correction");
    bad("prompt number", with_field("prompt", "42"), "prompt");
    bad("prompt nested object", with_field("prompt", "{\"text\": \"a cat\"}"), "prompt");
    bad("prompt array", with_field("prompt", "[\"a\", \"b\"]"), "prompt");
    bad("prompt too long", with_field("prompt", quoted(std::string(5000, 'a'))), "prompt");
    bad("prompt deeply nested", with_field("prompt", std::string(10000, '[') + std::string(10000, ']')), "prompt");
    bad("negative_prompt boolean", with_field("negative_prompt", "false"), "negative_prompt");
    bad("output_format unknown", with_field("output_format", "\"avi\""), "output_format");
    bad("output_format number", with_field("output_format", "1"), "output_format");
    bad("base64 string", with_field("base64", "\"false\""), "base64");
    bad("webhook other scheme", with_field("webhook", "\"ftp://example.com/hook\""), "webhook");
    bad("webhook number", with_field("webhook", "5"), "webhook");
    bad("webhook_events_filter string", with_field("webhook_events_filter", "\"completed\""), "webhook_events_filter");
    bad("webhook_events_filter unknown event", with_field("webhook_events_filter", "[\"bogus\"]"),
        "webhook_events_filter");
    // Keys.
    bad("unknown key", with_field("imgae_3", "\"x\""), "imgae_3");
    bad("key in another case", with_field("IMAGE_1", "\"x\""), "IMAGE_1");
    bad("__proto__ key", with_field("__proto__", "{}"), "__proto__");
    bad("odd characters in a key", with_field("se\\u0000ed", "1"), "unknown parameter");
    // Images.
    bad("no images", without({"image_1", "image_2"}), "image_1");
    bad("one image", without({"image_2"}), "image_2");
    bad("image_3 without image_2", [] {
        json b = valid_body();
        b["image_3"] = b["image_2"];
        b.erase("image_2");
        return b.dump();
    }(), "image_2");
    bad("eleven images", [] {
        json b = valid_body();
        for (int i = 3; i <= 11; ++i) b["image_" + std::to_string(i)] = b["image_2"];
        return b.dump();
    }(), "image_11");
    bad("image number", with_field("image_1", "7"), "image_1");
    bad("image nested object", with_field("image_1", "{\"url\": \"https://example.com/a.png\"}"), "image_1");
    bad("image array", with_field("image_2", "[]"), "image_2");
    bad("image empty", with_field("image_2", "\"\""), "image_2");
    bad("image not base64", with_field("image_2", "\"not base64!\""), "image_2");
    bad("image data URI of text", with_field("image_1", quoted("data:text/plain;base64,aGVsbG8=")), "image_1");
    bad("image data URI not base64", with_field("image_1", quoted("data:image/png,hello")), "image_1");
    bad("image file URL", with_field("image_1", quoted("file:///etc/passwd")), "image_1");
    bad("image gopher URL", with_field("image_1", quoted("gopher://127.0.0.1:70/_stats")), "image_1");
    bad("image ftp URL", with_field("image_2", quoted("ftp://example.com/a.png")), "image_2");
    bad("image javascript URL", with_field("image_2", quoted("javascript:alert(1)")), "image_2");
    bad("image over the size cap", with_field("image_2", quoted(tc::server::base64_encode(std::string(1100u << 10, 'x')))),
        "image_2", 413);
    bad("30 MB of base64 (over the body cap)",
        with_field("image_1", quoted(std::string(40u << 20, 'A'))), "too large", 413);
    // Headers.
    c.push_back(Case{"multipart body", "POST", v2, "--b\r\nContent-Disposition: form-data; name=\"image_1\"\r\n\r\nx\r\n--b--\r\n",
                     400, "multipart", "multipart/form-data; boundary=b"});
    c.push_back(Case{"Idempotency-Key too long", "POST", v2, valid_body().dump(), 400, "Idempotency-Key",
                     "application/json", {{"Idempotency-Key", std::string(256, 'k')}}});
    c.push_back(Case{"v1 with a broken body", "POST", v1, "[]", 400, "JSON object"});
    // Request ids and file names.
    get404("traversal in the id", "/v2/requests/../../etc/passwd");
    get404("traversal with status", "/v2/requests/../../../etc/passwd/status");
    get404("encoded dots", "/v2/requests/%2e%2e/%2e%2e/etc/passwd/status");
    get404("encoded slashes", "/v2/requests/..%2f..%2fetc%2fpasswd");
    get404("NUL in the id", "/v2/requests/%00/status");
    get404("id with NUL after hex", "/v2/requests/" + id + "%00/status");
    get404("upper-case hex id", "/v2/requests/0123456789ABCDEF0123456789ABCDEF/status");
    get404("non-ASCII id", "/v2/requests/%C3%A9%C3%A9/status");
    get404("1000-character id", "/v2/requests/" + std::string(1000, 'a') + "/status");
    get404("33 hex digits", "/v2/requests/" + id + "0/status");
    get404("file traversal", "/files/..%2fjobs.db");
    get404("file traversal 2", "/files/%2e%2e%2fkeys.db");
    get404("file hidden name", "/files/.keys.db");
    get404("file with two extensions", "/files/" + id + ".mp4.db");
    get404("unknown file", "/files/" + id + ".mp4");
    c.push_back(Case{"20000-character id", "GET", "/v2/requests/" + std::string(20000, 'a') + "/status", "", 414,
                     "URI too long"});
    c.push_back(Case{"cancel with traversal", "POST", "/v2/requests/..%2f..%2fjobs.db/cancel", "", 404, "not found"});
    return c;
}

// Image URLs that the SSRF rules refuse: sent to /v1, which answers the failed job with 422 naming the field.
std::vector<std::pair<std::string, std::string>> ssrf_urls() {
    return {{"loopback", "http://127.0.0.1:1/a.png"},
            {"loopback, other address", "http://127.0.0.2/a.png"},
            {"private 10/8", "http://10.0.0.1/a.png"},
            {"private 192.168/16", "http://192.168.1.1/a.png"},
            {"cloud metadata", "http://169.254.169.254/latest/meta-data/"},
            {"IPv6 loopback", "http://[::1]/a.png"},
            {"IPv4-mapped loopback", "http://[::ffff:127.0.0.1]/a.png"},
            {"unspecified", "http://0.0.0.0/a.png"},
            {"decimal IP", "http://2130706433/a.png"},
            {"hex IP", "http://0x7f000001/a.png"},
            {"short IP", "http://127.1/a.png"},
            {"localhost", "http://localhost/a.png"},
            {"https to loopback", "https://127.0.0.1/a.png"},
            {"upper-case scheme", "HTTP://127.0.0.1/a.png"},
            {"credentials in the URL", "http://user:pass@127.0.0.1/a.png"}};
}

struct Corpus : ::testing::Test {
    std::shared_ptr<FakeEngine> engine = std::make_shared<FakeEngine>();
    std::unique_ptr<TestServer> s;
    void SetUp() override {
        s = std::make_unique<TestServer>(engine, [](tc::server::ServerConfig& cfg) { cfg.max_image_bytes = 1u << 20; });
    }
};

TEST_F(Corpus, EveryBadRequestGetsItsStatusAndNamesTheField) {
    auto c = s->client();
    const auto cases = corpus();
    EXPECT_GE(cases.size(), 40u);
    for (const Case& k : cases) {
        SCOPED_TRACE(k.name);
        httplib::Result r = k.method == "GET" ? c.Get(k.path.c_str(), k.headers)
                                              : c.Post(k.path.c_str(), k.headers, k.body, k.content_type.c_str());
        ASSERT_TRUE(r) << "no response (connection dropped?)";
        EXPECT_EQ(r->status, k.status) << r->body.substr(0, 400);
        EXPECT_TRUE(is_error_body(r->body)) << r->body.substr(0, 400);
        EXPECT_NE(error_of(r->body).find(k.needle), std::string::npos)
            << "error text does not name '" << k.needle << "': " << r->body.substr(0, 400);
    }
    std::printf("[ corpus ] %zu bad requests checked\n", cases.size());

    // SSRF: each job fails without any connection to the address, naming the field.
    for (const auto& [name, url] : ssrf_urls()) {
        SCOPED_TRACE(name + ": " + url);
        json b = valid_body();
        b["image_1"] = url;
        auto r = c.Post("/v1/tooncrafter", b.dump(), "application/json");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 422) << r->body.substr(0, 400);
        EXPECT_TRUE(is_error_body(r->body)) << r->body;
        EXPECT_NE(error_of(r->body).find("image_1"), std::string::npos) << r->body;
    }
    std::printf("[ corpus ] %zu SSRF URLs checked\n", ssrf_urls().size());
    EXPECT_EQ(engine->runs(), 0) << "no bad request reached the engine";

    // Accepted on purpose (see the header): gaps after image_2, any Content-Type but multipart, duplicate keys
    // (the last wins), seeds up to 2^64-1.
    auto accepted = [&](const std::string& name, const std::string& body, const char* type = "application/json") {
        SCOPED_TRACE(name);
        auto r = c.Post("/v2/tooncrafter", body, type);
        EXPECT_TRUE(r);
        if (!r) return std::string();
        EXPECT_EQ(r->status, 200) << r->body.substr(0, 300);
        return parse_json(r->body).value("request_id", std::string());
    };
    json gap = valid_body();
    gap["image_4"] = gap["image_2"];
    const std::string gap_id = accepted("image_4 after image_2", gap.dump());  // 3 images: 2 credits
    accepted("text/plain", valid_body().dump(), "text/plain");
    accepted("form-urlencoded (curl -d)", valid_body().dump(), "application/x-www-form-urlencoded");
    accepted("duplicate key", with_field("seed", "\"x\", \"seed\": 5"));
    accepted("seed 2^64-1", with_field("seed", "18446744073709551615"));

    // Still healthy, and a valid request completes.
    auto h = c.Get("/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200) << h->body;
    auto r = c.Post("/v2/tooncrafter", valid_body().dump(), "application/json");
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(wait_finished(c, parse_json(r->body)["request_id"])["status"], "COMPLETED");
    EXPECT_EQ(wait_finished(c, gap_id)["status"], "COMPLETED");
    // Only the 6 accepted requests were charged (the gap one 2 credits); every SSRF failure was refunded.
    EXPECT_TRUE(eventually([&] { return s->credits() == 1000 - 7; })) << s->credits();
}

// A URL on an allowed origin that redirects to a private address: every hop is checked.
TEST(BadRequests, RedirectToAPrivateAddressFailsTheJob) {
    Origin origin;
    origin.svr.Get("/to-loopback", [](const httplib::Request&, httplib::Response& res) {
        res.set_redirect("http://127.0.0.2:9/a.png");
    });
    origin.svr.Get("/to-metadata", [](const httplib::Request&, httplib::Response& res) {
        res.set_redirect("http://169.254.169.254/latest/meta-data/");
    });
    origin.svr.Get("/to-file", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("file:///etc/passwd"); });
    origin.start();
    auto engine = std::make_shared<FakeEngine>();
    TestServer s(engine, [](tc::server::ServerConfig& cfg) { cfg.allow_private_fetch = {"127.0.0.1/32"}; });
    auto c = s.client();
    for (const char* path : {"/to-loopback", "/to-metadata", "/to-file"}) {
        SCOPED_TRACE(path);
        json b = valid_body();
        b["image_2"] = origin.url(path);
        auto r = c.Post("/v1/tooncrafter", b.dump(), "application/json");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 422) << r->body;
        EXPECT_TRUE(is_error_body(r->body)) << r->body;
        EXPECT_NE(error_of(r->body).find("image_2"), std::string::npos) << r->body;
    }
    EXPECT_EQ(engine->runs(), 0);
    EXPECT_TRUE(eventually([&] { return s.credits() == 1000; }));
}

}  // namespace
