// The CUDA backend's public face. Today it provides the device context (RAII stream and cuBLASLt handle),
// device memory for tensors and host<->device copies; the GPU op implementations of tc::Backend follow
// (see issue "CUDA backend"). Built only when nvcc is present.
#pragma once

namespace tc::cuda {

bool device_present();                   // a CUDA device is visible to this process
void register_cuda_backend_if_present(); // registers allocator and copies with core when a device exists

}  // namespace tc::cuda
