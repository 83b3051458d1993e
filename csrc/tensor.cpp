#include "tensor.h"

#include <sstream>

#include "autograd/node.h"
#include "backend.h"
#include "error.h"

namespace ember {

bool TensorImpl::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t d = ndim() - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    if (strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

const std::shared_ptr<Node>& TensorImpl::grad_fn() const {
  static const std::shared_ptr<Node> none;
  return autograd ? autograd->grad_fn : none;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    strides[d] = s;
    s *= std::max<int64_t>(shape[d], 1);
  }
  return strides;
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

namespace {
// Largest tensor we agree to allocate: keeps size arithmetic far from
// overflow and turns absurd requests into errors instead of crashes.
constexpr int64_t kMaxBytes = int64_t(1) << 46;
}  // namespace

Tensor make_empty(const Shape& shape, DType dtype, Device device) {
  int64_t n = 1;
  for (int64_t s : shape) {
    EMBER_CHECK(s >= 0, Error, "Trying to create tensor with negative dimension ", s, ": ", shape_str(shape));
    if (s != 0 && n > kMaxBytes / s) n = kMaxBytes;  // saturate; checked below
    else n *= s;
  }
  int64_t nbytes = n * static_cast<int64_t>(itemsize(dtype));
  EMBER_CHECK(n < kMaxBytes && nbytes < kMaxBytes, Error, "tensor of shape ", shape_str(shape),
              " is too large to allocate");
  auto t = std::make_shared<TensorImpl>();
  t->storage = allocate_storage(static_cast<size_t>(nbytes), device);
  t->shape = shape;
  t->strides = contiguous_strides(shape);
  t->dtype = dtype;
  t->version = std::make_shared<std::atomic<uint32_t>>(0);
  return t;
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto t = std::make_shared<TensorImpl>();
  t->storage = base->storage;
  t->shape = std::move(shape);
  t->strides = std::move(strides);
  t->offset = offset;
  t->dtype = base->dtype;
  t->version = base->version;
  t->view_base = base->view_base ? base->view_base : base;
  return t;
}

Tensor make_alias(const Tensor& t) {
  auto a = std::make_shared<TensorImpl>();
  a->storage = t->storage;
  a->shape = t->shape;
  a->strides = t->strides;
  a->offset = t->offset;
  a->dtype = t->dtype;
  a->version = t->version;
  a->view_base = t->view_base;
  return a;
}

std::shared_ptr<Storage> allocate_storage(size_t nbytes, Device device) {
  Backend& b = backend(device.type);
  int index = device.index;
  // Always hand out a real pointer, even for empty tensors.
  size_t request = nbytes ? nbytes : 1;
  void* p = b.allocate(request, index);
  auto s = std::make_shared<Storage>();
  s->data = p;
  s->nbytes = nbytes;
  s->device = device;
  Backend* bp = &b;
  s->release = [bp, request, index](void* ptr) { bp->deallocate(ptr, request, index); };
  return s;
}

std::shared_ptr<Storage> borrow_storage(void* data, size_t nbytes, Device device,
                                        std::function<void(void*)> release) {
  auto s = std::make_shared<Storage>();
  s->data = data;
  s->nbytes = nbytes;
  s->device = device;
  s->release = std::move(release);
  return s;
}

}  // namespace ember
