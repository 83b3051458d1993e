// The matmul family (dot, mv, mm, bmm, matmul with batch broadcasting) and
// the fused x @ w.T + b of nn.Linear. Every product reaches the backend as
// one batched [B,M,K] x [B,K,N] call with the operands' own strides.
#include "../autograd/node.h"
#include "../error.h"
#include "ops.h"

namespace ember {

namespace {

void check_operands(const Tensor& a, const Tensor& b, const char* op) {
  check_same_device(a, b, op);
  EMBER_CHECK(a->dtype == b->dtype, Error, "expected m1 and m2 to have the same dtype, but got: ", dtype_name(a->dtype),
              " != ", dtype_name(b->dtype));
  EMBER_CHECK(a->dtype != DType::Bool, Error, op, " is not implemented for bool tensors");
}

// out = a @ b for 3-D operands, no autograd. `bias` (broadcastable to the
// output) is written first and accumulated into.
Tensor raw_bmm(const Tensor& a, const Tensor& b, const Tensor& bias = nullptr) {
  DType dt = a->dtype;
  // The CPU multiplies 16-bit floats in float32 and rounds once at the end;
  // the CUDA backend has tensor-core kernels that take them as they are.
  bool half = (dt == DType::Float16 || dt == DType::BFloat16) && a->device().is_cpu();
  Tensor ac = half ? to_dtype(a, DType::Float32) : a, bc = half ? to_dtype(b, DType::Float32) : b;
  Tensor out = make_empty({a->shape[0], a->shape[1], b->shape[2]}, ac->dtype, a->device());
  if (out->numel()) {
    bool acc = false;
    if (bias) {
      backend(out->device()).copy(out, expand_to(to_dtype(bias, ac->dtype), out->shape));
      acc = true;
    }
    if (a->shape[2] == 0 && !acc) backend(out->device()).fill(out, Scalar(int64_t(0)));
    else backend(out->device()).matmul(out, ac, bc, acc);
  }
  return half ? to_dtype(out, dt) : out;
}

Tensor mm_nograd(const Tensor& a, const Tensor& b) {
  Tensor r = raw_bmm(unsqueeze(a, 0), unsqueeze(b, 0));
  return reshape(r, {a->shape[0], b->shape[1]});
}

// True for a column-major 2-D view, such as Linear's t(weight).
bool is_transposed_matrix(const Tensor& m) {
  return m->ndim() == 2 && m->shape[0] > 1 && m->shape[1] > 1 && m->strides[0] == 1 &&
         m->strides[1] == m->shape[0];
}

// d(a @ b)/db = a^T g, laid out like b: for a transposed b (Linear's
// t(weight)) compute (g^T a)^T, so that the transpose's backward hands the
// weight a contiguous gradient. Otherwise .grad took a strided copy of the
// whole matrix (784 x 256: 0.3 ms, a tenth of D2L's MLP backward).
Tensor grad_of_second(const Tensor& a, const Tensor& g, bool b_transposed) {
  return b_transposed ? t(mm(t(g), a)) : mm(t(a), g);
}

}  // namespace

Tensor mm(const Tensor& a, const Tensor& b) {
  EMBER_CHECK(a->ndim() == 2, Error, "self must be a matrix, got ", a->ndim(), "-D tensor");
  EMBER_CHECK(b->ndim() == 2, Error, "mat2 must be a matrix, got ", b->ndim(), "-D tensor");
  check_operands(a, b, "mm");
  EMBER_CHECK(a->shape[1] == b->shape[0], Error, "mat1 and mat2 shapes cannot be multiplied (", a->shape[0], "x",
              a->shape[1], " and ", b->shape[0], "x", b->shape[1], ")");
  Tensor out;
  {
    NoGradGuard no_grad;
    out = mm_nograd(a, b);
    out = make_alias(out);
    out->view_base.reset();
  }
  if (should_record({&a, &b})) {
    SavedTensor sa(a, false), sb(b, false);
    bool need_a = a->requires_grad(), need_b = b->requires_grad(), b_transposed = is_transposed_matrix(b);
    record("MmBackward0", {a, b}, out, [sa, sb, need_a, need_b, b_transposed](std::vector<Tensor>& g) {
      Tensor x = sa.unpack(nullptr), y = sb.unpack(nullptr);
      return std::vector<Tensor>{need_a ? mm(g[0], t(y)) : Tensor(),
                                 need_b ? grad_of_second(x, g[0], b_transposed) : Tensor()};
    });
  }
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  EMBER_CHECK(a->ndim() == 3, Error, "batch1 must be a 3D tensor, got ", a->ndim(), "-D");
  EMBER_CHECK(b->ndim() == 3, Error, "batch2 must be a 3D tensor, got ", b->ndim(), "-D");
  check_operands(a, b, "bmm");
  EMBER_CHECK(a->shape[0] == b->shape[0], Error, "batch1 and batch2 must have same number of batches, got ",
              a->shape[0], " and ", b->shape[0]);
  EMBER_CHECK(a->shape[2] == b->shape[1], Error, "Expected size for first two dimensions of batch2 tensor to be: [",
              a->shape[0], ", ", a->shape[2], "] but got: [", b->shape[0], ", ", b->shape[1], "].");
  Tensor out;
  {
    NoGradGuard no_grad;
    out = raw_bmm(a, b);
  }
  if (should_record({&a, &b})) {
    SavedTensor sa(a, false), sb(b, false);
    record("BmmBackward0", {a, b}, out, [sa, sb](std::vector<Tensor>& g) {
      Tensor x = sa.unpack(nullptr), y = sb.unpack(nullptr);
      return std::vector<Tensor>{bmm(g[0], transpose(y, 1, 2)), bmm(transpose(x, 1, 2), g[0])};
    });
  }
  return out;
}

Tensor mv(const Tensor& a, const Tensor& v) {
  EMBER_CHECK(a->ndim() == 2 && v->ndim() == 1, Error, "vector + matrix @ vector expected, got ", a->ndim(), ", ",
              v->ndim());
  check_operands(a, v, "mv");
  EMBER_CHECK(a->shape[1] == v->shape[0], Error, "size mismatch, got input (", a->shape[0], "), mat (", a->shape[0],
              "x", a->shape[1], "), vec (", v->shape[0], ")");
  Tensor out;
  {
    NoGradGuard no_grad;
    out = reshape(mm_nograd(a, unsqueeze(v, 1)), {a->shape[0]});
    out = make_alias(out);
    out->view_base.reset();
  }
  if (should_record({&a, &v})) {
    SavedTensor sa(a, false), sv(v, false);
    record("MvBackward0", {a, v}, out, [sa, sv](std::vector<Tensor>& g) {
      Tensor m = sa.unpack(nullptr), x = sv.unpack(nullptr);
      // d/dA = g x^T, d/dx = A^T g
      return std::vector<Tensor>{mm(unsqueeze(g[0], 1), unsqueeze(x, 0)), mv(t(m), g[0])};
    });
  }
  return out;
}

Tensor dot(const Tensor& a, const Tensor& b) {
  EMBER_CHECK(a->ndim() == 1 && b->ndim() == 1, Error, "1D tensors expected, but got ", a->ndim(), "D and ", b->ndim(),
              "D tensors");
  check_same_device(a, b, "dot");
  EMBER_CHECK(a->dtype == b->dtype, Error, "dot : expected both vectors to have same dtype, but found ",
              dtype_name(a->dtype), " and ", dtype_name(b->dtype));
  EMBER_CHECK(a->shape[0] == b->shape[0], Error, "inconsistent tensor size, expected tensor [", a->shape[0],
              "] and src [", b->shape[0], "] to have the same number of elements, but got ", a->shape[0], " and ",
              b->shape[0], " elements respectively");
  Tensor out;
  {
    NoGradGuard no_grad;
    out = reshape(mm_nograd(unsqueeze(a, 0), unsqueeze(b, 1)), {});
    out = make_alias(out);
    out->view_base.reset();
  }
  if (should_record({&a, &b})) {
    SavedTensor sa(a, false), sb(b, false);
    record("DotBackward0", {a, b}, out, [sa, sb](std::vector<Tensor>& g) {
      Tensor x = sa.unpack(nullptr), y = sb.unpack(nullptr);
      return std::vector<Tensor>{mul(g[0], y), mul(g[0], x)};
    });
  }
  return out;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  int64_t da = a->ndim(), db = b->ndim();
  EMBER_CHECK(da > 0 && db > 0, Error, "both arguments to matmul need to be at least 1D, but they are ", da, "D and ",
              db, "D");
  if (da == 1 && db == 1) return dot(a, b);
  if (da == 2 && db == 1) return mv(a, b);
  if (da == 1 && db == 2) return squeeze(mm(unsqueeze(a, 0), b), std::vector<int64_t>{0});
  if (da == 2 && db == 2) return mm(a, b);
  check_operands(a, b, "matmul");
  // Batched: promote vectors, broadcast batch dims, fold them into one.
  Tensor x = da == 1 ? unsqueeze(a, 0) : a;
  Tensor y = db == 1 ? unsqueeze(b, 1) : b;
  int64_t n = x->shape[x->ndim() - 2], k = x->shape[x->ndim() - 1];
  int64_t k2 = y->shape[y->ndim() - 2], m = y->shape[y->ndim() - 1];
  EMBER_CHECK(k == k2, Error, "Expected size for first two dimensions of batch2 tensor to be: [", k, ", ", m,
              "] but got: [", k2, ", ", m, "].");
  Shape bx(x->shape.begin(), x->shape.end() - 2), by(y->shape.begin(), y->shape.end() - 2);
  Shape batch = broadcast_shapes(bx, by);
  int64_t B = 1;
  for (int64_t s : batch) B *= s;
  Shape xs = batch, ys = batch;
  xs.insert(xs.end(), {n, k});
  ys.insert(ys.end(), {k, m});
  Tensor x3 = reshape(expand(x, xs), {B, n, k});
  Tensor y3 = reshape(expand(y, ys), {B, k, m});
  Tensor out = bmm(x3, y3);
  Shape os = batch;
  if (da > 1) os.push_back(n);
  if (db > 1) os.push_back(m);
  return reshape(out, os);
}

Tensor addmm(const Tensor& bias, const Tensor& a, const Tensor& b) {
  EMBER_CHECK(a->ndim() == 2 && b->ndim() == 2, Error, "addmm expects 2-D matrices, got ", a->ndim(), "-D and ",
              b->ndim(), "-D");
  check_operands(a, b, "addmm");
  check_same_device(bias, a, "addmm");
  EMBER_CHECK(a->shape[1] == b->shape[0], Error, "mat1 and mat2 shapes cannot be multiplied (", a->shape[0], "x",
              a->shape[1], " and ", b->shape[0], "x", b->shape[1], ")");
  Shape out_shape{a->shape[0], b->shape[1]};
  EMBER_CHECK(broadcast_shapes(bias->shape, out_shape) == out_shape, Error, "The expanded size of the bias ",
              shape_str(bias->shape), " must match the output size ", shape_str(out_shape));
  Tensor out;
  {
    NoGradGuard no_grad;
    out = reshape(raw_bmm(unsqueeze(a, 0), unsqueeze(b, 0), unsqueeze(to_dtype(bias, a->dtype), 0)), out_shape);
    out = make_alias(out);
    out->view_base.reset();
  }
  if (should_record({&bias, &a, &b})) {
    SavedTensor sa(a, false), sb(b, false);
    Shape bias_shape = bias->shape;
    bool nb = bias->requires_grad(), na = a->requires_grad(), nw = b->requires_grad();
    bool b_transposed = is_transposed_matrix(b);
    record("AddmmBackward0", {bias, a, b}, out,
           [sa, sb, bias_shape, nb, na, nw, b_transposed](std::vector<Tensor>& g) {
             Tensor x = sa.unpack(nullptr), y = sb.unpack(nullptr);
             return std::vector<Tensor>{nb ? sum_to(g[0], bias_shape) : Tensor(), na ? mm(g[0], t(y)) : Tensor(),
                                        nw ? grad_of_second(x, g[0], b_transposed) : Tensor()};
           });
  }
  return out;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  EMBER_CHECK(x->ndim() >= 1, Error, "linear: input must have at least one dimension");
  EMBER_CHECK(w->ndim() == 2, Error, "linear: weight must be 2-D, got ", w->ndim(), "-D");
  int64_t in = x->shape.back();
  EMBER_CHECK(in == w->shape[1], Error, "mat1 and mat2 shapes cannot be multiplied (",
              x->numel() / std::max<int64_t>(in, 1), "x", in, " and ", w->shape[1], "x", w->shape[0], ")");
  if (x->ndim() == 2) return bias ? addmm(bias, x, t(w)) : mm(x, t(w));
  Shape out_shape = x->shape;
  out_shape.back() = w->shape[0];
  Tensor x2 = reshape(x, {x->numel() / std::max<int64_t>(in, 1), in});
  Tensor y = bias ? addmm(bias, x2, t(w)) : mm(x2, t(w));
  return reshape(y, out_shape);
}

}  // namespace ember
