// Backend registration: the CPU reference backend always, the CUDA backend when it was built and a
// GPU is present.
#include "engine/backends.h"

#include "cpu/cpu_backend.h"
#ifdef TC_HAVE_CUDA
#include "cuda/cuda_backend.h"
#endif

namespace tc {

void init_backends() {
    static bool done = [] {
        cpu::register_cpu_backend();
#ifdef TC_HAVE_CUDA
        cuda::register_cuda_backend_if_present();
#endif
        return true;
    }();
    (void)done;
}

bool cuda_available() {
#ifdef TC_HAVE_CUDA
    return cuda::device_present();
#else
    return false;
#endif
}

}  // namespace tc
