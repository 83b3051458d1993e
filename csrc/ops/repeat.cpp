// repeat, tile and repeat_interleave, composed from views and one copy:
// repeat is an expand of interleaved size-1 dims then a reshape;
// repeat_interleave by a number is an expand of a new dim after `dim`; by
// a tensor of counts it is an index_select with the index built on the
// device from a cumulative sum (no per-element host loop, no sync beyond
// the output size).
#include "../autograd/node.h"
#include "../error.h"
#include "ops.h"

namespace ember {

Tensor repeat(const Tensor& a, const Shape& repeats) {
  const size_t nd = static_cast<size_t>(a->ndim());
  EMBER_CHECK(repeats.size() >= nd, Error,
              "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor");
  Shape padded(repeats.size() - nd, 1);
  padded.insert(padded.end(), a->shape.begin(), a->shape.end());
  Shape target, interleaved, expanded;
  for (size_t i = 0; i < repeats.size(); ++i) target.push_back(padded[i] * repeats[i]);
  for (size_t i = 0; i < repeats.size(); ++i)
    EMBER_CHECK(repeats[i] >= 0, Error, "Trying to create tensor with negative dimension ", target[i], ": ",
                shape_str(target));
  for (size_t i = 0; i < repeats.size(); ++i) {
    interleaved.insert(interleaved.end(), {1, padded[i]});
    expanded.insert(expanded.end(), {repeats[i], padded[i]});
  }
  Tensor out;
  {
    NoGradGuard no_grad;
    out = contiguous(reshape(expand(reshape(a, interleaved), expanded), target));
    if (out->storage == a->storage) out = clone(out);  // repeat always returns new memory
  }
  if (should_record({&a})) {
    Shape shape = a->shape;
    record("RepeatBackward0", {a}, out, [shape, expanded](std::vector<Tensor>& g) {
      // Sum the gradient over every copy: the even dims of the expanded layout.
      std::vector<int64_t> copies;
      for (size_t i = 0; i < expanded.size(); i += 2) copies.push_back(static_cast<int64_t>(i));
      Tensor r = reshape(g[0], expanded);
      r = copies.empty() ? r : sum(r, copies, false);
      return std::vector<Tensor>{reshape(r, shape)};
    });
  }
  return out;
}

Tensor tile(const Tensor& a, const Shape& dims) {
  Shape reps = dims;
  if (static_cast<int64_t>(reps.size()) < a->ndim()) reps.insert(reps.begin(), a->ndim() - reps.size(), 1);
  return repeat(a, reps);
}

namespace {

// The input and the dim repeat_interleave works on: flattened when no dim.
std::pair<Tensor, int64_t> interleave_target(const Tensor& a, std::optional<int64_t> dim) {
  if (!dim) return {reshape(a, {a->numel()}), 0};
  int64_t d = wrap_dim(*dim, a->ndim());
  return {a->ndim() == 0 ? reshape(a, {1}) : a, d};
}

void check_output_size(std::optional<int64_t> output_size, int64_t total) {
  EMBER_CHECK(!output_size || *output_size == total, Error, "allocated size does not match required size (",
              "output_size = ", output_size.value_or(0), ", the repeats add up to ", total, ")");
}

}  // namespace

Tensor repeat_interleave(const Tensor& a, int64_t repeats, std::optional<int64_t> dim,
                         std::optional<int64_t> output_size) {
  EMBER_CHECK(repeats >= 0, Error, "Repeats must be non-negative, got ", repeats);
  auto [x, d] = interleave_target(a, dim);
  check_output_size(output_size, x->shape[static_cast<size_t>(d)] * repeats);
  Shape expanded = x->shape, merged = x->shape;
  expanded.insert(expanded.begin() + d + 1, repeats);
  merged[static_cast<size_t>(d)] *= repeats;
  return reshape(expand(unsqueeze(x, d + 1), expanded), merged);
}

Tensor repeat_interleave_index(const Tensor& repeats_in, std::optional<int64_t> output_size) {
  EMBER_CHECK(repeats_in->ndim() <= 1, Error, "repeat_interleave only accept 1D vector as repeat");
  EMBER_CHECK(repeats_in->dtype == DType::Int64 || repeats_in->dtype == DType::Int32, NotImplementedError,
              "\"repeat_interleave\" not implemented for '", dtype_name(repeats_in->dtype),
              "' (repeats must be an integer tensor)");
  NoGradGuard no_grad;
  Tensor counts = reshape(to_dtype(repeats_in, DType::Int64), {repeats_in->numel()});
  const Device dev = counts->device();
  if (counts->numel() == 0) {
    check_output_size(output_size, 0);
    return zeros({0}, DType::Int64, dev);
  }
  EMBER_CHECK(item(min_all(counts)).i >= 0, Error, "repeats can not be negative");
  Tensor ends = cumsum(counts, 0);
  const int64_t total = output_size ? *output_size : item(select(ends, 0, -1)).i;
  if (output_size) check_output_size(output_size, item(select(ends, 0, -1)).i);
  // Output position p belongs to the first i with ends[i] > p: mark each end
  // with +1 (repeated ends, from zero counts, add up) and take a prefix sum.
  Tensor marks = zeros({total + 1}, DType::Int64, dev);
  backend(dev).put(marks, ends, ones({counts->numel()}, DType::Int64, dev), true);
  return contiguous(slice(cumsum(marks, 0), 0, 0, total, 1));
}

Tensor repeat_interleave(const Tensor& a, const Tensor& repeats_in, std::optional<int64_t> dim,
                         std::optional<int64_t> output_size) {
  check_same_device(a, repeats_in, "repeat_interleave");
  EMBER_CHECK(repeats_in->ndim() <= 1, Error, "repeats must be 0-dim or 1-dim tensor");
  auto [x, d] = interleave_target(a, dim);
  const int64_t size = x->shape[static_cast<size_t>(d)];
  Tensor repeats = repeats_in;
  if (repeats->numel() == 1) repeats = expand(reshape(repeats, {1}), {size});
  EMBER_CHECK(repeats->shape[0] == size, Error,
              "repeats must have the same size as input along dim, but got repeats.size(0) = ", repeats->shape[0],
              " and input.size(", d, ") = ", size);
  return index_select(x, d, repeat_interleave_index(repeats, output_size));
}

}  // namespace ember
