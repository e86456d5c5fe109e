// libFuzzer target: the model config reader. The input is YAML text; if it contains a NUL byte, the bytes
// after it become <dir>/open_clip_arch.json, so the open_clip json reader is fuzzed too (seeds name a
// non-built-in `arch`). tc::Error is the expected failure; yaml-cpp / nlohmann exceptions are caught here
// only as a last line (the library must already have wrapped them).
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "io/model_config.h"

namespace {

const std::string& scratch_dir() {
    static const std::string dir = [] {
        std::string d = (std::filesystem::temp_directory_path() / ("tc_fuzz_yaml_" + std::to_string(::getpid()))).string();
        std::filesystem::create_directories(d);
        return d;
    }();
    return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const char* p = reinterpret_cast<const char*>(data);
    const void* nul = std::memchr(p, 0, size);
    size_t yaml_len = nul ? size_t(static_cast<const char*>(nul) - p) : size;
    std::string yaml(p, yaml_len);
    const std::string& dir = scratch_dir();
    std::string json_path = dir + "/open_clip_arch.json";
    if (nul) {
        std::ofstream(json_path, std::ios::binary | std::ios::trunc).write(p + yaml_len + 1, std::streamsize(size - yaml_len - 1));
    } else {
        std::remove(json_path.c_str());
    }
    try {
        tc::ToonCrafterConfig c = tc::parse_model_config(yaml, dir);
        (void)c.frames();
    } catch (const tc::Error&) {
    } catch (const YAML::Exception& e) {
        std::fprintf(stderr, "yaml exception escaped the library: %s\n", e.what());
        std::abort();
    } catch (const nlohmann::json::exception& e) {
        std::fprintf(stderr, "json exception escaped the library: %s\n", e.what());
        std::abort();
    }
    return 0;
}
