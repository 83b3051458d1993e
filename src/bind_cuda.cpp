// ember._C._cuda: the device API of the CUDA backend (or of its stub), for
// python/ember/cuda.py and python/ember/backends/cuda.py. Conversion only.
#include <pybind11/pybind11.h>

#include "cuda/cuda_api.h"

namespace py = pybind11;

void bind_cuda(py::module_& m) {
  py::module_ c = m.def_submodule("_cuda", "CUDA device management (ember.cuda wraps this)");
  c.def("is_built", &ember::cuda_is_built, "True when ember was compiled with the CUDA backend");
  c.def("is_available", [] { return ember::cuda_device_count() > 0; });
  c.def("device_count", &ember::cuda_device_count);
  c.def("current_device", &ember::cuda_current_device);
  c.def("set_device", &ember::cuda_set_device, py::arg("device"));
  c.def("synchronize", &ember::cuda_synchronize, py::arg("device") = -1,
        py::call_guard<py::gil_scoped_release>());
  c.def("memory_allocated", &ember::cuda_memory_allocated, py::arg("device"));
  c.def("max_memory_allocated", &ember::cuda_max_memory_allocated, py::arg("device"));
  c.def("empty_cache", &ember::cuda_empty_cache);
  c.def("get_device_name", [](int d) { return std::string(ember::cuda_get_device_name(d)); }, py::arg("device"));
}
