// Graph nodes, saved tensors, grad mode and the helpers ops use to record.
#include "node.h"

#include <atomic>

#include "../error.h"
#include "../ops/ops.h"

namespace ember {

namespace {
thread_local bool t_grad_enabled = true;
std::atomic<uint64_t> g_next_sequence_nr{0};

std::string tensor_desc(const Tensor& t) {
  return str("[", dtype_name(t->dtype), " tensor of shape ", shape_str(t->shape), "]");
}
}  // namespace

bool grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool enabled) { t_grad_enabled = enabled; }

Node::Node() : sequence_nr(g_next_sequence_nr.fetch_add(1, std::memory_order_relaxed)) {}

SavedTensor::SavedTensor(const Tensor& t, bool is_output) {
  if (!t) return;
  // An output saved by its own grad_fn would keep that node alive forever
  // (tensor -> node -> tensor); an alias without history breaks the cycle.
  data_ = is_output ? make_alias(t) : t;
  version_ = t->current_version();
}

Tensor SavedTensor::unpack(const Node* owner) const {
  if (!data_) return data_;
  uint32_t now = data_->current_version();
  if (now != version_) {
    throw Error(str("one of the variables needed for gradient computation has been modified by an inplace "
                    "operation: ", tensor_desc(data_), ", which is saved by ", owner ? owner->name() : "?",
                    ", is at version ", now, "; expected version ", version_, " instead."));
  }
  return data_;
}

std::vector<Tensor> FunctionNode::apply(std::vector<Tensor>&& grads) {
  if (!fn) {
    throw Error(str("Trying to backward through the graph a second time (or directly access saved tensors after "
                    "they have already been freed) in ", name_, ". Saved intermediate values of the graph are "
                    "freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you need "
                    "to backward through the graph a second time."));
  }
  return fn(grads);
}

std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor>&& grads) {
  Tensor g = grads[0];
  if (!g) return {};
  AutogradMeta& meta = leaf->autograd_meta();
  if (g->shape != leaf->shape) g = sum_to(g, leaf->shape);
  if (!meta.grad) {
    // The engine may hand us a tensor another node still holds; own a copy
    // unless grad mode is recording (create_graph), when history matters.
    meta.grad = grad_enabled() ? g : (g->is_contiguous() && g.use_count() <= 2 ? detach(g) : clone(detach(g)));
    if (meta.grad->dtype != leaf->dtype) meta.grad = to_dtype(meta.grad, leaf->dtype);
  } else if (grad_enabled()) {
    meta.grad = add(meta.grad, g);
  } else {
    binary_(BinaryOp::Add, meta.grad, g);
  }
  return {};
}

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  for (const Tensor* t : inputs)
    if (*t && (*t)->requires_grad()) return true;
  return false;
}

Edge gradient_edge(const Tensor& t) {
  if (!t || !t->requires_grad()) return Edge{};
  AutogradMeta& meta = *t->autograd;
  if (meta.grad_fn) return Edge{meta.grad_fn, meta.output_nr};
  std::shared_ptr<Node> acc = meta.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t);
    acc->outputs.push_back(OutputMeta{t->shape, t->dtype, t->device()});
    meta.grad_accumulator = acc;
  }
  return Edge{acc, 0};
}

void set_history(const std::shared_ptr<Node>& node, const std::vector<Tensor>& inputs,
                 const std::vector<Tensor>& outputs) {
  node->next_edges.reserve(inputs.size());
  for (const Tensor& in : inputs) node->next_edges.push_back(gradient_edge(in));
  node->outputs.reserve(outputs.size());
  uint32_t nr = 0;
  for (const Tensor& out : outputs) {
    node->outputs.push_back(OutputMeta{out->shape, out->dtype, out->device()});
    if (is_floating(out->dtype)) {
      AutogradMeta& meta = out->autograd_meta();
      meta.requires_grad = true;
      meta.grad_fn = node;
      meta.output_nr = nr;
    }
    ++nr;
  }
}

void record(const char* name, const std::vector<Tensor>& inputs, const Tensor& output, BackwardFn fn) {
  set_history(std::make_shared<FunctionNode>(name, std::move(fn)), inputs, {output});
}

void check_inplace(const Tensor& t) {
  if (grad_enabled() && t->requires_grad() && t->is_leaf()) {
    throw Error("a leaf Variable that requires grad is being used in an in-place operation.");
  }
}

}  // namespace ember
