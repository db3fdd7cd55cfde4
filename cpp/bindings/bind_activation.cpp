#include "brisknn/activation.h"

#include "check.h"

namespace brisknn::bind {

Activation activation_arg(const char* fn, const std::string& name) {
  Activation act;
  if (!parse_activation(name, &act)) {
    fail_value(std::string(fn) + ": unknown activation '" + name + "'");
  }
  return act;
}

Activation fused_backward_activation_arg(const char* fn, const std::string& name) {
  const Activation act = activation_arg(fn, name);
  if (derivative_needs_input(act)) {
    fail_value(std::string(fn) + ": the derivative of '" + name + "' needs the pre-activation, "
               "which a fused layer kernel does not keep: apply it with activation_forward");
  }
  return act;
}

void bind_activation(py::module_& m) {
  m.def(
      "activation_default_alpha",
      [](const std::string& name) {
        return keras_default_alpha(activation_arg("activation_default_alpha", name));
      },
      py::arg("activation"),
      "Keras' parameter for an activation named by string (leaky_relu 0.2, elu and celu 1, "
      "squareplus 4; 0 if it has none): what layers and recurrent kernels use.");
  m.def(
      "activation_forward",
      [](const py::array& x, const py::array& y, const std::string& name, double alpha) {
        const char* fn = "activation_forward";
        const Activation act = activation_arg(fn, name);
        dispatch_float(fn, x, [&](auto tag) {
          using T = decltype(tag);
          const T* xp = data_ptr<T>(fn, "x", x, false);
          T* yp = out_like<T>(fn, "y", y, x);
          const auto [rows, cols] = rows_cols(x);
          py::gil_scoped_release release;
          activation_forward<T>(yp, xp, rows, cols, act, static_cast<T>(alpha));
        });
      },
      py::arg("x"), py::arg("y"), py::arg("activation"), py::arg("alpha") = 0.0,
      "y = activation(x), written into y (which may be x). softmax and log_softmax are over the "
      "last axis.");
  m.def(
      "activation_backward",
      [](const py::array& dy, const py::array& y, const py::array& dx, const std::string& name,
         double alpha) {
        const char* fn = "activation_backward";
        const Activation act = activation_arg(fn, name);
        dispatch_float(fn, y, [&](auto tag) {
          using T = decltype(tag);
          const T* yp = data_ptr<T>(fn, "y", y, false);
          const T* dyp = in_like<T>(fn, "dy", dy, y);
          T* dxp = out_like<T>(fn, "dx", dx, y);
          const auto [rows, cols] = rows_cols(y);
          py::gil_scoped_release release;
          activation_backward<T>(dxp, dyp, yp, rows, cols, act, static_cast<T>(alpha));
        });
      },
      py::arg("dy"), py::arg("y"), py::arg("dx"), py::arg("activation"), py::arg("alpha") = 0.0,
      "dx = dy * activation'(x), from the forward output y (from the input x for gelu, "
      "gelu_approximate, silu, mish, hard_silu, tanh_shrink); dx may be dy.");
}

}  // namespace brisknn::bind
