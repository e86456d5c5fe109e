// libFuzzer target: torch zip checkpoints (ZIP reader + restricted unpickler + storage resolution) from a
// memory buffer. Inputs starting with "PK" go through the whole checkpoint reader; anything else is run
// as a data.pkl pickle, both with the torch allowlist and with a permissive policy that makes every
// global an inert object (exercising REDUCE/NEWOBJ/BUILD). Only tc::Error may escape the readers.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "io/pickle.h"
#include "io/torch_checkpoint.h"

namespace {

void touch(const tc::Tensor& t) {
    if (t.numel() > 0 && t.numel() <= 4096) (void)t.to_vector();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    tc::ByteSpan bytes{data, size};
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        try {
            tc::ZipLimits lim;  // keep inflation small so the fuzzer stays fast
            lim.total_inflated_floor = 8u << 20;
            lim.total_inflated_ratio = 16;
            tc::TorchCheckpoint c = tc::TorchCheckpoint::from_bytes(bytes, nullptr, "fuzz", lim);
            (void)tc::format_inspect(c);
            for (const std::string& n : c.names()) touch(c.get(n));
        } catch (const tc::Error&) {
        }
        try {  // the raw ZIP reader on its own: read every entry
            tc::ZipLimits lim;
            lim.total_inflated_floor = 8u << 20;
            lim.total_inflated_ratio = 16;
            tc::ZipReader z = tc::ZipReader::parse(bytes, "fuzz", lim);
            for (const tc::ZipEntry& e : z.entries()) {
                try {
                    (void)z.read(e);
                } catch (const tc::Error&) {
                }
            }
        } catch (const tc::Error&) {
        }
        return 0;
    }
    try {
        tc::pickle::PickleOptions o = tc::torch_pickle_options("fuzz");
        o.max_values = 1u << 16;
        tc::pickle::PickleDoc doc = tc::pickle::unpickle(bytes, o);
        (void)tc::torch_state_entries(doc, "fuzz");
    } catch (const tc::Error&) {
    }
    try {
        tc::pickle::PickleOptions o;
        o.max_values = 1u << 16;
        o.allow_global = [](const std::string&, const std::string&, tc::pickle::Reducer*) { return true; };
        o.persistent_load = [](tc::pickle::PickleDoc& doc, const tc::pickle::Value&) {
            return doc.make(tc::pickle::Value::Kind::None);
        };
        tc::pickle::PickleDoc doc = tc::pickle::unpickle(bytes, o);
        (void)tc::pickle::describe(doc.root(), 3);
    } catch (const tc::Error&) {
    }
    return 0;
}
