// engine/model_download.h against a local HTTP server (127.0.0.1 only): a small Python server written and
// started by the test, with Range/206 support, a sha256 ETag, and routes that drop the first transfer halfway
// (drop/), omit the ETag (noetag/), ignore Range (norange/) and redirect (redirect/).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/model_download.h"

namespace fs = std::filesystem;

namespace {

const char* kServer = R"PY(
import hashlib, os, signal, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
root = sys.argv[1]
signal.alarm(120)  # never outlive a stuck test run
dropped = set()

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def log_message(self, *a): pass
    def do_HEAD(self): self.serve(False)
    def do_GET(self): self.serve(True)
    def serve(self, body):
        path, flags = self.path.lstrip("/"), set()
        while path.split("/")[0] in ("drop", "noetag", "norange", "redirect"):
            flag, path = path.split("/", 1)
            flags.add(flag)
        if "redirect" in flags:
            self.send_response(302); self.send_header("Location", "/" + path)
            self.send_header("Content-Length", "0"); self.end_headers(); return
        f = os.path.join(root, os.path.basename(path))
        if not os.path.isfile(f):
            self.send_error(404); return
        data = open(f, "rb").read()
        start, status, rng = 0, 200, self.headers.get("Range")
        if rng and rng.startswith("bytes=") and "norange" not in flags:
            start, status = int(rng[6:].split("-")[0]), 206
            if start >= len(data):
                self.send_response(416); self.send_header("Content-Range", "bytes */%d" % len(data))
                self.send_header("Content-Length", "0"); self.end_headers(); return
        chunk = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(chunk)))
        self.send_header("Accept-Ranges", "bytes")
        if "noetag" not in flags:
            self.send_header("ETag", '"%s"' % hashlib.sha256(data).hexdigest())
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.end_headers()
        if not body: return
        if "drop" in flags and path not in dropped:
            dropped.add(path)
            self.wfile.write(chunk[: len(chunk) // 2]); self.wfile.flush()
            return  # HTTP/1.0: the connection closes short of Content-Length
        self.wfile.write(chunk)

with ThreadingHTTPServer(("127.0.0.1", 0), H) as s:
    print(s.server_address[1], flush=True)
    s.serve_forever()
)PY";

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_all(const fs::path& p, const std::string& s) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << s;
}

class DownloadTest : public ::testing::Test {
protected:
    static inline fs::path root_;
    static inline pid_t pid_ = -1;
    static inline std::string base_;
    static inline std::string payload_;

    static void SetUpTestSuite() {
        root_ = fs::temp_directory_path() / ("tc_download_test_" + std::to_string(getpid()));
        fs::remove_all(root_);
        fs::create_directories(root_ / "srv");
        // 300 KB of deterministic bytes, large enough for several write callbacks.
        payload_.resize(300 * 1024);
        uint32_t x = 12345;
        for (auto& c : payload_) c = char((x = x * 1664525u + 1013904223u) >> 24);
        write_all(root_ / "srv" / "a.bin", payload_);
        write_all(root_ / "server.py", kServer);

        int fds[2];
        ASSERT_EQ(pipe(fds), 0);
        pid_ = fork();
        ASSERT_GE(pid_, 0);
        if (pid_ == 0) {
            dup2(fds[1], 1);
            close(fds[0]);
            close(fds[1]);
            std::string script = (root_ / "server.py").string(), srv = (root_ / "srv").string();
            execlp("python3", "python3", script.c_str(), srv.c_str(), (char*)nullptr);
            _exit(127);
        }
        close(fds[1]);
        pollfd pfd{fds[0], POLLIN, 0};
        std::string line;
        char ch;
        while (poll(&pfd, 1, 10000) > 0 && read(fds[0], &ch, 1) == 1 && ch != '\n') line += ch;
        close(fds[0]);
        ASSERT_FALSE(line.empty()) << "the test HTTP server did not start (python3 missing?)";
        base_ = "http://127.0.0.1:" + line;
    }

    static void TearDownTestSuite() {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
        std::error_code ec;
        fs::remove_all(root_, ec);
    }

    void SetUp() override {
        if (base_.empty()) GTEST_SKIP() << "no test server";
        dir_ = root_ / ::testing::UnitTest::GetInstance()->current_test_info()->name();
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        t0_ = std::chrono::steady_clock::now();
    }
    void TearDown() override {
        EXPECT_LT(std::chrono::steady_clock::now() - t0_, std::chrono::seconds(10));
    }

    static tc::FetchOptions opts() {
        tc::FetchOptions o;
        o.quiet = true;
        o.connect_timeout_s = 5;
        o.low_speed_time_s = 5;
        o.retry_delay_ms = 0;
        return o;
    }
    tc::DownloadEntry entry(const std::string& route, const std::string& sha = "", uint64_t size = 0) const {
        return {"a.bin", base_ + "/" + route + "a.bin", sha, size};
    }
    std::string payload_sha() const { return tc::sha256_file((root_ / "srv" / "a.bin").string()); }

    fs::path dir_;
    std::chrono::steady_clock::time_point t0_;
};

TEST_F(DownloadTest, FullDownloadVerifiedByServerEtag) {
    auto r = tc::fetch_file(entry(""), dir_.string(), opts());
    EXPECT_EQ(r.status, tc::FetchResult::Status::Downloaded);
    EXPECT_EQ(r.verified_by, "server etag");
    EXPECT_EQ(r.sha256, payload_sha());
    EXPECT_EQ(r.size, payload_.size());
    EXPECT_EQ(r.bytes_fetched, payload_.size());
    EXPECT_FALSE(r.resumed);
    EXPECT_EQ(read_all(dir_ / "a.bin"), payload_);
    EXPECT_FALSE(fs::exists(dir_ / "a.bin.part"));
    EXPECT_EQ(read_all(dir_ / "a.bin.sha256").substr(0, 64), r.sha256);
}

TEST_F(DownloadTest, ManifestHashAndRedirect) {
    auto r = tc::fetch_file(entry("redirect/noetag/", payload_sha(), payload_.size()), dir_.string(), opts());
    EXPECT_EQ(r.verified_by, "manifest");
    EXPECT_EQ(read_all(dir_ / "a.bin"), payload_);
}

TEST_F(DownloadTest, NoKnownHashIsRecordedNotVerified) {
    auto r = tc::fetch_file(entry("noetag/"), dir_.string(), opts());
    EXPECT_EQ(r.verified_by, "");
    EXPECT_EQ(r.sha256, payload_sha());
    EXPECT_EQ(read_all(dir_ / "a.bin.sha256").substr(0, 64), payload_sha());
}

TEST_F(DownloadTest, ResumesFromExistingPart) {
    const size_t have = 100000;
    write_all(dir_ / "a.bin.part", payload_.substr(0, have));
    auto r = tc::fetch_file(entry(""), dir_.string(), opts());
    EXPECT_TRUE(r.resumed);
    EXPECT_EQ(r.bytes_fetched, payload_.size() - have);
    EXPECT_LT(r.bytes_fetched, payload_.size());
    EXPECT_EQ(r.verified_by, "server etag");
    EXPECT_EQ(read_all(dir_ / "a.bin"), payload_);
}

TEST_F(DownloadTest, DroppedTransferLeavesPartThenResumes) {
    auto one = opts();
    one.attempts = 1;
    EXPECT_THROW(tc::fetch_file(entry("drop/"), dir_.string(), one), tc::Error);
    EXPECT_FALSE(fs::exists(dir_ / "a.bin"));
    const uint64_t part = fs::file_size(dir_ / "a.bin.part");
    EXPECT_GT(part, 0u);
    EXPECT_LT(part, payload_.size());
    // The server now serves drop/a.bin in full: the second call asks only for the rest.
    auto r = tc::fetch_file(entry("drop/"), dir_.string(), one);
    EXPECT_TRUE(r.resumed);
    EXPECT_EQ(r.bytes_fetched, payload_.size() - part);
    EXPECT_EQ(read_all(dir_ / "a.bin"), payload_);
}

TEST_F(DownloadTest, DroppedTransferIsRetriedAutomatically) {
    // A fresh file name on the server so its first transfer is dropped again.
    write_all(root_ / "srv" / "c.bin", payload_);
    tc::DownloadEntry e{"c.bin", base_ + "/drop/c.bin", "", 0};
    auto r = tc::fetch_file(e, dir_.string(), opts());
    EXPECT_TRUE(r.resumed);
    EXPECT_EQ(r.bytes_fetched, payload_.size());  // half, then the other half
    EXPECT_EQ(read_all(dir_ / "c.bin"), payload_);
}

TEST_F(DownloadTest, ServerIgnoringRangeRestartsFromZero) {
    write_all(dir_ / "a.bin.part", std::string(5000, 'x'));  // garbage that must not survive
    auto r = tc::fetch_file(entry("norange/"), dir_.string(), opts());
    EXPECT_FALSE(r.resumed);
    EXPECT_EQ(r.bytes_fetched, payload_.size());
    EXPECT_EQ(read_all(dir_ / "a.bin"), payload_);
}

TEST_F(DownloadTest, Sha256MismatchFailsAndDeletesPart) {
    const std::string wrong(64, '0');
    try {
        tc::fetch_file(entry("", wrong), dir_.string(), opts());
        FAIL() << "expected a sha256 mismatch";
    } catch (const tc::Error& e) {
        std::string msg = e.what();
        EXPECT_NE(msg.find("sha256 mismatch"), std::string::npos) << msg;
        EXPECT_NE(msg.find(wrong), std::string::npos) << msg;
        EXPECT_NE(msg.find(payload_sha()), std::string::npos) << msg;
    }
    EXPECT_FALSE(fs::exists(dir_ / "a.bin"));
    EXPECT_FALSE(fs::exists(dir_ / "a.bin.part"));
}

TEST_F(DownloadTest, NotFoundNamesStatusAndUrl) {
    tc::DownloadEntry e{"missing.bin", base_ + "/missing.bin", "", 0};
    try {
        tc::fetch_file(e, dir_.string(), opts());
        FAIL() << "expected HTTP 404";
    } catch (const tc::Error& e2) {
        std::string msg = e2.what();
        EXPECT_NE(msg.find("HTTP 404"), std::string::npos) << msg;
        EXPECT_NE(msg.find(e.url), std::string::npos) << msg;
    }
    EXPECT_FALSE(fs::exists(dir_ / "missing.bin"));
}

TEST_F(DownloadTest, PresentFileIsSkipped) {
    tc::fetch_file(entry(""), dir_.string(), opts());
    auto r = tc::fetch_file(entry(""), dir_.string(), opts());  // recorded hash matches
    EXPECT_EQ(r.status, tc::FetchResult::Status::Skipped);
    EXPECT_EQ(r.verified_by, "recorded hash");
    EXPECT_EQ(r.bytes_fetched, 0u);

    fs::remove(dir_ / "a.bin.sha256");  // nothing recorded: the manifest size decides
    r = tc::fetch_file(entry("", "", payload_.size()), dir_.string(), opts());
    EXPECT_EQ(r.status, tc::FetchResult::Status::Skipped);
    EXPECT_EQ(r.verified_by, "size");

    r = tc::fetch_file(entry(""), dir_.string(), opts());  // nothing known locally: HEAD gives the ETag
    EXPECT_EQ(r.status, tc::FetchResult::Status::Skipped);
    EXPECT_EQ(r.verified_by, "server etag");
}

TEST_F(DownloadTest, CorruptPresentFileIsReplaced) {
    write_all(dir_ / "a.bin", std::string(payload_.size(), 'z'));
    auto r = tc::fetch_file(entry("", payload_sha()), dir_.string(), opts());
    EXPECT_EQ(r.status, tc::FetchResult::Status::Downloaded);
    EXPECT_EQ(read_all(dir_ / "a.bin"), payload_);
}

TEST(DownloadManifest, RebaseAndLoad) {
    EXPECT_EQ(tc::rebase_url("https://h/x/y/model.ckpt", "model.ckpt", ""), "https://h/x/y/model.ckpt");
    EXPECT_EQ(tc::rebase_url("https://h/x/y/model.ckpt", "model.ckpt", "http://127.0.0.1:8/m/"),
              "http://127.0.0.1:8/m/model.ckpt");
    auto d = tc::default_manifest();
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(d[0].url, "https://huggingface.co/Doubiiu/ToonCrafter/resolve/main/model.ckpt");

    fs::path p = fs::temp_directory_path() / ("tc_manifest_" + std::to_string(getpid()) + ".json");
    write_all(p, R"([{"name": "a.bin", "url": "http://127.0.0.1/a.bin", "sha256": ")" + std::string(64, 'A') +
                     R"(", "size": 12}, {"name": "b", "url": "http://127.0.0.1/b"}])");
    auto m = tc::load_manifest(p.string());
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[0].sha256, std::string(64, 'a'));
    EXPECT_EQ(m[0].size, 12u);
    EXPECT_EQ(m[1].sha256, "");
    write_all(p, R"([{"name": "../evil", "url": "http://127.0.0.1/x"}])");
    EXPECT_THROW(tc::load_manifest(p.string()), tc::Error);
    write_all(p, "{not json");
    EXPECT_THROW(tc::load_manifest(p.string()), tc::Error);
    fs::remove(p);
}

}  // namespace
