// Registration, removal and invocation of tensor hooks (see hooks.h).
#include "hooks.h"

#include <algorithm>
#include <atomic>

#include "../error.h"
#include "node.h"

namespace ember {

namespace {

std::atomic<uint64_t> g_next_hook_id{1};

template <class Entries>
void erase_id(Entries& entries, uint64_t id) {
  entries.erase(std::remove_if(entries.begin(), entries.end(), [id](const auto& e) { return e.first == id; }),
                entries.end());
}

LeafHooks& leaf_hooks(const Tensor& leaf) {
  AutogradMeta& meta = leaf->autograd_meta();
  if (!meta.hooks) meta.hooks = std::make_shared<LeafHooks>();
  return *meta.hooks;
}

}  // namespace

HookRemover register_grad_hook(const Tensor& t, GradHook fn) {
  EMBER_CHECK(t->requires_grad(), Error, "cannot register a hook on a tensor that doesn't require gradient");
  uint64_t id = g_next_hook_id.fetch_add(1, std::memory_order_relaxed);
  if (t->is_leaf()) {
    leaf_hooks(t).pre.emplace_back(id, std::move(fn));
    std::weak_ptr<LeafHooks> weak = t->autograd->hooks;
    return [weak, id] {
      if (auto hooks = weak.lock()) erase_id(hooks->pre, id);
    };
  }
  AutogradMeta& meta = *t->autograd;
  meta.grad_fn->tensor_pre_hooks.push_back(TensorPreHook{id, meta.output_nr, std::move(fn)});
  std::weak_ptr<Node> weak = meta.grad_fn;
  return [weak, id] {
    auto node = weak.lock();
    if (!node) return;
    auto& hooks = node->tensor_pre_hooks;
    hooks.erase(std::remove_if(hooks.begin(), hooks.end(), [id](const TensorPreHook& h) { return h.id == id; }),
                hooks.end());
  };
}

HookRemover register_post_accumulate_grad_hook(const Tensor& t, PostAccumulateHook fn) {
  EMBER_CHECK(t->requires_grad(), Error, "cannot register a hook on a tensor that doesn't require gradient");
  EMBER_CHECK(t->is_leaf(), Error, "post accumulate grad hooks cannot be registered on non-leaf tensors");
  uint64_t id = g_next_hook_id.fetch_add(1, std::memory_order_relaxed);
  leaf_hooks(t).post.emplace_back(id, std::move(fn));
  std::weak_ptr<LeafHooks> weak = t->autograd->hooks;
  return [weak, id] {
    if (auto hooks = weak.lock()) erase_id(hooks->post, id);
  };
}

void run_tensor_pre_hooks(Node& node, std::vector<Tensor>& grads) {
  if (!node.tensor_pre_hooks.empty()) {
    // A copy: a hook may register or remove hooks while it runs.
    std::vector<TensorPreHook> hooks = node.tensor_pre_hooks;
    for (const TensorPreHook& h : hooks) {
      if (h.output_nr >= grads.size() || !grads[h.output_nr]) continue;
      Tensor replaced = h.fn(grads[h.output_nr]);
      if (replaced) grads[h.output_nr] = std::move(replaced);
    }
  }
  auto* acc = dynamic_cast<AccumulateGrad*>(&node);
  if (!acc || !acc->leaf->autograd || !acc->leaf->autograd->hooks || grads.empty() || !grads[0]) return;
  std::vector<std::pair<uint64_t, GradHook>> hooks = acc->leaf->autograd->hooks->pre;
  for (const auto& h : hooks) {
    Tensor replaced = h.second(grads[0]);
    if (replaced) grads[0] = std::move(replaced);
  }
}

void run_post_accumulate_hooks(const Tensor& leaf) {
  if (!leaf->autograd || !leaf->autograd->hooks || leaf->autograd->hooks->post.empty()) return;
  std::vector<std::pair<uint64_t, PostAccumulateHook>> hooks = leaf->autograd->hooks->post;
  for (const auto& h : hooks) h.second(leaf);
}

}  // namespace ember
