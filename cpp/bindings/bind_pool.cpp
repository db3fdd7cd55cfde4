#include <pybind11/stl.h>

#include <atomic>
#include <cstdint>
#include <limits>

#include "brisknn/pool.h"
#include "check.h"
#include "window_args.h"

namespace brisknn::bind {

namespace {

// The pooling of x (batch, height, width, channels), checked: rank, sizes, a window that fits.
Pool2DShape pool_shape(const char* fn, const char* name, const py::array& x, Pair pool_size,
                       Pair strides, const std::string& padding) {
  const bool same = parse_padding(fn, padding);
  Pool2DShape s;
  s.batch = dim(fn, name, x, 4, 0);
  s.channels = x.shape(3);
  if (s.channels < 1) {
    fail_value(std::string(fn) + ": " + name + " of shape " + shape_str(x) + " has no channels");
  }
  window_axes(fn, {x.shape(1), x.shape(2)}, pool_size, strides, same,
              "pool_size " + pair_str(pool_size), &s.h, &s.w);
  if (s.h.in * s.w.in > std::numeric_limits<std::int32_t>::max()) {
    fail_value(std::string(fn) + ": images of " + pair_str({s.h.in, s.w.in}) +
               " pixels are too large for int32 argmax positions");
  }
  return s;
}

// The shape a backward pass's dx implies, windows unchecked: max pooling's backward needs only
// the argmax positions, which are checked against the image size instead.
Pool2DShape scatter_shape(const char* fn, const py::array& dx, const py::array& dy) {
  Pool2DShape s{};
  s.batch = dim(fn, "dx", dx, 4, 0);
  s.channels = dx.shape(3);
  s.h.in = dx.shape(1);
  s.w.in = dx.shape(2);
  dim(fn, "dy", dy, 4, 0);
  s.h.out = dy.shape(1);
  s.w.out = dy.shape(2);
  expect_shape(fn, "dy", dy, {s.batch, kAny, kAny, s.channels});
  return s;
}

// Every argmax must address a pixel of its image: the kernel scatters through them unchecked.
void check_positions(const char* fn, const std::int32_t* argmax, Index count, Index pixels) {
  std::atomic<bool> bad{false};
  {
    py::gil_scoped_release release;
    parallel_for(count, Index{1} << 16, [&](Index begin, Index end) {
      bool local = false;
      for (Index i = begin; i < end; ++i) local |= argmax[i] < 0 || argmax[i] >= pixels;
      if (local) bad = true;
    });
  }
  if (bad) {
    fail_value(std::string(fn) + ": argmax holds positions outside [0, " +
               std::to_string(pixels) + "); pass the array max_pool2d_forward filled");
  }
}

void max_forward(const py::array& x, const py::array& y, const std::optional<py::array>& argmax,
                 Pair pool_size, Pair strides, const std::string& padding) {
  const char* fn = "max_pool2d_forward";
  const Pool2DShape s = pool_shape(fn, "x", x, pool_size, strides, padding);
  dispatch_float(fn, x, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = data_ptr<T>(fn, "x", x, false);
    T* yp = out<T>(fn, "y", y, {s.batch, s.h.out, s.w.out, s.channels});
    std::int32_t* ap =
        argmax ? out<std::int32_t>(fn, "argmax", *argmax, {s.batch, s.h.out, s.w.out, s.channels})
               : nullptr;
    py::gil_scoped_release release;
    max_pool2d_forward<T>(yp, ap, xp, s);
  });
}

void max_backward(const py::array& dy, const py::array& argmax, const py::array& dx) {
  const char* fn = "max_pool2d_backward";
  const Pool2DShape s = scatter_shape(fn, dx, dy);
  const std::int32_t* ap = in_like<std::int32_t>(fn, "argmax", argmax, dy);
  check_positions(fn, ap, argmax.size(), s.h.in * s.w.in);
  dispatch_float(fn, dy, [&](auto tag) {
    using T = decltype(tag);
    const T* dyp = data_ptr<T>(fn, "dy", dy, false);
    T* dxp = data_ptr<T>(fn, "dx", dx, true);
    py::gil_scoped_release release;
    max_pool2d_backward<T>(dxp, dyp, ap, s);
  });
}

void avg_forward(const py::array& x, const py::array& y, Pair pool_size, Pair strides,
                 const std::string& padding) {
  const char* fn = "avg_pool2d_forward";
  const Pool2DShape s = pool_shape(fn, "x", x, pool_size, strides, padding);
  dispatch_float(fn, x, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = data_ptr<T>(fn, "x", x, false);
    T* yp = out<T>(fn, "y", y, {s.batch, s.h.out, s.w.out, s.channels});
    py::gil_scoped_release release;
    avg_pool2d_forward<T>(yp, xp, s);
  });
}

void avg_backward(const py::array& dy, const py::array& dx, Pair pool_size, Pair strides,
                  const std::string& padding) {
  const char* fn = "avg_pool2d_backward";
  const Pool2DShape s = pool_shape(fn, "dx", dx, pool_size, strides, padding);
  dispatch_float(fn, dy, [&](auto tag) {
    using T = decltype(tag);
    const T* dyp = in<T>(fn, "dy", dy, {s.batch, s.h.out, s.w.out, s.channels});
    T* dxp = data_ptr<T>(fn, "dx", dx, true);
    py::gil_scoped_release release;
    avg_pool2d_backward<T>(dxp, dyp, s);
  });
}

}  // namespace

void bind_pool(py::module_& m) {
  m.def("max_pool2d_forward", &max_forward, py::arg("x"), py::arg("y"), py::arg("argmax"),
        py::arg("pool_size"), py::arg("strides"), py::arg("padding"),
        "y = window maxima of x (batch, height, width, channels); argmax (int32, y's shape, or "
        "None) receives each maximum's position h * width + w for the backward pass.");
  m.def("max_pool2d_backward", &max_backward, py::arg("dy"), py::arg("argmax"), py::arg("dx"),
        "dx (overwritten) = dy scattered to the argmax positions of the forward pass.");
  m.def("avg_pool2d_forward", &avg_forward, py::arg("x"), py::arg("y"), py::arg("pool_size"),
        py::arg("strides"), py::arg("padding"),
        "y = window means of x over the non-padding positions (Keras 'same').");
  m.def("avg_pool2d_backward", &avg_backward, py::arg("dy"), py::arg("dx"), py::arg("pool_size"),
        py::arg("strides"), py::arg("padding"),
        "dx (overwritten) = dy shared evenly over each window's non-padding positions.");
}

}  // namespace brisknn::bind
