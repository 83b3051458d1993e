// Autograd graph nodes. An op that records history creates one Node whose
// `next_edges` point at the nodes of its differentiable inputs, and whose
// apply() maps gradients of its outputs to gradients of those inputs.
#pragma once
#include <mutex>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../tensor.h"
#include "hooks.h"

namespace ember {

struct Node;

struct Edge {
  std::shared_ptr<Node> fn;  // null: that input needs no gradient
  uint32_t input_nr = 0;     // which output of `fn` the gradient belongs to
  bool valid() const { return fn != nullptr; }
};

// What the engine needs to make a zero gradient for an output nobody used.
struct OutputMeta {
  Shape shape;
  DType dtype;
  Device device;
};

struct Node : std::enable_shared_from_this<Node> {
  std::vector<Edge> next_edges;
  std::vector<OutputMeta> outputs;
  uint64_t sequence_nr = 0;

  // Tensors that called retain_grad(): (output_nr, tensor) pairs whose .grad
  // the engine fills with the gradient of that output when this node runs.
  std::vector<std::pair<uint32_t, std::weak_ptr<TensorImpl>>> retained_grads;
  // register_hook() on the (non-leaf) tensors this node produced.
  std::vector<TensorPreHook> tensor_pre_hooks;

  Node();
  // Tears down long chains iteratively: a 100,000-node graph dropped at once
  // must not recurse through 100,000 destructors.
  virtual ~Node();
  virtual const char* name() const = 0;
  // One gradient per output (the engine fills unused ones with zeros);
  // returns one gradient per next edge (null where the edge is invalid).
  virtual std::vector<Tensor> apply(std::vector<Tensor>&& grads) = 0;
  // Frees saved tensors after a backward without retain_graph.
  virtual void release_saved() {}
};

// A tensor saved for backward, with the version it had when saved so that
// an in-place change before backward is caught. Outputs of the recording op
// are saved as aliases without history to avoid a reference cycle.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, bool is_output);
  // Throws if the tensor was modified in place since it was saved. With
  // grad mode on (create_graph), a saved output comes back with its node as
  // grad_fn, so that higher-order gradients flow through it.
  Tensor unpack(const Node* owner = nullptr) const;

 private:
  Tensor data_;
  uint32_t version_ = 0;
  bool is_output_ = false;
};

// The node whose backward is running on this thread (null outside one).
Node* current_backward_node();

using BackwardFn = std::function<std::vector<Tensor>(std::vector<Tensor>& grads)>;

// Most ops describe their backward as a lambda capturing SavedTensors; the
// node drops the lambda (and so the saved tensors) when released.
struct FunctionNode : Node {
  const char* name_;
  BackwardFn fn;

  FunctionNode(const char* n, BackwardFn f) : name_(n), fn(std::move(f)) {}
  const char* name() const override { return name_; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;
  void release_saved() override { fn = nullptr; }
};

// Guards a tensor's .grad: backward accumulates into it without the GIL
// while another Python thread may read or replace it. One of a fixed set
// of mutexes chosen by the tensor's address, so that threads training
// different models rarely share one.
std::mutex& grad_mutex(const TensorImpl* t);

// Sink for a leaf: adds the incoming gradient into leaf.grad (under
// grad_mutex(leaf), so threads sharing a parameter both get counted).
struct AccumulateGrad : Node {
  Tensor leaf;
  explicit AccumulateGrad(Tensor l) : leaf(std::move(l)) {}
  const char* name() const override { return "AccumulateGrad"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;
};

// ---- grad mode (thread-local, as in PyTorch) ----
bool grad_enabled();
void set_grad_enabled(bool enabled);
struct NoGradGuard {
  bool prev;
  NoGradGuard() : prev(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev); }
};

// ---- recording helpers used by the op layer ----
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);
inline bool should_record(std::initializer_list<const Tensor*> inputs) {
  return grad_enabled() && any_requires_grad(inputs);
}
// The edge that carries a gradient into `t` (its grad_fn, or its leaf
// accumulator); invalid when t does not require grad.
Edge gradient_edge(const Tensor& t);
// Connects `node` to `inputs` and makes it the grad_fn of `outputs`.
void set_history(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
                 const std::vector<Tensor>& outputs);
// Convenience: one lambda node for a single-output op.
void record(const char* name, const std::vector<Tensor>& inputs, const Tensor& output, BackwardFn fn);
// Throws if an in-place op may not modify `t` (a leaf that requires grad,
// or a view of one, while grad mode is on).
void check_inplace(const Tensor& t);
// After an in-place op gave the view `t` new history: gives its base a
// CopySlices node so that gradients through the base see the change.
void rebase_view_history(const Tensor& t);
// Hands `self` the history of the out-of-place `result` of an in-place op
// (and rebases the base when `self` is a view).
void adopt_inplace_history(const Tensor& self, const Tensor& result);
// retain_grad(): a non-leaf keeps its gradient in .grad after backward.
void retain_grad(const Tensor& t);

// ---- the engine ----
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots, bool retain_graph,
                  bool create_graph);
std::vector<Tensor> run_grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
                             const std::vector<Tensor>& inputs, bool retain_graph, bool create_graph,
                             bool allow_unused);

}  // namespace ember
