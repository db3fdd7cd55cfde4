#include <pybind11/stl.h>

#include <limits>
#include <optional>
#include <vector>

#include "brisknn/conv.h"
#include "check.h"
#include "window_args.h"

namespace brisknn::bind {

Activation activation_arg(const char* fn, const std::string& name);  // bind_activation.cpp
Activation fused_backward_activation_arg(const char* fn, const std::string& name);

namespace {

using Shape = std::vector<Index>;

Shape dims(const py::array& a) { return Shape(a.shape(), a.shape() + a.ndim()); }

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

// The convolution of x (batch, height, width, in_c) with kernel (k_h, k_w, in_c / groups,
// out_c), checked: ranks, matching channels and groups, non-empty sizes, strides, and a kernel
// that fits.
Conv2DShape conv_shape(const char* fn, const Shape& x, const Shape& kernel, Pair strides,
                       const std::string& padding, Pair dilation, Index groups = 1) {
  const bool same = parse_padding(fn, padding);
  if (x.size() != 4) {
    fail_value(std::string(fn) + ": x must have rank 4 (batch, height, width, channels), got "
               "shape " + shape_str(x));
  }
  if (kernel.size() != 4) {
    fail_value(std::string(fn) + ": kernel must have rank 4 (k_h, k_w, in_channels, "
               "out_channels), got shape " + shape_str(kernel));
  }
  if (groups < 1) {
    fail_value(std::string(fn) + ": groups must be >= 1, got " + std::to_string(groups));
  }
  if (kernel[2] > std::numeric_limits<Index>::max() / groups || kernel[2] * groups != x[3]) {
    fail_value(std::string(fn) + ": kernel of shape " + shape_str(kernel) +
               (groups > 1 ? " with groups=" + std::to_string(groups) : std::string()) +
               " expects " +
               (kernel[2] <= std::numeric_limits<Index>::max() / groups
                    ? std::to_string(kernel[2] * groups) : std::string("too many")) +
               " input channels, x of shape " + shape_str(x) + " has " + std::to_string(x[3]));
  }
  if (kernel[3] % groups != 0) {
    fail_value(std::string(fn) + ": kernel of shape " + shape_str(kernel) + " has " +
               std::to_string(kernel[3]) + " output channels, not divisible by groups=" +
               std::to_string(groups));
  }
  if (x[3] < 1 || kernel[3] < 1) {
    fail_value(std::string(fn) + ": no channels: x " + shape_str(x) + ", kernel " +
               shape_str(kernel));
  }
  Conv2DShape s;
  s.batch = x[0];
  s.in_c = x[3];
  s.out_c = kernel[3];
  s.groups = groups;
  window_axes(fn, {x[1], x[2]}, {kernel[0], kernel[1]}, strides, same,
              "kernel of shape " + shape_str(kernel), &s.h, &s.w, dilation);
  return s;
}

template <class T>
T* workspace_arg(const char* fn, const py::array& workspace, Index needed, Index* size) {
  dim(fn, "workspace", workspace, 1, 0);
  T* p = data_ptr<T>(fn, "workspace", workspace, true);
  *size = workspace.shape(0);
  if (*size < needed) {
    fail_value(std::string(fn) + ": workspace has " + std::to_string(*size) +
               " elements, needs at least " + std::to_string(needed) +
               " (size it with conv2d_workspace_size)");
  }
  return p;
}

template <class T>
const T* optional_in(const char* fn, const char* name, const std::optional<py::array>& a,
                     std::initializer_list<Index> shape) {
  return a ? in<T>(fn, name, *a, shape) : nullptr;
}

template <class T>
T* optional_out_like(const char* fn, const char* name, const std::optional<py::array>& a,
                     const py::array& ref) {
  return a ? out_like<T>(fn, name, *a, ref) : nullptr;
}

void forward(const py::array& x, const py::array& kernel, const std::optional<py::array>& bias,
             const py::array& y, const py::array& workspace, Pair strides,
             const std::string& padding, const std::string& activation, double alpha,
             Pair dilation, Index groups) {
  const char* fn = "conv2d_forward";
  const Activation act = activation_arg(fn, activation);
  const Conv2DShape s = conv_shape(fn, dims(x), dims(kernel), strides, padding, dilation, groups);
  dispatch_float(fn, x, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = data_ptr<T>(fn, "x", x, false);
    const T* kp = data_ptr<T>(fn, "kernel", kernel, false);
    const T* bp = optional_in<T>(fn, "bias", bias, {s.out_c});
    T* yp = out<T>(fn, "y", y, {s.batch, s.h.out, s.w.out, s.out_c});
    Index ws_size;
    T* ws = workspace_arg<T>(fn, workspace, conv2d_workspace_size(s, false, 1), &ws_size);
    py::gil_scoped_release release;
    conv2d_forward<T>(yp, xp, kp, bp, s, act, static_cast<T>(alpha), ws, ws_size);
  });
}

// A convolution backward's arrays, checked against its shape: dy like the output, y when the
// fused activation needs it, the gradients (each optional) like what they are gradients of.
template <class T>
struct BackwardArgs {
  const T *dy, *y, *x, *kernel;
  T *dx, *dkernel, *dbias;
};

template <class T>
BackwardArgs<T> backward_args(const char* fn, const Conv2DShape& s, Activation act,
                              const std::string& activation, const py::array& dy,
                              const std::optional<py::array>& y, const py::array& x,
                              const py::array& kernel, const std::optional<py::array>& dx,
                              const std::optional<py::array>& dkernel,
                              const std::optional<py::array>& dbias) {
  if (act != Activation::Linear && !y) {
    fail_value(std::string(fn) + ": activation '" + activation + "' needs the forward output y");
  }
  BackwardArgs<T> a;
  a.dy = in<T>(fn, "dy", dy, {s.batch, s.h.out, s.w.out, s.out_c});
  a.y = act != Activation::Linear ? in_like<T>(fn, "y", *y, dy) : nullptr;
  a.x = data_ptr<T>(fn, "x", x, false);
  a.kernel = data_ptr<T>(fn, "kernel", kernel, false);
  a.dx = optional_out_like<T>(fn, "dx", dx, x);
  a.dkernel = optional_out_like<T>(fn, "dkernel", dkernel, kernel);
  a.dbias = dbias ? out<T>(fn, "dbias", *dbias, {s.out_c}) : nullptr;
  return a;
}

void backward(const py::array& dy, const py::array& x, const py::array& kernel,
              const std::optional<py::array>& dx, const std::optional<py::array>& dkernel,
              const std::optional<py::array>& dbias, const py::array& workspace, Pair strides,
              const std::string& padding, const std::optional<py::array>& y,
              const std::string& activation, double alpha, Pair dilation, Index groups) {
  const char* fn = "conv2d_backward";
  const Activation act = fused_backward_activation_arg(fn, activation);
  const Conv2DShape s = conv_shape(fn, dims(x), dims(kernel), strides, padding, dilation, groups);
  dispatch_float(fn, x, [&](auto tag) {
    using T = decltype(tag);
    const auto a = backward_args<T>(fn, s, act, activation, dy, y, x, kernel, dx, dkernel, dbias);
    Index ws_size;
    T* ws = workspace_arg<T>(fn, workspace, conv2d_workspace_size(s, true, 1), &ws_size);
    py::gil_scoped_release release;
    conv2d_backward<T>(a.dx, a.dkernel, a.dbias, a.dy, a.y, act, static_cast<T>(alpha), a.x,
                       a.kernel, s, ws, ws_size);
  });
}

// The depthwise convolution of x (batch, h, w, C) with kernel (k_h, k_w, C, M): the grouped
// convolution of a (k_h, k_w, 1, C * M) kernel with C groups, checked as that.
Conv2DShape depthwise_shape(const char* fn, const Shape& x, const Shape& kernel, Pair strides,
                            const std::string& padding, Pair dilation) {
  if (kernel.size() != 4) {
    fail_value(std::string(fn) + ": kernel must have rank 4 (k_h, k_w, in_channels, "
               "depth_multiplier), got shape " + shape_str(kernel));
  }
  if (x.size() == 4 && kernel[2] != x[3]) {
    fail_value(std::string(fn) + ": kernel of shape " + shape_str(kernel) + " expects " +
               std::to_string(kernel[2]) + " input channels, x of shape " + shape_str(x) +
               " has " + std::to_string(x[3]));
  }
  if (kernel[2] < 1 || kernel[3] < 1 ||
      kernel[3] > std::numeric_limits<Index>::max() / kernel[2]) {
    fail_value(std::string(fn) + ": no channels (or too many): kernel " + shape_str(kernel));
  }
  return conv_shape(fn, x, {kernel[0], kernel[1], 1, kernel[2] * kernel[3]}, strides, padding,
                    dilation, kernel[2]);
}

void depthwise_forward(const py::array& x, const py::array& kernel,
                       const std::optional<py::array>& bias, const py::array& y, Pair strides,
                       const std::string& padding, const std::string& activation, double alpha,
                       Pair dilation) {
  const char* fn = "depthwise_conv2d_forward";
  const Activation act = activation_arg(fn, activation);
  const Conv2DShape s = depthwise_shape(fn, dims(x), dims(kernel), strides, padding, dilation);
  dispatch_float(fn, x, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = data_ptr<T>(fn, "x", x, false);
    const T* kp = data_ptr<T>(fn, "kernel", kernel, false);
    const T* bp = optional_in<T>(fn, "bias", bias, {s.out_c});
    T* yp = out<T>(fn, "y", y, {s.batch, s.h.out, s.w.out, s.out_c});
    expect_outputs_disjoint(fn, {{"x", x}, {"kernel", kernel}}, {{"y", y}});
    py::gil_scoped_release release;
    depthwise_conv2d_forward<T>(yp, xp, kp, bp, s, act, static_cast<T>(alpha));
  });
}

void depthwise_backward(const py::array& dy, const py::array& x, const py::array& kernel,
                        const std::optional<py::array>& dx,
                        const std::optional<py::array>& dkernel,
                        const std::optional<py::array>& dbias, Pair strides,
                        const std::string& padding, const std::optional<py::array>& y,
                        const std::string& activation, double alpha, Pair dilation) {
  const char* fn = "depthwise_conv2d_backward";
  const Activation act = fused_backward_activation_arg(fn, activation);
  const Conv2DShape s = depthwise_shape(fn, dims(x), dims(kernel), strides, padding, dilation);
  dispatch_float(fn, x, [&](auto tag) {
    using T = decltype(tag);
    const auto a = backward_args<T>(fn, s, act, activation, dy, y, x, kernel, dx, dkernel, dbias);
    const py::handle none = py::none();
    expect_disjoint(fn, {{"dx", dx ? py::handle(*dx) : none},
                         {"dkernel", dkernel ? py::handle(*dkernel) : none},
                         {"dbias", dbias ? py::handle(*dbias) : none}});
    py::gil_scoped_release release;
    depthwise_conv2d_backward<T>(a.dx, a.dkernel, a.dbias, a.dy, a.y, act,
                                 static_cast<T>(alpha), a.x, a.kernel, s);
  });
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def(
      "window_output_length",
      [](Index length, Index window, Index stride, const std::string& padding,
         Index dilation) {
        const char* fn = "window_output_length";
        WindowAxis axis;
        if (length < 0 || window < 1 || stride < 1 || dilation < 1) {
          fail_value(std::string(fn) + ": expected length >= 0, window >= 1, stride >= 1, "
                     "dilation >= 1");
        }
        if (!window_span_fits(window, dilation)) {
          fail_value(std::string(fn) + ": (window - 1) * dilation + 1 overflows");
        }
        window_axis(length, window, stride, parse_padding(fn, padding), &axis, dilation);
        return axis.out;
      },
      py::arg("length"), py::arg("window"), py::arg("stride"), py::arg("padding"),
      py::arg("dilation") = 1,
      "Output length of a window sliding over `length` positions: 'valid' gives 0 when the "
      "window (spanning (window - 1) * dilation + 1) does not fit, 'same' gives "
      "ceil(length / stride).");
  m.def(
      "conv2d_workspace_size",
      [](const Shape& x_shape, const Shape& kernel_shape, Pair strides,
         const std::string& padding, bool backward, Pair dilation, Index groups) {
        const Conv2DShape s = conv_shape("conv2d_workspace_size", x_shape, kernel_shape,
                                         strides, padding, dilation, groups);
        return conv2d_workspace_size(s, backward, get_num_threads());
      },
      py::arg("x_shape"), py::arg("kernel_shape"), py::arg("strides"), py::arg("padding"),
      py::arg("backward"), py::arg("dilation_rate") = Pair{1, 1}, py::arg("groups") = 1,
      "Elements (of x's dtype) of the workspace conv2d_forward/backward use on the current "
      "thread count. Keep one buffer and reuse it across calls.");
  m.def("conv2d_forward", &forward, py::arg("x"), py::arg("kernel"), py::arg("bias"),
        py::arg("y"), py::arg("workspace"), py::arg("strides"), py::arg("padding"),
        py::arg("activation") = "linear", py::arg("alpha") = 0.0,
        py::arg("dilation_rate") = Pair{1, 1}, py::arg("groups") = 1,
        "y (batch, out_h, out_w, out_c) = activation(conv(x, kernel) + bias); bias may be "
        "None. dilation_rate (d_h, d_w) spaces the kernel taps d apart (an atrous "
        "convolution). groups > 1 (Keras' grouped convolution): kernel (k_h, k_w, "
        "in_c / groups, out_c), group g's input channels feeding its out_c / groups outputs.");
  m.def("conv2d_backward", &backward, py::arg("dy"), py::arg("x"), py::arg("kernel"),
        py::arg("dx"), py::arg("dkernel"), py::arg("dbias"), py::arg("workspace"),
        py::arg("strides"), py::arg("padding"), py::arg("y") = py::none(),
        py::arg("activation") = "linear", py::arg("alpha") = 0.0,
        py::arg("dilation_rate") = Pair{1, 1}, py::arg("groups") = 1,
        "From dy = dL/dy and the forward output y: dz = dy * activation'(y) (dz = dy for "
        "'linear', the default), then dx overwritten, dkernel and dbias accumulated (+=); any of "
        "them may be None to skip it.");
  m.def("depthwise_conv2d_forward", &depthwise_forward, py::arg("x"), py::arg("kernel"),
        py::arg("bias"), py::arg("y"), py::arg("strides"), py::arg("padding"),
        py::arg("activation") = "linear", py::arg("alpha") = 0.0,
        py::arg("dilation_rate") = Pair{1, 1},
        "Keras' DepthwiseConv2D: y (batch, out_h, out_w, C * M) = activation(depthwise(x, "
        "kernel) + bias), kernel (k_h, k_w, C, M), output channel c * M + m; bias may be None.");
  m.def("depthwise_conv2d_backward", &depthwise_backward, py::arg("dy"), py::arg("x"),
        py::arg("kernel"), py::arg("dx"), py::arg("dkernel"), py::arg("dbias"),
        py::arg("strides"), py::arg("padding"), py::arg("y") = py::none(),
        py::arg("activation") = "linear", py::arg("alpha") = 0.0,
        py::arg("dilation_rate") = Pair{1, 1},
        "From dy and the forward output y: dz = dy * activation'(y), then dx overwritten, "
        "dkernel and dbias accumulated (+=); any of them may be None to skip it.");
}

}  // namespace brisknn::bind
