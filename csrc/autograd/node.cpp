// Graph nodes, saved tensors, grad mode and the helpers ops use to record.
#include "node.h"

#include <atomic>

#include "../error.h"
#include "../ops/ops.h"

namespace ember {

namespace {
thread_local bool t_grad_enabled = true;
thread_local Node* t_current_node = nullptr;
std::atomic<uint64_t> g_next_sequence_nr{0};

struct CurrentNodeGuard {
  Node* prev;
  explicit CurrentNodeGuard(Node* n) : prev(t_current_node) { t_current_node = n; }
  ~CurrentNodeGuard() { t_current_node = prev; }
};

std::string tensor_desc(const Tensor& t) {
  return str("[", dtype_name(t->dtype), " tensor of shape ", shape_str(t->shape), "]");
}
}  // namespace

bool grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool enabled) { t_grad_enabled = enabled; }

Node* current_backward_node() { return t_current_node; }

Node::Node() : sequence_nr(g_next_sequence_nr.fetch_add(1, std::memory_order_relaxed)) {}

Node::~Node() {
  // Steal the edges of every node that dies with this one onto an explicit
  // stack; each popped node then dies with no edges left to recurse into.
  std::vector<std::shared_ptr<Node>> stack;
  auto take = [&stack](Node& n) {
    for (Edge& e : n.next_edges)
      if (e.fn) stack.push_back(std::move(e.fn));
    n.next_edges.clear();
  };
  take(*this);
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    if (n.use_count() == 1) take(*n);
  }
}

SavedTensor::SavedTensor(const Tensor& t, bool is_output) {
  if (!t) return;
  // An output saved by its own grad_fn would keep that node alive forever
  // (tensor -> node -> tensor); an alias without history breaks the cycle.
  data_ = is_output ? make_alias(t) : t;
  version_ = t->current_version();
  is_output_ = is_output;
}

Tensor SavedTensor::unpack(const Node* owner) const {
  if (!data_) return data_;
  if (!owner) owner = t_current_node;
  uint32_t now = data_->current_version();
  if (now != version_) {
    // Name the op that produced the tensor, as PyTorch does.
    const Node* producer = is_output_ ? owner : data_->grad_fn().get();
    std::string which = producer ? str(", which is output 0 of ", producer->name(), ",") : std::string(",");
    throw Error(str("one of the variables needed for gradient computation has been modified by an inplace "
                    "operation: ", tensor_desc(data_), which, " is at version ", now, "; expected version ",
                    version_, " instead."));
  }
  if (is_output_ && t_grad_enabled && t_current_node && is_floating(data_->dtype)) {
    // create_graph: the output's history is the node being run.
    Tensor a = make_alias(data_);
    AutogradMeta& meta = a->autograd_meta();
    meta.requires_grad = true;
    meta.grad_fn = t_current_node->shared_from_this();
    meta.output_nr = 0;
    return a;
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
  CurrentNodeGuard current(this);
  return fn(grads);
}

std::mutex& grad_mutex(const TensorImpl* t) {
  static std::mutex stripes[64];
  return stripes[(reinterpret_cast<uintptr_t>(t) >> 6) % 64];
}

std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor>&& grads) {
  Tensor g = std::move(grads[0]);
  if (!g) return {};
  if (g->shape != leaf->shape) g = sum_to(g, leaf->shape);
  // The replaced gradient dies after the lock is released: if its memory
  // was borrowed from numpy, freeing it takes the GIL, which a thread
  // waiting for this lock may hold.
  Tensor previous;
  {
    std::lock_guard<std::mutex> lock(grad_mutex(leaf.get()));
    AutogradMeta& meta = leaf->autograd_meta();
    previous = meta.grad;
    if (!meta.grad) {
      // .grad is later accumulated into in place, so it must own its memory:
      // take the incoming buffer only when nothing else can see it (one
      // reference to the tensor and to its storage), else copy. With
      // create_graph the gradient's history matters, so keep it as is.
      bool exclusive = g.use_count() == 1 && g->storage.use_count() == 1 && g->is_contiguous() && !g->autograd;
      meta.grad = grad_enabled() ? g : (exclusive ? g : clone(detach(g)));
      if (meta.grad->dtype != leaf->dtype) meta.grad = to_dtype(meta.grad, leaf->dtype);
    } else if (grad_enabled()) {
      meta.grad = add(meta.grad, g);
    } else {
      binary_(BinaryOp::Add, meta.grad, g);
    }
  }
  // Hooks run after the lock is released: a hook that reads .grad (DDP
  // does) takes the same lock.
  run_post_accumulate_hooks(leaf);
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
  // Two threads recording ops on one shared parameter must get the same
  // accumulator, or one of their gradients would be lost.
  std::lock_guard<std::mutex> lock(grad_mutex(t.get()));
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
  if (!grad_enabled() || !t->requires_grad()) return;
  if (t->is_leaf()) throw Error("a leaf Variable that requires grad is being used in an in-place operation.");
  const Tensor& base = t->view_base;
  if (base && base->requires_grad() && base->is_leaf()) {
    throw Error("a view of a leaf Variable that requires grad is being used in an in-place operation.");
  }
}

void rebase_view_history(const Tensor& view) {
  const Tensor& base = view->view_base;
  if (!base || !grad_enabled() || !view->requires_grad() || !view->autograd->grad_fn) return;
  // The window is found by geometry, so the base must be plainly laid out.
  if (base->storage != view->storage || !base->is_contiguous() || !is_floating(base->dtype)) return;
  Shape vshape = view->shape, vstrides = view->strides;
  int64_t voff = view->offset - base->offset;
  auto node = std::make_shared<FunctionNode>("CopySlices", [vshape, vstrides, voff](std::vector<Tensor>& g) {
    // The base's old value gets the gradient outside the window; the view's
    // new value (the in-place op's output) gets the window.
    NoGradGuard no_grad;
    Tensor gb = clone(g[0]);
    Tensor window = make_view(gb, vshape, vstrides, gb->offset + voff);
    Tensor gv = clone(window);
    if (window->numel()) backend(window->device()).fill(window, Scalar(0.0));
    return std::vector<Tensor>{gb, gv};
  });
  set_history(node, {base, view}, {base});
}

void adopt_inplace_history(const Tensor& self, const Tensor& result) {
  if (!result->autograd || !result->autograd->grad_fn) return;
  AutogradMeta& meta = self->autograd_meta();
  meta.requires_grad = true;
  meta.grad_fn = result->autograd->grad_fn;
  meta.output_nr = result->autograd->output_nr;
  if (meta.retains_grad) meta.grad_fn->retained_grads.emplace_back(meta.output_nr, self);
  if (self->view_base) rebase_view_history(self);
}

void retain_grad(const Tensor& t) {
  EMBER_CHECK(t->requires_grad(), Error, "can't retain_grad on Tensor that has requires_grad=False");
  if (t->is_leaf()) return;
  AutogradMeta& meta = t->autograd_meta();
  if (meta.retains_grad) return;
  meta.retains_grad = true;
  meta.grad_fn->retained_grads.emplace_back(meta.output_nr, t);
}

}  // namespace ember
