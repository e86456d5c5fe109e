// Format sniffing, the inspect listing, and the zero-copy-or-copy helper shared by the readers.
#include "io/tensor_source.h"

#include <cstring>
#include <sstream>

#include "io/safetensors.h"
#include "io/torch_checkpoint.h"
#include "io/torchscript_archive.h"

namespace tc {

int64_t checked_nbytes(const Shape& shape, DType dtype) {
    int64_t n = int64_t(dtype_size(dtype));
    for (int64_t d : shape) {
        if (d < 0) return -1;
        if (d != 0 && n > INT64_MAX / d) return -1;
        n *= d;
    }
    return n;
}

Tensor borrow_or_copy(const uint8_t* data, const Shape& shape, DType dtype, const std::shared_ptr<void>& keepalive) {
    if (reinterpret_cast<uintptr_t>(data) % dtype_size(dtype) == 0)
        return Tensor::from_blob(const_cast<uint8_t*>(data), shape, dtype, keepalive);
    Tensor t = Tensor::empty(shape, dtype);
    if (size_t nb = t.nbytes()) std::memcpy(t.raw_data(), data, nb);
    return t;
}

FileFormat sniff_format(ByteSpan h) {
    if (h.size() >= 4 && h[0] == 'P' && h[1] == 'K' &&
        ((h[2] == 3 && h[3] == 4) || (h[2] == 5 && h[3] == 6)))
        return FileFormat::TorchZip;
    if (h.size() >= 9 && h[8] == '{') {
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | h[i];
        if (n >= 2) return FileFormat::SafeTensors;
    }
    return FileFormat::Unknown;
}

std::unique_ptr<TensorSource> open_tensor_source(const std::string& path) {
    auto m = MappedFile::open(path);
    switch (sniff_format(m->bytes())) {
        case FileFormat::SafeTensors:
            return std::make_unique<SafeTensorsFile>(SafeTensorsFile::from_bytes(m->bytes(), m, path));
        case FileFormat::TorchZip:
            // torch.save checkpoints and TorchScript archives (the FILM weights) share the container.
            if (TorchScriptArchive::is_torchscript(ZipReader::parse(m->bytes(), path)))
                return std::make_unique<TorchScriptArchive>(TorchScriptArchive::from_bytes(m->bytes(), m, path));
            return std::make_unique<TorchCheckpoint>(TorchCheckpoint::from_bytes(m->bytes(), m, path));
        case FileFormat::Unknown: break;
    }
    ByteSpan b = m->bytes();
    // torch.save before 1.6 wrote a bare pickle stream (magic number pickle first).
    TC_CHECK(!(b.size() >= 2 && b[0] == 0x80 && b[1] <= 5), "'", path,
             "' is a legacy (pre-1.6) torch.save file, which is not supported: re-save it with a newer torch "
             "(or convert it to safetensors)");
    TC_FAIL("'", path, "' is neither a safetensors file nor a torch zip checkpoint (unrecognised first bytes)");
}

std::string format_inspect(const TensorSource& src) {
    std::vector<std::string> names = src.names();
    std::ostringstream body;
    uint64_t elements = 0, bytes = 0;  // each tensor is bounded by the file; unsigned sums cannot be UB
    for (const std::string& n : names) {
        TensorInfo ti = src.info(n);
        uint64_t ne = uint64_t(shape_numel(ti.shape));
        elements += ne;
        bytes += ne * dtype_size(ti.dtype);
        for (unsigned char ch : n) {
            if (ch < 0x20 || ch == 0x7f || ch == '\\') {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\x%02x", ch);
                body << buf;
            } else {
                body << ch;
            }
        }
        body << ' ' << dtype_name(ti.dtype) << " [";
        for (size_t i = 0; i < ti.shape.size(); ++i) body << (i ? "," : "") << ti.shape[i];
        body << "]\n";
    }
    std::ostringstream out;
    out << names.size() << " tensors, " << elements << " elements, " << bytes << " bytes\n" << body.str();
    return out.str();
}

}  // namespace tc
