// Elementwise ops: PyTorch's type promotion, broadcasting, in-place forms and
// the backward formulas of every differentiable unary and binary op.
#include <cmath>

#include "../autograd/node.h"
#include "../error.h"
#include "ops.h"

namespace ember {

namespace {

enum Category { kBool = 0, kInt = 1, kFloat = 2 };
Category category(DType t) { return t == DType::Bool ? kBool : is_floating(t) ? kFloat : kInt; }

// PyTorch's rule for joining the dtypes of two priority classes: a lower
// class only matters when it is of a higher category.
std::optional<DType> combine(std::optional<DType> higher, std::optional<DType> lower) {
  if (!higher) return lower;
  if (!lower) return higher;
  if (category(*higher) == kFloat) return higher;
  if (*higher == DType::Bool || category(*lower) == kFloat) return promote_types(*higher, *lower);
  return higher;
}

void join(std::optional<DType>& slot, DType t) { slot = slot ? promote_types(*slot, t) : t; }

// Python numbers are weak: a float joins as the default float dtype.
DType wrapped_dtype(const Tensor& t) {
  Category c = category(t->dtype);
  return c == kFloat ? DType::Float32 : c == kInt ? DType::Int64 : DType::Bool;
}

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "AddBackward0";
    case BinaryOp::Sub: return "SubBackward0";
    case BinaryOp::Mul: return "MulBackward0";
    case BinaryOp::Div: return "DivBackward0";
    case BinaryOp::Pow: return "PowBackward1";
    case BinaryOp::Maximum: return "MaximumBackward0";
    case BinaryOp::Minimum: return "MinimumBackward0";
    case BinaryOp::Remainder: return "RemainderBackward0";
    case BinaryOp::FloorDiv: return "DivBackward1";
    case BinaryOp::Atan2: return "Atan2Backward0";
    default: return "BinaryBackward";
  }
}

// Moves a 0-d CPU operand to the other operand's device, as PyTorch allows.
Tensor align_device(const Tensor& t, const Tensor& other, const char* op) {
  if (t->device() == other->device()) return t;
  if (t->ndim() == 0 && t->device().is_cpu()) return to_device(t, other->device());
  if (other->ndim() == 0 && other->device().is_cpu()) return t;
  check_same_device(t, other, op);
  return t;
}

Tensor reduce_grad(const Tensor& g, const Shape& shape, DType dtype) {
  Tensor r = sum_to(g, shape);
  return r->dtype == dtype ? r : to_dtype(r, dtype);
}

void check_integer_divisor(BinaryOp op, const Tensor& b) {
  if ((op == BinaryOp::FloorDiv || op == BinaryOp::Remainder) && !is_floating(b->dtype)) {
    NoGradGuard g;
    Tensor zero = scalar_tensor(Scalar(int64_t(0)), b->dtype, b->device());
    if (item(any(binary(BinaryOp::Eq, b, zero), {}, false)).i)
      throw Error("ZeroDivisionError: integer division or modulo by zero");
  }
}

// Records the backward of a binary op; `out` is the result.
void record_binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  DType da = a->dtype, db = b->dtype;
  SavedTensor sa(a, false), sb(b, false);
  bool need_a = a->requires_grad(), need_b = b->requires_grad();
  std::shared_ptr<FunctionNode> node;
  const char* name = binary_name(op);
  switch (op) {
    case BinaryOp::Add:
      node = std::make_shared<FunctionNode>(name, [sha = a->shape, shb = b->shape, da, db](std::vector<Tensor>& g) {
        return std::vector<Tensor>{reduce_grad(g[0], sha, da), reduce_grad(g[0], shb, db)};
      });
      break;
    case BinaryOp::Sub:
      node = std::make_shared<FunctionNode>(name, [sha = a->shape, shb = b->shape, da, db](std::vector<Tensor>& g) {
        return std::vector<Tensor>{reduce_grad(g[0], sha, da), reduce_grad(neg(g[0]), shb, db)};
      });
      break;
    case BinaryOp::Mul:
      node = std::make_shared<FunctionNode>(name, [sa, sb, da, db, need_a, need_b](std::vector<Tensor>& g) {
        Tensor a = sa.unpack(nullptr), b = sb.unpack(nullptr);
        return std::vector<Tensor>{need_a ? reduce_grad(mul(g[0], b), a->shape, da) : Tensor(),
                                   need_b ? reduce_grad(mul(g[0], a), b->shape, db) : Tensor()};
      });
      break;
    case BinaryOp::Div:
      node = std::make_shared<FunctionNode>(name, [sa, sb, da, db, need_a, need_b](std::vector<Tensor>& g) {
        Tensor a = sa.unpack(nullptr), b = sb.unpack(nullptr);
        Tensor ga = need_a ? reduce_grad(div(g[0], b), a->shape, da) : Tensor();
        Tensor gb = need_b ? reduce_grad(neg(div(mul(g[0], a), mul(b, b))), b->shape, db) : Tensor();
        return std::vector<Tensor>{ga, gb};
      });
      break;
    case BinaryOp::Pow:
      node = std::make_shared<FunctionNode>(name, [sa, sb, da, db, need_a, need_b](std::vector<Tensor>& g) {
        Tensor a = sa.unpack(nullptr), b = sb.unpack(nullptr);
        Tensor ga, gb;
        if (need_a) {
          // b * a^(b-1), defined as 0 where b == 0 (so 0^0 has no nan slope).
          Tensor zero = scalar_tensor(Scalar(0.0), g[0]->dtype, g[0]->device());
          Tensor slope = mul(b, pow(a, add_scalar(b, -1.0)));
          slope = where(binary(BinaryOp::Eq, b, zero), zero, slope);
          ga = reduce_grad(mul(g[0], slope), a->shape, da);
        }
        if (need_b) {
          // d/db a^b = a^b log a, defined as 0 where a == 0 and b >= 0.
          Tensor zero = scalar_tensor(Scalar(0.0), a->dtype, a->device());
          Tensor mask = binary(BinaryOp::LogicalAnd, binary(BinaryOp::Eq, a, zero), binary(BinaryOp::Ge, b, zero));
          Tensor term = mul(pow(a, b), unary(UnaryOp::Log, a));
          gb = reduce_grad(mul(g[0], where(mask, zero, term)), b->shape, db);
        }
        return std::vector<Tensor>{ga, gb};
      });
      break;
    case BinaryOp::Maximum:
    case BinaryOp::Minimum: {
      BinaryOp pick = op == BinaryOp::Maximum ? BinaryOp::Gt : BinaryOp::Lt;
      node = std::make_shared<FunctionNode>(name, [sa, sb, da, db, pick](std::vector<Tensor>& g) {
        Tensor a = sa.unpack(nullptr), b = sb.unpack(nullptr);
        // Ties split the gradient evenly, as PyTorch does.
        Tensor half = mul_scalar(g[0], 0.5);
        Tensor zero = zeros({}, g[0]->dtype, g[0]->device());
        Tensor tie = binary(BinaryOp::Eq, a, b);
        Tensor a_wins = binary(pick, a, b), b_wins = binary(pick, b, a);
        Tensor ga = where(a_wins, g[0], where(tie, half, zero));
        Tensor gb = where(b_wins, g[0], where(tie, half, zero));
        return std::vector<Tensor>{reduce_grad(ga, a->shape, da), reduce_grad(gb, b->shape, db)};
      });
      break;
    }
    case BinaryOp::Remainder:
      node = std::make_shared<FunctionNode>(name, [sa, sb, da, db](std::vector<Tensor>& g) {
        Tensor a = sa.unpack(nullptr), b = sb.unpack(nullptr);
        Tensor gb = neg(mul(g[0], binary(BinaryOp::FloorDiv, a, b)));
        return std::vector<Tensor>{reduce_grad(g[0], a->shape, da), reduce_grad(gb, b->shape, db)};
      });
      break;
    case BinaryOp::Atan2:
      node = std::make_shared<FunctionNode>(name, [sa, sb, da, db](std::vector<Tensor>& g) {
        Tensor a = sa.unpack(nullptr), b = sb.unpack(nullptr);
        Tensor denom = add(mul(a, a), mul(b, b));
        return std::vector<Tensor>{reduce_grad(div(mul(g[0], b), denom), a->shape, da),
                                   reduce_grad(neg(div(mul(g[0], a), denom)), b->shape, db)};
      });
      break;
    case BinaryOp::FloorDiv:
      node = std::make_shared<FunctionNode>(name, [sha = a->shape, shb = b->shape, da, db](std::vector<Tensor>& g) {
        return std::vector<Tensor>{reduce_grad(mul_scalar(g[0], 0.0), sha, da),
                                   reduce_grad(mul_scalar(g[0], 0.0), shb, db)};
      });
      break;
    default:
      return;  // comparisons and bitwise ops are not differentiable
  }
  set_history(node, {a, b}, {out});
}

}  // namespace

DType result_type(const Tensor& a, const Tensor& b) {
  std::optional<DType> dim_result, zero_result, wrapped_result;
  for (const Tensor* t : {&a, &b}) {
    if ((*t)->is_wrapped_number) join(wrapped_result, wrapped_dtype(*t));
    else if ((*t)->ndim() == 0) join(zero_result, (*t)->dtype);
    else join(dim_result, (*t)->dtype);
  }
  return *combine(dim_result, combine(zero_result, wrapped_result));
}

Tensor wrap_scalar(const Scalar& s, Device device) {
  DType dt = s.kind == Scalar::Kind::Float ? DType::Float64 : s.kind == Scalar::Kind::Int ? DType::Int64 : DType::Bool;
  Tensor t = scalar_tensor(s, dt, device);
  t->is_wrapped_number = true;
  return t;
}

Tensor binary(BinaryOp op, const Tensor& a_in, const Tensor& b_in) {
  Tensor a = align_device(a_in, b_in, "binary op"), b = align_device(b_in, a_in, "binary op");
  DType common = result_type(a, b);
  if (op == BinaryOp::Sub && common == DType::Bool) {
    throw Error("Subtraction, the `-` operator, with two bool tensors is not supported. If you are trying to "
                "invert a mask, use the `~` or `logical_not()` operator instead.");
  }
  if (op == BinaryOp::Sub && (a->dtype == DType::Bool || b->dtype == DType::Bool)) {
    throw Error("Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert "
                "a mask, use the `~` or `logical_not()` operator instead.");
  }
  if (common == DType::Bool && (op == BinaryOp::FloorDiv || op == BinaryOp::Remainder || op == BinaryOp::Pow)) {
    const char* what = op == BinaryOp::FloorDiv ? "div_floor" : op == BinaryOp::Remainder ? "remainder" : "pow";
    throw NotImplementedError(str("\"", what, "\" not implemented for 'Bool'"));
  }
  if ((op == BinaryOp::BitAnd || op == BinaryOp::BitOr || op == BinaryOp::BitXor) && is_floating(common)) {
    const char* what = op == BinaryOp::BitAnd ? "bitwise_and" : op == BinaryOp::BitOr ? "bitwise_or" : "bitwise_xor";
    throw NotImplementedError(str("\"", what, "\" not implemented for '", dtype_name(common),
                                  "' (bitwise operations need integer or bool tensors)"));
  }
  DType compute = common;
  if ((op == BinaryOp::Div || op == BinaryOp::Atan2) && !is_floating(common)) compute = DType::Float32;
  DType result_dtype = compute;
  // 16-bit floats are storage types: compute in float32, store back.
  if (compute == DType::Float16 || compute == DType::BFloat16) compute = DType::Float32;
  if (op == BinaryOp::Pow && !is_floating(compute)) {
    NoGradGuard g;
    Tensor zero = scalar_tensor(Scalar(int64_t(0)), b->dtype, b->device());
    if (item(any(binary(BinaryOp::Lt, b, zero), {}, false)).i)
      throw Error("Integers to negative integer powers are not allowed.");
  }
  check_integer_divisor(op, b);

  Shape shape = broadcast_shapes(a->shape, b->shape);
  bool cmp = is_comparison(op);
  Tensor out = make_empty(shape, cmp ? DType::Bool : compute, a->device());
  if (out->numel()) {
    NoGradGuard no_grad;  // casts inside a kernel call are not part of the graph
    Tensor ac = a->dtype == compute ? a : to_dtype(a, compute);
    Tensor bc = b->dtype == compute ? b : to_dtype(b, compute);
    backend(out->device()).binary(op, out, expand_to(ac, shape), expand_to(bc, shape));
  }
  if (!cmp && compute != result_dtype) {
    NoGradGuard no_grad;
    out = to_dtype(out, result_dtype);
  }
  if (!cmp && should_record({&a, &b}) && is_floating(result_dtype)) record_binary(op, a, b, out);
  return out;
}

namespace {
// The second half of every in-place op: the result computed out of place
// goes into self's memory, and self takes over its history when recording.
Tensor& write_inplace(Tensor& self, const Tensor& result, bool record) {
  if (self->numel()) {
    NoGradGuard no_grad;
    backend(self->device()).copy(self, result);
  }
  self->bump_version();
  if (record) adopt_inplace_history(self, result);
  return self;
}
}  // namespace

namespace {
// `self op= other` straight into self's memory, for the cases where that
// equals computing out of place and copying back: no history to record,
// float32/float64 self keeps its dtype, other broadcasts to self (self is
// never expanded: binary_ refused that already), and the two share no
// memory unless they are the same view (each element then reads only
// itself). Saves a buffer and a pass (SGD's p.sub_(lr * g)).
bool binary_direct_(BinaryOp op, Tensor& self, const Tensor& other) {
  if (op != BinaryOp::Add && op != BinaryOp::Sub && op != BinaryOp::Mul && op != BinaryOp::Div) return false;
  if (self->dtype != DType::Float32 && self->dtype != DType::Float64) return false;
  if (other->dtype == DType::Bool) return false;  // `x - mask` must raise as out of place
  if (other->device() != self->device() || result_type(self, other) != self->dtype) return false;
  if (other->ndim() > self->ndim() || broadcast_shapes(self->shape, other->shape) != self->shape) return false;
  if (other->storage == self->storage &&
      !(other->offset == self->offset && other->shape == self->shape && other->strides == self->strides))
    return false;
  if (self->numel()) {
    NoGradGuard no_grad;
    Tensor o = other->dtype == self->dtype ? other : to_dtype(other, self->dtype);
    backend(self->device()).binary(op, self, self, expand_to(o, self->shape));
  }
  self->bump_version();
  return true;
}
}  // namespace

Tensor& binary_(BinaryOp op, Tensor& self, const Tensor& other) {
  check_inplace(self);
  check_no_internal_overlap(self);
  bool record = should_record({&self, &other});
  if (!record && binary_direct_(op, self, other)) return self;
  // Compute out of place (keeping the original self for backward), then
  // write the result into self's memory and hand self the result's history.
  Tensor result = binary(op, record ? clone(self) : self, other);
  EMBER_CHECK(result->shape == self->shape, Error, "output with shape ", shape_str(self->shape),
              " doesn't match the broadcast shape ", shape_str(result->shape));
  if (result->dtype != self->dtype && !(is_comparison(op))) {
    bool lossy = (is_floating(result->dtype) && !is_floating(self->dtype)) ||
                 (self->dtype == DType::Bool && result->dtype != DType::Bool);
    EMBER_CHECK(!lossy, Error, "result type ", dtype_name(result->dtype), " can't be cast to the desired output type ",
                dtype_name(self->dtype));
  }
  return write_inplace(self, result, record);
}

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Pow, a, b); }
Tensor neg(const Tensor& a) { return unary(UnaryOp::Neg, a); }
Tensor mul_scalar(const Tensor& a, double s) { return mul(a, wrap_scalar(Scalar(s), a->device())); }
Tensor add_scalar(const Tensor& a, double s) { return add(a, wrap_scalar(Scalar(s), a->device())); }

Tensor pow_scalar(const Tensor& a, double exponent) {
  Tensor e = wrap_scalar(Scalar(exponent), a->device());
  Tensor out;
  {
    NoGradGuard g;
    out = pow(a, e);
  }
  if (should_record({&a})) {
    SavedTensor sa(a, false);
    record("PowBackward0", {a}, out, [sa, exponent](std::vector<Tensor>& g) {
      Tensor x = sa.unpack(nullptr);
      if (exponent == 0.0) return std::vector<Tensor>{mul_scalar(g[0], 0.0)};
      return std::vector<Tensor>{mul(g[0], mul_scalar(pow_scalar(x, exponent - 1.0), exponent))};
    });
  }
  return out;
}

// ---------------- unary ----------------

namespace {

bool needs_float(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg:
    case UnaryOp::Abs:
    case UnaryOp::Relu:
    case UnaryOp::Sign:
    case UnaryOp::Floor:
    case UnaryOp::Ceil:
    case UnaryOp::Round:
    case UnaryOp::Trunc:
    case UnaryOp::Square:
    case UnaryOp::LogicalNot:
    case UnaryOp::BitwiseNot: return false;
    default: return true;
  }
}

const char* unary_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "NegBackward0";
    case UnaryOp::Abs: return "AbsBackward0";
    case UnaryOp::Exp: return "ExpBackward0";
    case UnaryOp::Log: return "LogBackward0";
    case UnaryOp::Sqrt: return "SqrtBackward0";
    case UnaryOp::Rsqrt: return "RsqrtBackward0";
    case UnaryOp::Sin: return "SinBackward0";
    case UnaryOp::Cos: return "CosBackward0";
    case UnaryOp::Tan: return "TanBackward0";
    case UnaryOp::Tanh: return "TanhBackward0";
    case UnaryOp::Sigmoid: return "SigmoidBackward0";
    case UnaryOp::Relu: return "ReluBackward0";
    case UnaryOp::Sign: return "SignBackward0";
    case UnaryOp::Floor: return "FloorBackward0";
    case UnaryOp::Ceil: return "CeilBackward0";
    case UnaryOp::Round: return "RoundBackward0";
    case UnaryOp::Trunc: return "TruncBackward0";
    case UnaryOp::Log1p: return "Log1PBackward0";
    case UnaryOp::Expm1: return "Expm1Backward0";
    case UnaryOp::Log2: return "Log2Backward0";
    case UnaryOp::Log10: return "Log10Backward0";
    case UnaryOp::Exp2: return "Exp2Backward0";
    case UnaryOp::Square: return "PowBackward0";
    case UnaryOp::Reciprocal: return "ReciprocalBackward0";
    case UnaryOp::Erf: return "ErfBackward0";
    case UnaryOp::Sinh: return "SinhBackward0";
    case UnaryOp::Cosh: return "CoshBackward0";
    default: return "UnaryBackward";
  }
}

// d(op)/dx * g, from the input x and the output y.
Tensor unary_grad(UnaryOp op, const Tensor& g, const Tensor& x, const Tensor& y) {
  switch (op) {
    case UnaryOp::Neg: return neg(g);
    case UnaryOp::Abs: return mul(g, unary(UnaryOp::Sign, x));
    case UnaryOp::Exp: return mul(g, y);
    case UnaryOp::Log: return div(g, x);
    case UnaryOp::Sqrt: return div(g, mul_scalar(y, 2.0));
    case UnaryOp::Rsqrt: return mul(g, mul_scalar(mul(y, mul(y, y)), -0.5));
    case UnaryOp::Sin: return mul(g, unary(UnaryOp::Cos, x));
    case UnaryOp::Cos: return neg(mul(g, unary(UnaryOp::Sin, x)));
    case UnaryOp::Tan: return mul(g, add_scalar(mul(y, y), 1.0));
    // The fused backward kernels record no history; with create_graph
    // (grad mode on during backward) use differentiable compositions.
    case UnaryOp::Tanh:
      if (grad_enabled()) return mul(g, sub(ones({}, y->dtype, y->device()), mul(y, y)));
      return binary(BinaryOp::TanhBackward, g, y);
    case UnaryOp::Sigmoid:
      if (grad_enabled()) return mul(g, mul(y, sub(ones({}, y->dtype, y->device()), y)));
      return binary(BinaryOp::SigmoidBackward, g, y);
    case UnaryOp::Relu:
      if (grad_enabled()) return mul(g, to_dtype(binary(BinaryOp::Gt, y, zeros({}, y->dtype, y->device())), g->dtype));
      return binary(BinaryOp::ReluBackward, g, y);
    case UnaryOp::Log1p: return div(g, add_scalar(x, 1.0));
    case UnaryOp::Expm1: return mul(g, add_scalar(y, 1.0));
    case UnaryOp::Log2: return div(g, mul_scalar(x, std::log(2.0)));
    case UnaryOp::Log10: return div(g, mul_scalar(x, std::log(10.0)));
    case UnaryOp::Exp2: return mul(g, mul_scalar(y, std::log(2.0)));
    case UnaryOp::Square: return mul(g, mul_scalar(x, 2.0));
    case UnaryOp::Reciprocal: return neg(mul(g, mul(y, y)));
    case UnaryOp::Erf: return mul(g, mul_scalar(unary(UnaryOp::Exp, neg(mul(x, x))), 2.0 / std::sqrt(M_PI)));
    case UnaryOp::Sinh: return mul(g, unary(UnaryOp::Cosh, x));
    case UnaryOp::Cosh: return mul(g, unary(UnaryOp::Sinh, x));
    default: return mul_scalar(g, 0.0);  // piecewise-constant ops
  }
}

bool grad_uses_output(UnaryOp op) {
  switch (op) {
    case UnaryOp::Exp:
    case UnaryOp::Sqrt:
    case UnaryOp::Rsqrt:
    case UnaryOp::Tan:
    case UnaryOp::Tanh:
    case UnaryOp::Sigmoid:
    case UnaryOp::Relu:
    case UnaryOp::Expm1:
    case UnaryOp::Exp2:
    case UnaryOp::Reciprocal: return true;
    default: return false;
  }
}

}  // namespace

Tensor unary(UnaryOp op, const Tensor& a) {
  DType compute = a->dtype;
  if (op == UnaryOp::BitwiseNot && is_floating(compute))
    throw TypeError(str("bitwise_not is only supported for integer and bool tensors, got ", dtype_name(compute)));
  if (op == UnaryOp::Neg && compute == DType::Bool)
    throw Error("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, "
                "use the `~` or `logical_not()` operator instead.");
  if (compute == DType::Bool) {
    // As PyTorch: these have no bool kernel; square computes in int64.
    if (op == UnaryOp::Relu) throw Error("Boolean inputs not supported for relu");
    if (op == UnaryOp::Abs || op == UnaryOp::Floor || op == UnaryOp::Ceil || op == UnaryOp::Round ||
        op == UnaryOp::Trunc)
      throw NotImplementedError(str("\"", op == UnaryOp::Abs ? "abs" : op == UnaryOp::Floor ? "floor"
                                    : op == UnaryOp::Ceil ? "ceil" : op == UnaryOp::Round ? "round" : "trunc",
                                    "\" not implemented for 'Bool'"));
    if (op == UnaryOp::Square) compute = DType::Int64;
  }
  if (needs_float(op) && !is_floating(compute)) compute = DType::Float32;
  DType result_dtype = op == UnaryOp::LogicalNot ? DType::Bool : compute;
  if (compute == DType::Float16 || compute == DType::BFloat16) compute = DType::Float32;
  Tensor out;
  {
    NoGradGuard no_grad;
    Tensor in = a->dtype == compute ? a : to_dtype(a, compute);
    out = make_empty(a->shape, op == UnaryOp::LogicalNot ? DType::Bool : compute, a->device());
    if (out->numel()) backend(a->device()).unary(op, out, in);
    if (out->dtype != result_dtype) out = to_dtype(out, result_dtype);
  }
  if (should_record({&a}) && is_floating(result_dtype) && op != UnaryOp::LogicalNot) {
    SavedTensor sx(grad_uses_output(op) ? Tensor() : a, false);
    SavedTensor sy(grad_uses_output(op) ? out : Tensor(), true);
    DType da = a->dtype;
    record(unary_name(op), {a}, out, [op, sx, sy, da](std::vector<Tensor>& g) {
      Tensor r = unary_grad(op, g[0], sx.unpack(nullptr), sy.unpack(nullptr));
      return std::vector<Tensor>{r->dtype == da ? r : to_dtype(r, da)};
    });
  }
  return out;
}

Tensor& unary_(UnaryOp op, Tensor& self) {
  check_inplace(self);
  check_no_internal_overlap(self);
  bool record = should_record({&self});
  // Straight into self's memory when nothing is recorded and the op keeps a
  // float32/float64 dtype: each element reads only itself, so one pass and
  // no buffer (relu_ was 3x PyTorch's time through a temporary and a copy).
  if (!record && op != UnaryOp::LogicalNot && op != UnaryOp::BitwiseNot &&
      (self->dtype == DType::Float32 || self->dtype == DType::Float64)) {
    if (self->numel()) {
      NoGradGuard no_grad;
      backend(self->device()).unary(op, self, self);
    }
    self->bump_version();
    return self;
  }
  Tensor result = unary(op, record ? clone(self) : self);
  EMBER_CHECK(!(is_floating(result->dtype) && !is_floating(self->dtype)), Error, "result type ",
              dtype_name(result->dtype), " can't be cast to the desired output type ", dtype_name(self->dtype));
  return write_inplace(self, result, record);
}

Tensor clamp(const Tensor& a, std::optional<double> lo, std::optional<double> hi) {
  EMBER_CHECK(lo || hi, Error, "torch.clamp: At least one of 'min' or 'max' must not be None");
  DType compute = a->dtype;
  bool float_bound = (lo && std::floor(*lo) != *lo) || (hi && std::floor(*hi) != *hi);
  if (!is_floating(compute) && float_bound) compute = DType::Float32;
  DType result_dtype = compute;
  if (compute == DType::Float16 || compute == DType::BFloat16) compute = DType::Float32;
  Tensor out;
  {
    NoGradGuard no_grad;
    Tensor in = a->dtype == compute ? a : to_dtype(a, compute);
    out = make_empty(a->shape, compute, a->device());
    if (out->numel()) backend(a->device()).clamp(out, in, bool(lo), lo.value_or(0), bool(hi), hi.value_or(0));
    if (compute != result_dtype) out = to_dtype(out, result_dtype);
  }
  if (should_record({&a})) {
    SavedTensor sa(a, false);
    record("ClampBackward1", {a}, out, [sa, lo, hi](std::vector<Tensor>& g) {
      Tensor x = sa.unpack(nullptr);
      Tensor keep = ones(x->shape, DType::Bool, x->device());
      if (lo) keep = binary(BinaryOp::LogicalAnd, keep, binary(BinaryOp::Ge, x, wrap_scalar(Scalar(*lo), x->device())));
      if (hi) keep = binary(BinaryOp::LogicalAnd, keep, binary(BinaryOp::Le, x, wrap_scalar(Scalar(*hi), x->device())));
      return std::vector<Tensor>{where(keep, g[0], zeros({}, g[0]->dtype, g[0]->device()))};
    });
  }
  return out;
}

Tensor where(const Tensor& cond_in, const Tensor& a_in, const Tensor& b_in) {
  Tensor cond = cond_in->dtype == DType::Bool ? cond_in : to_dtype(cond_in, DType::Bool);
  Tensor a = align_device(a_in, b_in, "where"), b = align_device(b_in, a_in, "where");
  cond = align_device(cond, a, "where");
  DType dt = result_type(a, b);
  Shape shape = broadcast_shapes(broadcast_shapes(cond->shape, a->shape), b->shape);
  Tensor out = make_empty(shape, dt, a->device());
  if (out->numel()) {
    NoGradGuard no_grad;
    Tensor ac = to_dtype(a, dt), bc = to_dtype(b, dt);
    backend(out->device()).where(out, expand_to(cond, shape), expand_to(ac, shape), expand_to(bc, shape));
  }
  if (should_record({&a, &b}) && is_floating(dt)) {
    SavedTensor sc(cond, false);
    DType da = a->dtype, db = b->dtype;
    Shape sha = a->shape, shb = b->shape;
    record("WhereBackward0", {a, b}, out, [sc, da, db, sha, shb](std::vector<Tensor>& g) {
      Tensor c = sc.unpack(nullptr);
      Tensor zero = zeros({}, g[0]->dtype, g[0]->device());
      return std::vector<Tensor>{reduce_grad(where(c, g[0], zero), sha, da),
                                 reduce_grad(where(c, zero, g[0]), shb, db)};
    });
  }
  return out;
}

}  // namespace ember
