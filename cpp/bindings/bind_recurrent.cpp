#include <pybind11/stl.h>

#include <cstdint>
#include <optional>

#include "brisknn/recurrent.h"
#include "check.h"

namespace brisknn::bind {

namespace {

py::handle handle(const std::optional<py::array>& a) { return a ? py::handle(*a) : py::none(); }

RecurrentCell cell_arg(const char* fn, const std::string& name) {
  RecurrentCell cell;
  if (!parse_recurrent_cell(name.c_str(), &cell)) {
    fail_value(std::string(fn) + ": cell must be 'simple_rnn', 'lstm' or 'gru', got '" + name +
               "'");
  }
  return cell;
}

// The recurrent kernels apply activations element by element inside their step loop and keep
// only outputs, so an activation must be element-wise with its derivative known from its output.
Activation recurrent_activation_arg(const char* fn, const char* what, const std::string& name) {
  Activation act;
  if (!parse_activation(name, &act) || !is_elementwise_from_output(act)) {
    fail_value(std::string(fn) + ": " + what + " must be an element-wise activation whose " +
               "derivative follows from its output in a recurrent layer (not softmax, " +
               "log_softmax, gelu, silu, mish, hard_silu or tanh_shrink), got '" + name + "'");
  }
  return act;
}

// Reads the sizes from x (batch, steps, in) and recurrent_kernel (units, G*units) and checks the
// kernel and the masks against them.
RecurrentShape shape_args(const char* fn, RecurrentCell cell, const py::array& x,
                          const py::array& kernel, const py::array& rk,
                          const std::optional<py::array>& input_mask,
                          const std::optional<py::array>& rec_mask) {
  RecurrentShape s{cell, 0, 0, 0, 0};
  s.batch = dim(fn, "x", x, 3, 0);
  s.steps = x.shape(1);
  s.in = x.shape(2);
  s.units = dim(fn, "recurrent_kernel", rk, 2, 0);
  const Index gu = s.gates() * s.units;
  expect_shape(fn, "recurrent_kernel", rk, {s.units, gu});
  expect_shape(fn, "kernel", kernel, {s.in, gu});
  auto masks = [&](const std::optional<py::array>& m, const char* name, Index width) -> Index {
    if (!m) return 0;
    const Index count = dim(fn, name, *m, 3, 0);
    if (count != 1 && count != s.gates()) {
      fail_value(std::string(fn) + ": " + name + " has shape " + shape_str(*m) +
                 ", expected 1 or " + std::to_string(s.gates()) + " masks in its first axis");
    }
    expect_shape(fn, name, *m, {count, s.batch, width});
    return count;
  };
  s.input_masks = masks(input_mask, "input_mask", s.in);
  s.recurrent_masks = masks(rec_mask, "recurrent_mask", s.units);
  return s;
}

template <class T>
const T* optional_in(const char* fn, const char* name, const std::optional<py::array>& a,
                     std::initializer_list<Index> shape) {
  return a ? in<T>(fn, name, *a, shape) : nullptr;
}

template <class T>
T* optional_out(const char* fn, const char* name, const std::optional<py::array>& a,
                std::initializer_list<Index> shape) {
  return a ? out<T>(fn, name, *a, shape) : nullptr;
}

// LSTM and GRU keep gates and carry; SimpleRNN needs neither.
template <class T>
T* saved_arg(const char* fn, const char* name, const RecurrentShape& s,
             const std::optional<py::array>& a, Index width) {
  if (s.cell == RecurrentCell::SimpleRNN) return nullptr;
  if (!a) fail_value(std::string(fn) + ": " + name + " is required for LSTM and GRU");
  return out<T>(fn, name, *a, {s.batch, s.steps, width});
}

// The (batch, steps) step mask, bool or uint8 (0 = masked), or null.
const std::uint8_t* step_mask_arg(const char* fn, const std::optional<py::array>& mask,
                                  const RecurrentShape& s) {
  if (!mask) return nullptr;
  const py::dtype dtype = mask->dtype();
  if (!has_dtype<bool>(*mask) && !has_dtype<std::uint8_t>(*mask)) {
    fail_type(std::string(fn) + ": mask has dtype " + std::string(py::str(dtype)) +
              ", expected bool or uint8");
  }
  expect_shape(fn, "mask", *mask, {s.batch, s.steps});
  if (!(mask->flags() & py::array::c_style)) {
    fail_value(std::string(fn) + ": mask must be C-contiguous (use np.ascontiguousarray)");
  }
  return static_cast<const std::uint8_t*>(mask->data());
}

// An initial state or its gradient: (batch, units); c0 and dc0 only for LSTM.
template <class T>
T* state_arg(const char* fn, const char* name, const std::optional<py::array>& a,
             const RecurrentShape& s, bool lstm_only, bool writeable) {
  if (!a) return nullptr;
  if (lstm_only && s.cell != RecurrentCell::LSTM) {
    fail_value(std::string(fn) + ": " + name + " is for LSTM only (its cell state); SimpleRNN " +
               "and GRU have one state");
  }
  expect_shape(fn, name, *a, {s.batch, s.units});
  return data_ptr<T>(fn, name, *a, writeable);
}

template <class T>
T* workspace_arg(const char* fn, const py::array& ws, const RecurrentShape& s, bool backward) {
  const Index needed = recurrent_workspace_size(s, backward);
  const Index size = dim(fn, "workspace", ws, 1, 0);
  if (size < needed) {
    fail_value(std::string(fn) + ": workspace has " + std::to_string(size) + " elements, needs " +
               std::to_string(needed) + " (size it with recurrent_workspace_size)");
  }
  return data_ptr<T>(fn, "workspace", ws, true);
}

}  // namespace

void bind_recurrent(py::module_& m) {
  m.def(
      "recurrent_workspace_size",
      [](const std::string& cell, Index batch, Index steps, Index in_dim, Index units,
         Index input_masks, Index recurrent_masks, bool backward) {
        RecurrentShape s{cell_arg("recurrent_workspace_size", cell), batch, steps, in_dim, units,
                         input_masks, recurrent_masks};
        return recurrent_workspace_size(s, backward);
      },
      py::arg("cell"), py::arg("batch"), py::arg("steps"), py::arg("in_dim"), py::arg("units"),
      py::arg("input_masks"), py::arg("recurrent_masks"), py::arg("backward"),
      "Elements the workspace of recurrent_forward / recurrent_backward needs.");
  m.def(
      "recurrent_forward",
      [](const std::string& cell_name, const py::array& x, const py::array& kernel,
         const py::array& rk, const std::optional<py::array>& bias,
         const std::optional<py::array>& input_mask, const std::optional<py::array>& rec_mask,
         const py::array& h, const std::optional<py::array>& gates,
         const std::optional<py::array>& carry, const py::array& workspace,
         const std::string& activation, const std::string& recurrent_activation,
         const std::optional<py::array>& mask, const std::optional<py::array>& h0,
         const std::optional<py::array>& c0) {
        const char* fn = "recurrent_forward";
        const RecurrentCell cell = cell_arg(fn, cell_name);
        const Activation act = recurrent_activation_arg(fn, "activation", activation);
        const Activation rec_act =
            recurrent_activation_arg(fn, "recurrent_activation", recurrent_activation);
        dispatch_float(fn, x, [&](auto tag) {
          using T = decltype(tag);
          const RecurrentShape s = shape_args(fn, cell, x, kernel, rk, input_mask, rec_mask);
          const Index gu = s.gates() * s.units;
          const T* xp = data_ptr<T>(fn, "x", x, false);
          const T* kp = data_ptr<T>(fn, "kernel", kernel, false);
          const T* rkp = data_ptr<T>(fn, "recurrent_kernel", rk, false);
          const T* bp = cell == RecurrentCell::GRU ? optional_in<T>(fn, "bias", bias, {2, gu})
                                                   : optional_in<T>(fn, "bias", bias, {gu});
          const T* imp = input_mask ? data_ptr<T>(fn, "input_mask", *input_mask, false) : nullptr;
          const T* rmp = rec_mask ? data_ptr<T>(fn, "recurrent_mask", *rec_mask, false) : nullptr;
          T* hp = out<T>(fn, "h", h, {s.batch, s.steps, s.units});
          T* gp = saved_arg<T>(fn, "gates", s, gates, gu);
          T* cp = saved_arg<T>(fn, "carry", s, carry, s.units);
          const std::uint8_t* mp = step_mask_arg(fn, mask, s);
          T* ws = workspace_arg<T>(fn, workspace, s, false);
          const T* h0p = state_arg<T>(fn, "h0", h0, s, false, false);
          const T* c0p = state_arg<T>(fn, "c0", c0, s, true, false);
          if (s.cell == RecurrentCell::LSTM && !h0p != !c0p) {
            fail_value(std::string(fn) + ": LSTM takes both initial states h0 and c0, or neither");
          }
          expect_disjoint(fn, {{"x", x}, {"kernel", kernel}, {"recurrent_kernel", rk},
                               {"bias", handle(bias)}, {"input_mask", handle(input_mask)},
                               {"recurrent_mask", handle(rec_mask)}, {"h", h},
                               {"gates", handle(gates)}, {"carry", handle(carry)},
                               {"workspace", workspace}, {"h0", handle(h0)},
                               {"c0", handle(c0)}});
          py::gil_scoped_release release;
          recurrent_forward<T>(s, act, rec_act, hp, gp, cp, xp, kp, rkp, bp, imp, rmp, mp, ws,
                               h0p, c0p);
        });
      },
      py::arg("cell"), py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"),
      py::arg("bias"), py::arg("input_mask"), py::arg("recurrent_mask"), py::arg("h"),
      py::arg("gates"), py::arg("carry"), py::arg("workspace"), py::arg("activation") = "tanh",
      py::arg("recurrent_activation") = "sigmoid", py::arg("mask") = py::none(),
      py::arg("h0") = py::none(), py::arg("c0") = py::none(),
      "Runs a SimpleRNN/LSTM/GRU over x (batch, steps, in): every hidden state into h (batch, "
      "steps, units); LSTM/GRU also fill gates (batch, steps, G*units) and carry (batch, steps, "
      "units) for recurrent_backward. Masks (count, batch, width) hold inverted-dropout factors. "
      "mask (batch, steps), bool or uint8, skips the False steps: the state carries over. "
      "h0 (and LSTM's c0), (batch, units), are the initial states; None means zeros.");
  m.def(
      "recurrent_backward",
      [](const std::string& cell_name, const py::array& dy, const py::array& x,
         const py::array& kernel, const py::array& rk, const std::optional<py::array>& input_mask,
         const std::optional<py::array>& rec_mask, const py::array& h,
         const std::optional<py::array>& gates, const std::optional<py::array>& carry,
         const std::optional<py::array>& dx, const std::optional<py::array>& dkernel,
         const std::optional<py::array>& drk, const std::optional<py::array>& dbias,
         const py::array& workspace, const std::string& activation,
         const std::string& recurrent_activation, const std::optional<py::array>& mask,
         const std::optional<py::array>& h0, const std::optional<py::array>& c0,
         const std::optional<py::array>& dh0, const std::optional<py::array>& dc0) {
        const char* fn = "recurrent_backward";
        const RecurrentCell cell = cell_arg(fn, cell_name);
        const Activation act = recurrent_activation_arg(fn, "activation", activation);
        const Activation rec_act =
            recurrent_activation_arg(fn, "recurrent_activation", recurrent_activation);
        dispatch_float(fn, x, [&](auto tag) {
          using T = decltype(tag);
          const RecurrentShape s = shape_args(fn, cell, x, kernel, rk, input_mask, rec_mask);
          const Index gu = s.gates() * s.units;
          const bool sequences = dy.ndim() == 3;
          const T* dyp = sequences ? in<T>(fn, "dy", dy, {s.batch, s.steps, s.units})
                                   : in<T>(fn, "dy", dy, {s.batch, s.units});
          const T* xp = data_ptr<T>(fn, "x", x, false);
          const T* kp = data_ptr<T>(fn, "kernel", kernel, false);
          const T* rkp = data_ptr<T>(fn, "recurrent_kernel", rk, false);
          const T* imp = input_mask ? data_ptr<T>(fn, "input_mask", *input_mask, false) : nullptr;
          const T* rmp = rec_mask ? data_ptr<T>(fn, "recurrent_mask", *rec_mask, false) : nullptr;
          const T* hp = in<T>(fn, "h", h, {s.batch, s.steps, s.units});
          const T* gp = saved_arg<T>(fn, "gates", s, gates, gu);
          const T* cp = saved_arg<T>(fn, "carry", s, carry, s.units);
          T* dxp = optional_out<T>(fn, "dx", dx, {s.batch, s.steps, s.in});
          T* dkp = optional_out<T>(fn, "dkernel", dkernel, {s.in, gu});
          T* drkp = optional_out<T>(fn, "drecurrent_kernel", drk, {s.units, gu});
          T* dbp = cell == RecurrentCell::GRU ? optional_out<T>(fn, "dbias", dbias, {2, gu})
                                              : optional_out<T>(fn, "dbias", dbias, {gu});
          const std::uint8_t* mp = step_mask_arg(fn, mask, s);
          T* ws = workspace_arg<T>(fn, workspace, s, true);
          const T* h0p = state_arg<T>(fn, "h0", h0, s, false, false);
          const T* c0p = state_arg<T>(fn, "c0", c0, s, true, false);
          if (s.cell == RecurrentCell::LSTM && !h0p != !c0p) {
            fail_value(std::string(fn) + ": LSTM takes both initial states h0 and c0, or neither");
          }
          T* dh0p = state_arg<T>(fn, "dh0", dh0, s, false, true);
          T* dc0p = state_arg<T>(fn, "dc0", dc0, s, true, true);
          if (dc0p && !dh0p) fail_value(std::string(fn) + ": dc0 needs dh0 too");
          expect_disjoint(fn, {{"dy", dy}, {"x", x}, {"kernel", kernel}, {"recurrent_kernel", rk},
                               {"input_mask", handle(input_mask)},
                               {"recurrent_mask", handle(rec_mask)}, {"h", h},
                               {"gates", handle(gates)}, {"carry", handle(carry)},
                               {"dx", handle(dx)}, {"dkernel", handle(dkernel)},
                               {"drecurrent_kernel", handle(drk)}, {"dbias", handle(dbias)},
                               {"workspace", workspace}, {"h0", handle(h0)}, {"c0", handle(c0)},
                               {"dh0", handle(dh0)}, {"dc0", handle(dc0)}});
          py::gil_scoped_release release;
          recurrent_backward<T>(s, act, rec_act, dxp, dkp, drkp, dbp, dyp, sequences, xp, kp, rkp,
                                imp, rmp, mp, hp, gp, cp, ws, h0p, c0p, dh0p, dc0p);
        });
      },
      py::arg("cell"), py::arg("dy"), py::arg("x"), py::arg("kernel"),
      py::arg("recurrent_kernel"), py::arg("input_mask"), py::arg("recurrent_mask"), py::arg("h"),
      py::arg("gates"), py::arg("carry"), py::arg("dx"), py::arg("dkernel"),
      py::arg("drecurrent_kernel"), py::arg("dbias"), py::arg("workspace"),
      py::arg("activation") = "tanh", py::arg("recurrent_activation") = "sigmoid",
      py::arg("mask") = py::none(), py::arg("h0") = py::none(), py::arg("c0") = py::none(),
      py::arg("dh0") = py::none(), py::arg("dc0") = py::none(),
      "Backpropagation through time from dy (batch, steps, units), or (batch, units) for the "
      "last state only: dx is overwritten, dkernel/drecurrent_kernel/dbias are added into; pass "
      "None to skip any. The other arguments (mask, h0, c0 too) are recurrent_forward's. dh0 (and "
      "LSTM's dc0), (batch, units), receive the gradient of the initial states (overwritten).");
}

}  // namespace brisknn::bind
