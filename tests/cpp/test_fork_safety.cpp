// A process forked after the parent ran OpenMP regions (the GEMM, a large
// elementwise op) must still run such ops: GNU OpenMP would hang in the
// child's first team, so the core's fork handlers make the child
// single-threaded (csrc/cpu/parallel.cpp) and renew its locks.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "csrc/error.h"
#include "csrc/ops/ops.h"
#include "csrc/tensor.h"

using namespace ember;

namespace {

const Device kCpu{};

// Large enough that the parent starts thread teams: a 512^3 GEMM and 4M-element ops.
void run_large_ops() {
  Tensor a = rand({512, 512}, DType::Float32, kCpu);
  Tensor c = matmul(a, a);
  Tensor v = rand({1 << 22}, DType::Float32, kCpu);
  Tensor w = add(mul_scalar(v, 2.0), v);
  Tensor s = sum(w, {}, false);
  (void)c, (void)s;
}

}  // namespace

TEST(ForkSafety, ChildOfAThreadedParentRunsLargeOps) {
  setenv("EMBER_IGNORE_LOAD", "1", 1);  // threads even on a busy machine
  set_num_threads(2);
  run_large_ops();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(60);  // a hang ends the child with SIGALRM instead of blocking the test
    int code = 0;
    try {
      run_large_ops();
      if (get_num_threads() != 1) code = 2;
      set_num_threads(1);  // allowed
      try {
        set_num_threads(2);
        code = 3;
      } catch (const Error&) {
      }
    } catch (...) {
      code = 4;
    }
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child ended by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // The parent keeps its own thread count.
  EXPECT_EQ(get_num_threads(), 2);
  run_large_ops();
}
