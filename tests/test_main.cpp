// GoogleTest entry point for every suite: registers the backends once, then runs the tests.
#include <gtest/gtest.h>

#include "engine/backends.h"

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    tc::init_backends();
    return RUN_ALL_TESTS();
}
