// Writes the binary fuzz seed corpora under fuzz/corpus/ (committed; re-run after changing the formats):
//   g++ -std=c++20 -I tests/unit -o /tmp/make_seeds fuzz/make_seeds.cpp -lz && /tmp/make_seeds fuzz/corpus
#include <cstdio>
#include <fstream>
#include <iostream>
#include "ckpt_builder.h"
using namespace tc::testutil;
static void out(const std::string& path, const std::string& b) { std::ofstream(path, std::ios::binary).write(b.data(), b.size()); }
static std::string st(const std::string& header, const std::string& data) {
    std::string h = header; while ((8 + h.size()) % 8) h += ' ';
    std::string o; put_le(o, h.size(), 8); return o + h + data;
}
int main(int argc, char** argv) {
    std::string root = argv[1];
    std::string s = root + "/fuzz_safetensors/", c = root + "/fuzz_checkpoint/";
    out(s + "basic.safetensors", st(R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F16","shape":[3],"data_offsets":[16,22]},"c":{"dtype":"U8","shape":[2],"data_offsets":[22,24]}})", std::string(24, '\x11')));
    out(s + "dtypes.safetensors", st(R"({"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"h":{"dtype":"BF16","shape":[2,1],"data_offsets":[8,12]},"s":{"dtype":"F32","shape":[],"data_offsets":[12,16]},"e":{"dtype":"F32","shape":[0,4],"data_offsets":[16,16]}})", std::string(16, '\x3f')));
    out(s + "empty.safetensors", st("{}", ""));
    std::vector<std::pair<std::string, std::string>> sto = {{"0", floats_bytes({0, 1, 2, 3, 4, 5})}, {"1", floats_bytes({7})}};
    std::vector<CkptTensor> ts = {{"w", "0", 0, {2, 3}, {3, 1}}, {"wt", "0", 0, {3, 2}, {1, 3}}, {"s", "1", 0, {}, {}}};
    out(c + "state_dict.ckpt", torch_zip(torch_pickle(ts, sto), sto));
    out(c + "deflate.ckpt", torch_zip(torch_pickle(ts, sto), sto, true));
    out(c + "zip64.ckpt", torch_zip(torch_pickle(ts, sto), sto, false, true));
    std::vector<CkptTensor> ds = {{"_forward_module.model.w", "1", 0, {1}, {1}}};
    out(c + "module.ckpt", torch_zip(torch_pickle(ds, sto, "module"), sto));
    out(c + "data.pkl", torch_pickle(ts, sto));
    PickleWriter w; w.proto(2).mark().none().boolean(true).integer(-7).integer(1ll << 40).str("x").empty_list().put(0).get(0).op('a').tuple().stop();
    out(c + "misc.pkl", w.b);
    return 0;
}
