#include "brisknn/normalization.h"

#include "check.h"

namespace brisknn::bind {

namespace {

// x arrives viewed as (outer, channels, inner); the per-channel vectors are (channels,).
struct Layout {
  Index outer, channels, inner;
};

Layout layout(const char* fn, const py::array& x) {
  return {dim(fn, "x", x, 3, 0), x.shape(1), x.shape(2)};
}

}  // namespace

void bind_normalization(py::module_& m) {
  m.def(
      "batch_norm_moments",
      [](const py::array& x, const py::array& mean, const py::array& variance) {
        const char* fn = "batch_norm_moments";
        dispatch_float(fn, x, [&](auto tag) {
          using T = decltype(tag);
          const Layout s = layout(fn, x);
          const T* xp = data_ptr<T>(fn, "x", x, false);
          T* mp = out<T>(fn, "mean", mean, {s.channels});
          T* vp = out<T>(fn, "variance", variance, {s.channels});
          expect_outputs_disjoint(fn, {{"x", x}}, {{"mean", mean}, {"variance", variance}});
          py::gil_scoped_release release;
          batch_norm_moments<T>(mp, vp, xp, s.outer, s.channels, s.inner);
        });
      },
      py::arg("x"), py::arg("mean"), py::arg("variance"),
      "Per-channel mean and biased variance of x (outer, channels, inner) over its axes 0 and "
      "2, written into mean and variance (channels,).");
  m.def(
      "batch_norm_forward",
      [](const py::array& x, const py::array& mean, const py::array& inv,
         const py::object& gamma, const py::object& beta, const py::array& y) {
        const char* fn = "batch_norm_forward";
        dispatch_float(fn, x, [&](auto tag) {
          using T = decltype(tag);
          const Layout s = layout(fn, x);
          const T* xp = data_ptr<T>(fn, "x", x, false);
          const T* mp = in<T>(fn, "mean", mean, {s.channels});
          const T* ip = in<T>(fn, "inv", inv, {s.channels});
          const T* gp = optional_in<T>(fn, "gamma", gamma, {s.channels});
          const T* bp = optional_in<T>(fn, "beta", beta, {s.channels});
          T* yp = out_like<T>(fn, "y", y, x);
          expect_disjoint(fn, {{"y", y}, {"mean", mean}, {"inv", inv}, {"gamma", gamma},
                               {"beta", beta}});
          // y may be x itself (each element is read before it is written), but a y that
          // overlaps x shifted would have the kernel read what it already wrote.
          if (y.data() != x.data()) expect_disjoint(fn, {{"x", x}, {"y", y}});
          py::gil_scoped_release release;
          batch_norm_forward<T>(yp, xp, mp, ip, gp, bp, s.outer, s.channels, s.inner);
        });
      },
      py::arg("x"), py::arg("mean"), py::arg("inv"), py::arg("gamma"), py::arg("beta"),
      py::arg("y"),
      "y = (x - mean) * inv * gamma + beta per channel of x (outer, channels, inner); gamma "
      "and beta may be None (1 and 0); y may be x.");
  m.def(
      "batch_norm_backward",
      [](const py::array& dy, const py::array& x, const py::array& mean, const py::array& inv,
         const py::object& gamma, const py::object& dx, const py::object& dgamma,
         const py::object& dbeta, bool batch_statistics) {
        const char* fn = "batch_norm_backward";
        dispatch_float(fn, x, [&](auto tag) {
          using T = decltype(tag);
          const Layout s = layout(fn, x);
          const T* xp = data_ptr<T>(fn, "x", x, false);
          const T* dyp = in_like<T>(fn, "dy", dy, x);
          const T* mp = in<T>(fn, "mean", mean, {s.channels});
          const T* ip = in<T>(fn, "inv", inv, {s.channels});
          const T* gp = optional_in<T>(fn, "gamma", gamma, {s.channels});
          T* dxp = optional_out<T>(fn, "dx", dx, {s.outer, s.channels, s.inner});
          T* dgp = optional_out<T>(fn, "dgamma", dgamma, {s.channels});
          T* dbp = optional_out<T>(fn, "dbeta", dbeta, {s.channels});
          expect_disjoint(fn, {{"dy", dy}, {"x", x}, {"mean", mean}, {"inv", inv},
                               {"gamma", gamma}, {"dx", dx}, {"dgamma", dgamma},
                               {"dbeta", dbeta}});
          py::gil_scoped_release release;
          batch_norm_backward<T>(dxp, dgp, dbp, dyp, xp, mp, ip, gp, s.outer, s.channels,
                                 s.inner, batch_statistics);
        });
      },
      py::arg("dy"), py::arg("x"), py::arg("mean"), py::arg("inv"), py::arg("gamma"),
      py::arg("dx"), py::arg("dgamma"), py::arg("dbeta"), py::arg("batch_statistics"),
      "From dy: dgamma += sum dy * x_hat, dbeta += sum dy (None skips either), and dx (None "
      "skips it) through the normalization, and through the batch mean and "
      "variance too with batch_statistics.");
}

}  // namespace brisknn::bind
