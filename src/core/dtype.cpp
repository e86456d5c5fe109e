// Names and sizes of dtypes and devices.
#include "core/dtype.h"

#include "core/error.h"

namespace tc {

size_t dtype_size(DType t) {
    switch (t) {
        case DType::F32: return 4;
        case DType::F16: return 2;
        case DType::BF16: return 2;
        case DType::I64: return 8;
        case DType::U8: return 1;
    }
    TC_FAIL("unknown dtype");
}

const char* dtype_name(DType t) {
    switch (t) {
        case DType::F32: return "F32";
        case DType::F16: return "F16";
        case DType::BF16: return "BF16";
        case DType::I64: return "I64";
        case DType::U8: return "U8";
    }
    return "?";
}

DType dtype_from_name(const std::string& n) {
    if (n == "F32") return DType::F32;
    if (n == "F16") return DType::F16;
    if (n == "BF16") return DType::BF16;
    if (n == "I64") return DType::I64;
    if (n == "U8") return DType::U8;
    TC_FAIL("unsupported dtype '", n, "' (supported: F32, F16, BF16, I64, U8)");
}

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

}  // namespace tc
