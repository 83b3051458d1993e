// Tensor hooks, as PyTorch defines them: `register_hook(fn)` sees (and may
// replace) the gradient flowing into a tensor; `register_post_accumulate_
// grad_hook(fn)` runs after a leaf's .grad was written. Data-parallel
// training starts a bucket's all-reduce from the second kind.
//
// Where a hook lives follows the tensor's role: a non-leaf's hooks sit on its
// grad_fn (keyed by output number), so they stay with the history they were
// registered on; a leaf's sit in its autograd meta, because its
// AccumulateGrad node is created lazily and only held by the graph.
#pragma once
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "../tensor.h"

namespace ember {

// Returns the replacement gradient, or an undefined tensor to keep `grad`.
using GradHook = std::function<Tensor(const Tensor& grad)>;
// Receives the leaf whose .grad was just accumulated.
using PostAccumulateHook = std::function<void(const Tensor& leaf)>;
// Unregisters the hook it was returned for; harmless to call twice, or after
// the tensor or its graph is gone.
using HookRemover = std::function<void()>;

struct TensorPreHook {
  uint64_t id;
  uint32_t output_nr;
  GradHook fn;
};

struct LeafHooks {
  std::vector<std::pair<uint64_t, GradHook>> pre;
  std::vector<std::pair<uint64_t, PostAccumulateHook>> post;
};

// Throws PyTorch's errors for a tensor that does not require grad, and (for
// the post-accumulate kind) for a non-leaf.
HookRemover register_grad_hook(const Tensor& t, GradHook fn);
HookRemover register_post_accumulate_grad_hook(const Tensor& t, PostAccumulateHook fn);

// Engine side. Applies, in registration order, the hooks registered on the
// tensors whose gradients `node` receives, to the defined entries of `grads`.
void run_tensor_pre_hooks(Node& node, std::vector<Tensor>& grads);
// Runs the post-accumulate hooks of `leaf` (called by AccumulateGrad).
void run_post_accumulate_hooks(const Tensor& leaf);

}  // namespace ember
