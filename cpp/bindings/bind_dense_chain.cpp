#include <memory>
#include <string>
#include <vector>

#include "brisknn/dense_chain.h"
#include "brisknn/reduce.h"

#include "check.h"

namespace brisknn::bind {

Activation fused_backward_activation_arg(const char* fn, const std::string& name);
Loss loss_arg(const char* fn, const std::string& name);  // bind_loss.cpp

namespace {

constexpr const char* kFn = "DenseChain";

// An array the chain keeps: a real ndarray, never a list converted into a temporary the chain
// would point into after it is freed.
py::array kept_array(const py::handle& a, const char* name) {
  if (!py::isinstance<py::array>(a)) {
    fail_type(std::string(kFn) + ": " + name + " must be a NumPy array, got " +
              std::string(py::str(py::type::of(a))));
  }
  return py::reinterpret_borrow<py::array>(a);
}

// The same for an optional one: None or an ndarray.
py::object kept_optional(const py::handle& a, const char* name) {
  return a.is_none() ? py::none() : py::object(kept_array(a, name));
}

// The arrays of a chain checked once, when it is made: a training loop then passes only x and
// the targets per step. The chain holds references to every array, so none is freed under it.
class DenseChain {
  // Before their callers: their return types are deduced.
  template <class F>
  decltype(auto) dispatch(const py::array& a, F&& f) {
    const bool is_double = has_dtype<double>(a);
    if (!is_double && !has_dtype<float>(a)) {
      fail_type(std::string(kFn) + ": expected float32 or float64 data, got " +
                std::string(py::str(a.dtype())));
    }
    if (is_double != double_) {
      fail_type(std::string(kFn) + ": x has dtype " + std::string(py::str(a.dtype())) +
                ", the layers " + (double_ ? "float64" : "float32"));
    }
    return is_double ? f(double{}) : f(float{});
  }

  template <class T>
  std::vector<DenseChainLayer<T>>& chain_of() {
    if constexpr (std::is_same_v<T, double>) return chain_double_;
    else return chain_float_;
  }

 public:
  DenseChain(const py::list& layers, const py::object& per_sample_arg,
             const py::object& grad_arg, const std::string& loss, bool from_logits, double scale)
      : loss_(loss_arg(kFn, loss)), from_logits_(from_logits), scale_(scale) {
    const py::array per_sample = kept_array(per_sample_arg, "per_sample");
    const py::array grad = kept_array(grad_arg, "grad");
    if (layers.empty()) fail_value(std::string(kFn) + ": no layers");
    keep_ = {per_sample, grad};
    std::vector<std::pair<std::string, py::handle>> arrays = {{"per_sample", per_sample},
                                                              {"grad", grad}};
    const auto first = py::cast<py::tuple>(layers[0]);
    if (first.empty()) fail_value(std::string(kFn) + ": a layer is an empty tuple");
    double_ = has_dtype<double>(kept_array(first[0], "kernel"));
    dispatch(kept_array(first[0], "kernel"), [&](auto tag) {
      using T = decltype(tag);
      auto& chain = chain_of<T>();
      Index batch = -1;
      for (size_t i = 0; i < layers.size(); ++i) {
        const auto t = py::cast<py::tuple>(layers[i]);
        if (t.size() != 8) fail_value(std::string(kFn) + ": each layer is (kernel, bias, "
                                      "dkernel, dbias, y, dx, activation, alpha)");
        const auto kernel = kept_array(t[0], "kernel");
        DenseChainLayer<T> l{};
        l.in = dim(kFn, "kernel", kernel, 2, 0);
        l.out = kernel.shape(1);
        if (i > 0 && l.in != chain.back().out) {
          fail_value(std::string(kFn) + ": layer " + std::to_string(i) + " takes " +
                     std::to_string(l.in) + " inputs, the layer before gives " +
                     std::to_string(chain.back().out));
        }
        l.kernel = data_ptr<T>(kFn, "kernel", kernel, false);
        l.bias = optional_in<T>(kFn, "bias", kept_optional(t[1], "bias"), {l.out});
        l.dkernel = out<T>(kFn, "dkernel", kept_array(t[2], "dkernel"), {l.in, l.out});
        l.dbias = optional_out<T>(kFn, "dbias", kept_optional(t[3], "dbias"), {l.out});
        const auto y = kept_array(t[4], "y");
        if (batch < 0) batch = dim(kFn, "y", y, 2, 0);
        l.y = out<T>(kFn, "y", y, {batch, l.out});
        l.dx = optional_out<T>(kFn, "dx", kept_optional(t[5], "dx"), {batch, l.in});
        if ((i == 0) != (l.dx == nullptr)) {
          fail_value(std::string(kFn) + ": only the first layer has no dx");
        }
        l.act = fused_backward_activation_arg(kFn, py::cast<std::string>(t[6]));
        l.alpha = static_cast<T>(py::cast<double>(t[7]));
        chain.push_back(l);
        static const char* const kNames[] = {"kernel", "bias", "dkernel", "dbias", "y", "dx"};
        for (int k = 0; k < 6; ++k) {
          keep_.push_back(t[k]);
          arrays.emplace_back(kNames[k] + std::to_string(i), t[k]);
        }
      }
      batch_ = batch;
      per_sample_ = out<T>(kFn, "per_sample", per_sample, {batch});
      grad_ = out<T>(kFn, "grad", grad, {batch, chain.back().out});
      expect_disjoint(kFn, arrays);  // weights, gradients and buffers: each its own memory
    });
  }

  // Whether run takes x and the targets as they are, and a model's checks of them would pass
  // them on unchanged: C-contiguous arrays of the chain's shapes and dtype, int64 labels in
  // range or finite targets. Never raises: the caller converts and checks them instead.
  bool accepts(const py::handle& x, const py::handle& y_true) {
    if (!py::isinstance<py::array>(x) || !py::isinstance<py::array>(y_true)) return false;
    const auto xa = py::reinterpret_borrow<py::array>(x);
    const auto ya = py::reinterpret_borrow<py::array>(y_true);
    const auto fits = [](const py::array& a, Index rows, Index cols) {
      return (a.flags() & py::array::c_style) && a.ndim() == (cols < 0 ? 1 : 2) &&
             a.shape(0) == rows && (cols < 0 || a.shape(1) == cols);
    };
    return double_ ? accepts_as<double>(xa, ya, fits) : accepts_as<float>(xa, ya, fits);
  }

  // One step on x (batch, in) and the targets: int64 labels (batch,) for the sparse loss, else
  // y_true like the last output. Returns the sum of the per-sample losses (numpy_sum: the bits
  // of the general step's sum), or None when the first product was not finite and it stopped.
  py::object run(const py::array& x, const py::array& y_true, bool stop_if_not_finite) {
    return dispatch(x, [&](auto tag) -> py::object {
      using T = decltype(tag);
      const auto& chain = chain_of<T>();
      const T* xp = in<T>(kFn, "x", x, {batch_, chain.front().in});
      const T* tp = nullptr;
      std::vector<int64_t> labels;
      if (loss_ == Loss::SparseCategoricalCrossentropy) {
        labels = owned_copy(in<int64_t>(kFn, "labels", y_true, {batch_}), batch_);
      } else {
        tp = in<T>(kFn, "y_true", y_true, {batch_, chain.back().out});
      }
      Index bad;
      bool finite;
      double sum = 0.0;
      {
        py::gil_scoped_release release;
        finite = dense_chain_step<T>(xp, batch_, chain.data(), static_cast<Index>(chain.size()),
                                     tp, labels.empty() ? nullptr : labels.data(),
                                     static_cast<T*>(per_sample_), static_cast<T*>(grad_),
                                     loss_, from_logits_, static_cast<T>(scale_),
                                     stop_if_not_finite, &bad);
        if (bad < 0 && (finite || !stop_if_not_finite)) {
          sum = numpy_sum<T>(static_cast<const T*>(per_sample_), batch_);
        }
      }
      if (bad >= 0) {
        fail_value(std::string(kFn) + ": label " + std::to_string(labels[bad]) +
                   " at position " + std::to_string(bad) + " is outside [0, " +
                   std::to_string(chain.back().out) + ")");
      }
      if (!finite && stop_if_not_finite) return py::none();
      return py::float_(sum);
    });
  }

 private:
  template <class T, class Fits>
  bool accepts_as(const py::array& x, const py::array& y_true, const Fits& fits) {
    const auto& chain = chain_of<T>();
    if (!has_dtype<T>(x) || !fits(x, batch_, chain.front().in)) return false;
    if (loss_ == Loss::SparseCategoricalCrossentropy) {
      return has_dtype<int64_t>(y_true) && fits(y_true, batch_, -1) &&
             first_label_outside(static_cast<const int64_t*>(y_true.data()), batch_,
                                 chain.back().out) < 0;
    }
    return has_dtype<T>(y_true) && fits(y_true, batch_, chain.back().out) &&
           first_nonfinite(static_cast<const T*>(y_true.data()), batch_ * chain.back().out) < 0;
  }

  Loss loss_;
  bool from_logits_;
  double scale_;
  bool double_ = false;
  Index batch_ = 0;
  void* per_sample_ = nullptr;
  void* grad_ = nullptr;
  std::vector<DenseChainLayer<float>> chain_float_;
  std::vector<DenseChainLayer<double>> chain_double_;
  std::vector<py::object> keep_;
};

}  // namespace

void bind_dense_chain(py::module_& m) {
  py::class_<DenseChain>(m, "DenseChain",
                         "A chain of Dense layers and its loss, checked once: run(x, targets) "
                         "is a training step's forward and backward pass in one call.")
      .def(py::init<const py::list&, const py::object&, const py::object&, const std::string&,
                    bool, double>(),
           py::arg("layers"), py::arg("per_sample"), py::arg("grad"), py::arg("loss"),
           py::arg("from_logits"), py::arg("scale"),
           "layers: (kernel, bias, dkernel, dbias, y, dx, activation, alpha) per layer, bias "
           "and dbias None without a bias, dx None for the first layer.")
      .def("accepts", &DenseChain::accepts, py::arg("x"), py::arg("targets"),
           "Whether run takes x and targets as they are and a model's checks would pass them "
           "on unchanged: C-contiguous arrays of the chain's shapes and dtype, int64 labels in "
           "range for the sparse loss, finite targets otherwise.")
      .def("run", &DenseChain::run, py::arg("x"), py::arg("targets"),
           py::arg("stop_if_not_finite"),
           "Forward, loss (per_sample, grad = scale * its gradient) and backward (added into "
           "dkernel and dbias). Returns the sum of per_sample as numpy_sum does, or None when "
           "x @ kernel + bias of the first layer was not finite and stop_if_not_finite: then "
           "nothing after the forward runs.");
}

}  // namespace brisknn::bind
