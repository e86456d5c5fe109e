// The weight map: binds every Param a model declares (module.h) to the tensor of the same dotted name in a
// checkpoint (a TensorSource), strictly, as torch's load_state_dict(strict=True) does for the official
// loader (scripts/evaluation/funcs.py load_model_checkpoint). Everything wrong is reported in ONE error:
// missing keys, unused keys and shape mismatches, each list capped with a count of the rest.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/module.h"
#include "io/tensor_source.h"

namespace tc {

struct BindOptions {
    std::string prefix;           // file key = prefix + parameter name (e.g. "model.diffusion_model.")
    bool strict_unused = true;    // file keys under `prefix` that no parameter claims are an error
    DType compute_dtype = DType::F32;  // floating tensors of another dtype are converted to this
};

struct WeightReport {
    std::vector<std::string> missing;     // declared, not in the file (file key names)
    std::vector<std::string> unused;      // in the file under the prefix, not declared
    std::vector<std::string> mismatched;  // "key: file [a,b] vs model [c,d]"
    bool ok(bool strict_unused = true) const {
        return missing.empty() && mismatched.empty() && (!strict_unused || unused.empty());
    }
    // The one-paragraph error text (each list capped at 20 names plus "... and N more").
    std::string message(bool strict_unused = true) const;
};

// Compares the declared parameters of `root` with the (file key, shape) pairs available.
WeightReport check_weights(const Module& root, const std::vector<std::pair<std::string, Shape>>& available,
                           const std::string& prefix = "");

// Binds every declared parameter of `root` from `src`. Throws tc::Error with the full report when anything
// is missing, mismatched, or (with strict_unused) unused. Params with used=false are checked but not
// loaded. Tensors already of compute_dtype are bound zero-copy.
void bind_weights(Module& root, const TensorSource& src, const BindOptions& opts = {});

}  // namespace tc
