// Indexing. Basic indices (ints, slices, None, ...) become views; advanced
// indices (integer and bool tensors) become element offsets for the
// backend's take/put primitives, so every device needs only those two.
#include "../autograd/node.h"
#include "../error.h"
#include "ops.h"

namespace ember {

namespace {

struct Advanced {
  int64_t dim;  // dim of the basic-indexed view it applies to
  Tensor index; // int64, already wrapped into [0, size)
};

struct Plan {
  Tensor view;
  std::vector<Advanced> advanced;
};

Tensor check_and_wrap(const Tensor& idx_in, int64_t size, int64_t dim) {
  Tensor idx = idx_in->dtype == DType::Int64 ? idx_in : to_dtype(idx_in, DType::Int64);
  if (idx->numel() == 0) return idx;
  int64_t lo = item(min_all(idx)).i, hi = item(max_all(idx)).i;
  if (lo < -size || hi >= size) {
    int64_t bad = lo < -size ? lo : hi;
    throw IndexError(str("index ", bad, " is out of bounds for dimension ", dim, " with size ", size));
  }
  if (lo < 0) {
    Tensor s = scalar_tensor(Scalar(size), DType::Int64, idx->device());
    idx = where(binary(BinaryOp::Lt, idx, zeros({}, DType::Int64, idx->device())), add(idx, s), idx);
  }
  return idx;
}

// Applies the basic part of a subscript; collects the advanced part. Runs
// the view ops with autograd as the caller's grad mode says.
Plan plan_index(const Tensor& a, const std::vector<IndexItem>& items) {
  int64_t consumed = 0, ellipses = 0;
  for (const IndexItem& it : items) {
    switch (it.kind) {
      case IndexItem::Kind::Int:
      case IndexItem::Kind::Slice: ++consumed; break;
      case IndexItem::Kind::Tensor:
        consumed += it.tensor->dtype == DType::Bool || it.tensor->dtype == DType::UInt8 ? it.tensor->ndim() : 1;
        break;
      case IndexItem::Kind::Ellipsis: ++ellipses; break;
      case IndexItem::Kind::None: break;
    }
  }
  EMBER_CHECK(ellipses <= 1, IndexError, "an index can only have a single ellipsis ('...')");
  EMBER_CHECK(consumed <= a->ndim(), IndexError, "too many indices for tensor of dimension ", a->ndim());
  Plan plan{a, {}};
  int64_t dim = 0;
  for (const IndexItem& it : items) {
    Tensor& v = plan.view;
    switch (it.kind) {
      case IndexItem::Kind::Int: v = select(v, dim, it.integer); break;
      case IndexItem::Kind::Slice: v = slice(v, dim, it.start, it.stop, it.step); ++dim; break;
      case IndexItem::Kind::None: v = unsqueeze(v, dim); ++dim; break;
      case IndexItem::Kind::Ellipsis: dim += a->ndim() - consumed; break;
      case IndexItem::Kind::Tensor: {
        const Tensor& t = it.tensor;
        if (t->dtype == DType::Bool || t->dtype == DType::UInt8) {
          if (t->ndim() == 0) {
            // x[True] adds a dim of size 1; x[False] one of size 0.
            v = unsqueeze(v, dim);
            if (!item(t).i) v = slice(v, dim, 0, 0, 1);
            ++dim;
            break;
          }
          for (int64_t k = 0; k < t->ndim(); ++k) {
            EMBER_CHECK(t->shape[k] == v->shape[dim + k], IndexError, "The shape of the mask ", shape_str(t->shape),
                        " at index ", k, " does not match the shape of the indexed tensor ", shape_str(v->shape),
                        " at index ", dim + k);
          }
          check_same_device(v, t, "index");
          Tensor coords = nonzero(t);  // [count, k]
          for (int64_t k = 0; k < t->ndim(); ++k) plan.advanced.push_back({dim + k, select(coords, 1, k)});
          dim += t->ndim();
        } else {
          EMBER_CHECK(!is_floating(t->dtype), IndexError,
                      "tensors used as indices must be long, int, byte or bool tensors");
          EMBER_CHECK(t->device() == v->device() || t->device().is_cpu(), IndexError,
                      "indices should be either on cpu or on the same device as the indexed tensor (",
                      v->device().str(), ")");
          plan.advanced.push_back({dim, to_device(t, v->device())});
          ++dim;
        }
        break;
      }
    }
  }
  for (Advanced& adv : plan.advanced)
    adv.index = check_and_wrap(adv.index, plan.view->shape[adv.dim], adv.dim);
  return plan;
}

// Offsets (relative to view's offset) of every selected element, shaped as
// the result of the advanced indexing.
Tensor advanced_offsets(const Tensor& view, const std::vector<Advanced>& adv) {
  NoGradGuard no_grad;
  Device dev = view->device();
  Shape bshape;
  try {
    for (const Advanced& a : adv) bshape = broadcast_shapes(bshape, a.index->shape);
  } catch (const Error&) {
    std::string shapes;
    for (const Advanced& a : adv) shapes += (shapes.empty() ? "" : ", ") + shape_str(a.index->shape);
    throw IndexError("shape mismatch: indexing tensors could not be broadcast together with shapes " + shapes);
  }
  bool adjacent = true;
  for (size_t i = 1; i < adv.size(); ++i) adjacent = adjacent && adv[i].dim == adv[i - 1].dim + 1;
  // Result dims: [before..., B..., after...] when adjacent, else [B..., rest...].
  std::vector<bool> is_adv(static_cast<size_t>(view->ndim()), false);
  for (const Advanced& a : adv) is_adv[a.dim] = true;
  std::vector<int64_t> before, after;
  for (int64_t d = 0; d < view->ndim(); ++d) {
    if (is_adv[d]) continue;
    if (adjacent && d < adv.front().dim) before.push_back(d);
    else after.push_back(d);
  }
  int64_t nb = static_cast<int64_t>(before.size()), nB = static_cast<int64_t>(bshape.size());
  int64_t total = nb + nB + static_cast<int64_t>(after.size());
  // Index part, placed at result dims [nb, nb + nB).
  Tensor offs = zeros({}, DType::Int64, dev);
  for (const Advanced& a : adv) {
    Tensor term = mul(a.index, scalar_tensor(Scalar(view->strides[a.dim]), DType::Int64, dev));
    offs = add(offs, term);
  }
  offs = expand_to(offs, bshape);
  Shape with_lead = Shape(static_cast<size_t>(nb), 1);
  with_lead.insert(with_lead.end(), bshape.begin(), bshape.end());
  with_lead.resize(static_cast<size_t>(total), 1);
  offs = reshape(contiguous(offs), with_lead);
  // Basic dims: an arange along each, times its stride.
  auto add_range = [&](int64_t d, int64_t pos) {
    Shape s(static_cast<size_t>(total), 1);
    s[pos] = view->shape[d];
    Tensor r = arange(0, static_cast<double>(view->shape[d]), 1, DType::Int64, dev);
    r = mul(r, scalar_tensor(Scalar(view->strides[d]), DType::Int64, dev));
    offs = add(offs, reshape(r, s));
  };
  for (int64_t i = 0; i < nb; ++i) add_range(before[i], i);
  for (size_t i = 0; i < after.size(); ++i) add_range(after[i], nb + nB + static_cast<int64_t>(i));
  // Broadcasting may leave size-1 dims where the result is empty elsewhere.
  Shape result_shape;
  for (int64_t i = 0; i < nb; ++i) result_shape.push_back(view->shape[before[i]]);
  result_shape.insert(result_shape.end(), bshape.begin(), bshape.end());
  for (int64_t d : after) result_shape.push_back(view->shape[d]);
  return contiguous(expand_to(offs, result_shape));
}

// True when every dim but the first is laid out as in a contiguous tensor,
// so that each index along dim 0 selects one contiguous run of elements.
bool rows_are_contiguous(const Tensor& view) {
  int64_t expected = 1;
  for (int64_t d = view->ndim() - 1; d >= 1; --d) {
    if (view->shape[d] != 1 && view->strides[d] != expected) return false;
    expected *= view->shape[d];
  }
  return view->ndim() >= 1;
}

// x[idx] along dim 0 with contiguous rows (a data loader's batch, an
// embedding lookup): whole rows are copied, instead of building an offset
// per element (X[idx] of 256 MNIST-sized rows: 320 -> 39 us).
Tensor take_rows_of(const Tensor& view, const Tensor& index) {
  int64_t rows = view->shape[0];
  int64_t width = rows == 0 ? 0 : view->numel() / rows;
  Shape out_shape = index->shape;
  out_shape.insert(out_shape.end(), view->shape.begin() + 1, view->shape.end());
  Tensor out = make_empty(out_shape, view->dtype, view->device());
  if (out->numel() == 0) return out;
  Tensor src = as_strided(view, {rows, width}, {view->strides[0], 1}, view->offset);
  Tensor flat = reshape(out, {index->numel(), width});
  backend(view->device()).take_rows(flat, src, contiguous(reshape(index, {index->numel()})));
  return out;
}

Tensor take_offsets(const Tensor& view, const Tensor& offsets) {
  Tensor out = make_empty(offsets->shape, view->dtype, view->device());
  if (out->numel()) backend(view->device()).take(out, view, offsets);
  return out;
}

}  // namespace

Tensor index(const Tensor& a, const std::vector<IndexItem>& items) {
  bool has_tensor = false;
  for (const IndexItem& it : items) has_tensor = has_tensor || it.kind == IndexItem::Kind::Tensor;
  if (!has_tensor) return plan_index(a, items).view;  // pure view, autograd through view ops
  Plan plan;
  Tensor out;
  {
    NoGradGuard no_grad;
    plan = plan_index(a, items);
    if (plan.advanced.empty()) {
      out = plan.view;  // only 0-d bool indices: still a view
    } else if (plan.advanced.size() == 1 && plan.advanced[0].dim == 0 && rows_are_contiguous(plan.view)) {
      out = take_rows_of(plan.view, plan.advanced[0].index);
    } else {
      out = take_offsets(plan.view, advanced_offsets(plan.view, plan.advanced));
    }
  }
  if (should_record({&a})) {
    Shape shape = a->shape;
    std::vector<IndexItem> saved = items;
    record("IndexBackward0", {a}, out, [shape, saved](std::vector<Tensor>& g) {
      // Scatter-add the gradient into zeros through the same subscript.
      Tensor z = zeros(shape, g[0]->dtype, g[0]->device());
      NoGradGuard no_grad;
      Plan p = plan_index(z, saved);
      if (p.advanced.empty()) {
        backend(z->device()).copy(p.view, expand_to(g[0], p.view->shape));
      } else {
        Tensor offs = advanced_offsets(p.view, p.advanced);
        backend(z->device()).put(p.view, offs, contiguous(expand_to(g[0], offs->shape)), true);
      }
      return std::vector<Tensor>{z};
    });
  }
  return out;
}

Tensor& index_put_(Tensor& a, const std::vector<IndexItem>& items, const Tensor& values_in) {
  check_inplace(a);
  Tensor values = values_in;
  if (values->device() != a->device()) {
    EMBER_CHECK(values->ndim() == 0 && values->device().is_cpu(), Error,
                "Expected all tensors to be on the same device, but found at least two devices, ", a->device().str(),
                " and ", values->device().str(), "! (index assignment)");
    values = to_device(values, a->device());
  }
  bool record = should_record({&a, &values});
  Shape values_shape = values->shape;
  DType values_dtype = values->dtype;
  {
    NoGradGuard no_grad;
    Plan plan = plan_index(a, items);
    Tensor src = values->dtype == a->dtype ? values : to_dtype(values, a->dtype);
    if (plan.advanced.empty()) {
      Shape target = broadcast_shapes(src->shape, plan.view->shape);
      EMBER_CHECK(target == plan.view->shape, Error, "shape mismatch: value tensor of shape ", shape_str(src->shape),
                  " cannot be broadcast to indexing result of shape ", shape_str(plan.view->shape));
      if (plan.view->numel()) {
        if (src->storage == a->storage) src = clone(src);
        backend(a->device()).copy(plan.view, expand_to(src, plan.view->shape));
      }
    } else {
      Tensor offs = advanced_offsets(plan.view, plan.advanced);
      Shape target = broadcast_shapes(src->shape, offs->shape);
      EMBER_CHECK(target == offs->shape, Error, "shape mismatch: value tensor of shape ", shape_str(src->shape),
                  " cannot be broadcast to indexing result of shape ", shape_str(offs->shape));
      if (offs->numel()) backend(a->device()).put(plan.view, offs, contiguous(expand_to(src, offs->shape)), false);
    }
  }
  a->bump_version();
  if (record) {
    std::vector<IndexItem> saved = items;
    bool advanced = false;
    for (const IndexItem& it : items) advanced = advanced || it.kind == IndexItem::Kind::Tensor;
    // PyTorch names a plain slice assignment CopySlices, a tensor-indexed one IndexPutBackward0.
    auto node = std::make_shared<FunctionNode>(advanced ? "IndexPutBackward0" : "CopySlices", [saved, values_shape, values_dtype](std::vector<Tensor>& g) {
      // The overwritten positions pass no gradient to the old value; the
      // values receive the gradient of the positions they were written to.
      Tensor ga = clone(g[0]);
      Tensor zero = zeros({}, ga->dtype, ga->device());
      {
        NoGradGuard no_grad;
        index_put_(ga, saved, zero);
      }
      Tensor gv = sum_to(index(g[0], saved), values_shape);
      return std::vector<Tensor>{ga, to_dtype(gv, values_dtype)};
    });
    set_history(node, {a, values}, {a});
    if (a->view_base) rebase_view_history(a);
  }
  return a;
}

Tensor masked_fill(const Tensor& a, const Tensor& mask, const Scalar& value) {
  EMBER_CHECK(mask->dtype == DType::Bool, Error, "masked_fill_ only supports boolean masks, but got mask with dtype ",
              dtype_name(mask->dtype));
  Tensor v = scalar_tensor(value, a->dtype, a->device());
  return where(mask, v, a);
}

Tensor nonzero(const Tensor& a) {
  Tensor in = a->dtype == DType::Float16 || a->dtype == DType::BFloat16 ? to_dtype(a, DType::Float32) : a;
  return backend(a->device()).nonzero(in);
}

Tensor index_select(const Tensor& a, int64_t dim, const Tensor& idx) {
  EMBER_CHECK(idx->ndim() <= 1, IndexError, "index_select(): Index is supposed to be a vector");
  EMBER_CHECK(!is_floating(idx->dtype) && idx->dtype != DType::Bool, IndexError,
              "index_select(): Expected dtype int32/int64 for index");
  dim = wrap_dim(dim, a->ndim());
  std::vector<IndexItem> items(static_cast<size_t>(dim), IndexItem{IndexItem::Kind::Slice});
  IndexItem t{IndexItem::Kind::Tensor};
  t.tensor = idx->ndim() == 0 ? reshape(idx, {1}) : idx;
  items.push_back(t);
  return index(a, items);
}

Tensor gather(const Tensor& a, int64_t dim, const Tensor& index_t) {
  int64_t nd = a->ndim();
  dim = wrap_dim(dim, nd);
  EMBER_CHECK(index_t->ndim() == nd || (nd == 0 && index_t->ndim() <= 1), Error,
              "Index tensor must have the same number of dimensions as input tensor");
  EMBER_CHECK(index_t->dtype == DType::Int64, Error, "gather(): Expected dtype int64 for index");
  for (int64_t d = 0; d < nd; ++d) {
    EMBER_CHECK(d == dim || index_t->shape[d] <= a->shape[d], Error, "Size does not match at dimension ", d,
                " expected index ", shape_str(index_t->shape), " to be smaller than self ", shape_str(a->shape),
                " apart from dimension ", dim);
  }
  // gather is advanced indexing with an arange on every other dim.
  std::vector<IndexItem> items;
  for (int64_t d = 0; d < nd; ++d) {
    IndexItem it{IndexItem::Kind::Tensor};
    if (d == dim) {
      it.tensor = index_t;
    } else {
      Shape s(static_cast<size_t>(nd), 1);
      s[d] = index_t->shape[d];
      it.tensor = reshape(arange(0, static_cast<double>(index_t->shape[d]), 1, DType::Int64, a->device()), s);
    }
    items.push_back(it);
  }
  try {
    return index(a, items);
  } catch (const IndexError& e) {
    throw Error(e.what());  // PyTorch reports gather's bad indices as RuntimeError
  }
}

}  // namespace ember
