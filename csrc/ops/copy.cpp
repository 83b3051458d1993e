// Dtype and device conversion, copies, fills, detach and item().
#include "../autograd/node.h"
#include "../error.h"
#include "ops.h"

namespace ember {

namespace {

// Copies `src` (any device, any layout) into `dst` of the same shape.
void copy_across(const Tensor& dst, const Tensor& src) {
  Device dd = dst->device(), sd = src->device();
  if (dd == sd) {
    backend(dd).copy(dst, src);
    return;
  }
  // Between devices: convert on the source device into a contiguous buffer of
  // dst's dtype, move the bytes, then place them into dst's layout.
  Tensor staged = make_empty(src->shape, dst->dtype, sd);
  backend(sd).copy(staged, src);
  Tensor landed = dst->is_contiguous() ? dst : make_empty(dst->shape, dst->dtype, dd);
  size_t nbytes = static_cast<size_t>(staged->numel()) * itemsize(staged->dtype);
  if (nbytes) {
    if (sd.is_cpu()) {
      backend(dd).copy_from_host(landed->data_bytes(), staged->data_bytes(), nbytes, dd.index);
    } else if (dd.is_cpu()) {
      backend(sd).copy_to_host(landed->data_bytes(), staged->data_bytes(), nbytes, sd.index);
    } else {
      std::vector<char> host(nbytes);
      backend(sd).copy_to_host(host.data(), staged->data_bytes(), nbytes, sd.index);
      backend(dd).copy_from_host(landed->data_bytes(), host.data(), nbytes, dd.index);
    }
  }
  if (landed != dst) backend(dd).copy(dst, landed);
}

Tensor converted(const Tensor& t, DType dtype, Device device, const char* node_name) {
  Tensor out = make_empty(t->shape, dtype, device);
  if (out->numel()) copy_across(out, t);
  if (should_record({&t}) && is_floating(dtype)) {
    DType src_dtype = t->dtype;
    Device src_device = t->device();
    record(node_name, {t}, out, [src_dtype, src_device](std::vector<Tensor>& g) {
      Tensor r = g[0];
      if (r->device() != src_device) r = to_device(r, src_device);
      return std::vector<Tensor>{to_dtype(r, src_dtype)};
    });
  }
  return out;
}

}  // namespace

Tensor to_dtype(const Tensor& t, DType dtype) {
  if (t->dtype == dtype) return t;
  return converted(t, dtype, t->device(), "ToCopyBackward0");
}

Tensor to_device(const Tensor& t, Device device) {
  if (t->device() == device) return t;
  return converted(t, t->dtype, device, "ToCopyBackward0");
}

Tensor clone(const Tensor& t) {
  Tensor out = make_empty(t->shape, t->dtype, t->device());
  if (out->numel()) backend(t->device()).copy(out, t);
  if (should_record({&t})) record("CloneBackward0", {t}, out, [](std::vector<Tensor>& g) { return g; });
  return out;
}

Tensor contiguous(const Tensor& t) { return t->is_contiguous() ? t : clone(t); }

Tensor detach(const Tensor& t) { return make_alias(t); }

Tensor& copy_(Tensor& dst, const Tensor& src) {
  check_inplace(dst);
  check_no_internal_overlap(dst);
  if (src->shape != dst->shape) {
    Shape target = broadcast_shapes(src->shape, dst->shape);
    EMBER_CHECK(target == dst->shape, Error, "output with shape ", shape_str(dst->shape),
                " doesn't match the broadcast shape ", shape_str(target));
  }
  Tensor s = expand_to(src, dst->shape);
  if (dst->numel()) {
    if (src->storage == dst->storage && s->device() == dst->device()) s = clone(detach(s));  // overlapping copy
    NoGradGuard no_grad;
    copy_across(dst, s);
  }
  dst->bump_version();
  if (should_record({&src, &dst})) {
    Shape src_shape = src->shape;
    DType src_dtype = src->dtype;
    Device src_device = src->device();
    record("CopyBackwards", {src}, dst, [src_shape, src_dtype, src_device](std::vector<Tensor>& g) {
      Tensor r = sum_to(g[0], src_shape);
      return std::vector<Tensor>{to_dtype(to_device(r, src_device), src_dtype)};
    });
    if (dst->view_base) rebase_view_history(dst);
  }
  return dst;
}

Tensor& fill_(Tensor& t, const Scalar& value) {
  check_inplace(t);
  if (t->numel()) backend(t->device()).fill(t, value);
  t->bump_version();
  if (t->requires_grad() && grad_enabled()) {
    record("FillBackward0", {}, t, [](std::vector<Tensor>&) { return std::vector<Tensor>{}; });
    if (t->view_base) rebase_view_history(t);
  }
  return t;
}

Tensor& zero_(Tensor& t) { return fill_(t, Scalar(int64_t(0))); }

Scalar item(const Tensor& t) {
  EMBER_CHECK(t->numel() == 1, Error, "a Tensor with ", t->numel(),
              " elements cannot be converted to Scalar");
  Tensor host = to_device(t, Device{});
  if (is_floating(t->dtype)) {
    Tensor d = to_dtype(detach(host), DType::Float64);
    return Scalar(*d->data<double>());
  }
  Tensor i = to_dtype(detach(host), DType::Int64);
  int64_t v = *i->data<int64_t>();
  return t->dtype == DType::Bool ? Scalar::boolean(v != 0) : Scalar(v);
}

}  // namespace ember
