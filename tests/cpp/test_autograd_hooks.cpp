// Tensor hooks in the core engine, without Python: order, replacement,
// removal, post-accumulate hooks and exceptions thrown by a hook.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "csrc/autograd/hooks.h"
#include "csrc/error.h"
#include "csrc/autograd/node.h"
#include "csrc/ops/ops.h"

using namespace ember;

namespace {

const Device kCpu{};

Tensor leaf(double v) {
  Tensor t = full({2}, Scalar(v), DType::Float64, kCpu);
  t->autograd_meta().requires_grad = true;
  return t;
}

double first(const Tensor& t) { return reinterpret_cast<const double*>(t->data_bytes())[0]; }

void backward_of(const Tensor& y) { run_backward({sum(y, {}, false)}, {}, false, false); }

}  // namespace

TEST(AutogradHooks, LeafHookReplacesGradientBeforeAccumulation) {
  Tensor x = leaf(1.0);
  std::vector<double> seen;
  register_grad_hook(x, [&](const Tensor& g) {
    seen.push_back(first(g));
    return mul_scalar(g, 10.0);
  });
  backward_of(mul_scalar(x, 3.0));
  ASSERT_EQ(seen, std::vector<double>({3.0}));
  EXPECT_EQ(first(x->autograd->grad), 30.0);
}

TEST(AutogradHooks, NonLeafHooksRunInOrderAndRemovalWorks) {
  Tensor x = leaf(2.0);
  Tensor y = mul_scalar(x, 2.0);
  std::vector<int> order;
  HookRemover first_hook = register_grad_hook(y, [&](const Tensor&) {
    order.push_back(1);
    return Tensor();
  });
  register_grad_hook(y, [&](const Tensor& g) {
    order.push_back(2);
    return mul_scalar(g, 0.5);
  });
  first_hook();
  first_hook();  // twice is harmless
  backward_of(y);
  EXPECT_EQ(order, std::vector<int>({2}));
  EXPECT_EQ(first(x->autograd->grad), 1.0);
}

TEST(AutogradHooks, PostAccumulateSeesTheSum) {
  Tensor x = leaf(1.0);
  std::vector<double> seen;
  register_post_accumulate_grad_hook(x, [&](const Tensor& t) { seen.push_back(first(t->autograd->grad)); });
  backward_of(add(mul_scalar(x, 2.0), x));  // x reaches its accumulator twice: one call, the summed gradient
  backward_of(x);
  EXPECT_EQ(seen, std::vector<double>({3.0, 4.0}));
}

TEST(AutogradHooks, RegistrationErrorsAndThrowingHooks) {
  Tensor plain = full({2}, Scalar(1.0), DType::Float64, kCpu);
  EXPECT_THROW(register_grad_hook(plain, [](const Tensor&) { return Tensor(); }), Error);
  Tensor x = leaf(1.0);
  Tensor y = mul_scalar(x, 2.0);
  EXPECT_THROW(register_post_accumulate_grad_hook(y, [](const Tensor&) {}), Error);
  register_grad_hook(x, [](const Tensor&) -> Tensor { throw std::runtime_error("from the hook"); });
  EXPECT_THROW(backward_of(y), std::runtime_error);
}
