// `tooncrafter tokenize TEXT`: the open_clip token ids of a prompt, for checking prompts and the tokenizer.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "cli/commands.h"
#include "cli/paths.h"
#include "core/error.h"
#include "models/tokenizer.h"

namespace tc::cli {

int cmd_tokenize(const std::string& text, const std::string& vocab_arg) {
    std::string vocab = vocab_arg.empty() ? find_vocab({}) : vocab_arg;
    ClipTokenizer tok = ClipTokenizer::from_file(vocab);
    std::vector<int64_t> ids = tok.tokenize(text);
    std::string out = "[";
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ',';
        out += std::to_string(ids[i]);
    }
    out += "]\n";
    std::fputs(out.c_str(), stdout);
    return 0;
}

}  // namespace tc::cli
