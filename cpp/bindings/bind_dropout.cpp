#include "brisknn/dropout.h"

#include "check.h"

namespace brisknn::bind {

namespace {

void check_rate(const char* fn, double rate) {
  if (!(rate >= 0.0 && rate < 1.0)) {
    fail_value(std::string(fn) + ": rate must be in [0, 1), got " + std::to_string(rate));
  }
}

}  // namespace

void bind_dropout(py::module_& m) {
  m.def(
      "dropout_forward",
      [](const py::array& x, const py::array& y, const py::array& mask, double rate,
         uint64_t seed) {
        const char* fn = "dropout_forward";
        check_rate(fn, rate);
        dispatch_float(fn, x, [&](auto tag) {
          using T = decltype(tag);
          const T* xp = data_ptr<T>(fn, "x", x, false);
          T* yp = out_like<T>(fn, "y", y, x);
          uint8_t* mp = out_like<uint8_t>(fn, "mask", mask, x);
          py::gil_scoped_release release;
          dropout_forward<T>(yp, mp, xp, x.size(), rate, seed);
        });
      },
      py::arg("x"), py::arg("y"), py::arg("mask"), py::arg("rate"), py::arg("seed"),
      "Inverted dropout of x into y, recording the kept units (uint8) in mask.");
  m.def(
      "dropout_backward",
      [](const py::array& dy, const py::array& mask, const py::array& dx, double rate) {
        const char* fn = "dropout_backward";
        check_rate(fn, rate);
        dispatch_float(fn, dy, [&](auto tag) {
          using T = decltype(tag);
          const T* dyp = data_ptr<T>(fn, "dy", dy, false);
          const uint8_t* mp = in_like<uint8_t>(fn, "mask", mask, dy);
          T* dxp = out_like<T>(fn, "dx", dx, dy);
          py::gil_scoped_release release;
          dropout_backward<T>(dxp, dyp, mp, dy.size(), rate);
        });
      },
      py::arg("dy"), py::arg("mask"), py::arg("dx"), py::arg("rate"),
      "dx = dy * mask / (1 - rate); dx may be dy.");
}

}  // namespace brisknn::bind
