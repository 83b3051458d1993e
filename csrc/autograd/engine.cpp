// The backward engine: iterative (no recursion, so a 100,000-op chain cannot
// overflow the stack), dependency-counted, summing each node's incoming
// gradients before its backward runs.
#include <unordered_map>
#include <unordered_set>

#include "../error.h"
#include "../ops/ops.h"
#include "node.h"

namespace ember {

namespace {

struct GradGuard {
  bool prev;
  explicit GradGuard(bool enabled) : prev(grad_enabled()) { set_grad_enabled(enabled); }
  ~GradGuard() { set_grad_enabled(prev); }
};

// Where autograd.grad wants a gradient captured instead of accumulated.
struct CaptureKey {
  Node* node;
  uint32_t output_nr;
  bool operator==(const CaptureKey& o) const { return node == o.node && output_nr == o.output_nr; }
};
struct CaptureHash {
  size_t operator()(const CaptureKey& k) const { return std::hash<Node*>()(k.node) ^ (size_t(k.output_nr) << 1); }
};

void accumulate(Tensor& slot, const Tensor& g) {
  if (!g) return;
  slot = slot ? add(slot, g) : g;
}

Tensor zeros_for(const OutputMeta& m) { return zeros(m.shape, m.dtype, m.device); }

// retain_grad(): hands the gradient of each retained output to its tensor's
// .grad (a copy the first time, a sum afterwards, as PyTorch does).
void fill_retained_grads(Node& node, const std::vector<Tensor>& grads) {
  auto& entries = node.retained_grads;
  for (size_t i = 0; i < entries.size();) {
    Tensor t = entries[i].second.lock();
    if (!t) {
      entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    uint32_t nr = entries[i].first;
    AutogradMeta& meta = t->autograd_meta();
    if (meta.grad_fn.get() == &node && meta.output_nr == nr && nr < grads.size() && grads[nr]) {
      const Tensor& g = grads[nr];
      Tensor previous;  // dies after the lock (see AccumulateGrad::apply)
      std::lock_guard<std::mutex> lock(grad_mutex(t.get()));
      previous = meta.grad;
      meta.grad = meta.grad ? add(meta.grad, g) : (grad_enabled() ? clone(g) : clone(detach(g)));
    }
    ++i;
  }
}

// Runs the graph below `roots`. With `captures` (autograd.grad), gradients
// flowing into the captured (node, output) pairs are stored there and leaf
// accumulators are not run.
void execute(const std::vector<Edge>& roots, const std::vector<Tensor>& root_grads, bool retain_graph,
             bool create_graph, std::unordered_map<CaptureKey, Tensor, CaptureHash>* captures) {
  GradGuard guard(create_graph);

  // 1. Count, for each node, how many edges lead into it.
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> stack;
  std::unordered_set<Node*> seen;
  for (const Edge& e : roots) {
    if (e.fn && seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
  }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges) {
      if (!e.fn) continue;
      dependencies[e.fn.get()] += 1;
      if (seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
    }
  }

  // 2. Seed the input buffers of the roots.
  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  std::unordered_map<Node*, std::shared_ptr<Node>> keep_alive;
  std::vector<std::shared_ptr<Node>> ready;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Edge& e = roots[i];
    if (!e.fn) continue;
    auto& buf = buffers[e.fn.get()];
    buf.resize(e.fn->outputs.size());
    accumulate(buf[e.input_nr], root_grads[i]);
    keep_alive[e.fn.get()] = e.fn;
  }
  for (const Edge& e : roots) {
    if (e.fn && dependencies[e.fn.get()] == 0 && keep_alive.count(e.fn.get())) {
      ready.push_back(e.fn);
      keep_alive.erase(e.fn.get());
    }
  }

  // 3. Run nodes whose every incoming gradient has arrived.
  while (!ready.empty()) {
    std::shared_ptr<Node> node = std::move(ready.back());
    ready.pop_back();
    std::vector<Tensor> grads = std::move(buffers[node.get()]);
    buffers.erase(node.get());
    grads.resize(node->outputs.size());

    // register_hook() runs first, so that retain_grad, autograd.grad's
    // captures and the backward itself all see the replaced gradient.
    run_tensor_pre_hooks(*node, grads);
    bool run = true;
    if (captures) {
      for (uint32_t k = 0; k < grads.size(); ++k) {
        auto it = captures->find(CaptureKey{node.get(), k});
        if (it != captures->end()) accumulate(it->second, grads[k]);
      }
      if (dynamic_cast<AccumulateGrad*>(node.get())) run = false;
    }
    if (!captures && !node->retained_grads.empty()) fill_retained_grads(*node, grads);
    std::vector<Tensor> input_grads;
    if (run) {
      bool any = false;
      for (auto& g : grads) any = any || g;
      if (any) {
        for (size_t k = 0; k < grads.size(); ++k)
          if (!grads[k]) grads[k] = zeros_for(node->outputs[k]);
        input_grads = node->apply(std::move(grads));
      }
      if (!retain_graph) node->release_saved();
    }

    for (size_t j = 0; j < node->next_edges.size(); ++j) {
      const Edge& e = node->next_edges[j];
      if (!e.fn) continue;
      Node* next = e.fn.get();
      auto& buf = buffers[next];
      if (buf.empty()) buf.resize(next->outputs.size());
      if (j < input_grads.size() && input_grads[j]) {
        const Tensor& g = input_grads[j];
        const OutputMeta& m = next->outputs[e.input_nr];
        if (g->shape != m.shape) {
          throw Error(str("Function ", node->name(), " returned an invalid gradient at index ", j,
                          " - got ", shape_str(g->shape), " but expected shape compatible with ",
                          shape_str(m.shape)));
        }
        accumulate(buf[e.input_nr], g);
      }
      if (--dependencies[next] == 0) ready.push_back(e.fn);
    }
  }
}

Tensor default_root_grad(const Tensor& root, const Tensor& given) {
  if (given) {
    EMBER_CHECK(given->shape == root->shape, Error, "Mismatch in shape: grad_output[0] has a shape of ",
                shape_str(given->shape), " and output[0] has a shape of ", shape_str(root->shape), ".");
    return given;
  }
  EMBER_CHECK(root->numel() == 1, Error, "grad can be implicitly created only for scalar outputs");
  return ones(root->shape, root->dtype, root->device());
}

// The edges and seed gradients of the tensors a backward starts from.
void collect_roots(const std::vector<Tensor>& roots, const std::vector<Tensor>& given, std::vector<Edge>& edges,
                   std::vector<Tensor>& grads) {
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    EMBER_CHECK(r->requires_grad(), Error,
                "element ", i, " of tensors does not require grad and does not have a grad_fn");
    edges.push_back(gradient_edge(r));
    grads.push_back(default_root_grad(r, i < given.size() ? given[i] : Tensor()));
  }
}

}  // namespace

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots, bool retain_graph,
                  bool create_graph) {
  std::vector<Edge> edges;
  std::vector<Tensor> grads;
  collect_roots(roots, grad_roots, edges, grads);
  execute(edges, grads, retain_graph, create_graph, nullptr);
}

std::vector<Tensor> run_grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
                             const std::vector<Tensor>& inputs, bool retain_graph, bool create_graph,
                             bool allow_unused) {
  std::vector<Edge> edges;
  std::vector<Tensor> grads;
  collect_roots(outputs, grad_outputs, edges, grads);
  std::unordered_map<CaptureKey, Tensor, CaptureHash> captures;
  std::vector<Edge> input_edges;
  for (size_t i = 0; i < inputs.size(); ++i) {
    EMBER_CHECK(inputs[i]->requires_grad(), Error, "One of the differentiated Tensors does not require grad");
    Edge e = gradient_edge(inputs[i]);
    input_edges.push_back(e);
    captures[CaptureKey{e.fn.get(), e.input_nr}] = Tensor();
  }
  execute(edges, grads, retain_graph, create_graph, &captures);
  std::vector<Tensor> result;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor g = captures[CaptureKey{input_edges[i].fn.get(), input_edges[i].input_nr}];
    if (!g && !allow_unused) {
      throw Error("One of the differentiated Tensors appears to not have been used in the graph. Set "
                  "allow_unused=True if this is the desired behavior.");
    }
    result.push_back(g);
  }
  return result;
}

}  // namespace ember
