// Helpers shared by the test suites: where the reference data lives, and tensor comparison.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "core/tensor.h"

namespace tc::test {

// The reference data directory (../shared beside the checkout by default; env TC_SHARED_DIR overrides).
inline std::string shared_dir() {
    if (const char* e = std::getenv("TC_SHARED_DIR")) return e;
    return TC_SHARED_DIR;
}

// Path of a file under shared/, or "" when it is absent (callers GTEST_SKIP with the reason).
inline std::string shared_file(const std::string& rel) {
    std::string p = shared_dir() + "/" + rel;
    return std::filesystem::exists(p) ? p : std::string();
}

#define TC_REQUIRE_SHARED(var, rel)                                                                    \
    std::string var = ::tc::test::shared_file(rel);                                                  \
    if (var.empty()) GTEST_SKIP() << "reference data not found: " << ::tc::test::shared_dir() << "/" \
                                  << (rel) << " (set TC_SHARED_DIR)"

// A fresh directory under the system temp directory (mkdtemp: unique across processes and tests), removed with
// everything in it by the destructor.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& prefix = "tc-test") {
        std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("cannot create a directory like " + tmpl);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string str() const { return path.string(); }
};

// The built CLI, for tests that run it as a user would.
inline std::string cli_binary() { return std::string(TC_BINARY_DIR) + "/tooncrafter"; }

// Single-quotes a word for /bin/sh.
inline std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

// Runs a shell command; returns its exit status, with stdout (and stderr when merge_stderr) in *output.
inline int run_command(const std::string& cmd, std::string* output, bool merge_stderr = true) {
    const std::string full = cmd + (merge_stderr ? " 2>&1" : " 2>/dev/null");
    FILE* p = popen(full.c_str(), "r");
    if (!p) return -1;
    char buf[4096];
    std::string out;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int st = pclose(p);
    if (output) *output = out;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// max|a-b| / max|ref|: the relative error measure of the golden README.
inline double rel_err(const Tensor& got, const Tensor& ref) {
    EXPECT_EQ(shape_str(got.shape()), shape_str(ref.shape()));
    if (got.shape() != ref.shape()) return 1e30;
    auto g = got.to_vector(), r = ref.to_vector();
    double md = 0, mr = 0;
    for (size_t i = 0; i < g.size(); ++i) {
        double d = std::abs(double(g[i]) - double(r[i]));
        if (!(d <= md)) md = d;  // NaN propagates as failure
        mr = std::max(mr, std::abs(double(r[i])));
    }
    return mr > 0 ? md / mr : md;
}

inline double max_abs_diff(const Tensor& got, const Tensor& ref) {
    EXPECT_EQ(shape_str(got.shape()), shape_str(ref.shape()));
    if (got.shape() != ref.shape()) return 1e30;
    auto g = got.to_vector(), r = ref.to_vector();
    double md = 0;
    for (size_t i = 0; i < g.size(); ++i) {
        double d = std::abs(double(g[i]) - double(r[i]));
        if (!(d <= md)) md = d;
    }
    return md;
}

}  // namespace tc::test
