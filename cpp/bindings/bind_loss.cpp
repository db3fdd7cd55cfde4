#include "brisknn/loss.h"

#include "check.h"

namespace brisknn::bind {

namespace {

Loss loss_arg(const char* fn, const std::string& name) {
  Loss loss;
  if (!parse_loss(name, &loss)) fail_value(std::string(fn) + ": unknown loss '" + name + "'");
  return loss;
}

// The targets: int64 labels shaped like y_pred without its last axis for the sparse loss,
// else an array shaped like y_pred.
struct Targets {
  const void* y_true = nullptr;
  const int64_t* labels = nullptr;
};

template <class T>
Targets targets(const char* fn, Loss loss, const py::array& y_true, const py::array& y_pred) {
  Targets t;
  if (loss != Loss::SparseCategoricalCrossentropy) {
    t.y_true = in_like<T>(fn, "y_true", y_true, y_pred);
    return t;
  }
  bool ok = y_true.ndim() == y_pred.ndim() - 1;
  for (py::ssize_t i = 0; ok && i < y_true.ndim(); ++i) ok = y_true.shape(i) == y_pred.shape(i);
  if (!ok) {
    fail_value(std::string(fn) + ": labels have shape " + shape_str(y_true) +
               ", expected y_pred's shape " + shape_str(y_pred) + " without its last axis");
  }
  t.labels = data_ptr<int64_t>(fn, "labels", y_true, false);
  return t;
}

void check_labels(const char* fn, Index bad, const py::array& y_true, Index classes) {
  if (bad < 0) return;
  const int64_t label = static_cast<const int64_t*>(y_true.data())[bad];
  fail_value(std::string(fn) + ": label " + std::to_string(label) + " at position " +
             std::to_string(bad) + " is outside [0, " + std::to_string(classes) + ")");
}

}  // namespace

void bind_loss(py::module_& m) {
  m.def(
      "loss_forward",
      [](const py::array& y_true, const py::array& y_pred, const py::array& per_sample,
         const std::string& name, bool from_logits) {
        const char* fn = "loss_forward";
        const Loss loss = loss_arg(fn, name);
        dispatch_float(fn, y_pred, [&](auto tag) {
          using T = decltype(tag);
          if (y_pred.ndim() < 1) fail_value(std::string(fn) + ": y_pred must have rank >= 1");
          const auto [rows, cols] = rows_cols(y_pred);
          const T* pp = data_ptr<T>(fn, "y_pred", y_pred, false);
          const Targets t = targets<T>(fn, loss, y_true, y_pred);
          T* op = out<T>(fn, "per_sample", per_sample, {rows});
          Index bad;
          {
            py::gil_scoped_release release;
            bad = loss_forward<T>(op, static_cast<const T*>(t.y_true), t.labels, pp, rows, cols,
                                  loss, from_logits);
          }
          check_labels(fn, bad, y_true, cols);
        });
      },
      py::arg("y_true"), py::arg("y_pred"), py::arg("per_sample"), py::arg("loss"),
      py::arg("from_logits") = false,
      "Loss of each row of y_pred (viewed as (rows, last axis)) written into per_sample (rows,).");
  m.def(
      "loss_backward",
      [](const py::array& y_true, const py::array& y_pred, const py::array& grad,
         const std::string& name, bool from_logits, double scale) {
        const char* fn = "loss_backward";
        const Loss loss = loss_arg(fn, name);
        dispatch_float(fn, y_pred, [&](auto tag) {
          using T = decltype(tag);
          if (y_pred.ndim() < 1) fail_value(std::string(fn) + ": y_pred must have rank >= 1");
          const auto [rows, cols] = rows_cols(y_pred);
          const T* pp = data_ptr<T>(fn, "y_pred", y_pred, false);
          const Targets t = targets<T>(fn, loss, y_true, y_pred);
          T* gp = out_like<T>(fn, "grad", grad, y_pred);
          Index bad;
          {
            py::gil_scoped_release release;
            bad = loss_backward<T>(gp, static_cast<const T*>(t.y_true), t.labels, pp, rows, cols,
                                   loss, from_logits, static_cast<T>(scale));
          }
          check_labels(fn, bad, y_true, cols);
        });
      },
      py::arg("y_true"), py::arg("y_pred"), py::arg("grad"), py::arg("loss"),
      py::arg("from_logits") = false, py::arg("scale") = 1.0,
      "grad = scale * d(sum of per-row losses)/d(y_pred), written into grad.");
}

}  // namespace brisknn::bind
