// The S3 client (server/s3_client.h) and the store factory (server/artifacts.h make_artifact_store) against a
// fake S3 on loopback (cpp-httplib): what goes over the wire (signed headers, real payload hashes of streamed
// file ranges, multipart part order, query encoding of upload ids), the abort of a failed multipart upload,
// retries of transient errors, error codes and messages parsed from the XML body, and the --storage URL
// parsing. The real S3-compatible round trip (moto) is tests/python/test_s3_storage.py.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/artifacts.h"
#include "server/http_error.h"
#include "server/s3_artifact_store.h"
#include "server/s3_client.h"
#include "server/sigv4.h"

namespace tc::server {
namespace {

namespace fs = std::filesystem;

const char* kSecret = "fake/Secret+Key";

// A minimal S3 (one bucket, "bkt") that checks each request's x-amz-content-sha256 against the body it got.
class FakeS3 {
public:
    FakeS3() {
        auto check = [this](const httplib::Request& req) {
            std::lock_guard lk(mu);
            ++requests;
            log.push_back(req.method + " " + req.path + (req.has_param("uploadId") ? "?uploadId=" + req.get_param_value("uploadId") : ""));
            const std::string auth = req.get_header_value("Authorization");
            if (auth.rfind("AWS4-HMAC-SHA256 Credential=AKTEST/", 0) != 0 || auth.find(kSecret) != std::string::npos)
                bad.push_back("authorization: " + auth);
            if (req.get_header_value("x-amz-content-sha256") != sigv4::sha256_hex(req.body))
                bad.push_back("payload hash of " + req.method + " " + req.path);
            if (req.get_header_value("Host") != host) bad.push_back("host " + req.get_header_value("Host"));
        };
        svr.Get(R"(/bkt/(.+))", [this, check](const httplib::Request& req, httplib::Response& res) {
            check(req);
            std::lock_guard lk(mu);
            auto it = objects.find(req.matches[1]);
            if (it == objects.end()) return error(res, 404, "NoSuchKey", "The specified key does not exist.");
            res.set_content(it->second, "application/octet-stream");
        });
        svr.Put(R"(/bkt/(.+))", [this, check](const httplib::Request& req, httplib::Response& res) {
            check(req);
            std::lock_guard lk(mu);
            if (deny) return error(res, 403, "SignatureDoesNotMatch", "The request signature we calculated does not match");
            if (!req.has_param("uploadId")) {
                objects[req.matches[1]] = req.body;
                content_types[req.matches[1]] = req.get_header_value("content-type");
                res.set_header("ETag", "\"single\"");
                return;
            }
            if (req.get_param_value("uploadId") != kUploadId) return error(res, 404, "NoSuchUpload", "no such upload");
            const int n = std::stoi(req.get_param_value("partNumber"));
            if (n == fail_part && fail_times > 0) {
                --fail_times;
                return error(res, 500, "InternalError", "We encountered an internal error. Please try again.");
            }
            parts[n] = req.body;
            res.set_header("ETag", "\"etag-" + std::to_string(n) + "\"");
        });
        svr.Post(R"(/bkt/(.+))", [this, check](const httplib::Request& req, httplib::Response& res) {
            check(req);
            std::lock_guard lk(mu);
            if (req.has_param("uploads")) {
                res.set_content("<?xml version=\"1.0\"?><InitiateMultipartUploadResult><Bucket>bkt</Bucket><UploadId>" +
                                    std::string("up/1+2&amp;3") + "</UploadId></InitiateMultipartUploadResult>",
                                "application/xml");
                return;
            }
            // Complete: the parts in order, each with the ETag its upload returned.
            std::string obj;
            for (int n = 1; n <= int(parts.size()); ++n) {
                const std::string want = "<Part><PartNumber>" + std::to_string(n) + "</PartNumber><ETag>\"etag-" +
                                         std::to_string(n) + "\"</ETag></Part>";
                if (req.body.find(want) == std::string::npos) bad.push_back("complete body lacks part " + std::to_string(n));
                obj += parts[n];
            }
            objects[req.matches[1]] = obj;
            res.set_content("<CompleteMultipartUploadResult><ETag>\"x-" + std::to_string(parts.size()) +
                                "\"</ETag></CompleteMultipartUploadResult>",
                            "application/xml");
        });
        svr.Delete(R"(/bkt/(.+))", [this, check](const httplib::Request& req, httplib::Response& res) {
            check(req);
            std::lock_guard lk(mu);
            if (req.has_param("uploadId")) aborted = req.get_param_value("uploadId");
            else objects.erase(req.matches[1]);
            res.status = 204;
        });
        port = svr.bind_to_any_port("127.0.0.1");
        host = "127.0.0.1:" + std::to_string(port);
        thread = std::thread([this] { svr.listen_after_bind(); });
        for (int i = 0; i < 2000 && !svr.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ~FakeS3() {
        svr.stop();
        if (thread.joinable()) thread.join();
    }

    S3Config config() const {
        S3Config c;
        c.bucket = "bkt";
        c.endpoint = "http://" + host;
        c.credentials = {"AKTEST", kSecret, ""};
        c.connect_timeout_s = 5;
        c.request_timeout_s = 60;
        return c;
    }

    static void error(httplib::Response& res, int status, const std::string& code, const std::string& msg) {
        res.status = status;
        res.set_content("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code + "</Code><Message>" + msg +
                            "</Message><RequestId>r1</RequestId></Error>",
                        "application/xml");
    }

    static constexpr const char* kUploadId = "up/1+2&3";
    httplib::Server svr;
    std::thread thread;
    int port = 0;
    std::string host;
    std::mutex mu;
    std::map<std::string, std::string> objects, content_types;
    std::map<int, std::string> parts;
    std::vector<std::string> log, bad;
    std::string aborted;
    int requests = 0;
    int fail_part = -1, fail_times = 0;
    bool deny = false;
};

struct TempFile {
    fs::path path = fs::temp_directory_path() / ("tc-s3-" + random_hex_id());
    explicit TempFile(const std::string& content) { std::ofstream(path, std::ios::binary) << content; }
    ~TempFile() {
        std::error_code ec;
        fs::remove(path, ec);
    }
};

std::string pattern(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = char((i * 131 + 7) & 0xFF);
    return s;
}

TEST(S3Client, SinglePutGetHeadDelete) {
    FakeS3 s3;
    S3Client c(s3.config());
    const std::string data = pattern(5000);
    TempFile f(data);
    EXPECT_EQ(c.put_file("dir/a b+c.mp4", f.path.string(), "video/mp4"), 0);
    EXPECT_EQ(s3.objects["dir/a b+c.mp4"], data);
    EXPECT_EQ(s3.content_types["dir/a b+c.mp4"], "video/mp4");
    EXPECT_EQ(c.get_object("dir/a b+c.mp4"), data);
    auto info = c.head_object("dir/a b+c.mp4");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->size, 5000);
    EXPECT_FALSE(c.head_object("missing.mp4"));
    c.delete_object("dir/a b+c.mp4");
    EXPECT_FALSE(c.head_object("dir/a b+c.mp4"));
    c.delete_object("dir/a b+c.mp4");  // deleting twice is fine
    EXPECT_TRUE(s3.bad.empty()) << s3.bad.front();
}

TEST(S3Client, MultipartStreamsFileRangesInOrder) {
    FakeS3 s3;
    S3Config cfg = s3.config();
    cfg.multipart_threshold = 1000;
    cfg.part_size = 4096;
    S3Client c(cfg);
    const std::string data = pattern(4096 * 3 + 17);
    TempFile f(data);
    EXPECT_EQ(c.put_file("big.bin", f.path.string(), "application/zip"), 4);
    EXPECT_EQ(s3.parts.size(), 4u);
    EXPECT_EQ(s3.parts[4].size(), 17u);
    EXPECT_EQ(s3.objects["big.bin"], data);
    EXPECT_TRUE(s3.aborted.empty());
    EXPECT_TRUE(s3.bad.empty()) << s3.bad.front();  // every part's payload hash matched its bytes
}

TEST(S3Client, TransientPartErrorIsRetried) {
    FakeS3 s3;
    S3Config cfg = s3.config();
    cfg.multipart_threshold = 0;
    cfg.part_size = 1000;
    S3Client c(cfg);
    s3.fail_part = 2;
    s3.fail_times = 1;  // one 500, then fine
    const std::string data = pattern(2500);
    TempFile f(data);
    EXPECT_EQ(c.put_file("r.bin", f.path.string(), "application/zip"), 3);
    EXPECT_EQ(s3.objects["r.bin"], data);
}

TEST(S3Client, FailedMultipartIsAbortedWithTheStoresError) {
    FakeS3 s3;
    S3Config cfg = s3.config();
    cfg.multipart_threshold = 0;
    cfg.part_size = 1000;
    cfg.max_attempts = 2;
    S3Client c(cfg);
    s3.fail_part = 2;
    s3.fail_times = 100;
    TempFile f(pattern(2500));
    try {
        c.put_file("x.bin", f.path.string(), "application/zip");
        FAIL() << "no error";
    } catch (const S3Error& e) {
        EXPECT_EQ(e.http_status, 500);
        EXPECT_EQ(e.code, "InternalError");
        const std::string what = e.what();
        EXPECT_NE(what.find("UploadPart s3://bkt/x.bin failed: HTTP 500 InternalError: We encountered"), std::string::npos)
            << what;
        EXPECT_EQ(what.find(kSecret), std::string::npos);
    }
    EXPECT_EQ(s3.aborted, FakeS3::kUploadId);  // the upload id went through the query encoding intact
    EXPECT_EQ(s3.objects.count("x.bin"), 0u);
    EXPECT_EQ(s3.fail_times, 98);  // two tries, then the abort
}

TEST(S3Client, ErrorsCarryCodeAndMessage) {
    FakeS3 s3;
    S3Client c(s3.config());
    s3.deny = true;
    try {
        c.put_object("k.mp4", "abc", "video/mp4");
        FAIL() << "no error";
    } catch (const S3Error& e) {
        EXPECT_EQ(e.http_status, 403);
        EXPECT_EQ(e.code, "SignatureDoesNotMatch");
        EXPECT_NE(std::string(e.what()).find("PutObject s3://bkt/k.mp4 failed: HTTP 403 SignatureDoesNotMatch: The request"),
                  std::string::npos)
            << e.what();
    }
    try {
        c.get_object("nope");
        FAIL() << "no error";
    } catch (const S3Error& e) {
        EXPECT_EQ(e.http_status, 404);
        EXPECT_EQ(e.code, "NoSuchKey");
    }
    EXPECT_EQ(s3.requests, 2);  // 4xx answers are not retried
}

TEST(S3Client, UnreachableEndpointIsANetworkError) {
    // A port that was free a moment ago: bound, never listened on, closed.
    int port = 0;
    {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        ASSERT_GE(fd, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
        ::close(fd);
        ASSERT_TRUE(ok);
        port = ntohs(a.sin_port);
    }
    S3Config cfg;
    cfg.bucket = "bkt";
    cfg.endpoint = "http://127.0.0.1:" + std::to_string(port);
    cfg.credentials = {"AKTEST", kSecret, ""};
    cfg.max_attempts = 1;
    S3Client c(cfg);
    try {
        c.head_bucket();
        FAIL() << "no error";
    } catch (const S3Error& e) {
        EXPECT_EQ(e.http_status, 0);
        EXPECT_EQ(e.code, "NetworkError");
        EXPECT_NE(std::string(e.what()).find("(endpoint http://127.0.0.1:"), std::string::npos) << e.what();
    }
}

TEST(S3Client, PresignedUrlPathStyleWithPort) {
    S3Config cfg;
    cfg.bucket = "bkt";
    cfg.endpoint = "http://127.0.0.1:9000/";
    cfg.region = "eu-west-1";
    cfg.credentials = {"AKTEST", kSecret, "tok"};
    S3Client c(cfg);
    const std::string u = c.presigned_get_url("p/q r.mp4", 30 * 86400);
    EXPECT_EQ(u.rfind("http://127.0.0.1:9000/bkt/p/q%20r.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKTEST%2F", 0), 0u) << u;
    EXPECT_NE(u.find("%2Feu-west-1%2Fs3%2Faws4_request&"), std::string::npos);
    EXPECT_NE(u.find("&X-Amz-Expires=604800&"), std::string::npos);  // clamped to 7 days
    EXPECT_NE(u.find("&X-Amz-Security-Token=tok&"), std::string::npos);
    EXPECT_EQ(u.find("Secret"), std::string::npos);

    cfg.endpoint.clear();  // AWS: virtual-hosted, https
    cfg.path_style = false;
    S3Client aws(cfg);
    EXPECT_EQ(aws.presigned_get_url("k.mp4", 60).rfind("https://bkt.s3.eu-west-1.amazonaws.com/k.mp4?", 0), 0u);
    cfg.endpoint = "ftp://x";
    EXPECT_THROW(S3Client{cfg}, Error);
    cfg.endpoint = "http://user:pw@host";
    EXPECT_THROW(S3Client{cfg}, Error);
}

// ---- the factory ------------------------------------------------------------------------------------------

class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value) setenv(name, value, 1);
        else unsetenv(name);
    }
    ~ScopedEnv() {
        if (old_) setenv(name_, old_->c_str(), 1);
        else unsetenv(name_);
    }

private:
    const char* name_;
    std::optional<std::string> old_;
};

TEST(ArtifactStoreFactory, ParsesS3Urls) {
    ScopedEnv a("AWS_ACCESS_KEY_ID", "AKENV"), s("AWS_SECRET_ACCESS_KEY", "env-secret"), t("AWS_SESSION_TOKEN", nullptr),
        r("AWS_REGION", nullptr), d("AWS_DEFAULT_REGION", nullptr), e("AWS_ENDPOINT_URL", nullptr),
        e3("AWS_ENDPOINT_URL_S3", nullptr);
    ArtifactStoreOptions o;
    o.verify = false;
    o.retention_s = 120;
    o.staging_dir = (fs::temp_directory_path() / ("tc-stage-" + random_hex_id())).string();
    auto store = make_artifact_store(
        "s3://bkt/out/videos/?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-central-1&multipart_threshold=10&part_size=20",
        o);
    auto* s3 = dynamic_cast<S3ArtifactStore*>(store.get());
    ASSERT_TRUE(s3);
    const std::string name = store->new_name(".mp4");
    EXPECT_EQ(s3->key(name), "out/videos/" + name);
    EXPECT_EQ(s3->client().config().region, "eu-central-1");
    EXPECT_EQ(s3->client().config().endpoint, "http://127.0.0.1:9000");
    EXPECT_TRUE(s3->client().config().path_style);
    EXPECT_EQ(s3->client().config().multipart_threshold, 10);
    EXPECT_EQ(s3->client().config().part_size, 20);
    EXPECT_EQ(s3->client().config().credentials.access_key_id, "AKENV");
    const std::string url = store->url(name, "http://api");
    EXPECT_EQ(url.rfind("http://127.0.0.1:9000/bkt/out/videos/" + name + "?", 0), 0u) << url;
    EXPECT_NE(url.find("X-Amz-Expires=120&"), std::string::npos);
    EXPECT_EQ(store->describe().find("secret"), std::string::npos);
    EXPECT_EQ(store->staging_path(name), o.staging_dir + "/" + name);
    EXPECT_THROW(store->url("../x.mp4", ""), Error);
    fs::remove_all(o.staging_dir);

    // Query credentials win over the environment; '+' in a secret stays '+'.
    auto q = make_artifact_store("s3://b?access_key_id=AKQ&secret_access_key=a+b%2Fc", o);
    const auto& creds = dynamic_cast<S3ArtifactStore&>(*q).client().config().credentials;
    EXPECT_EQ(creds.access_key_id, "AKQ");
    EXPECT_EQ(creds.secret_access_key, "a+b/c");
    EXPECT_FALSE(dynamic_cast<S3ArtifactStore&>(*q).client().config().path_style);  // AWS: virtual-hosted
    fs::remove_all(o.staging_dir);
}

TEST(ArtifactStoreFactory, RejectsBadUrls) {
    ScopedEnv a("AWS_ACCESS_KEY_ID", nullptr), s("AWS_SECRET_ACCESS_KEY", nullptr);
    ArtifactStoreOptions o;
    o.verify = false;
    auto message = [&](const std::string& url) {
        try {
            make_artifact_store(url, o);
        } catch (const std::exception& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(message("s3://b?endpoint=http://h:1").find("AWS_ACCESS_KEY_ID"), std::string::npos);
    EXPECT_NE(message("s3://b?access_key_id=a&secret_access_key=b&colour=red").find("unknown S3 parameter 'colour'"),
              std::string::npos);
    EXPECT_NE(message("s3://b?access_key_id=a&secret_access_key=b&part_size=-1").find("part_size"), std::string::npos);
    EXPECT_NE(message("s3://b?access_key_id=a&secret_access_key=b&endpoint=gopher://h").find("http://"), std::string::npos);
    EXPECT_NE(message("s3:///prefix").find("bucket"), std::string::npos);
    EXPECT_NE(message("ftp://host/dir").find("unsupported URL scheme"), std::string::npos);
    EXPECT_NE(message("").find("empty"), std::string::npos);
    // A secret given in the URL never comes back in an error.
    EXPECT_EQ(message("s3://b?access_key_id=a&secret_access_key=TOPSECRET&x=1").find("TOPSECRET"), std::string::npos);
}

TEST(ArtifactStoreFactory, LocalDirectoryStore) {
    const fs::path dir = fs::temp_directory_path() / ("tc-art-" + random_hex_id());
    auto store = make_artifact_store("file://" + dir.string());
    auto* local = dynamic_cast<LocalArtifactStore*>(store.get());
    ASSERT_TRUE(local);
    EXPECT_EQ(local->dir(), dir.string());
    const std::string name = store->new_name(".gif");
    std::ofstream(store->staging_path(name), std::ios::binary) << "GIF89a";
    EXPECT_FALSE(store->exists(name));  // staged, not yet published
    EXPECT_EQ(store->publish(name), 6);
    EXPECT_TRUE(store->exists(name));
    EXPECT_FALSE(fs::exists(store->staging_path(name)));
    EXPECT_EQ(store->read(name), "GIF89a");
    EXPECT_EQ(store->url(name, "https://api.example.com"), "https://api.example.com/files/" + name);
    store->remove(name);
    EXPECT_FALSE(store->exists(name));
    EXPECT_THROW(store->read(name), HttpError);
    EXPECT_THROW(store->read("../../etc/passwd"), HttpError);
    EXPECT_TRUE(dynamic_cast<LocalArtifactStore*>(make_artifact_store(dir.string()).get()));  // a plain path
    fs::remove_all(dir);
}

}  // namespace
}  // namespace tc::server
