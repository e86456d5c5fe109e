// Resumable, hash-checked downloads of the model files through libcurl (see model_download.h).
#include "engine/model_download.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"

namespace fs = std::filesystem;

namespace tc {

std::vector<DownloadEntry> default_manifest() {
    // Published hashes are not recorded here (they could not be checked from the machine that wrote this);
    // the Hugging Face entry is verified against the LFS sha256 the hub serves as X-Linked-Etag.
    return {
        // The official 512x320 checkpoint (README of github.com/ToonCrafter/ToonCrafter: checkpoints/
        // tooncrafter_512_interp_v1/model.ckpt, hosted on the Hugging Face repo Doubiiu/ToonCrafter).
        {"model.ckpt", "https://huggingface.co/Doubiiu/ToonCrafter/resolve/main/model.ckpt", "", 0},
        // The CLIP BPE merges open_clip ships (src/open_clip/bpe_simple_vocab_16e6.txt.gz).
        {"bpe_simple_vocab_16e6.txt.gz",
         "https://raw.githubusercontent.com/mlfoundations/open_clip/main/src/open_clip/bpe_simple_vocab_16e6.txt.gz",
         "", 0},
        // FILM (film_net) as TorchScript: the PyTorch port's release asset.
        {"film_net_fp32.pt",
         "https://github.com/dajes/frame-interpolation-pytorch/releases/download/v1.0.2/film_net_fp32.pt", "", 0},
    };
}

namespace {

bool is_sha256_hex(const std::string& s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

std::string lower(std::string s) {
    for (auto& c : s) c = char(std::tolower((unsigned char)c));
    return s;
}

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// An ETag value ("abc", W/"abc") -> abc when it is a sha256, else "".
std::string etag_sha256(std::string v) {
    v = trim(v);
    if (v.rfind("W/", 0) == 0) v = v.substr(2);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return is_sha256_hex(v) ? lower(v) : std::string();
}

uint64_t file_size_or_zero(const fs::path& p) {
    std::error_code ec;
    auto n = fs::file_size(p, ec);
    return ec ? 0 : uint64_t(n);
}

// The hash recorded by an earlier download in <name>.sha256 (sha256sum format), or "".
std::string read_recorded_hash(const fs::path& p) {
    std::ifstream in(p);
    std::string h;
    if (in >> h && is_sha256_hex(h)) return lower(h);
    return {};
}

struct CurlDeleter {
    void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;
struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};

CurlHandle new_handle(const std::string& url, const FetchOptions& o) {
    static const bool global_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;  // once, thread-safe
    TC_CHECK(global_ok, "libcurl initialisation failed");
    CurlHandle h(curl_easy_init());
    TC_CHECK(h, "curl_easy_init failed");
    curl_easy_setopt(h.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(h.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h.get(), CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h.get(), CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h.get(), CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h.get(), CURLOPT_CONNECTTIMEOUT, o.connect_timeout_s);
    curl_easy_setopt(h.get(), CURLOPT_LOW_SPEED_TIME, o.low_speed_time_s);
    curl_easy_setopt(h.get(), CURLOPT_LOW_SPEED_LIMIT, o.low_speed_bytes);
    curl_easy_setopt(h.get(), CURLOPT_USERAGENT, "tooncrafter-download/0.1");
    curl_easy_setopt(h.get(), CURLOPT_NOSIGNAL, 1L);
    return h;
}

// Headers of the response chain: the status line starts a new response; X-Linked-Etag is kept across the
// redirect chain (the hub sends it on the 302 to the CDN), the rest are per response.
struct Headers {
    long status = 0;
    std::string linked_etag, etag, content_range;
    void parse(const std::string& line) {
        if (line.rfind("HTTP/", 0) == 0) {
            auto sp = line.find(' ');
            status = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
            etag.clear();
            content_range.clear();
            return;
        }
        auto colon = line.find(':');
        if (colon == std::string::npos) return;
        std::string key = lower(trim(line.substr(0, colon))), value = trim(line.substr(colon + 1));
        if (key == "x-linked-etag") linked_etag = value;
        else if (key == "etag") etag = value;
        else if (key == "content-range") content_range = value;
    }
    // The server's sha256 of the file: X-Linked-Etag first, then the final ETag.
    std::string server_sha256() const {
        auto s = etag_sha256(linked_etag);
        return s.empty() ? etag_sha256(etag) : s;
    }
};

size_t header_cb(char* data, size_t size, size_t n, void* user) {
    static_cast<Headers*>(user)->parse(std::string(data, size * n));
    return size * n;
}

// Progress on stderr: a redrawn bar on a terminal, a line per 10% otherwise, nothing when quiet.
class Progress {
public:
    Progress(std::string name, bool quiet, std::function<bool(uint64_t, uint64_t)> hook = {})
        : name_(std::move(name)), quiet_(quiet), tty_(isatty(2) == 1), hook_(std::move(hook)) {}
    // The FetchOptions::on_progress hook with whole-file counts; false = abort.
    bool report(uint64_t now_bytes, uint64_t total_bytes) {
        if (!hook_) return true;
        aborted_ = !hook_(offset_ + now_bytes, total_bytes ? offset_ + total_bytes : 0);
        return !aborted_;
    }
    bool aborted() const { return aborted_; }
    void start(uint64_t offset) {
        offset_ = offset;
        t0_ = std::chrono::steady_clock::now();
        last_ = t0_;
    }
    void update(uint64_t now_bytes, uint64_t total_bytes, bool final_call) {
        if (quiet_) return;
        const uint64_t done = offset_ + now_bytes, total = total_bytes ? offset_ + total_bytes : 0;
        auto t = std::chrono::steady_clock::now();
        const double secs = std::chrono::duration<double>(t - t0_).count();
        const double speed = secs > 0 ? double(now_bytes) / secs : 0.0;
        if (tty_) {
            if (!final_call && t - last_ < std::chrono::milliseconds(200)) return;
            last_ = t;
            const int width = 30;
            int filled = total ? int(double(done) / double(total) * width) : 0;
            std::string bar(size_t(std::min(filled, width)), '#');
            bar.resize(width, '-');
            std::fprintf(stderr, "\r%s [%s] %.1f/%s MiB %.1f MiB/s   ", name_.c_str(), bar.c_str(), mib(done),
                         total ? fmt_mib(total).c_str() : "?", mib(uint64_t(speed)));
            if (final_call) std::fputc('\n', stderr);
        } else if (total) {
            int decile = int(double(done) * 10 / double(total));
            if (decile > printed_decile_ && (decile < 10 || final_call)) {
                printed_decile_ = decile;
                std::fprintf(stderr, "%s: %d%% (%.1f/%.1f MiB, %.1f MiB/s)\n", name_.c_str(), decile * 10,
                             mib(done), mib(total), mib(uint64_t(speed)));
            }
        } else if (final_call) {
            std::fprintf(stderr, "%s: %.1f MiB (%.1f MiB/s)\n", name_.c_str(), mib(done), mib(uint64_t(speed)));
        }
    }

private:
    static double mib(uint64_t b) { return double(b) / (1024.0 * 1024.0); }
    static std::string fmt_mib(uint64_t b) {
        char s[32];
        std::snprintf(s, sizeof s, "%.1f", mib(b));
        return s;
    }
    std::string name_;
    bool quiet_, tty_;
    std::function<bool(uint64_t, uint64_t)> hook_;
    bool aborted_ = false;
    uint64_t offset_ = 0;
    int printed_decile_ = 0;  // the 0% line is noise
    std::chrono::steady_clock::time_point t0_, last_;
};

int xferinfo_cb(void* user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t, curl_off_t) {
    auto* p = static_cast<Progress*>(user);
    p->update(uint64_t(dlnow), uint64_t(dltotal), false);
    return p->report(uint64_t(dlnow), uint64_t(dltotal)) ? 0 : 1;  // non-zero: curl aborts the transfer
}

// One GET of `url` into `part`, continuing from its current size when it has one.
struct Attempt {
    fs::path part;
    uint64_t offset = 0;       // bytes of .part kept (requested with Range)
    Headers headers;
    std::unique_ptr<std::FILE, FileCloser> out;
    bool refused = false;      // the body was not accepted (error status or a wrong Content-Range)
    bool range_mismatch = false;
    bool restarted = false;    // the server answered 200 to a Range request: .part rewritten from 0
    uint64_t received = 0;
    std::string io_error;

    // Decides, on the first body bytes, whether they append to the .part or replace it.
    bool open_output() {
        const long st = headers.status;
        if (st >= 400 || st < 200 || st >= 300) return false;
        if (st == 206) {
            // Content-Range: bytes <first>-<last>/<total>
            uint64_t first = 0;
            if (std::sscanf(headers.content_range.c_str(), "bytes %" SCNu64, &first) != 1 || first != offset) {
                range_mismatch = true;
                return false;
            }
            out.reset(std::fopen(part.c_str(), "ab"));
        } else {
            restarted = offset > 0;
            offset = 0;
            out.reset(std::fopen(part.c_str(), "wb"));
        }
        if (!out) io_error = "cannot write '" + part.string() + "'";
        return bool(out);
    }
};

size_t write_cb(char* data, size_t size, size_t n, void* user) {
    auto* a = static_cast<Attempt*>(user);
    if (!a->out) {
        if (a->refused) return 0;
        if (!a->open_output()) {
            a->refused = true;
            return 0;
        }
    }
    const size_t bytes = size * n;
    if (std::fwrite(data, 1, bytes, a->out.get()) != bytes) {
        a->io_error = "write to '" + a->part.string() + "' failed";
        return 0;
    }
    a->received += bytes;
    return bytes;
}

struct ProbeResult {
    long status = 0;
    std::string sha256;
    uint64_t length = 0;
};

// HEAD request: what the server says about the file (used only to judge a file already present).
ProbeResult probe(const std::string& url, const FetchOptions& o) {
    auto h = new_handle(url, o);
    Headers hd;
    curl_easy_setopt(h.get(), CURLOPT_NOBODY, 1L);
    curl_easy_setopt(h.get(), CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h.get(), CURLOPT_HEADERDATA, &hd);
    ProbeResult r;
    if (curl_easy_perform(h.get()) != CURLE_OK) return r;
    curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &r.status);
    curl_off_t len = -1;
    curl_easy_getinfo(h.get(), CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    r.length = len > 0 ? uint64_t(len) : 0;
    r.sha256 = hd.server_sha256();
    return r;
}

void write_recorded_hash(const fs::path& p, const std::string& sha, const std::string& name) {
    std::ofstream out(p, std::ios::trunc);
    out << sha << "  " << name << "\n";
    TC_CHECK(out.good(), "cannot write '", p.string(), "'");
}

}  // namespace

std::string rebase_url(const std::string& url, const std::string& name, const std::string& base) {
    if (base.empty()) return url;
    std::string b = base;
    while (!b.empty() && b.back() == '/') b.pop_back();
    return b + "/" + name;
}

std::vector<DownloadEntry> load_manifest(const std::string& path) {
    std::ifstream in(path);
    TC_CHECK(in, "cannot open manifest '", path, "'");
    nlohmann::json j;
    try {
        in >> j;
    } catch (const nlohmann::json::exception& e) {
        TC_FAIL("manifest '", path, "' is not valid JSON: ", e.what());
    }
    TC_CHECK(j.is_array(), "manifest '", path, "' must be a JSON list of {name, url, sha256, size}");
    std::vector<DownloadEntry> out;
    for (const auto& e : j) {
        TC_CHECK(e.is_object() && e.contains("name") && e.contains("url") && e["name"].is_string() &&
                     e["url"].is_string(),
                 "manifest '", path, "': every entry needs string fields name and url");
        DownloadEntry d;
        d.name = e["name"].get<std::string>();
        d.url = e["url"].get<std::string>();
        if (e.contains("sha256") && e["sha256"].is_string()) d.sha256 = lower(e["sha256"].get<std::string>());
        if (e.contains("size") && e["size"].is_number_unsigned()) d.size = e["size"].get<uint64_t>();
        TC_CHECK(!d.name.empty() && d.name.find('/') == std::string::npos && d.name != "." && d.name != "..",
                 "manifest '", path, "': bad file name '", d.name, "'");
        TC_CHECK(d.sha256.empty() || is_sha256_hex(d.sha256), "manifest '", path, "': sha256 of '", d.name,
                 "' is not 64 hex digits");
        out.push_back(std::move(d));
    }
    return out;
}

std::string sha256_file(const std::string& path) {
    std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
    TC_CHECK(f, "cannot open '", path, "'");
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    TC_CHECK(ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1, "sha256 initialisation failed");
    std::vector<unsigned char> buf(1 << 20);
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0)
        TC_CHECK(EVP_DigestUpdate(ctx.get(), buf.data(), n) == 1, "sha256 update failed");
    TC_CHECK(!std::ferror(f.get()), "read error on '", path, "'");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    TC_CHECK(EVP_DigestFinal_ex(ctx.get(), md, &len) == 1, "sha256 finalisation failed");
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (unsigned int i = 0; i < len; ++i) {
        s += hex[md[i] >> 4];
        s += hex[md[i] & 15];
    }
    return s;
}

FetchResult fetch_file(const DownloadEntry& entry, const std::string& dir, const FetchOptions& opts) {
    TC_CHECK(!entry.name.empty() && entry.name.find('/') == std::string::npos, "bad file name '", entry.name, "'");
    std::error_code ec;
    fs::create_directories(dir, ec);
    TC_CHECK(!ec, "cannot create directory '", dir, "': ", ec.message());
    const fs::path final_path = fs::path(dir) / entry.name;
    const fs::path part = fs::path(dir) / (entry.name + ".part");
    const fs::path recorded = fs::path(dir) / (entry.name + ".sha256");

    FetchResult r;
    r.path = final_path.string();

    // Already present: keep it when its hash (manifest, else recorded) matches, or when only a size is known
    // and it matches. With neither, ask the server (HEAD) for its sha256 ETag and length.
    if (fs::is_regular_file(final_path)) {
        std::string expected = entry.sha256, source = "manifest";
        if (expected.empty()) expected = read_recorded_hash(recorded), source = "recorded hash";
        uint64_t want_size = entry.size;
        if (expected.empty() && want_size == 0) {
            auto p = probe(entry.url, opts);
            if (p.status >= 200 && p.status < 300) {
                expected = p.sha256, source = "server etag";
                want_size = p.length;
            }
        }
        const uint64_t have = file_size_or_zero(final_path);
        if (!expected.empty()) {
            if (want_size == 0 || have == want_size) {
                std::string got = sha256_file(final_path.string());
                if (got == expected) {
                    r.status = FetchResult::Status::Skipped;
                    r.sha256 = got, r.verified_by = source, r.size = have;
                    return r;
                }
            }
        } else if (want_size > 0 && have == want_size) {
            r.status = FetchResult::Status::Skipped;
            r.verified_by = "size", r.size = have;
            return r;
        }
        // Otherwise it is replaced by a fresh download (renamed over it only once verified).
    }

    if (entry.size > 0 && file_size_or_zero(part) > entry.size) fs::remove(part, ec);

    Headers last_headers;
    std::string last_error;
    bool done = false;
    for (int attempt = 1; attempt <= std::max(1, opts.attempts) && !done; ++attempt) {
        if (attempt > 1 && opts.retry_delay_ms > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(opts.retry_delay_ms));
        Attempt a;
        a.part = part;
        a.offset = fs::exists(part) ? file_size_or_zero(part) : 0;
        Progress progress(entry.name, opts.quiet, opts.on_progress);
        progress.start(a.offset);

        auto h = new_handle(entry.url, opts);
        curl_easy_setopt(h.get(), CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(h.get(), CURLOPT_HEADERDATA, &a.headers);
        curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &a);
        curl_easy_setopt(h.get(), CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h.get(), CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
        curl_easy_setopt(h.get(), CURLOPT_XFERINFODATA, &progress);
        // CURLOPT_RANGE rather than RESUME_FROM: libcurl then hands a 200 answer to write_cb (restart from 0)
        // instead of failing the transfer.
        const std::string range = std::to_string(a.offset) + "-";
        if (a.offset > 0) curl_easy_setopt(h.get(), CURLOPT_RANGE, range.c_str());

        const CURLcode rc = curl_easy_perform(h.get());
        long status = 0;
        curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &status);
        a.headers.status = status ? status : a.headers.status;
        a.out.reset();  // flush and close before looking at the file
        r.bytes_fetched += a.received;
        if (a.offset > 0 && a.received > 0) r.resumed = true;
        last_headers = a.headers;

        TC_CHECK(a.io_error.empty(), a.io_error);
        TC_CHECK(!progress.aborted(), "download of ", entry.name, " stopped (", entry.url, ")");
        if (status == 416 && a.offset > 0) {
            // The server cannot continue this .part (larger than the file, or the file changed): start over.
            fs::remove(part, ec);
            last_error = "HTTP 416 (range not satisfiable) resuming " + entry.url;
            continue;
        }
        if (status >= 400) {
            const std::string msg = "HTTP " + std::to_string(status) + " for " + entry.url;
            if (status < 500) TC_FAIL(msg);  // client errors do not get better with retries
            last_error = msg;
            continue;
        }
        if (a.range_mismatch) {
            fs::remove(part, ec);
            last_error = "server answered a Range request with the wrong Content-Range '" +
                         a.headers.content_range + "' for " + entry.url;
            continue;
        }
        if (rc != CURLE_OK) {
            last_error = std::string(curl_easy_strerror(rc)) + " for " + entry.url;
            continue;  // the .part keeps what arrived; the next attempt resumes from it
        }
        TC_CHECK(status >= 200 && status < 300, "unexpected HTTP ", status, " for ", entry.url);
        if (!fs::exists(part)) {  // an empty body never opened the file
            std::unique_ptr<std::FILE, FileCloser> f(std::fopen(part.c_str(), "wb"));
            TC_CHECK(f, "cannot write '", part.string(), "'");
        }
        progress.update(a.received, a.received, true);
        done = true;
    }
    TC_CHECK(done, "download of ", entry.name, " failed after ", std::max(1, opts.attempts),
             " attempts: ", last_error);

    // Verify the whole file against the best hash known.
    r.size = file_size_or_zero(part);
    r.sha256 = sha256_file(part.string());
    std::string expected = entry.sha256;
    r.verified_by = "manifest";
    if (expected.empty()) expected = last_headers.server_sha256(), r.verified_by = "server etag";
    if (expected.empty()) r.verified_by.clear();
    if (!expected.empty() && r.sha256 != expected) {
        fs::remove(part, ec);
        TC_FAIL("sha256 mismatch for ", entry.name, ": expected ", expected, " (", r.verified_by, "), got ",
                r.sha256, " (", entry.url, "); the partial download was deleted");
    }
    if (entry.size > 0 && r.size != entry.size) {
        fs::remove(part, ec);
        TC_FAIL("size mismatch for ", entry.name, ": expected ", entry.size, " bytes, got ", r.size, " (",
                entry.url, "); the partial download was deleted");
    }
    fs::rename(part, final_path, ec);  // atomic within the directory
    TC_CHECK(!ec, "cannot rename '", part.string(), "' to '", final_path.string(), "': ", ec.message());
    write_recorded_hash(recorded, r.sha256, entry.name);
    return r;
}

}  // namespace tc
