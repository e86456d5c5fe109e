// Registers every compiled backend with the op dispatcher. Called once by each entry point
// (CLI main, test main, server start) before any op runs.
#pragma once

namespace tc {
void init_backends();
bool cuda_available();  // built with CUDA and a device is present
}  // namespace tc
