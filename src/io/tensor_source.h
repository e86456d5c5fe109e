// TensorSource: a named collection of tensors read from a file (safetensors or a torch zip checkpoint),
// in the file's order. The weight map binds model parameters from any TensorSource; `tooncrafter inspect`
// prints one. open_tensor_source() picks the reader by the file's magic bytes, never by its extension.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/mmap_file.h"

namespace tc {

// What a tensor is, without touching (or inflating) its bytes.
struct TensorInfo {
    DType dtype = DType::F32;
    Shape shape;
};

class TensorSource {
public:
    virtual ~TensorSource() = default;
    virtual std::vector<std::string> names() const = 0;  // file order
    virtual bool contains(const std::string& name) const = 0;
    virtual TensorInfo info(const std::string& name) const = 0;  // throws for an unknown name
    // The tensor, zero-copy over the file's bytes where the layout allows (read-only memory: do not write).
    virtual Tensor get(const std::string& name) const = 0;
    virtual std::string format_name() const = 0;  // "safetensors", "torch zip checkpoint"
};

enum class FileFormat { SafeTensors, TorchZip, Unknown };

// Sniffs the format from the first bytes: "PK\x03\x04" / "PK\x05\x06" is a zip (torch.save since 1.6),
// an 8-byte little-endian length followed by '{' is safetensors.
FileFormat sniff_format(ByteSpan head);

// A tensor over `bytes` (contiguous layout of `shape`): zero-copy, holding `keepalive`, when `data` is aligned
// to the element size; otherwise an owned, aligned copy (unaligned loads would be undefined behaviour).
Tensor borrow_or_copy(const uint8_t* data, const Shape& shape, DType dtype, const std::shared_ptr<void>& keepalive);

// numel * element size of `shape`, or -1 when a dimension is negative or the product overflows int64.
int64_t checked_nbytes(const Shape& shape, DType dtype);

// Opens `path` as whichever format its bytes are. Throws tc::Error naming the path and the reason.
std::unique_ptr<TensorSource> open_tensor_source(const std::string& path);

// The text `tooncrafter inspect` prints: a summary line
//   "<N> tensors, <E> elements, <B> bytes"
// then one line per tensor in file order: "<name> <dtype> <shape>", shape as "[320,4,3,3]" ("[]" for a scalar).
// Control characters in names are escaped (\xNN) so one tensor is always one line.
std::string format_inspect(const TensorSource& src);

}  // namespace tc
