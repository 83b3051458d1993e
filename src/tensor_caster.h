// How pybind11 converts Python objects to ember::Tensor arguments. Every
// binding file that takes or returns tensors includes this (before any
// conversion is instantiated), so all of them share one definition.
//
// pybind11 turns None into a null holder for shared_ptr arguments; a null
// Tensor reaching the core would be dereferenced. None is therefore never a
// tensor here: the call fails overload resolution and Python gets a
// TypeError naming the expected types. Optional tensor arguments are
// declared as std::optional<Tensor>, whose caster handles None itself.
#pragma once
#include <pybind11/pybind11.h>

#include <memory>

#include "csrc/tensor.h"

namespace pybind11::detail {

template <>
class type_caster<std::shared_ptr<ember::TensorImpl>>
    : public copyable_holder_caster<ember::TensorImpl, std::shared_ptr<ember::TensorImpl>> {
  using base = copyable_holder_caster<ember::TensorImpl, std::shared_ptr<ember::TensorImpl>>;

 public:
  bool load(handle src, bool convert) {
    if (src.is_none()) return false;
    return base::load(src, convert);
  }
};

}  // namespace pybind11::detail
