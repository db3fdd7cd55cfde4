#include "brisknn/loss.h"

#include <type_traits>

#include "check.h"

namespace brisknn::bind {

Loss loss_arg(const char* fn, const std::string& name) {
  Loss loss;
  if (!parse_loss(name, &loss)) fail_value(std::string(fn) + ": unknown loss '" + name + "'");
  return loss;
}

namespace {

// The targets: int64 labels shaped like y_pred without its last axis for the sparse loss,
// else an array shaped like y_pred.
struct Targets {
  const void* y_true = nullptr;
  const int64_t* labels = nullptr;
  std::vector<int64_t> label_copy;  // the kernel checks and reads this copy, never y_true itself
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
  t.label_copy = owned_copy(data_ptr<int64_t>(fn, "labels", y_true, false), y_true.size());
  t.labels = t.label_copy.data();
  return t;
}

void check_labels(const char* fn, Index bad, const Targets& t, Index classes) {
  if (bad < 0) return;
  const int64_t label = t.labels[bad];
  fail_value(std::string(fn) + ": label " + std::to_string(label) + " at position " +
             std::to_string(bad) + " is outside [0, " + std::to_string(classes) + ")");
}

}  // namespace

// Validates the arguments, runs kernel(targets, y_pred, rows, cols) without the GIL, and turns a
// bad label it reports into a ValueError.
template <class Kernel>
void run_loss(const char* fn, const std::string& name, const py::array& y_true,
              const py::array& y_pred, const Kernel& kernel) {
  const Loss loss = loss_arg(fn, name);
  dispatch_float(fn, y_pred, [&](auto tag) {
    using T = decltype(tag);
    if (y_pred.ndim() < 1) fail_value(std::string(fn) + ": y_pred must have rank >= 1");
    const auto [rows, cols] = rows_cols(y_pred);
    const T* pp = data_ptr<T>(fn, "y_pred", y_pred, false);
    const Targets t = targets<T>(fn, loss, y_true, y_pred);
    const auto call = kernel(loss, static_cast<const T*>(t.y_true), t.labels, pp, rows, cols);
    Index bad;
    {
      py::gil_scoped_release release;
      bad = call();
    }
    check_labels(fn, bad, t, cols);
  });
}

void bind_loss(py::module_& m) {
  m.def(
      "loss_forward",
      [](const py::array& y_true, const py::array& y_pred, const py::array& per_sample,
         const std::string& name, bool from_logits) {
        run_loss("loss_forward", name, y_true, y_pred,
                 [&](Loss loss, auto* t, const int64_t* labels, auto* p, Index rows, Index cols) {
                   using T = std::remove_const_t<std::remove_pointer_t<decltype(p)>>;
                   T* op = out<T>("loss_forward", "per_sample", per_sample, {rows});
                   expect_outputs_disjoint("loss_forward", {{"y_true", y_true}, {"y_pred", y_pred}},
                                           {{"per_sample", per_sample}});
                   return [=] {
                     return loss_forward<T>(op, t, labels, p, rows, cols, loss, from_logits);
                   };
                 });
      },
      py::arg("y_true"), py::arg("y_pred"), py::arg("per_sample"), py::arg("loss"),
      py::arg("from_logits") = false,
      "Loss of each row of y_pred (viewed as (rows, last axis)) written into per_sample (rows,).");
  m.def(
      "loss_backward",
      [](const py::array& y_true, const py::array& y_pred, const py::array& grad,
         const std::string& name, bool from_logits, double scale) {
        run_loss("loss_backward", name, y_true, y_pred,
                 [&](Loss loss, auto* t, const int64_t* labels, auto* p, Index rows, Index cols) {
                   using T = std::remove_const_t<std::remove_pointer_t<decltype(p)>>;
                   T* gp = out_like<T>("loss_backward", "grad", grad, y_pred);
                   expect_outputs_disjoint("loss_backward", {{"y_true", y_true}, {"y_pred", y_pred}},
                                           {{"grad", grad}});
                   return [=] {
                     return loss_backward<T>(gp, t, labels, p, rows, cols, loss, from_logits,
                                             static_cast<T>(scale));
                   };
                 });
      },
      py::arg("y_true"), py::arg("y_pred"), py::arg("grad"), py::arg("loss"),
      py::arg("from_logits") = false, py::arg("scale") = 1.0,
      "grad = scale * d(sum of per-row losses)/d(y_pred), written into grad.");
  m.def(
      "loss_forward_backward",
      [](const py::array& y_true, const py::array& y_pred, const py::array& per_sample,
         const py::array& grad, const std::string& name, bool from_logits, double scale) {
        const char* fn = "loss_forward_backward";
        run_loss(fn, name, y_true, y_pred,
                 [&](Loss loss, auto* t, const int64_t* labels, auto* p, Index rows, Index cols) {
                   using T = std::remove_const_t<std::remove_pointer_t<decltype(p)>>;
                   T* op = out<T>(fn, "per_sample", per_sample, {rows});
                   T* gp = out_like<T>(fn, "grad", grad, y_pred);
                   expect_outputs_disjoint(fn, {{"y_true", y_true}, {"y_pred", y_pred}},
                                           {{"per_sample", per_sample}, {"grad", grad}});
                   return [=] {
                     return loss_forward_backward<T>(op, gp, t, labels, p, rows, cols, loss,
                                                     from_logits, static_cast<T>(scale));
                   };
                 });
      },
      py::arg("y_true"), py::arg("y_pred"), py::arg("per_sample"), py::arg("grad"),
      py::arg("loss"), py::arg("from_logits") = false, py::arg("scale") = 1.0,
      "loss_forward and loss_backward in one call: per_sample (rows,) and grad (like y_pred).");
}

}  // namespace brisknn::bind
