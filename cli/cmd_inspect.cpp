// `tooncrafter inspect FILE`: lists the tensors of a checkpoint (.ckpt torch zip or .safetensors, told apart
// by content) as io/tensor_source.h format_inspect() prints them. Bad input is one `error:` line, exit 2.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "io/tensor_source.h"

namespace tc::cli {

int cmd_inspect(const std::string& path) {
    std::string text;
    try {
        auto src = open_tensor_source(path);
        text = format_inspect(*src);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
}

}  // namespace tc::cli
