// The extension module: one bind_<family> per kernel family; no logic here.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace brisknn::bind {
void bind_runtime(py::module_& m);
void bind_dense(py::module_& m);
void bind_activation(py::module_& m);
void bind_loss(py::module_& m);
void bind_dropout(py::module_& m);
void bind_optim(py::module_& m);
void bind_conv(py::module_& m);
void bind_pool(py::module_& m);
void bind_reduce(py::module_& m);
void bind_embedding(py::module_& m);
void bind_recurrent(py::module_& m);
void bind_normalization(py::module_& m);
void bind_dense_chain(py::module_& m);
}  // namespace brisknn::bind

PYBIND11_MODULE(_core, m) {
  m.doc() = "brisknn's C++ kernels (Eigen + OpenMP). Use brisknn.ops for NumPy-friendly calls.";
  using namespace brisknn::bind;
  bind_runtime(m);
  bind_dense(m);
  bind_activation(m);
  bind_loss(m);
  bind_dropout(m);
  bind_optim(m);
  bind_conv(m);
  bind_pool(m);
  bind_reduce(m);
  bind_embedding(m);
  bind_recurrent(m);
  bind_normalization(m);
  bind_dense_chain(m);
}
