// ember._C: registers backends, maps core exceptions to Python ones and
// binds each area (one file per area).
#include "convert.h"
#include "csrc/backend.h"
#include "csrc/error.h"
#include "cuda/cuda_api.h"

void bind_io(pybind11::module_& m);
void bind_cuda(pybind11::module_& m);
void bind_info(pybind11::module_& m);

namespace ember::bind {
void bind_tensor(py::module_& m);
void bind_ops(py::module_& m);
void bind_conv(py::module_& m);
void bind_ops_extra(py::module_& m);
void bind_dlpack(py::module_& m);
void bind_autograd(py::module_& m);
void bind_norm(py::module_& m);
void bind_function(py::module_& m);
}  // namespace ember::bind

PYBIND11_MODULE(_C, m) {
  m.doc() = "ember's native core";
  m.attr("_cuda_setting") = EMBER_CUDA_SETTING;
  ember::init_backends();
  ember::register_cuda_backend();

  // Most specific first: pybind11 tries translators in reverse order of registration.
  static py::exception<ember::CheckpointError> checkpoint_error(m, "CheckpointError", PyExc_RuntimeError);
  static py::exception<ember::OutOfMemoryError> oom_error(m, "OutOfMemoryError", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ember::CheckpointError& e) {
      py::set_error(checkpoint_error, e.what());
    } catch (const ember::OutOfMemoryError& e) {
      py::set_error(oom_error, e.what());
    } catch (const ember::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const ember::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const ember::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const ember::NotImplementedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    } catch (const ember::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError, "out of memory");
    }
  });

  ember::bind::bind_tensor(m);
  ember::bind::bind_ops(m);
  ember::bind::bind_conv(m);
  ember::bind::bind_ops_extra(m);
  ember::bind::bind_dlpack(m);
  ember::bind::bind_autograd(m);
  ember::bind::bind_norm(m);
  bind_io(m);
  bind_cuda(m);
  bind_info(m);
  ember::bind::bind_function(m);
}
