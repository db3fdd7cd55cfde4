#include <algorithm>
#include <array>
#include <initializer_list>
#include <limits>
#include <string>
#include <type_traits>
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

GradientOptions gradient_options(double l1, double l2, double grad_scale, double clipvalue) {
  GradientOptions o;
  o.l1 = l1;
  o.l2 = l2;
  o.scale = grad_scale;
  o.clipvalue = clipvalue;
  return o;
}

// A slot of a multi-weight update: its name, and whether the rule variant uses it (`given`:
// whichever the caller passed, for an UpdatePlan, which does not know the rule yet).
struct SlotSpec {
  const char* name;
  bool needed;
  const char* variant;  // the configuration that uses it, for error messages
  bool given = false;
};

// One weight's tuple (value, grad, slot..., l1, l2, grad_scale) of a multi-weight update, with
// the slots of `slots` in order, checked as the single-weight functions check their arguments.
// Its buffers join `buffers`, named for the overlap check.
template <class T>
UpdateTensor<T> update_tensor(const std::string& where, const py::tuple& t,
                              std::initializer_list<SlotSpec> slots, double clipvalue,
                              std::vector<std::pair<std::string, py::handle>>& buffers,
                              const std::string& prefix) {
  const char* at = where.c_str();
  const auto value = t[0].cast<py::array>();
  UpdateTensor<T> u;
  u.w = data_ptr<T>(at, "value", value, true);
  u.grad = out_like<T>(at, "grad", t[1].cast<py::array>(), value);
  u.n = value.size();
  buffers.emplace_back(prefix + "value", t[0]);
  buffers.emplace_back(prefix + "grad", t[1]);
  size_t s = 0;
  for (const SlotSpec& spec : slots) {
    const py::object slot = t[2 + s];
    u.slot[s] = slot_arg<T>(at, spec.name, slot, value, spec.given ? !slot.is_none() : spec.needed,
                            spec.variant);
    buffers.emplace_back(prefix + spec.name, slot);
    ++s;
  }
  u.opt = gradient_options(t[2 + s].cast<double>(), t[3 + s].cast<double>(),
                           t[4 + s].cast<double>(), clipvalue);
  return u;
}

// The tensors of a multi-weight update as checked from its params, and their params order.
struct UpdateList {
  std::vector<UpdateTensor<float>> floats;
  std::vector<UpdateTensor<double>> doubles;
  std::vector<size_t> float_index, double_index;
  // Owned references to every item: params may build its tuples on demand, and the arrays must
  // outlive the update, which runs without the GIL.
  std::vector<py::object> keep;
  size_t count = 0, slots = 0;
};

// params: a sequence of tuples (value, grad, slot..., l1, l2, grad_scale), each checked as the
// single-weight functions check their arguments, and no two buffers anywhere in the list
// sharing memory.
UpdateList check_params(const char* fn, const py::sequence& params,
                        std::initializer_list<SlotSpec> slots, double clipvalue) {
  UpdateList list;
  std::vector<std::pair<std::string, py::handle>> buffers;
  const size_t arity = 5 + slots.size();
  list.count = params.size();
  list.slots = slots.size();
  for (size_t i = 0; i < list.count; ++i) {
    const std::string prefix = "params[" + std::to_string(i) + "] ";
    const std::string where = std::string(fn) + ": params[" + std::to_string(i) + "]";
    const py::object item = params[i];
    list.keep.push_back(item);
    if (!py::isinstance<py::tuple>(item) || py::len(item) != arity) {
      fail_type(where + " must be a tuple (value, grad, " + std::to_string(slots.size()) +
                " slots, l1, l2, grad_scale)");
    }
    const auto t = item.cast<py::tuple>();
    if (!py::isinstance<py::array>(t[0]) || !py::isinstance<py::array>(t[1])) {
      fail_type(where + ": value and grad must be numpy arrays");
    }
    dispatch_float(where.c_str(), t[0].cast<py::array>(), [&](auto tag) {
      using T = decltype(tag);
      const auto u = update_tensor<T>(where, t, slots, clipvalue, buffers, prefix);
      if constexpr (std::is_same_v<T, float>) {
        list.floats.push_back(u);
        list.float_index.push_back(i);
      } else {
        list.doubles.push_back(u);
        list.double_index.push_back(i);
      }
    });
  }
  expect_disjoint(fn, std::move(buffers));
  return list;
}

// A multi-weight update's params checked once, for a training loop that steps the same weights
// again and again: passed as params to any *_update_many function, which then checks only that
// the slots its variant uses are there (checking the arrays again costs ~5 us a step, most of it
// Python objects out of cache after the step's products).
class UpdatePlan {
 public:
  explicit UpdatePlan(const py::sequence& params) {
    if (params.size() == 0) fail_value("UpdatePlan: no params");
    const auto first = params[0];
    const size_t slots = py::isinstance<py::tuple>(first) && py::len(first) >= 5
                             ? py::len(first) - 5 : 0;
    static const char* const kNames[] = {"slot 0", "slot 1", "slot 2"};
    if (slots > 3) fail_type("UpdatePlan: params[0] has more than 3 slots");
    std::vector<SlotSpec> specs;
    for (size_t s = 0; s < slots; ++s) specs.push_back({kNames[s], false, "", true});
    list_ = slots == 0   ? check_params("UpdatePlan", params, {}, 0.0)
            : slots == 1 ? check_params("UpdatePlan", params, {specs[0]}, 0.0)
            : slots == 2 ? check_params("UpdatePlan", params, {specs[0], specs[1]}, 0.0)
                         : check_params("UpdatePlan", params, {specs[0], specs[1], specs[2]}, 0.0);
  }

  // The list for a rule with these slots and clipvalue: the slots the variant uses must be
  // there and no others (slot_arg's messages).
  UpdateList for_rule(const char* fn, std::initializer_list<SlotSpec> slots,
                      double clipvalue) const {
    if (slots.size() != list_.slots) {
      fail_type(std::string(fn) + ": the plan's params have " + std::to_string(list_.slots) +
                " slots, the rule takes " + std::to_string(slots.size()));
    }
    UpdateList list = list_;
    check_slots(fn, list.floats, list.float_index, slots, clipvalue);
    check_slots(fn, list.doubles, list.double_index, slots, clipvalue);
    return list;
  }

 private:
  template <class T>
  static void check_slots(const char* fn, std::vector<UpdateTensor<T>>& tensors,
                          const std::vector<size_t>& index, std::initializer_list<SlotSpec> slots,
                          double clipvalue) {
    for (size_t j = 0; j < tensors.size(); ++j) {
      size_t s = 0;
      for (const SlotSpec& spec : slots) {
        const bool present = tensors[j].slot[s++] != nullptr;
        if (present == spec.needed) continue;
        const std::string where =
            std::string(fn) + ": params[" + std::to_string(index[j]) + "]: ";
        if (spec.needed) fail_value(where + spec.variant + " needs the " + spec.name + " buffer");
        fail_value(where + "got a " + spec.name + " buffer, but it is only used with " +
                   spec.variant);
      }
      tensors[j].opt.clipvalue = clipvalue;
    }
  }

  UpdateList list_;
};

// A multi-weight update: params is a sequence of tuples (value, grad, slot..., l1, l2,
// grad_scale) or an UpdatePlan of them. Everything is checked first; then, without the GIL,
// run(tensors, count, penalties) updates the float32 weights and the float64 ones (a model may
// mix them); returns the penalties summed in params order, as adding up one call per weight
// would.
template <class Run>
double run_many(const char* fn, const py::object& params, std::initializer_list<SlotSpec> slots,
                double clipvalue, const Run& run) {
  const bool plan = py::isinstance<UpdatePlan>(params);
  if (!plan && !py::isinstance<py::sequence>(params)) {
    fail_type(std::string(fn) + ": params must be a sequence of tuples or an UpdatePlan");
  }
  const UpdateList list = plan ? params.cast<const UpdatePlan&>().for_rule(fn, slots, clipvalue)
                               : check_params(fn, params.cast<py::sequence>(), slots, clipvalue);
  std::vector<double> float_penalty(list.floats.size()), double_penalty(list.doubles.size());
  {
    py::gil_scoped_release release;
    // The kernels take the tensors by pointer to const; the copies in `list` are ours.
    if (!list.floats.empty()) {
      run(list.floats.data(), static_cast<Index>(list.floats.size()), float_penalty.data());
    }
    if (!list.doubles.empty()) {
      run(list.doubles.data(), static_cast<Index>(list.doubles.size()),
          double_penalty.data());
    }
  }
  std::vector<double> penalty(list.count, 0.0);
  for (size_t j = 0; j < list.floats.size(); ++j) {
    penalty[list.float_index[j]] = float_penalty[j];
  }
  for (size_t j = 0; j < list.doubles.size(); ++j) {
    penalty[list.double_index[j]] = double_penalty[j];
  }
  double total = 0.0;
  for (double p : penalty) total += p;
  return total;
}

// A single-weight update whose slots are all required: checks value, grad and each named slot
// (shaped, typed, contiguous, writeable like value; no two sharing memory), then, without the
// GIL, returns run(w, grad, slots, n, options) for the dtype of value.
template <size_t Slots, class Run>
double run_single(const char* fn, const py::array& value, const py::array& grad,
                  const std::array<std::pair<const char*, py::array>, Slots>& slots, double l1,
                  double l2, double grad_scale, double clipvalue, const Run& run) {
  return dispatch_float(fn, value, [&](auto tag) {
    using T = decltype(tag);
    T* w = data_ptr<T>(fn, "value", value, true);
    T* g = out_like<T>(fn, "grad", grad, value);
    std::array<T*, Slots> slot{};
    std::vector<std::pair<std::string, py::handle>> buffers{{"value", value}, {"grad", grad}};
    for (size_t i = 0; i < Slots; ++i) {
      slot[i] = out_like<T>(fn, slots[i].first, slots[i].second, value);
      buffers.emplace_back(slots[i].first, slots[i].second);
    }
    expect_disjoint(fn, std::move(buffers));
    const GradientOptions o = gradient_options(l1, l2, grad_scale, clipvalue);
    py::gil_scoped_release release;
    return run(w, g, slot, static_cast<Index>(value.size()), o);
  });
}

constexpr double kNoClip = std::numeric_limits<double>::infinity();

// Arguments every update takes after its own: the weight's regularizer and the clipping.
#define BRISKNN_GRADIENT_ARGS                                                  \
  py::arg("l1") = 0.0, py::arg("l2") = 0.0, py::arg("grad_scale") = 1.0, \
      py::arg("clipvalue") = kNoClip

}  // namespace

// Adagrad, Adadelta, Adamax, Nadam, Lion and Ftrl: every slot always used.
static void bind_more_optim(py::module_& m) {
  m.def(
      "adagrad_update",
      [](const py::array& value, const py::array& grad, const py::array& accumulator,
         double learning_rate, double epsilon, double l1, double l2, double grad_scale,
         double clipvalue) {
        return run_single<1>("adagrad_update", value, grad, {{{"accumulator", accumulator}}}, l1,
                             l2, grad_scale, clipvalue,
                             [&](auto* w, auto* g, const auto& s, Index n, const auto& o) {
                               return adagrad_update(w, g, s[0], n, o, learning_rate, epsilon);
                             });
      },
      py::arg("value"), py::arg("grad"), py::arg("accumulator"), py::arg("learning_rate"),
      py::arg("epsilon"), BRISKNN_GRADIENT_ARGS,
      "Keras Adagrad step on value in place; zeroes grad; returns the pre-step L1/L2 penalty.");
  m.def(
      "adagrad_update_many",
      [](const py::object& params, double learning_rate, double epsilon, double clipvalue) {
        return run_many("adagrad_update_many", params, {{"accumulator", true, "Adagrad"}},
                        clipvalue, [&](auto* ts, Index count, double* penalties) {
                          adagrad_update_many(ts, count, penalties, learning_rate, epsilon);
                        });
      },
      py::arg("params"), py::arg("learning_rate"), py::arg("epsilon"),
      py::arg("clipvalue") = kNoClip,
      "adagrad_update on every (value, grad, accumulator, l1, l2, grad_scale) of params in one "
      "parallel pass; returns the sum of their penalties.");
  m.def(
      "adadelta_update",
      [](const py::array& value, const py::array& grad, const py::array& accumulated_grad,
         const py::array& accumulated_delta_var, double learning_rate, double rho,
         double epsilon, double l1, double l2, double grad_scale, double clipvalue) {
        return run_single<2>(
            "adadelta_update", value, grad,
            {{{"accumulated_grad", accumulated_grad},
              {"accumulated_delta_var", accumulated_delta_var}}},
            l1, l2, grad_scale, clipvalue,
            [&](auto* w, auto* g, const auto& s, Index n, const auto& o) {
              return adadelta_update(w, g, s[0], s[1], n, o, learning_rate, rho, epsilon);
            });
      },
      py::arg("value"), py::arg("grad"), py::arg("accumulated_grad"),
      py::arg("accumulated_delta_var"), py::arg("learning_rate"), py::arg("rho"),
      py::arg("epsilon"), BRISKNN_GRADIENT_ARGS,
      "Keras Adadelta step on value in place; zeroes grad; returns the pre-step L1/L2 penalty.");
  m.def(
      "adadelta_update_many",
      [](const py::object& params, double learning_rate, double rho, double epsilon,
         double clipvalue) {
        return run_many("adadelta_update_many", params,
                        {{"accumulated_grad", true, "Adadelta"},
                         {"accumulated_delta_var", true, "Adadelta"}},
                        clipvalue, [&](auto* ts, Index count, double* penalties) {
                          adadelta_update_many(ts, count, penalties, learning_rate, rho, epsilon);
                        });
      },
      py::arg("params"), py::arg("learning_rate"), py::arg("rho"), py::arg("epsilon"),
      py::arg("clipvalue") = kNoClip,
      "adadelta_update on every (value, grad, accumulated_grad, accumulated_delta_var, l1, l2, "
      "grad_scale) of params in one parallel pass; returns the sum of their penalties.");
  m.def(
      "adamax_update",
      [](const py::array& value, const py::array& grad, const py::array& m_slot,
         const py::array& u_slot, double learning_rate, double beta_1, double beta_2,
         double epsilon, double bias_correction, double l1, double l2, double grad_scale,
         double clipvalue) {
        return run_single<2>("adamax_update", value, grad, {{{"m", m_slot}, {"u", u_slot}}}, l1,
                             l2, grad_scale, clipvalue,
                             [&](auto* w, auto* g, const auto& s, Index n, const auto& o) {
                               return adamax_update(w, g, s[0], s[1], n, o, learning_rate,
                                                    beta_1, beta_2, epsilon, bias_correction);
                             });
      },
      py::arg("value"), py::arg("grad"), py::arg("m"), py::arg("u"), py::arg("learning_rate"),
      py::arg("beta_1"), py::arg("beta_2"), py::arg("epsilon"), py::arg("bias_correction"),
      BRISKNN_GRADIENT_ARGS,
      "Keras Adamax step on value in place, bias_correction = 1 - beta_1^t; zeroes grad; "
      "returns the pre-step L1/L2 penalty.");
  m.def(
      "adamax_update_many",
      [](const py::object& params, double learning_rate, double beta_1, double beta_2,
         double epsilon, double bias_correction, double clipvalue) {
        return run_many("adamax_update_many", params,
                        {{"m", true, "Adamax"}, {"u", true, "Adamax"}}, clipvalue,
                        [&](auto* ts, Index count, double* penalties) {
                          adamax_update_many(ts, count, penalties, learning_rate, beta_1, beta_2,
                                             epsilon, bias_correction);
                        });
      },
      py::arg("params"), py::arg("learning_rate"), py::arg("beta_1"), py::arg("beta_2"),
      py::arg("epsilon"), py::arg("bias_correction"), py::arg("clipvalue") = kNoClip,
      "adamax_update on every (value, grad, m, u, l1, l2, grad_scale) of params in one "
      "parallel pass; returns the sum of their penalties.");
  m.def(
      "nadam_update",
      [](const py::array& value, const py::array& grad, const py::array& m_slot,
         const py::array& v_slot, double learning_rate, double beta_1, double beta_2,
         double epsilon, double momentum_coef, double gradient_coef, double velocity_correction,
         double l1, double l2, double grad_scale, double clipvalue) {
        return run_single<2>("nadam_update", value, grad, {{{"m", m_slot}, {"v", v_slot}}}, l1,
                             l2, grad_scale, clipvalue,
                             [&](auto* w, auto* g, const auto& s, Index n, const auto& o) {
                               return nadam_update(w, g, s[0], s[1], n, o, learning_rate, beta_1,
                                                   beta_2, epsilon, momentum_coef,
                                                   gradient_coef, velocity_correction);
                             });
      },
      py::arg("value"), py::arg("grad"), py::arg("m"), py::arg("v"), py::arg("learning_rate"),
      py::arg("beta_1"), py::arg("beta_2"), py::arg("epsilon"), py::arg("momentum_coef"),
      py::arg("gradient_coef"), py::arg("velocity_correction"), BRISKNN_GRADIENT_ARGS,
      "Keras Nadam step on value in place with the step's u_product coefficients; zeroes grad; "
      "returns the pre-step L1/L2 penalty.");
  m.def(
      "nadam_update_many",
      [](const py::object& params, double learning_rate, double beta_1, double beta_2,
         double epsilon, double momentum_coef, double gradient_coef, double velocity_correction,
         double clipvalue) {
        return run_many("nadam_update_many", params, {{"m", true, "Nadam"}, {"v", true, "Nadam"}},
                        clipvalue, [&](auto* ts, Index count, double* penalties) {
                          nadam_update_many(ts, count, penalties, learning_rate, beta_1, beta_2,
                                            epsilon, momentum_coef, gradient_coef,
                                            velocity_correction);
                        });
      },
      py::arg("params"), py::arg("learning_rate"), py::arg("beta_1"), py::arg("beta_2"),
      py::arg("epsilon"), py::arg("momentum_coef"), py::arg("gradient_coef"),
      py::arg("velocity_correction"), py::arg("clipvalue") = kNoClip,
      "nadam_update on every (value, grad, m, v, l1, l2, grad_scale) of params in one "
      "parallel pass; returns the sum of their penalties.");
  m.def(
      "lion_update",
      [](const py::array& value, const py::array& grad, const py::array& m_slot,
         double learning_rate, double beta_1, double beta_2, double l1, double l2,
         double grad_scale, double clipvalue) {
        return run_single<1>("lion_update", value, grad, {{{"m", m_slot}}}, l1, l2, grad_scale,
                             clipvalue,
                             [&](auto* w, auto* g, const auto& s, Index n, const auto& o) {
                               return lion_update(w, g, s[0], n, o, learning_rate, beta_1,
                                                  beta_2);
                             });
      },
      py::arg("value"), py::arg("grad"), py::arg("m"), py::arg("learning_rate"),
      py::arg("beta_1"), py::arg("beta_2"), BRISKNN_GRADIENT_ARGS,
      "Keras Lion step on value in place; zeroes grad; returns the pre-step L1/L2 penalty.");
  m.def(
      "lion_update_many",
      [](const py::object& params, double learning_rate, double beta_1, double beta_2,
         double clipvalue) {
        return run_many("lion_update_many", params, {{"m", true, "Lion"}}, clipvalue,
                        [&](auto* ts, Index count, double* penalties) {
                          lion_update_many(ts, count, penalties, learning_rate, beta_1, beta_2);
                        });
      },
      py::arg("params"), py::arg("learning_rate"), py::arg("beta_1"), py::arg("beta_2"),
      py::arg("clipvalue") = kNoClip,
      "lion_update on every (value, grad, m, l1, l2, grad_scale) of params in one parallel "
      "pass; returns the sum of their penalties.");
  m.def(
      "ftrl_update",
      [](const py::array& value, const py::array& grad, const py::array& accumulator,
         const py::array& linear, double learning_rate, double learning_rate_power,
         double l1_strength, double l2_strength, double l2_shrinkage, double l1, double l2,
         double grad_scale, double clipvalue) {
        return run_single<2>("ftrl_update", value, grad,
                             {{{"accumulator", accumulator}, {"linear", linear}}}, l1, l2,
                             grad_scale, clipvalue,
                             [&](auto* w, auto* g, const auto& s, Index n, const auto& o) {
                               return ftrl_update(w, g, s[0], s[1], n, o, learning_rate,
                                                  learning_rate_power, l1_strength, l2_strength,
                                                  l2_shrinkage);
                             });
      },
      py::arg("value"), py::arg("grad"), py::arg("accumulator"), py::arg("linear"),
      py::arg("learning_rate"), py::arg("learning_rate_power"), py::arg("l1_strength"),
      py::arg("l2_strength"), py::arg("l2_shrinkage"), BRISKNN_GRADIENT_ARGS,
      "Keras Ftrl step on value in place (l2_strength including beta / (2 lr)); zeroes grad; "
      "returns the pre-step L1/L2 penalty of the weight's regularizer (l1, l2).");
  m.def(
      "ftrl_update_many",
      [](const py::object& params, double learning_rate, double learning_rate_power,
         double l1_strength, double l2_strength, double l2_shrinkage, double clipvalue) {
        return run_many("ftrl_update_many", params,
                        {{"accumulator", true, "Ftrl"}, {"linear", true, "Ftrl"}}, clipvalue,
                        [&](auto* ts, Index count, double* penalties) {
                          ftrl_update_many(ts, count, penalties, learning_rate,
                                           learning_rate_power, l1_strength, l2_strength,
                                           l2_shrinkage);
                        });
      },
      py::arg("params"), py::arg("learning_rate"), py::arg("learning_rate_power"),
      py::arg("l1_strength"), py::arg("l2_strength"), py::arg("l2_shrinkage"),
      py::arg("clipvalue") = kNoClip,
      "ftrl_update on every (value, grad, accumulator, linear, l1, l2, grad_scale) of params in "
      "one parallel pass; returns the sum of their penalties.");
}

void bind_optim(py::module_& m) {
  py::class_<UpdatePlan>(m, "UpdatePlan",
                         "A multi-weight update's params (value, grad, slot..., l1, l2, "
                         "grad_scale) checked once; any *_update_many takes it as params and "
                         "then checks only the slots its rule variant uses.")
      .def(py::init<const py::sequence&>(), py::arg("params"));
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
      "sgd_update_many",
      [](const py::object& params, double learning_rate, double momentum, bool nesterov,
         double clipvalue) {
        return run_many("sgd_update_many", params,
                        {{"momentum_slot", momentum != 0.0, "momentum != 0"}}, clipvalue,
                        [&](auto* ts, Index count, double* penalties) {
                          sgd_update_many(ts, count, penalties, learning_rate, momentum,
                                          nesterov);
                        });
      },
      py::arg("params"), py::arg("learning_rate"), py::arg("momentum"), py::arg("nesterov"),
      py::arg("clipvalue") = kNoClip,
      "sgd_update on every (value, grad, momentum_slot, l1, l2, grad_scale) of params in one "
      "parallel pass; returns the sum of their penalties.");
  m.def(
      "rmsprop_update_many",
      [](const py::object& params, double learning_rate, double rho, double momentum,
         double epsilon, bool centered, double clipvalue) {
        return run_many("rmsprop_update_many", params,
                        {{"velocity", true, "RMSprop"},
                         {"momentum_slot", momentum > 0.0, "momentum > 0"},
                         {"average_gradient", centered, "centered=True"}},
                        clipvalue, [&](auto* ts, Index count, double* penalties) {
                          rmsprop_update_many(ts, count, penalties, learning_rate, rho, momentum,
                                              epsilon, centered);
                        });
      },
      py::arg("params"), py::arg("learning_rate"), py::arg("rho"), py::arg("momentum"),
      py::arg("epsilon"), py::arg("centered"), py::arg("clipvalue") = kNoClip,
      "rmsprop_update on every (value, grad, velocity, momentum_slot, average_gradient, l1, l2, "
      "grad_scale) of params in one parallel pass; returns the sum of their penalties.");
  m.def(
      "adam_update_many",
      [](const py::object& params, double alpha, double beta_1, double beta_2, double epsilon,
         bool amsgrad, double clipvalue) {
        return run_many("adam_update_many", params,
                        {{"m", true, "Adam"}, {"v", true, "Adam"},
                         {"v_hat", amsgrad, "amsgrad=True"}},
                        clipvalue, [&](auto* ts, Index count, double* penalties) {
                          adam_update_many(ts, count, penalties, alpha, beta_1, beta_2, epsilon,
                                           amsgrad);
                        });
      },
      py::arg("params"), py::arg("alpha"), py::arg("beta_1"), py::arg("beta_2"),
      py::arg("epsilon"), py::arg("amsgrad"), py::arg("clipvalue") = kNoClip,
      "adam_update on every (value, grad, m, v, v_hat, l1, l2, grad_scale) of params in one "
      "parallel pass; returns the sum of their penalties.");
  bind_more_optim(m);
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
