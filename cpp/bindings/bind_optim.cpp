#include <initializer_list>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "brisknn/optim.h"
#include "check.h"

namespace brisknn::bind {

namespace {

// A slot buffer for the rule variant the scalars select: present exactly when the variant uses it
// (a missing one would silently change the rule, an extra one hints at a caller bug), and then
// shaped, typed, contiguous and writeable like value.
template <class T>
T* slot_arg(const char* fn, const char* name, const py::object& obj, const py::array& value,
            bool needed, const char* variant) {
  if (obj.is_none()) {
    if (needed) fail_value(std::string(fn) + ": " + variant + " needs the " + name + " buffer");
    return nullptr;
  }
  if (!needed) {
    fail_value(std::string(fn) + ": got a " + name + " buffer, but it is only used with " +
               variant);
  }
  if (!py::isinstance<py::array>(obj)) {
    fail_type(std::string(fn) + ": " + name + " must be a numpy array, got " +
              std::string(py::str(py::type::of(obj))));
  }
  return out_like<T>(fn, name, obj.cast<py::array>(), value);
}

// The kernels update in place and assume no two buffers share memory. None entries (absent slots)
// are skipped; the others were already checked to be arrays.
void expect_disjoint(const char* fn,
                     std::initializer_list<std::pair<const char*, py::handle>> arrays) {
  struct Range { const char* name; const char* begin; const char* end; };
  std::vector<Range> ranges;
  for (const auto& [name, h] : arrays) {
    if (h.is_none()) continue;
    const auto a = py::reinterpret_borrow<py::array>(h);
    const char* begin = static_cast<const char*>(a.data());
    if (a.nbytes() > 0) ranges.push_back({name, begin, begin + a.nbytes()});
  }
  for (size_t i = 0; i < ranges.size(); ++i) {
    for (size_t j = i + 1; j < ranges.size(); ++j) {
      if (ranges[i].begin < ranges[j].end && ranges[j].begin < ranges[i].end) {
        fail_value(std::string(fn) + ": " + ranges[i].name + " and " + ranges[j].name +
                   " share memory; each needs its own buffer");
      }
    }
  }
}

GradientOptions gradient_options(double l1, double l2, double grad_scale, double clipvalue) {
  GradientOptions o;
  o.l1 = l1;
  o.l2 = l2;
  o.scale = grad_scale;
  o.clipvalue = clipvalue;
  return o;
}

constexpr double kNoClip = std::numeric_limits<double>::infinity();

// Arguments every update takes after its own: the weight's regularizer and the clipping.
#define BRISKNN_GRADIENT_ARGS                                                  \
  py::arg("l1") = 0.0, py::arg("l2") = 0.0, py::arg("grad_scale") = 1.0, \
      py::arg("clipvalue") = kNoClip

}  // namespace

void bind_optim(py::module_& m) {
  m.def(
      "sgd_update",
      [](const py::array& value, const py::array& grad, const py::object& momentum_slot,
         double learning_rate, double momentum, bool nesterov, double l1, double l2,
         double grad_scale, double clipvalue) {
        const char* fn = "sgd_update";
        return dispatch_float(fn, value, [&](auto tag) {
          using T = decltype(tag);
          T* w = data_ptr<T>(fn, "value", value, true);
          T* g = out_like<T>(fn, "grad", grad, value);
          T* mom = slot_arg<T>(fn, "momentum_slot", momentum_slot, value, momentum != 0.0,
                               "momentum != 0");
          expect_disjoint(fn, {{"value", value}, {"grad", grad}, {"momentum_slot", momentum_slot}});
          const GradientOptions o = gradient_options(l1, l2, grad_scale, clipvalue);
          py::gil_scoped_release release;
          return sgd_update<T>(w, g, mom, value.size(), o, learning_rate, momentum, nesterov);
        });
      },
      py::arg("value"), py::arg("grad"), py::arg("momentum_slot"), py::arg("learning_rate"),
      py::arg("momentum"), py::arg("nesterov"), BRISKNN_GRADIENT_ARGS,
      "Keras SGD step on value in place; zeroes grad; returns the pre-step L1/L2 penalty.");
  m.def(
      "rmsprop_update",
      [](const py::array& value, const py::array& grad, const py::array& velocity,
         const py::object& momentum_slot, const py::object& average_gradient,
         double learning_rate, double rho, double momentum, double epsilon, bool centered,
         double l1, double l2, double grad_scale, double clipvalue) {
        const char* fn = "rmsprop_update";
        return dispatch_float(fn, value, [&](auto tag) {
          using T = decltype(tag);
          T* w = data_ptr<T>(fn, "value", value, true);
          T* g = out_like<T>(fn, "grad", grad, value);
          T* vel = out_like<T>(fn, "velocity", velocity, value);
          T* mom = slot_arg<T>(fn, "momentum_slot", momentum_slot, value, momentum > 0.0,
                               "momentum > 0");
          T* avg = slot_arg<T>(fn, "average_gradient", average_gradient, value, centered,
                               "centered=True");
          expect_disjoint(fn, {{"value", value}, {"grad", grad}, {"velocity", velocity},
                               {"momentum_slot", momentum_slot},
                               {"average_gradient", average_gradient}});
          const GradientOptions o = gradient_options(l1, l2, grad_scale, clipvalue);
          py::gil_scoped_release release;
          return rmsprop_update<T>(w, g, vel, mom, avg, value.size(), o, learning_rate, rho,
                                   momentum, epsilon);
        });
      },
      py::arg("value"), py::arg("grad"), py::arg("velocity"), py::arg("momentum_slot"),
      py::arg("average_gradient"), py::arg("learning_rate"), py::arg("rho"), py::arg("momentum"),
      py::arg("epsilon"), py::arg("centered"), BRISKNN_GRADIENT_ARGS,
      "Keras RMSprop step on value in place; zeroes grad; returns the pre-step L1/L2 penalty.");
  m.def(
      "adam_update",
      [](const py::array& value, const py::array& grad, const py::array& m_slot,
         const py::array& v_slot, const py::object& v_hat, double alpha, double beta_1,
         double beta_2, double epsilon, bool amsgrad, double l1, double l2, double grad_scale,
         double clipvalue) {
        const char* fn = "adam_update";
        return dispatch_float(fn, value, [&](auto tag) {
          using T = decltype(tag);
          T* w = data_ptr<T>(fn, "value", value, true);
          T* g = out_like<T>(fn, "grad", grad, value);
          T* mp = out_like<T>(fn, "m", m_slot, value);
          T* vp = out_like<T>(fn, "v", v_slot, value);
          T* vh = slot_arg<T>(fn, "v_hat", v_hat, value, amsgrad, "amsgrad=True");
          expect_disjoint(fn, {{"value", value}, {"grad", grad}, {"m", m_slot}, {"v", v_slot},
                               {"v_hat", v_hat}});
          const GradientOptions o = gradient_options(l1, l2, grad_scale, clipvalue);
          py::gil_scoped_release release;
          return adam_update<T>(w, g, mp, vp, vh, value.size(), o, alpha, beta_1, beta_2,
                                epsilon);
        });
      },
      py::arg("value"), py::arg("grad"), py::arg("m"), py::arg("v"), py::arg("v_hat"),
      py::arg("alpha"), py::arg("beta_1"), py::arg("beta_2"), py::arg("epsilon"),
      py::arg("amsgrad"), BRISKNN_GRADIENT_ARGS,
      "Keras Adam step on value in place, with alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t); "
      "zeroes grad; returns the pre-step L1/L2 penalty.");
  m.def(
      "effective_gradient_square_sum",
      [](const py::array& value, const py::array& grad, double l1, double l2) {
        const char* fn = "effective_gradient_square_sum";
        return dispatch_float(fn, value, [&](auto tag) {
          using T = decltype(tag);
          const T* w = data_ptr<T>(fn, "value", value, false);
          const T* g = in_like<T>(fn, "grad", grad, value);
          py::gil_scoped_release release;
          return effective_gradient_square_sum<T>(w, g, value.size(), l1, l2);
        });
      },
      py::arg("value"), py::arg("grad"), py::arg("l1") = 0.0, py::arg("l2") = 0.0,
      "sum((grad + l1 sign(value) + 2 l2 value)^2) in double: the norm clipnorm clips.");
}

#undef BRISKNN_GRADIENT_ARGS

}  // namespace brisknn::bind
