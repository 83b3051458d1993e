// Module-level functions of ember._C for the ops that D2L's library and
// PyTorch's tutorials reach for beyond the basics: hyperbolic functions,
// scatter, repeat, multinomial and sorting. Conversion only; the Python
// package (_ops_extra.py) adds PyTorch's argument conventions.
#include "convert.h"
#include "csrc/error.h"

namespace ember::bind {

namespace {

std::optional<ReduceOp> as_scatter_reduce(const std::optional<std::string>& reduce) {
  if (!reduce) return std::nullopt;
  if (*reduce == "add") return ReduceOp::Sum;
  if (*reduce == "multiply") return ReduceOp::Prod;
  throw Error("reduce argument must be either add or multiply. Got: " + *reduce);
}

// scatter's src: a tensor, or a Python number (the `value` overload).
template <typename TensorFn, typename ValueFn>
Tensor with_src(py::handle src, const char* op, TensorFn on_tensor, ValueFn on_value) {
  if (py::isinstance<TensorImpl>(src)) return on_tensor(src.cast<Tensor>());
  std::optional<Scalar> value = as_scalar(src);
  EMBER_CHECK(value.has_value(), TypeError, op, "(): argument 'src' must be Tensor or a number, not ",
              Py_TYPE(src.ptr())->tp_name);
  return on_value(*value);
}

}  // namespace

void bind_ops_extra(py::module_& m) {
  struct Entry {
    const char* name;
    UnaryOp op;
  };
  for (Entry e : {Entry{"sinh", UnaryOp::Sinh}, Entry{"cosh", UnaryOp::Cosh}}) {
    UnaryOp op = e.op;
    m.def(e.name, [op](const Tensor& t) { return unary(op, t); });
    m.def((std::string(e.name) + "_").c_str(), [op](Tensor t) { return unary_(op, t); });
  }

  // scatter
  m.def("scatter", [](const Tensor& self, int64_t dim, const Tensor& index, py::handle src,
                      const std::optional<std::string>& reduce) {
    auto r = as_scatter_reduce(reduce);
    return with_src(src, "scatter", [&](const Tensor& s) { return scatter(self, dim, index, s, r); },
                    [&](const Scalar& v) { return scatter(self, dim, index, v, r); });
  }, py::arg("self"), py::arg("dim"), py::arg("index"), py::arg("src"), py::arg("reduce") = py::none());
  m.def("scatter_", [](Tensor self, int64_t dim, const Tensor& index, py::handle src,
                       const std::optional<std::string>& reduce) {
    auto r = as_scatter_reduce(reduce);
    return with_src(src, "scatter_", [&](const Tensor& s) { return scatter_(self, dim, index, s, r); },
                    [&](const Scalar& v) { return scatter_(self, dim, index, v, r); });
  }, py::arg("self"), py::arg("dim"), py::arg("index"), py::arg("src"), py::arg("reduce") = py::none());
  m.def("scatter_add", [](const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
    return scatter_add(self, dim, index, src);
  });
  m.def("scatter_add_", [](Tensor self, int64_t dim, const Tensor& index, const Tensor& src) {
    return scatter_add_(self, dim, index, src);
  });

  // repeat
  m.def("repeat", [](const Tensor& t, const Shape& r) { return repeat(t, r); });
  m.def("tile", [](const Tensor& t, const Shape& r) { return tile(t, r); });
  m.def("repeat_interleave", [](const Tensor& t, py::handle repeats, std::optional<int64_t> dim,
                                std::optional<int64_t> output_size) {
    if (py::isinstance<TensorImpl>(repeats)) return repeat_interleave(t, repeats.cast<Tensor>(), dim, output_size);
    return repeat_interleave(t, repeats.cast<int64_t>(), dim, output_size);
  });
  m.def("repeat_interleave_index", [](const Tensor& repeats, std::optional<int64_t> output_size) {
    return repeat_interleave_index(repeats, output_size);
  });

  // sampling and sorting
  m.def("multinomial", [](const Tensor& p, int64_t n, bool replacement) { return multinomial(p, n, replacement); });
  m.def("sort", [](const Tensor& t, int64_t dim, bool descending, std::optional<bool> stable) {
    return sort(t, dim, descending, stable);
  });
  m.def("argsort", [](const Tensor& t, int64_t dim, bool descending) { return argsort(t, dim, descending); });
  m.def("topk", [](const Tensor& t, int64_t k, int64_t dim, bool largest, bool sorted) {
    return topk(t, k, dim, largest, sorted);
  });
  m.def("searchsorted", [](const Tensor& sorted, py::handle values, bool right, bool out_int32) {
    Tensor v = as_operand(values, sorted->device(), "searchsorted");
    if (!py::isinstance<TensorImpl>(values)) v = to_dtype(v, sorted->dtype);  // a number takes sorted's dtype
    return searchsorted(sorted, v, right, out_int32);
  });
}

}  // namespace ember::bind
