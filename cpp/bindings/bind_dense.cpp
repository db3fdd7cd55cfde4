#include "brisknn/dense.h"

#include "check.h"

namespace brisknn::bind {

Activation activation_arg(const char* fn, const std::string& name);  // bind_activation.cpp
Activation fused_backward_activation_arg(const char* fn, const std::string& name);

namespace {

void bind_matmul(py::module_& m) {
  m.def(
      "matmul",
      [](const py::array& a, const py::array& b, const py::array& c, bool trans_a, bool trans_b,
         bool accumulate) {
        const char* fn = "matmul";
        dispatch_float(fn, a, [&](auto tag) {
          using T = decltype(tag);
          const Index m = dim(fn, "a", a, 2, trans_a ? 1 : 0), k = a.shape(trans_a ? 0 : 1);
          const Index n = dim(fn, "b", b, 2, trans_b ? 0 : 1);
          const T* ap = data_ptr<T>(fn, "a", a, false);
          const T* bp = in<T>(fn, "b", b, {trans_b ? n : k, trans_b ? k : n});
          T* cp = out<T>(fn, "c", c, {m, n});
          py::gil_scoped_release release;
          matmul<T>(cp, ap, bp, m, k, n, trans_a, trans_b, accumulate);
        });
      },
      py::arg("a"), py::arg("b"), py::arg("c"), py::arg("trans_a") = false,
      py::arg("trans_b") = false, py::arg("accumulate") = false,
      "c = op(a) @ op(b) (or c += with accumulate), written into c.");
}

}  // namespace

void bind_dense(py::module_& m) {
  bind_matmul(m);
  m.def(
      "dense_forward",
      [](const py::array& x, const py::array& w, const py::object& bias, const py::array& y,
         const std::string& activation, double alpha) {
        const char* fn = "dense_forward";
        const Activation act = activation_arg(fn, activation);
        return dispatch_float(fn, x, [&](auto tag) {
          using T = decltype(tag);
          const Index batch = dim(fn, "x", x, 2, 0), in_dim = x.shape(1);
          const Index out_dim = dim(fn, "kernel", w, 2, 1);
          const T* xp = data_ptr<T>(fn, "x", x, false);
          const T* wp = in<T>(fn, "kernel", w, {in_dim, out_dim});
          const T* bp = bias.is_none() ? nullptr
                                       : in<T>(fn, "bias", py::cast<py::array>(bias), {out_dim});
          T* yp = out<T>(fn, "y", y, {batch, out_dim});
          py::gil_scoped_release release;
          return dense_forward<T>(yp, xp, wp, bp, batch, in_dim, out_dim, act,
                                  static_cast<T>(alpha));
        });
      },
      py::arg("x"), py::arg("kernel"), py::arg("bias"), py::arg("y"),
      py::arg("activation") = "linear", py::arg("alpha") = 0.0,
      "y = activation(x @ kernel + bias), written into y (batch, units). Returns whether every "
      "x @ kernel + bias was finite (it is not when x holds a NaN or an inf).");
  m.def(
      "dense_backward",
      [](const py::array& dz, const py::array& x, const py::array& w, const py::object& dx,
         const py::object& dw, const py::object& dbias, const py::object& y,
         const std::string& activation, double alpha) {
        const char* fn = "dense_backward";
        const Activation act = fused_backward_activation_arg(fn, activation);
        dispatch_float(fn, x, [&](auto tag) {
          using T = decltype(tag);
          const Index batch = dim(fn, "x", x, 2, 0), in_dim = x.shape(1);
          const Index out_dim = dim(fn, "kernel", w, 2, 1);
          const T* xp = data_ptr<T>(fn, "x", x, false);
          const T* wp = in<T>(fn, "kernel", w, {in_dim, out_dim});
          const T* dzp = in<T>(fn, "dz", dz, {batch, out_dim});
          const T* yp = nullptr;
          if (act != Activation::Linear) {
            if (y.is_none()) fail_value(std::string(fn) + ": activation '" + activation +
                                        "' needs the layer output y");
            yp = in<T>(fn, "y", py::cast<py::array>(y), {batch, out_dim});
          }
          T* dxp = optional_out<T>(fn, "dx", dx, {batch, in_dim});
          T* dwp = optional_out<T>(fn, "dkernel", dw, {in_dim, out_dim});
          T* dbp = optional_out<T>(fn, "dbias", dbias, {out_dim});
          py::gil_scoped_release release;
          dense_backward<T>(dxp, dwp, dbp, dzp, yp, act, static_cast<T>(alpha), xp, wp, batch,
                            in_dim, out_dim);
        });
      },
      py::arg("dz"), py::arg("x"), py::arg("kernel"), py::arg("dx"), py::arg("dkernel"),
      py::arg("dbias"), py::arg("y") = py::none(), py::arg("activation") = "linear",
      py::arg("alpha") = 0.0,
      "From dz = dL/d(x @ kernel + bias): dx = dz @ kernel.T (overwritten), dkernel += x.T @ dz, "
      "dbias += dz.sum(0). Pass None to skip any of them. With an activation, dz is the gradient "
      "of the output y = activation(x @ kernel + bias) and is first multiplied by the "
      "activation's derivative (computed from y).");
}

}  // namespace brisknn::bind
