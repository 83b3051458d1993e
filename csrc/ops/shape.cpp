// Views and shape ops: view/reshape, transpose/permute, expand, squeeze,
// select/slice, and the joining ops cat/stack/split/chunk, with backward.
#include <algorithm>
#include <numeric>

#include "../autograd/node.h"
#include "../error.h"
#include "ops.h"

namespace ember {

namespace {

Shape infer_shape(Shape shape, int64_t numel) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      EMBER_CHECK(infer < 0, Error, "only one dimension can be inferred");
      infer = static_cast<int64_t>(i);
    } else {
      EMBER_CHECK(shape[i] >= 0, Error, "invalid shape dimension ", shape[i]);
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    EMBER_CHECK(known != 0 && numel % known == 0, Error, "shape '", shape_str(shape), "' is invalid for input of size ",
                numel);
    shape[infer] = numel / known;
  } else {
    EMBER_CHECK(known == numel, Error, "shape '", shape_str(shape), "' is invalid for input of size ", numel);
  }
  return shape;
}

// Strides that let `shape` view memory laid out as (old_shape, old_strides),
// or false when no view exists (PyTorch's computeStride algorithm).
bool view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& shape, Shape& out) {
  out.assign(shape.size(), 0);
  int64_t numel = 1;
  for (int64_t s : old_shape) numel *= s;
  if (numel == 0 || old_shape.empty()) {
    out = contiguous_strides(shape);
    return true;
  }
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t tensor_d = static_cast<int64_t>(old_shape.size()) - 1; tensor_d >= 0; --tensor_d) {
    tensor_numel *= old_shape[tensor_d];
    if (tensor_d == 0 ||
        (old_shape[tensor_d - 1] != 1 && old_strides[tensor_d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (tensor_d > 0) {
        chunk_base_stride = old_strides[tensor_d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

// Records a view op whose backward only reshapes/permutes the gradient.
void record_view(const char* name, const Tensor& a, const Tensor& out, BackwardFn fn) {
  if (should_record({&a})) record(name, {a}, out, std::move(fn));
}

// Gradient of a view that picked part of `shape`: zeros with g written into
// the same window.
Tensor scatter_into_zeros(const Tensor& g, const Shape& shape, const std::function<Tensor(const Tensor&)>& window) {
  Tensor z = zeros(shape, g->dtype, g->device());
  Tensor w = window(z);
  if (w->numel()) backend(z->device()).copy(w, expand_to(g, w->shape));
  return z;
}

}  // namespace

Tensor view(const Tensor& a, Shape shape_in) {
  Shape shape = infer_shape(std::move(shape_in), a->numel());
  Shape strides;
  EMBER_CHECK(view_strides(a->shape, a->strides, shape, strides), Error,
              "view size is not compatible with input tensor's size and stride (at least one dimension spans across "
              "two contiguous subspaces). Use .reshape(...) instead.");
  Tensor out = make_view(a, shape, strides, a->offset);
  Shape in_shape = a->shape;
  record_view("ViewBackward0", a, out, [in_shape](std::vector<Tensor>& g) { return std::vector<Tensor>{reshape(g[0], in_shape)}; });
  return out;
}

Tensor reshape(const Tensor& a, Shape shape_in) {
  Shape shape = infer_shape(std::move(shape_in), a->numel());
  Shape strides;
  if (view_strides(a->shape, a->strides, shape, strides)) return view(a, shape);
  Tensor c = clone(a);
  return view(c, shape);
}

Tensor as_strided(const Tensor& a, Shape shape, Shape strides, int64_t offset) {
  EMBER_CHECK(shape.size() == strides.size(), Error, "mismatch in length of strides and shape");
  int64_t max_index = offset;
  for (size_t i = 0; i < shape.size(); ++i) {
    EMBER_CHECK(shape[i] >= 0 && strides[i] >= 0, Error, "as_strided: negative size or stride");
    if (shape[i] == 0) max_index = -1;
    int64_t span = 0;
    bool overflow = max_index >= 0 && shape[i] > 0 &&
                    (__builtin_mul_overflow(shape[i] - 1, strides[i], &span) ||
                     __builtin_add_overflow(max_index, span, &max_index));
    EMBER_CHECK(!overflow, Error, "as_strided: sizes ", shape_str(shape), " and strides ", shape_str(strides),
                " address more elements than any storage can hold");
  }
  int64_t capacity = static_cast<int64_t>(a->storage->nbytes / itemsize(a->dtype));
  EMBER_CHECK(offset >= 0 && max_index < capacity, Error, "setStorage: sizes ", shape_str(shape), ", strides ",
              shape_str(strides), " and storage offset ", offset, " require more elements than the storage holds (",
              capacity, ")");
  return make_view(a, std::move(shape), std::move(strides), offset);
}

Tensor transpose(const Tensor& a, int64_t d0, int64_t d1) {
  int64_t nd = a->ndim();
  d0 = wrap_dim(d0, nd);
  d1 = wrap_dim(d1, nd);
  Shape shape = a->shape, strides = a->strides;
  if (nd > 0) {
    std::swap(shape[d0], shape[d1]);
    std::swap(strides[d0], strides[d1]);
  }
  Tensor out = make_view(a, shape, strides, a->offset);
  record_view("TransposeBackward0", a, out, [d0, d1](std::vector<Tensor>& g) { return std::vector<Tensor>{transpose(g[0], d0, d1)}; });
  return out;
}

Tensor t(const Tensor& a) {
  EMBER_CHECK(a->ndim() <= 2, Error, "t() expects a tensor with <= 2 dimensions, but self is ", a->ndim(), "D");
  if (a->ndim() < 2) {
    Tensor out = make_view(a, a->shape, a->strides, a->offset);
    record_view("TBackward0", a, out, [](std::vector<Tensor>& g) { return g; });
    return out;
  }
  Tensor out = make_view(a, {a->shape[1], a->shape[0]}, {a->strides[1], a->strides[0]}, a->offset);
  record_view("TBackward0", a, out, [](std::vector<Tensor>& g) { return std::vector<Tensor>{t(g[0])}; });
  return out;
}

Tensor permute(const Tensor& a, std::vector<int64_t> dims) {
  int64_t nd = a->ndim();
  EMBER_CHECK(static_cast<int64_t>(dims.size()) == nd, Error, "permute(sparse_coo): number of dimensions in the tensor "
              "input does not match the length of the desired ordering of dimensions i.e. input.dim() = ", nd,
              " is not equal to len(dims) = ", dims.size());
  std::vector<bool> seen(static_cast<size_t>(nd), false);
  Shape shape(nd), strides(nd);
  for (int64_t i = 0; i < nd; ++i) {
    int64_t d = wrap_dim(dims[i], nd);
    EMBER_CHECK(!seen[d], Error, "permute(): duplicate dims are not allowed.");
    seen[d] = true;
    dims[i] = d;
    shape[i] = a->shape[d];
    strides[i] = a->strides[d];
  }
  Tensor out = make_view(a, shape, strides, a->offset);
  std::vector<int64_t> inverse(nd);
  for (int64_t i = 0; i < nd; ++i) inverse[dims[i]] = i;
  record_view("PermuteBackward0", a, out, [inverse](std::vector<Tensor>& g) { return std::vector<Tensor>{permute(g[0], inverse)}; });
  return out;
}

Tensor expand(const Tensor& a, Shape shape) {
  int64_t nd = static_cast<int64_t>(shape.size()), k = a->ndim();
  EMBER_CHECK(nd >= k, Error, "expand(", dtype_name(a->dtype), "{", shape_str(a->shape),
              "}, size=", shape_str(shape), "): the number of sizes provided (", nd,
              ") must be greater or equal to the number of dimensions in the tensor (", k, ")");
  Shape strides(nd, 0);
  for (int64_t i = nd - 1; i >= 0; --i) {
    int64_t j = i - (nd - k);
    if (j >= 0) {
      if (shape[i] == -1) shape[i] = a->shape[j];
      EMBER_CHECK(a->shape[j] == shape[i] || a->shape[j] == 1, Error, "The expanded size of the tensor (", shape[i],
                  ") must match the existing size (", a->shape[j], ") at non-singleton dimension ", i,
                  ".  Target sizes: ", shape_str(shape), ".  Tensor sizes: ", shape_str(a->shape));
      strides[i] = a->shape[j] == shape[i] ? a->strides[j] : 0;
    } else {
      EMBER_CHECK(shape[i] >= 0, Error, "The expanded size of the tensor (", shape[i],
                  ") isn't allowed in a leading, non-existing dimension ", i);
    }
  }
  int64_t numel = 1;
  for (int64_t s : shape) {
    // A broadcast view costs no memory, but kernels index it with int64.
    EMBER_CHECK(s == 0 || numel == 0 || !__builtin_mul_overflow(numel, s, &numel), Error,
                "expand: the target size ", shape_str(shape), " has more elements than fit in int64");
    if (s == 0) numel = 0;
  }
  if (shape == a->shape && strides == a->strides) return a;
  Tensor out = make_view(a, shape, strides, a->offset);
  Shape in_shape = a->shape;
  record_view("ExpandBackward0", a, out, [in_shape](std::vector<Tensor>& g) { return std::vector<Tensor>{sum_to(g[0], in_shape)}; });
  return out;
}

Tensor squeeze(const Tensor& a, std::optional<std::vector<int64_t>> dims) {
  int64_t nd = a->ndim();
  std::vector<bool> drop(static_cast<size_t>(nd), false);
  if (!dims) {
    for (int64_t d = 0; d < nd; ++d) drop[d] = a->shape[d] == 1;
  } else {
    for (int64_t d : *dims) {
      int64_t w = wrap_dim(d, nd);
      if (nd > 0 && a->shape[w] == 1) drop[w] = true;
    }
  }
  Shape shape, strides;
  for (int64_t d = 0; d < nd; ++d)
    if (!drop[d]) {
      shape.push_back(a->shape[d]);
      strides.push_back(a->strides[d]);
    }
  Tensor out = make_view(a, shape, strides, a->offset);
  Shape in_shape = a->shape;
  record_view(dims ? "SqueezeBackward1" : "SqueezeBackward0", a, out,
              [in_shape](std::vector<Tensor>& g) { return std::vector<Tensor>{reshape(g[0], in_shape)}; });
  return out;
}

Tensor unsqueeze(const Tensor& a, int64_t dim) {
  int64_t nd = a->ndim();
  dim = wrap_dim(dim, nd + 1);
  Shape shape = a->shape, strides = a->strides;
  int64_t stride = dim < nd ? a->shape[dim] * a->strides[dim] : 1;
  shape.insert(shape.begin() + dim, 1);
  strides.insert(strides.begin() + dim, stride);
  Tensor out = make_view(a, shape, strides, a->offset);
  Shape in_shape = a->shape;
  record_view("UnsqueezeBackward0", a, out, [in_shape](std::vector<Tensor>& g) { return std::vector<Tensor>{reshape(g[0], in_shape)}; });
  return out;
}

Tensor flatten(const Tensor& a, int64_t start_dim, int64_t end_dim) {
  int64_t nd = a->ndim();
  if (nd == 0) return reshape(a, {1});
  start_dim = wrap_dim(start_dim, nd);
  end_dim = wrap_dim(end_dim, nd);
  EMBER_CHECK(start_dim <= end_dim, Error, "flatten() has invalid args: start_dim cannot come after end_dim");
  if (start_dim == end_dim) return a;
  Shape shape(a->shape.begin(), a->shape.begin() + start_dim);
  int64_t merged = 1;
  for (int64_t d = start_dim; d <= end_dim; ++d) merged *= a->shape[d];
  shape.push_back(merged);
  shape.insert(shape.end(), a->shape.begin() + end_dim + 1, a->shape.end());
  return reshape(a, shape);
}

Tensor select(const Tensor& a, int64_t dim, int64_t index) {
  int64_t nd = a->ndim();
  EMBER_CHECK(nd > 0, IndexError, "select() cannot be applied to a 0-dim tensor.");
  dim = wrap_dim(dim, nd);
  int64_t size = a->shape[dim];
  EMBER_CHECK(index >= -size && index < size, IndexError, "index ", index, " is out of bounds for dimension ", dim,
              " with size ", size);
  if (index < 0) index += size;
  Shape shape = a->shape, strides = a->strides;
  int64_t offset = a->offset + index * a->strides[dim];
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  Tensor out = make_view(a, shape, strides, offset);
  Shape in_shape = a->shape;
  record_view("SelectBackward0", a, out, [in_shape, dim, index](std::vector<Tensor>& g) {
    return std::vector<Tensor>{scatter_into_zeros(g[0], in_shape, [&](const Tensor& z) { return select(z, dim, index); })};
  });
  return out;
}

Tensor slice(const Tensor& a, int64_t dim, std::optional<int64_t> start_in, std::optional<int64_t> stop_in,
             int64_t step) {
  int64_t nd = a->ndim();
  EMBER_CHECK(nd > 0, IndexError, "slice() cannot be applied to a 0-dim tensor.");
  dim = wrap_dim(dim, nd);
  EMBER_CHECK(step > 0, ValueError, "step must be greater than zero");
  int64_t size = a->shape[dim];
  auto clampi = [size](int64_t v) {
    if (v < 0) v += size;
    return std::min(std::max<int64_t>(v, 0), size);
  };
  int64_t start = start_in ? clampi(*start_in) : 0;
  int64_t stop = stop_in ? clampi(*stop_in) : size;
  if (stop < start) stop = start;
  int64_t len = (stop - start + step - 1) / step;
  Shape shape = a->shape, strides = a->strides;
  shape[dim] = len;
  strides[dim] = a->strides[dim] * step;
  Tensor out = make_view(a, shape, strides, a->offset + (len ? start * a->strides[dim] : 0));
  Shape in_shape = a->shape;
  record_view("SliceBackward0", a, out, [in_shape, dim, start, stop, step](std::vector<Tensor>& g) {
    return std::vector<Tensor>{
        scatter_into_zeros(g[0], in_shape, [&](const Tensor& z) { return slice(z, dim, start, stop, step); })};
  });
  return out;
}

Tensor cat(const std::vector<Tensor>& tensors_in, int64_t dim) {
  EMBER_CHECK(!tensors_in.empty(), Error, "torch.cat(): expected a non-empty list of Tensors");
  // Legacy rule kept by PyTorch: 1-D empty tensors are skipped.
  std::vector<Tensor> tensors;
  for (const Tensor& t : tensors_in)
    if (!(t->ndim() == 1 && t->shape[0] == 0)) tensors.push_back(t);
  if (tensors.empty()) return clone(tensors_in[0]);
  const Tensor& ref = tensors[0];
  int64_t nd = ref->ndim();
  EMBER_CHECK(nd > 0, Error, "zero-dimensional tensor (at position 0) cannot be concatenated");
  dim = wrap_dim(dim, nd);
  DType dt = ref->dtype;
  Shape shape = ref->shape;
  shape[dim] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    check_same_device(ref, t, "cat");
    EMBER_CHECK(t->ndim() == nd, Error, "Tensors must have same number of dimensions: got ", nd, " and ", t->ndim());
    for (int64_t d = 0; d < nd; ++d) {
      EMBER_CHECK(d == dim || t->shape[d] == ref->shape[d], Error, "Sizes of tensors must match except in dimension ",
                  dim, ". Expected size ", ref->shape[d], " but got size ", t->shape[d], " for tensor number ", i,
                  " in the list.");
    }
    shape[dim] += t->shape[dim];
    dt = promote_types(dt, t->dtype);
  }
  Tensor out = make_empty(shape, dt, ref->device());
  std::vector<int64_t> sizes;
  int64_t pos = 0;
  for (const Tensor& t : tensors) {
    int64_t n = t->shape[dim];
    sizes.push_back(n);
    if (n && out->numel()) {
      NoGradGuard no_grad;
      Tensor window = slice(out, dim, pos, pos + n, 1);
      backend(out->device()).copy(window, t);
    }
    pos += n;
  }
  bool record = false;
  for (const Tensor& t : tensors) record = record || t->requires_grad();
  if (record && grad_enabled()) {
    std::vector<DType> dtypes;
    for (const Tensor& t : tensors) dtypes.push_back(t->dtype);
    auto node = std::make_shared<FunctionNode>("CatBackward0", [sizes, dim, dtypes](std::vector<Tensor>& g) {
      std::vector<Tensor> parts = split(g[0], sizes, dim);
      for (size_t i = 0; i < parts.size(); ++i) parts[i] = to_dtype(parts[i], dtypes[i]);
      return parts;
    });
    set_history(node, tensors, {out});
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  EMBER_CHECK(!tensors.empty(), Error, "stack expects a non-empty TensorList");
  int64_t nd = tensors[0]->ndim();
  dim = wrap_dim(dim, nd + 1);
  for (size_t i = 1; i < tensors.size(); ++i) {
    EMBER_CHECK(tensors[i]->shape == tensors[0]->shape, Error, "stack expects each tensor to be equal size, but got ",
                shape_str(tensors[0]->shape), " at entry 0 and ", shape_str(tensors[i]->shape), " at entry ", i);
  }
  Tensor out;
  {
    NoGradGuard no_grad;
    std::vector<Tensor> expanded;
    for (const Tensor& t : tensors) expanded.push_back(unsqueeze(t, dim));
    out = cat(expanded, dim);
  }
  bool record = false;
  for (const Tensor& t : tensors) record = record || t->requires_grad();
  if (record && grad_enabled()) {
    std::vector<DType> dtypes;
    for (const Tensor& t : tensors) dtypes.push_back(t->dtype);
    auto node = std::make_shared<FunctionNode>("StackBackward0", [dim, dtypes](std::vector<Tensor>& g) {
      std::vector<Tensor> parts;
      for (size_t i = 0; i < dtypes.size(); ++i) {
        Tensor p = select(g[0], dim, static_cast<int64_t>(i));
        parts.push_back(p->dtype == dtypes[i] ? p : to_dtype(p, dtypes[i]));
      }
      return parts;
    });
    set_history(node, tensors, {out});
  }
  return out;
}

std::vector<Tensor> split(const Tensor& a, const std::vector<int64_t>& sizes, int64_t dim) {
  int64_t nd = a->ndim();
  EMBER_CHECK(nd > 0, Error, "split expects at least a 1-dimensional tensor");
  dim = wrap_dim(dim, nd);
  int64_t total = 0;
  for (int64_t s : sizes) {
    EMBER_CHECK(s >= 0, Error, "split_with_sizes expects split_sizes have only non-negative entries, but got ",
                shape_str(sizes));
    total += s;
  }
  EMBER_CHECK(total == a->shape[dim], Error, "split_with_sizes expects split_sizes to sum exactly to ", a->shape[dim],
              " (input tensor's size at dimension ", dim, "), but got split_sizes=", shape_str(sizes));
  std::vector<Tensor> outs;
  int64_t pos = 0;
  {
    NoGradGuard no_grad;
    for (int64_t s : sizes) {
      outs.push_back(slice(a, dim, pos, pos + s, 1));
      pos += s;
    }
  }
  if (should_record({&a})) {
    auto node = std::make_shared<FunctionNode>("SplitWithSizesBackward0", [dim](std::vector<Tensor>& g) {
      return std::vector<Tensor>{cat(g, dim)};
    });
    set_history(node, {a}, outs);
  }
  return outs;
}

std::vector<Tensor> split_size(const Tensor& a, int64_t size, int64_t dim) {
  EMBER_CHECK(a->ndim() > 0, Error, "split expects at least a 1-dimensional tensor");
  int64_t n = a->shape[wrap_dim(dim, a->ndim())];
  EMBER_CHECK(size > 0 || (size == 0 && n == 0), Error, "split_size can only be 0 if dimension size is 0, but got "
              "dimension size of ", n);
  std::vector<int64_t> sizes;
  for (int64_t pos = 0; pos < n; pos += size) sizes.push_back(std::min(size, n - pos));
  if (sizes.empty()) sizes.push_back(0);
  return split(a, sizes, dim);
}

std::vector<Tensor> chunk(const Tensor& a, int64_t chunks, int64_t dim) {
  EMBER_CHECK(chunks > 0, Error, "chunk expects `chunks` to be greater than 0, got: ", chunks);
  EMBER_CHECK(a->ndim() > 0, Error, "chunk expects at least a 1-dimensional tensor");
  int64_t n = a->shape[wrap_dim(dim, a->ndim())];
  int64_t size = (n + chunks - 1) / chunks;
  if (size == 0) size = 1;
  if (n == 0) {
    std::vector<int64_t> sizes(static_cast<size_t>(chunks), 0);
    return split(a, sizes, dim);
  }
  return split_size(a, size, dim);
}

}  // namespace ember
