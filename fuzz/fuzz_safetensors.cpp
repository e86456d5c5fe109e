// libFuzzer target: the safetensors reader on arbitrary bytes. Every input must either parse or throw
// tc::Error; parsed files must give in-bounds tensors (ASan checks every byte read here).
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        tc::SafeTensorsFile f = tc::SafeTensorsFile::from_bytes({data, size}, nullptr, "fuzz");
        (void)tc::format_inspect(f);
        for (const std::string& n : f.names()) {
            tc::Tensor t = f.get(n);
            if (t.numel() > 0 && t.numel() <= 4096) (void)t.to_vector();  // reads every element
            if (t.nbytes() > 0) {  // first and last byte are inside the input
                volatile uint8_t a = static_cast<const uint8_t*>(t.raw_data())[0];
                volatile uint8_t b = static_cast<const uint8_t*>(t.raw_data())[t.nbytes() - 1];
                (void)a;
                (void)b;
            }
        }
    } catch (const tc::Error&) {
    }
    return 0;
}
