// GoogleTest entry point for every suite: registers the backends once, then runs the tests.
#include <gtest/gtest.h>

#include "cpu/blas_setup.h"
#include "engine/backends.h"

int main(int argc, char** argv) {
    tc::cpu::reexec_for_blas_kernels(argv);  // before any work: see cpu/blas_setup.h
    ::testing::InitGoogleTest(&argc, argv);
    tc::init_backends();
    return RUN_ALL_TESTS();
}
