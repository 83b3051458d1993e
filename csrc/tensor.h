// The tensor: (storage, shape, strides, offset, dtype) plus autograd state.
// `Tensor` is a shared pointer so that Python objects, views and autograd
// nodes can all hold the same tensor; a null Tensor means "undefined".
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "device.h"
#include "dtype.h"
#include "storage.h"

namespace ember {

using Shape = std::vector<int64_t>;
class TensorImpl;
using Tensor = std::shared_ptr<TensorImpl>;
struct Node;
struct LeafHooks;  // csrc/autograd/hooks.h

// Only tensors that take part in autograd carry this (most never do).
struct AutogradMeta {
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;         // null for leaves
  uint32_t output_nr = 0;                // which output of grad_fn this is
  Tensor grad;                           // accumulated gradient of a leaf
  std::weak_ptr<Node> grad_accumulator;  // weak: the graph owns it, not the leaf
  bool retains_grad = false;
  std::shared_ptr<LeafHooks> hooks;     // a leaf's register_hook / post-accumulate hooks
};

class TensorImpl {
 public:
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;       // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::Float32;
  // Shared by all views of one storage; bumped by in-place ops so autograd
  // can tell a saved tensor was modified.
  std::shared_ptr<std::atomic<uint32_t>> version;
  std::unique_ptr<AutogradMeta> autograd;
  // A Python scalar turned into a 0-d tensor for an op: promotion treats it
  // as weaker than any real tensor, as PyTorch does.
  bool is_wrapped_number = false;
  // Set on views: the tensor whose storage this one looks into.
  Tensor view_base;

  Device device() const { return storage->device; }
  int64_t ndim() const { return static_cast<int64_t>(shape.size()); }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
  }
  bool is_contiguous() const;
  // Byte address of element 0 (only meaningful on the CPU).
  char* data_bytes() const { return static_cast<char*>(storage->data) + offset * static_cast<int64_t>(itemsize(dtype)); }
  template <typename T>
  T* data() const {
    return reinterpret_cast<T*>(data_bytes());
  }
  bool requires_grad() const { return autograd && autograd->requires_grad; }
  const std::shared_ptr<Node>& grad_fn() const;
  bool is_leaf() const { return !autograd || !autograd->grad_fn; }
  AutogradMeta& autograd_meta() {
    if (!autograd) autograd = std::make_unique<AutogradMeta>();
    return *autograd;
  }
  uint32_t current_version() const { return version->load(std::memory_order_relaxed); }
  void bump_version() { version->fetch_add(1, std::memory_order_relaxed); }
};

Shape contiguous_strides(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[2, 3]"

// A fresh, uninitialized, contiguous tensor.
Tensor make_empty(const Shape& shape, DType dtype, Device device);
// A view onto `base`'s storage with new geometry; shares the version counter.
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);
// An alias with the same geometry and no autograd history (detach()).
Tensor make_alias(const Tensor& t);

}  // namespace ember
