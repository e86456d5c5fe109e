// Fetching the model files (`tooncrafter download`): a manifest of {name, url, sha256, size}, and a resumable
// HTTP(S) download of each entry into a directory through libcurl, checked with SHA-256 (OpenSSL EVP).
// A download goes to `<name>.part` (resumed with a Range request when one exists), is hashed over the whole
// file and only then renamed to `<name>`. Where no published hash is known, the server's sha256 ETag is used
// (Hugging Face serves the LFS object's sha256 as X-Linked-Etag); failing that, the computed hash is recorded
// in `<name>.sha256` and the result says it was not verified.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tc {

struct DownloadEntry {
    std::string name;    // file name inside the target directory
    std::string url;     // http:// or https://
    std::string sha256;  // lower-case hex; empty = unknown
    uint64_t size = 0;   // bytes; 0 = unknown
};

// The files ToonCrafter inference uses: the official checkpoint, the CLIP BPE vocabulary and the FILM weights.
std::vector<DownloadEntry> default_manifest();

// A mirror's manifest: a JSON list of {"name", "url", "sha256" (optional), "size" (optional)}.
std::vector<DownloadEntry> load_manifest(const std::string& path);

// `<base>/<name>` when base is non-empty (trailing slashes of base dropped), else `url` unchanged.
std::string rebase_url(const std::string& url, const std::string& name, const std::string& base);

struct FetchOptions {
    bool quiet = false;              // no progress output at all
    long connect_timeout_s = 30;     // TCP/TLS connect
    long low_speed_time_s = 60;      // abort when below low_speed_bytes/s for this long
    long low_speed_bytes = 1024;
    int attempts = 3;                // tries per file; a dropped transfer is resumed from the .part
    int retry_delay_ms = 1000;
    // Called as bytes arrive (done and total count the whole file, a resumed .part included; total 0 =
    // unknown). Returning false aborts the download: fetch_file throws at once, without further attempts
    // (`tooncrafter serve` shows the progress in /health and stops a download on shutdown).
    std::function<bool(uint64_t done, uint64_t total)> on_progress;
};

struct FetchResult {
    enum class Status { Downloaded, Skipped };
    Status status = Status::Downloaded;
    std::string path;              // <dir>/<name>
    std::string sha256;            // of the final file
    std::string verified_by;       // "manifest", "server etag", "recorded hash", "size" or "" (not verified)
    uint64_t size = 0;             // of the final file
    uint64_t bytes_fetched = 0;    // body bytes received by this call (less than size after a resume)
    bool resumed = false;          // some attempt continued an existing .part
};

// Downloads one entry into `dir` (created if needed). Throws tc::Error with a one-line message on any failure
// (HTTP status and URL for 4xx/5xx; both hashes on a mismatch, after deleting the .part).
FetchResult fetch_file(const DownloadEntry& entry, const std::string& dir, const FetchOptions& opts = {});

// Lower-case hex SHA-256 of a file's content.
std::string sha256_file(const std::string& path);

}  // namespace tc
