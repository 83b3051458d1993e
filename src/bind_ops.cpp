// Module-level functions of ember._C with fixed signatures; the Python
// package wraps them with PyTorch's argument conventions.
#include "convert.h"
#include "csrc/autograd/node.h"
#include "csrc/error.h"
#include "csrc/math_mode.h"
#include "gil.h"

namespace ember::bind {

namespace {

Reduction as_reduction(const std::string& r) {
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  if (r == "none") return Reduction::None;
  throw ValueError(r + " is not a valid value for reduction");
}

std::vector<Tensor> tensor_list(py::handle seq, const char* op) {
  if (py::isinstance<TensorImpl>(seq))
    throw TypeError(str(op, "(): argument 'tensors' must be a tuple or list of Tensors, not Tensor"));
  std::vector<Tensor> out;
  for (py::handle h : seq) {
    if (!py::isinstance<TensorImpl>(h))
      throw TypeError(str(op, "(): expected a sequence of Tensors, but got an element of type ",
                          std::string(py::str(h.get_type().attr("__name__")))));
    out.push_back(h.cast<Tensor>());
  }
  return out;
}

struct UnaryEntry {
  const char* name;
  UnaryOp op;
};
const UnaryEntry kUnary[] = {
    {"neg", UnaryOp::Neg},       {"abs", UnaryOp::Abs},         {"exp", UnaryOp::Exp},
    {"log", UnaryOp::Log},       {"sqrt", UnaryOp::Sqrt},       {"rsqrt", UnaryOp::Rsqrt},
    {"sin", UnaryOp::Sin},       {"cos", UnaryOp::Cos},         {"tan", UnaryOp::Tan},
    {"tanh", UnaryOp::Tanh},     {"sigmoid", UnaryOp::Sigmoid}, {"relu", UnaryOp::Relu},
    {"sign", UnaryOp::Sign},     {"floor", UnaryOp::Floor},     {"ceil", UnaryOp::Ceil},
    {"round", UnaryOp::Round},   {"trunc", UnaryOp::Trunc},     {"log1p", UnaryOp::Log1p},
    {"expm1", UnaryOp::Expm1},   {"log2", UnaryOp::Log2},       {"log10", UnaryOp::Log10},
    {"exp2", UnaryOp::Exp2},     {"square", UnaryOp::Square},   {"reciprocal", UnaryOp::Reciprocal},
    {"erf", UnaryOp::Erf},       {"logical_not", UnaryOp::LogicalNot}, {"bitwise_not", UnaryOp::BitwiseNot},
};

struct BinaryEntry {
  const char* name;
  BinaryOp op;
};
const BinaryEntry kBinary[] = {
    {"add", BinaryOp::Add},         {"sub", BinaryOp::Sub},
    {"mul", BinaryOp::Mul},         {"div", BinaryOp::Div},
    {"floor_divide", BinaryOp::FloorDiv}, {"remainder", BinaryOp::Remainder},
    {"pow", BinaryOp::Pow},         {"maximum", BinaryOp::Maximum},
    {"minimum", BinaryOp::Minimum}, {"atan2", BinaryOp::Atan2},
    {"eq", BinaryOp::Eq},           {"ne", BinaryOp::Ne},
    {"lt", BinaryOp::Lt},           {"le", BinaryOp::Le},
    {"gt", BinaryOp::Gt},           {"ge", BinaryOp::Ge},
    {"logical_and", BinaryOp::LogicalAnd}, {"logical_or", BinaryOp::LogicalOr},
    {"logical_xor", BinaryOp::LogicalXor}, {"bitwise_and", BinaryOp::BitAnd},
    {"bitwise_or", BinaryOp::BitOr}, {"bitwise_xor", BinaryOp::BitXor},
};

}  // namespace

void bind_ops(py::module_& m) {
  // creation
  m.def("empty", [](const Shape& s, DType d, py::handle dev) { return empty(s, d, as_device(dev)); });
  m.def("full", [](const Shape& s, py::handle v, DType d, py::handle dev) {
    auto sc = as_scalar(v);
    EMBER_CHECK(sc.has_value(), TypeError, "full(): fill_value must be a number");
    return full(s, *sc, d, as_device(dev));
  });
  m.def("arange", [](double a, double b, double st, DType d, py::handle dev) { return arange(a, b, st, d, as_device(dev)); });
  m.def("linspace", [](double a, double b, int64_t n, DType d, py::handle dev) { return linspace(a, b, n, d, as_device(dev)); });
  m.def("eye", [](int64_t n, int64_t k, DType d, py::handle dev) { return eye(n, k, d, as_device(dev)); });
  m.def("rand", [](const Shape& s, DType d, py::handle dev) { return rand(s, d, as_device(dev)); });
  m.def("randn", [](const Shape& s, DType d, py::handle dev) { return randn(s, d, as_device(dev)); });
  m.def("randint", [](int64_t lo, int64_t hi, const Shape& s, DType d, py::handle dev) {
    return randint(lo, hi, s, d, as_device(dev));
  });
  m.def("randperm", [](int64_t n, DType d, py::handle dev) { return randperm(n, d, as_device(dev)); });
  m.def("manual_seed", [](uint64_t seed) { manual_seed(seed); });
  m.def("initial_seed", []() { return initial_seed(); });
  m.def("set_num_threads", [](int n) { set_num_threads(n); });
  m.def("_empty_cpu_cache", [] { empty_cpu_cache(); });
  m.def("get_num_threads", []() { return get_num_threads(); });
  // ember.set_float32_matmul_precision (ember/_math_mode.py) checks the type first.
  m.def("_set_float32_matmul_precision", [](const std::string& p) {
    if (p == "highest") set_float32_matmul_precision(Float32MatmulPrecision::Highest);
    else if (p == "high") set_float32_matmul_precision(Float32MatmulPrecision::High);
    else if (p == "medium") set_float32_matmul_precision(Float32MatmulPrecision::Medium);
    else throw ValueError(str("set_float32_matmul_precision: '", p, "' is not one of 'highest', 'high' or 'medium'"));
  });
  m.def("_get_float32_matmul_precision", [] {
    switch (float32_matmul_precision()) {
      case Float32MatmulPrecision::High: return "high";
      case Float32MatmulPrecision::Medium: return "medium";
      default: return "highest";
    }
  });
  m.def("tensor", [](py::handle data, py::handle dtype, py::handle dev) {
    return tensor_from_data(data, as_optional_dtype(dtype), as_device(dev));
  });
  m.def("from_numpy", [](py::array a) { return from_numpy(a); });
  m.def("as_dtype", [](py::handle d) { return as_dtype(d); });

  // conversion and copies
  m.def("to_dtype", [](const Tensor& t, DType d) { return to_dtype(t, d); });
  m.def("to_device", [](const Tensor& t, py::handle dev) { return to_device(t, as_device(dev)); });
  m.def("contiguous", [](const Tensor& t) { return contiguous(t); });
  m.def("clone", [](const Tensor& t) { return clone(t); });
  m.def("detach", [](const Tensor& t) { return detach(t); });
  m.def("copy_", [](Tensor dst, const Tensor& src) { return copy_(dst, src); });
  m.def("fill_", [](Tensor t, py::handle v) {
    if (py::isinstance<TensorImpl>(v)) return fill_(t, item(v.cast<Tensor>()));
    auto sc = as_scalar(v);
    EMBER_CHECK(sc.has_value(), TypeError, "fill_(): value must be a number");
    return fill_(t, *sc);
  });
  m.def("zero_", [](Tensor t) { return zero_(t); });

  // elementwise
  for (const UnaryEntry& e : kUnary) {
    UnaryOp op = e.op;
    m.def(e.name, [op](const Tensor& t) {
      ReleaseGilIf nogil(is_large(t));
      return unary(op, t);
    });
    m.def((std::string(e.name) + "_").c_str(), [op](Tensor t) {
      ReleaseGilIf nogil(is_large(t));
      return unary_(op, t);
    });
  }
  for (const BinaryEntry& e : kBinary) {
    BinaryOp op = e.op;
    std::string name = e.name;
    m.def(e.name, [op, name](py::handle a, py::handle b) {
      if (!py::isinstance<TensorImpl>(a)) {
        Tensor tb = b.cast<Tensor>();
        Tensor ta = as_operand(a, tb->device(), name.c_str());
        ReleaseGilIf nogil(any_large(ta, tb));
        return binary(op, ta, tb);
      }
      Tensor ta = a.cast<Tensor>();
      Tensor tb = as_operand(b, ta->device(), name.c_str());
      ReleaseGilIf nogil(any_large(ta, tb));
      return binary(op, ta, tb);
    });
    m.def((name + "_").c_str(), [op, name](Tensor a, py::handle b) {
      Tensor tb = as_operand(b, a->device(), name.c_str());
      ReleaseGilIf nogil(any_large(a, tb));
      return binary_(op, a, tb);
    });
  }
  m.def("pow_scalar", [](const Tensor& a, double e) { return pow_scalar(a, e); });
  m.def("clamp", [](const Tensor& t, std::optional<double> lo, std::optional<double> hi) { return clamp(t, lo, hi); });
  m.def("where", [](const Tensor& c, py::handle a, py::handle b) {
    Device dev = c->device();
    return where(c, as_operand(a, dev, "where"), as_operand(b, dev, "where"));
  });
  m.def("result_type", [](py::handle a, py::handle b) {
    Device dev{};
    return result_type(as_operand(a, dev, "result_type"), as_operand(b, dev, "result_type"));
  });

  // reductions
  m.def("sum", [](const Tensor& t, py::handle dims, bool keepdim, py::handle dtype) {
    auto d = parse_dims(dims);
    auto dt = as_optional_dtype(dtype);
    ReleaseGilIf nogil(is_large(t));
    return sum(t, d, keepdim, dt);
  });
  m.def("mean", [](const Tensor& t, py::handle dims, bool keepdim) {
    auto d = parse_dims(dims);
    ReleaseGilIf nogil(is_large(t));
    return mean(t, d, keepdim);
  });
  m.def("prod", [](const Tensor& t, py::handle dims, bool keepdim) { return prod(t, parse_dims(dims), keepdim); });
  m.def("amax", [](const Tensor& t, py::handle dims, bool keepdim) { return amax(t, parse_dims(dims), keepdim); });
  m.def("amin", [](const Tensor& t, py::handle dims, bool keepdim) { return amin(t, parse_dims(dims), keepdim); });
  m.def("any", [](const Tensor& t, py::handle dims, bool keepdim) { return any(t, parse_dims(dims), keepdim); });
  m.def("all", [](const Tensor& t, py::handle dims, bool keepdim) { return all(t, parse_dims(dims), keepdim); });
  m.def("max_all", [](const Tensor& t) { return max_all(t); });
  m.def("min_all", [](const Tensor& t) { return min_all(t); });
  m.def("max_dim", [](const Tensor& t, int64_t d, bool k) { return max_dim(t, d, k); });
  m.def("min_dim", [](const Tensor& t, int64_t d, bool k) { return min_dim(t, d, k); });
  m.def("argmax", [](const Tensor& t, std::optional<int64_t> d, bool k) { return argmax(t, d, k); });
  m.def("argmin", [](const Tensor& t, std::optional<int64_t> d, bool k) { return argmin(t, d, k); });
  m.def("cumsum", [](const Tensor& t, int64_t d) { return cumsum(t, d); });
  m.def("norm", [](const Tensor& t, double p, py::handle dims, bool k) { return norm(t, p, parse_dims(dims), k); });
  m.def("var", [](const Tensor& t, py::handle dims, int64_t correction, bool k) {
    return var(t, parse_dims(dims), correction, k);
  });

  // linear algebra
  m.def("matmul", [](const Tensor& a, const Tensor& b) {
    ReleaseGilIf nogil(any_large(a, b));
    return matmul(a, b);
  });
  m.def("mm", [](const Tensor& a, const Tensor& b) {
    ReleaseGilIf nogil(any_large(a, b));
    return mm(a, b);
  });
  m.def("bmm", [](const Tensor& a, const Tensor& b) {
    ReleaseGilIf nogil(any_large(a, b));
    return bmm(a, b);
  });
  m.def("mv", &mv);
  m.def("dot", &dot);
  m.def("addmm", [](const Tensor& c, const Tensor& a, const Tensor& b) {
    ReleaseGilIf nogil(any_large(a, b));
    return addmm(c, a, b);
  });
  m.def("linear", [](const Tensor& x, const Tensor& w, const std::optional<Tensor>& b) {
    ReleaseGilIf nogil(any_large(x, w));
    return linear(x, w, b ? *b : Tensor());
  }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none());

  // shape
  m.def("view", [](const Tensor& t, const Shape& s) { return view(t, s); });
  m.def("reshape", [](const Tensor& t, const Shape& s) { return reshape(t, s); });
  m.def("as_strided", [](const Tensor& t, const Shape& s, const Shape& st, std::optional<int64_t> off) {
    return as_strided(t, s, st, off.value_or(t->offset));
  });
  m.def("transpose", [](const Tensor& t, int64_t a, int64_t b) { return transpose(t, a, b); });
  m.def("t", [](const Tensor& x) { return t(x); });
  m.def("permute", [](const Tensor& t, std::vector<int64_t> d) { return permute(t, d); });
  m.def("expand", [](const Tensor& t, const Shape& s) { return expand(t, s); });
  m.def("squeeze", [](const Tensor& t, py::handle dims) {
    if (dims.is_none()) return squeeze(t, std::nullopt);
    return squeeze(t, parse_dims(dims));
  });
  m.def("unsqueeze", [](const Tensor& t, int64_t d) { return unsqueeze(t, d); });
  m.def("flatten", [](const Tensor& t, int64_t a, int64_t b) { return flatten(t, a, b); });
  m.def("select", [](const Tensor& t, int64_t d, int64_t i) { return select(t, d, i); });
  m.def("slice", [](const Tensor& t, int64_t d, std::optional<int64_t> a, std::optional<int64_t> b, int64_t s) {
    return slice(t, d, a, b, s);
  });
  m.def("cat", [](py::handle seq, int64_t d) { return cat(tensor_list(seq, "cat"), d); });
  m.def("stack", [](py::handle seq, int64_t d) { return stack(tensor_list(seq, "stack"), d); });
  m.def("split", [](const Tensor& t, py::handle sizes, int64_t d) {
    if (PyLong_Check(sizes.ptr())) return split_size(t, sizes.cast<int64_t>(), d);
    return split(t, sizes.cast<std::vector<int64_t>>(), d);
  });
  m.def("chunk", [](const Tensor& t, int64_t c, int64_t d) { return chunk(t, c, d); });

  // indexing
  m.def("index_select", [](const Tensor& t, int64_t d, const Tensor& i) { return index_select(t, d, i); });
  m.def("gather", [](const Tensor& t, int64_t d, const Tensor& i) { return gather(t, d, i); });
  m.def("masked_fill", [](const Tensor& t, const Tensor& mask, py::handle v) {
    Scalar s = py::isinstance<TensorImpl>(v) ? item(v.cast<Tensor>()) : as_scalar(v).value_or(Scalar(0.0));
    return masked_fill(t, mask, s);
  });
  m.def("nonzero", [](const Tensor& t) { return nonzero(t); });

  // random in place
  m.def("uniform_", [](Tensor t, double a, double b) { return uniform_(t, a, b); });
  m.def("normal_", [](Tensor t, double mean, double std) { return normal_(t, mean, std); });

  // nn
  m.def("softmax", [](const Tensor& t, int64_t d) {
    ReleaseGilIf nogil(is_large(t));
    return softmax(t, d);
  });
  m.def("log_softmax", [](const Tensor& t, int64_t d) {
    ReleaseGilIf nogil(is_large(t));
    return log_softmax(t, d);
  });
  m.def("cross_entropy", [](const Tensor& x, const Tensor& y, const std::string& r, const std::optional<Tensor>& w,
                            int64_t ignore_index, double label_smoothing) {
    Reduction reduction = as_reduction(r);
    ReleaseGilIf nogil(is_large(x));
    return cross_entropy(x, y, reduction, w ? *w : Tensor(), ignore_index, label_smoothing);
  }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean", py::arg("weight") = py::none(),
        py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0);
  m.def("mse_loss", [](const Tensor& x, const Tensor& y, const std::string& r) {
    return mse_loss(x, y, as_reduction(r));
  }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean");
  m.def("dropout", [](const Tensor& x, double p, bool training) { return dropout(x, p, training); },
        py::arg("input"), py::arg("p") = 0.5, py::arg("training") = true);
}

}  // namespace ember::bind
