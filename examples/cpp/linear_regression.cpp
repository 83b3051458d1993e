// D2L section 3.2 (linear regression from scratch) written against ember's
// C++ core, as a libtorch user would against PyTorch's: synthetic data
// y = Xw + b + noise, minibatch SGD with gradients from ember's autograd.
// Built from the installed wheel (see CMakeLists.txt beside this file):
//
//   cmake -S examples/cpp -B build/cpp-example \
//         -DCMAKE_PREFIX_PATH="$(python -c 'import ember.utils; print(ember.utils.cmake_prefix_path)')"
//   cmake --build build/cpp-example && build/cpp-example/linear_regression
#include <cmath>
#include <cstdio>
#include <vector>

#include "csrc/autograd/node.h"
#include "csrc/ops/ops.h"
#include "csrc/tensor.h"

using namespace ember;

int main() {
  const Device cpu{};
  const DType f32 = DType::Float32;
  manual_seed(0);

  const std::vector<float> true_w = {2.0f, -3.4f};
  const float true_b = 4.2f;
  const int64_t n = 1000, batch = 10;
  Tensor w_star = from_host(true_w.data(), {2, 1}, f32, cpu);
  Tensor X = randn({n, 2}, f32, cpu);
  Tensor y = add(add(matmul(X, w_star), full({n, 1}, Scalar(true_b), f32, cpu)),
                 mul_scalar(randn({n, 1}, f32, cpu), 0.01));

  Tensor w = mul_scalar(randn({2, 1}, f32, cpu), 0.01);
  Tensor b = zeros({1}, f32, cpu);
  w->autograd_meta().requires_grad = true;
  b->autograd_meta().requires_grad = true;

  const double lr = 0.03;
  for (int epoch = 0; epoch < 3; ++epoch) {
    for (int64_t start = 0; start < n; start += batch) {
      Tensor Xb = slice(X, 0, start, start + batch, 1), yb = slice(y, 0, start, start + batch, 1);
      Tensor loss = mse_loss(add(matmul(Xb, w), b), yb, Reduction::Mean);
      run_backward({loss}, {}, /*retain_graph=*/false, /*create_graph=*/false);
      NoGradGuard no_grad;  // the update is not part of the graph
      for (Tensor* p : {&w, &b}) {
        Tensor& grad = (*p)->autograd_meta().grad;
        Tensor step = mul_scalar(grad, lr);
        binary_(BinaryOp::Sub, *p, step);
        grad = nullptr;  // zero_grad(set_to_none=True)
      }
    }
    NoGradGuard no_grad;
    double train_loss = item(mse_loss(add(matmul(X, w), b), y, Reduction::Mean)).to_double();
    std::printf("epoch %d, loss %f\n", epoch + 1, train_loss);
  }
  const float* wd = w->data<float>();
  std::printf("w = [%.4f, %.4f] (true [2, -3.4]), b = %.4f (true 4.2)\n", wd[0], wd[1], b->data<float>()[0]);
  const bool ok = std::fabs(wd[0] - 2.0f) < 0.01f && std::fabs(wd[1] + 3.4f) < 0.01f &&
                  std::fabs(b->data<float>()[0] - 4.2f) < 0.01f;
  return ok ? 0 : 1;
}
