"""Keras 3 optimizers (SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta, Adamax, Nadam, Lion, Ftrl)
over brisknn Variables.

A step is one `_core` call for all the weights (one parallel region), a single pass over each that
adds the regularizer's gradient (Keras counts regularization in the loss, so its gradient is part of
the gradient), clips, applies the update rule to the weight and its slots in place, zeroes `grad`
for the next backward pass, and returns the weights' penalty l1*sum|w| + l2*sum(w^2) before the
step (summed weight by weight, as one call each would), for the model to add to the reported loss.
"""
import itertools
import math
import re
import warnings

import sys

import numpy as np

from brisknn import _core, constraints, schedules

sys.modules[__name__ + ".schedules"] = schedules  # `from brisknn.optimizers.schedules import`

# Keras base-optimizer arguments brisknn does not implement, with the values that mean "off".
_OFF = {"use_ema": False, "ema_overwrite_frequency": None,
        "loss_scale_factor": None, "gradient_accumulation_steps": None}
_STATE_KEY = re.compile(r"(\d+)/(\w+)")


def _learning_rate_value(owner, learning_rate):
    if callable(learning_rate):
        raise NotImplementedError(
            f"{owner}: a learning rate that is a plain callable is not supported; pass a float "
            "or a brisknn.optimizers.schedules.LearningRateSchedule")
    if isinstance(learning_rate, (bool, np.bool_)) or not isinstance(
            learning_rate, (int, float, np.integer, np.floating)):
        raise ValueError(f"{owner}: learning_rate must be a float, got {learning_rate!r}")
    return float(learning_rate)


class _LiveScalar:
    """A number with Keras' Variable calls, `numpy()`, `assign(value)` and `assign_add`. Keras
    hands out a live variable; a number cannot change, so it holds the optimizer's value when
    read, `numpy()` reads the current one and `assign` sets it (read the attribute again to see
    the new value as a number). Copies and pickles are the plain number."""

    _attr = _base = _numpy = None  # the optimizer attribute, the number type, the NumPy type
    shape = ()

    def __new__(cls, optimizer):
        value = cls._base.__new__(cls, getattr(optimizer, cls._attr))
        value._optimizer = optimizer
        return value

    def __reduce__(self):
        return self._base, (self._base(self),)

    def numpy(self):
        return self._numpy(getattr(self._optimizer, self._attr))

    def assign_add(self, value):
        return self.assign(getattr(self._optimizer, self._attr) + _scalar(value))


class LearningRate(_LiveScalar, float):
    """What `optimizer.learning_rate` returns: the rate as a float (arithmetic, comparisons,
    formatting, JSON all work), float32 through `numpy()` as Keras keeps it."""

    _attr, _base, _numpy = "_learning_rate", float, np.float32
    name = "learning_rate"
    dtype = "float32"

    def assign(self, value):
        self._optimizer.learning_rate = _scalar(value)
        return self._optimizer.learning_rate


class Iterations(_LiveScalar, int):
    """What `optimizer.iterations` returns: the step count as an int (int64 through `numpy()`)."""

    _attr, _base, _numpy = "_iterations", int, np.int64
    name = "iterations"
    dtype = "int64"

    def assign(self, value):
        value = _scalar(value)
        if isinstance(value, (bool, np.bool_)) or int(value) != value or value < 0:
            raise ValueError(f"iterations must be a non-negative integer, got {value!r}")
        self._optimizer._iterations = int(value)
        return self._optimizer.iterations


def _scalar(value):
    """A Python or NumPy scalar, or a 0-d array, as a Python number."""
    value = value.item() if isinstance(value, (np.ndarray, np.generic)) else value
    return float(value) if isinstance(value, LearningRate) else value


class Optimizer:
    """Base class: Keras' optimizer interface over Variables whose gradients live in `grad`.

    Subclasses name their slots (`_slot_names`, in the kernel's argument order, None for a slot
    the configuration does not use), pick the kernel (`_kernel`) and compute its per-step scalars
    once per step (`_step_args`).
    """

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        cls = type(self).__name__
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.")
        if kwargs:
            raise ValueError(f"{cls}: argument(s) not recognized: {kwargs}")
        given = {"use_ema": use_ema,
                 "ema_overwrite_frequency": ema_overwrite_frequency,
                 "loss_scale_factor": loss_scale_factor,
                 "gradient_accumulation_steps": gradient_accumulation_steps}
        unsupported = sorted(k for k, v in given.items() if v != _OFF[k])
        if unsupported:
            raise NotImplementedError(f"{cls}: {', '.join(unsupported)} not supported by brisknn")
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in clips.values()) > 1:
            raise ValueError(f"{cls}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` "
                             f"can be set. Received: {clips}")
        # A string from a crafted file would otherwise fail in the middle of fit.
        for key, value in {**clips, "weight_decay": weight_decay}.items():
            if value is not None and (isinstance(value, (bool, np.bool_)) or not isinstance(
                    value, (int, float, np.integer, np.floating))):
                raise ValueError(f"{cls}: {key} must be a number, got {value!r}")
        self.name = name if name is not None else cls.lower()
        self.weight_decay = None if weight_decay is None else float(weight_decay)
        self._exclude_from_weight_decay = []
        self._exclude_from_weight_decay_names = []
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        if isinstance(learning_rate, dict):  # a saved schedule (get_config)
            learning_rate = schedules.deserialize(learning_rate)
        # A schedule gives the rate of each step from `iterations`, as in Keras.
        self._schedule = learning_rate if isinstance(
            learning_rate, schedules.LearningRateSchedule) else None
        self._iterations = 0
        self._learning_rate = (float(self._schedule(0)) if self._schedule is not None
                               else _learning_rate_value(cls, learning_rate))
        self._slots = {}  # Variable (hashed by identity) -> tuple of slot arrays or None

    # -- Keras properties --------------------------------------------------------------------
    @property
    def learning_rate(self):
        """The rate as a float that also has Keras' `numpy()` and `assign()` (with a schedule:
        its rate for the next step)."""
        self._refresh_learning_rate()
        return LearningRate(self)

    @learning_rate.setter
    def learning_rate(self, value):
        if self._schedule is not None:
            raise TypeError("This optimizer was created with a `LearningRateSchedule` object "
                            "as its `learning_rate` constructor argument, hence its learning "
                            "rate is not settable. If you need the learning rate to be "
                            "settable, you should instantiate the optimizer with a float "
                            "`learning_rate` argument.")
        self._learning_rate = _learning_rate_value(type(self).__name__, _scalar(value))

    def _refresh_learning_rate(self):
        if self._schedule is not None:
            self._learning_rate = float(self._schedule(self._iterations))

    @property
    def iterations(self):
        """How many steps (apply calls) this optimizer has taken: an int that also has Keras'
        `numpy()` and `assign()`."""
        return Iterations(self)

    @property
    def built(self):
        """Whether the slots exist (Keras builds them at the first fit/evaluate/step)."""
        return bool(self._slots)

    def _summary_sizes(self):
        """(values, bytes) of what Keras 3's summary counts as 'Optimizer params': its
        iterations (int64) and learning_rate (float32) variables and every slot."""
        slots = [a for arrays in self._slots.values() for a in arrays if a is not None]
        return 2 + sum(a.size for a in slots), 12 + sum(a.nbytes for a in slots)

    # -- the step ----------------------------------------------------------------------------
    def build(self, variables):
        """Creates the slots of every variable now instead of at its first step."""
        variables = list(variables)
        self._build_state(variables)
        for var in variables:
            if var not in self._slots:
                self._create_slots(var)

    def apply(self, variables, regularize=True):
        """One step on each Variable from its accumulated `grad`, which is then zeroed.

        With `regularize` (a model's training step), each Variable's regularizer gradient is
        added in the same pass. Returns the regularization penalty of the variables before the
        step (a float; 0 without `regularize`).
        """
        if not isinstance(variables, (list, tuple)):
            variables = list(variables)
        self._build_state(variables)
        self._refresh_learning_rate()
        args = self._step_args()
        clipvalue = self._clipvalue()
        params = self._kernel_params(variables, self._gradient_scales(variables), regularize)
        decay = self._weight_decay_terms(variables)
        penalty = 0.0
        if decay and self._update_reads_weight:
            # Keras shrinks w before the update, and this rule reads w: shrink first, with the
            # regularizer's gradient (of the weights before the shrinking) added to grad now.
            params, penalty = _fold_regularizers(params)
            for var, term in decay:
                var.value -= term
            decay = []
        if len(set(variables)) == len(variables):  # Variables hash by identity
            # All weights in one call: one parallel pass, the same numbers as one call each.
            penalty += self._kernel_many(params, *args, clipvalue)
        else:  # a variable listed twice is stepped twice, one after the other
            for value, grad, *rest in params:
                *slots, l1, l2, scale = rest
                penalty += self._kernel(value, grad, *slots, *args, l1, l2, scale, clipvalue)
        for var, term in decay:
            var.value -= term
        _apply_constraints(variables)
        self._finish_step()
        return penalty

    def _finish_step(self):
        """Counts the step; an optimizer with per-step state of its own (Nadam) advances it."""
        self._iterations += 1

    def _build_state(self, variables):
        """Creates what the optimizer keeps besides the slots (Keras' build); nothing here."""

    def _clipvalue(self):
        return self.clipvalue if self.clipvalue and self.clipvalue > 0 else math.inf

    def _kernel_params(self, variables, scales, regularize):
        """The kernels' per-weight arguments: (value, grad, *slots, l1, l2, gradient scale)."""
        params = []
        for var, scale in zip(variables, scales):
            slots = self._slots.get(var) or self._create_slots(var)
            reg = var.regularizer
            l1, l2 = (reg.l1, reg.l2) if regularize and reg is not None else (0.0, 0.0)
            params.append((var.value, var.grad, *slots, l1, l2, scale))
        return params

    def _static_config(self):
        """What `_prepared_apply` fixes besides the weights and the slots' dict (set_state
        replaces it): a step prepared under another configuration must not be used."""
        return (self.clipnorm, self.clipvalue, self.global_clipnorm, self.weight_decay)

    def _prepared_apply(self, variables):
        """apply(variables) for a loop that steps the same weights again and again: the kernel's
        argument list built and checked once (_core.UpdatePlan; the weights' arrays and slots
        never change identity; their regularizers' l1 and l2 are read now, so the caller
        watches them: DenseStep.key). Valid
        while `_static_config()` is unchanged and `_slots` is the same dict. None when a step
        needs more than the kernel call: clipping by norm and weight decay read the weights
        first, and a repeated weight is stepped twice. Constraints are projected after the
        kernel call, as in apply()."""
        clips_norm = (self.clipnorm and self.clipnorm > 0) or (
            self.global_clipnorm and self.global_clipnorm > 0)
        if clips_norm or self.weight_decay or len(set(variables)) != len(variables):
            return None
        self._build_state(variables)
        params = _core.UpdatePlan(self._kernel_params(variables, itertools.repeat(1.0), True))
        kernel, clipvalue = self._kernel_many, self._clipvalue()

        def step():
            self._refresh_learning_rate()
            penalty = kernel(params, *self._step_args(), clipvalue)
            _apply_constraints(variables)
            self._finish_step()
            return penalty
        return step

    # -- decoupled weight decay (Keras' base_optimizer._apply_weight_decay) ----------------------
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Keeps these Variables, and those whose name matches one of the `var_names` regular
        expressions (e.g. ['bias']), out of the weight decay."""
        self._exclude_from_weight_decay = list(var_list or [])
        self._exclude_from_weight_decay_names = list(var_names or [])

    def _use_weight_decay(self, var):
        if any(var is excluded for excluded in self._exclude_from_weight_decay):
            return False
        return not any(re.search(name, var.name) for name in self._exclude_from_weight_decay_names)

    def _weight_decay_terms(self, variables):
        """(variable, lr * weight_decay * w) for each decayed variable, from the weights the step
        starts from. Keras shrinks w before the update, and its update depends on the gradient
        and the slots only, never on w: subtracting these after the fused step is the same."""
        if not self.weight_decay:
            return []
        factor = self._learning_rate * self.weight_decay
        return [(var, var.value * var.value.dtype.type(factor)) for var in variables
                if self._use_weight_decay(var)]

    def apply_gradients(self, grads_and_vars):
        """Keras' entry point: adds each gradient into its variable's `grad`, then steps.

        As in Keras, exactly the given gradients are applied: no regularizer gradient is added
        (a custom loop adds `sum(model.losses)` to its loss). Returns `iterations`, as Keras does.
        """
        pairs, missing = [], []
        for grad, var in grads_and_vars:  # all checked before any is added: a bad one changes nothing
            if grad is None:
                missing.append(var.path)
                continue
            grad = np.asarray(grad)
            if grad.dtype.kind not in "biuf" or grad.shape != var.shape:
                raise ValueError(f"{type(self).__name__}.apply_gradients: the gradient for "
                                 f"{var.path} has shape {grad.shape} and dtype {grad.dtype}, "
                                 f"expected real numbers of shape {var.shape}")
            pairs.append((grad, var))
        for grad, var in pairs:
            np.add(var.grad, grad, out=var.grad, casting="same_kind")
        variables = [var for _, var in pairs]
        if not variables:
            raise ValueError("No gradients provided for any variable.")
        if missing:
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing the "
                          "loss.")
        self.apply(variables, regularize=False)
        return self.iterations

    def _create_slots(self, var):
        slots = tuple(None if name is None else
                      np.full_like(var.value, self._slot_initial_value(name))
                      for name in self._slot_names())
        self._slots[var] = slots
        return slots

    def _gradient_scales(self, variables):
        # Clipping by norm needs the norm before the step: a read-only pass, only when asked.
        if self.clipnorm and self.clipnorm > 0:
            c = self.clipnorm
            return [c / max(math.sqrt(_square_sum(v)), c) for v in variables]
        if self.global_clipnorm and self.global_clipnorm > 0:
            c, norm = self.global_clipnorm, math.sqrt(sum(_square_sum(v) for v in variables))
            # Keras' scale turns NaN when the norm is not finite.
            return [c / max(norm, c) if math.isfinite(norm) else math.nan] * len(variables)
        return itertools.repeat(1.0)

    # -- state (to save and resume training) -------------------------------------------------
    def get_state(self, variables=None):
        """The training state as plain arrays: 'iterations', 'learning_rate', the optimizer's own
        scalars (Nadam's 'u_product') and each slot as 'INDEX/SLOT_NAME', INDEX being the
        variable's position in `variables` (by default the order in which this optimizer first
        saw them). Variables without slots yet are left out.
        """
        variables = list(self._slots) if variables is None else list(variables)
        state = {"iterations": np.array(self._iterations, dtype=np.int64),
                 "learning_rate": np.array(self._learning_rate, dtype=np.float64),
                 **self._get_scalar_state()}
        for i, var in enumerate(variables):
            for name, slot in zip(self._slot_names(), self._slots.get(var, ())):
                if name is not None:
                    state[f"{i}/{name}"] = slot.copy()
        return state

    def set_state(self, state, variables):
        """Restores `get_state(variables)` output onto `variables` (same order), replacing any
        slots this optimizer had. Everything is checked before anything changes."""
        where = f"{type(self).__name__}.set_state"
        variables = list(variables)
        if "iterations" not in state:
            raise ValueError(f"{where}: the state has no 'iterations'")
        iterations = np.asarray(state["iterations"])
        if iterations.shape != () or iterations.dtype.kind not in "iu" or iterations < 0:
            raise ValueError(f"{where}: 'iterations' must be a non-negative integer, got "
                             f"{state['iterations']!r}")
        learning_rate = None
        if "learning_rate" in state:
            learning_rate = _learning_rate_value(where, np.asarray(state["learning_rate"]).item())
        given = self._slots_by_variable(where, state, len(variables))
        slots = {}
        for i in sorted(given):
            slots[variables[i]] = self._checked_slots(where, i, variables[i], given[i])
        scalars = self._checked_scalar_state(where, state, int(iterations), variables)
        self._slots = slots
        self._set_scalar_state(scalars)
        self._iterations = int(iterations)
        if learning_rate is not None and self._schedule is None:
            self._learning_rate = learning_rate
        self._refresh_learning_rate()

    def _slots_by_variable(self, where, state, count):
        names = [n for n in self._slot_names() if n is not None]
        given = {}
        for key, value in state.items():
            if key in ("iterations", "learning_rate") or key in self._scalar_state_names:
                continue
            match = _STATE_KEY.fullmatch(key)
            if not match or int(match[1]) >= count or match[2] not in names:
                raise ValueError(f"{where}: unexpected key {key!r}; this {type(self).__name__} "
                                 f"has slots {names} for {count} variables")
            given.setdefault(int(match[1]), {})[match[2]] = value
        return given

    def _checked_slots(self, where, index, var, arrays):
        slots = []
        for name in self._slot_names():
            if name is None:
                slots.append(None)
                continue
            if name not in arrays:
                raise ValueError(f"{where}: variable {index} ({var.path}) has no '{name}' slot "
                                 f"in the state (it has {sorted(arrays)})")
            a = np.asarray(arrays[name])
            if a.shape != var.shape or a.dtype != var.dtype:
                raise ValueError(f"{where}: slot '{index}/{name}' has shape {a.shape} and dtype "
                                 f"{a.dtype}, but {var.path} has shape {var.shape} and dtype "
                                 f"{var.dtype}")
            slots.append(np.array(a, order="C", copy=True))
        return tuple(slots)

    # -- serialization -----------------------------------------------------------------------
    def get_config(self):
        learning_rate = (self._learning_rate if self._schedule is None
                         else schedules.serialize(self._schedule))
        return {"name": self.name, "learning_rate": learning_rate,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return (f"<{type(self).__name__} name={self.name} learning_rate={self._learning_rate} "
                f"iterations={self._iterations}>")

    # -- what a subclass defines -------------------------------------------------------------
    _kernel = None
    _kernel_many = None  # the same update over a list of weights in one call
    _scalar_state_names = ()  # state keys besides iterations, learning_rate and the slots
    # Whether the rule's new weight depends on the weight it starts from other than through
    # the gradient (Ftrl): then weight decay cannot be subtracted after the fused step.
    _update_reads_weight = False

    def _slot_initial_value(self, name):
        return 0.0

    def _get_scalar_state(self):
        return {}

    def _checked_scalar_state(self, where, state, iterations, variables):
        """The `_scalar_state_names` values of `state`, checked (set_state changes nothing
        before all of the state is checked)."""
        return {}

    def _set_scalar_state(self, scalars):
        pass

    def _slot_names(self):
        raise NotImplementedError

    def _step_args(self):
        raise NotImplementedError


def _apply_constraints(variables):
    """Keras' BaseOptimizer.apply: after the update, each stepped variable with a constraint
    is replaced by its projection (read at every step: a constraint may be set at any time)."""
    for var in variables:
        if var.constraint is not None:
            constraints.apply(var)


def _fold_regularizers(params):
    """The kernels' params with each weight's L1/L2 gradient added into its grad (as the kernel
    would add it: grad + (l1 sign(w) + 2 l2 w) in the weight's dtype) and l1 = l2 = 0, and the
    penalty the kernel would have returned, of the weights now."""
    folded, total, seen = [], 0.0, set()
    for value, grad, *rest in params:
        *slots, l1, l2, scale = rest
        if (l1 or l2) and id(grad) not in seen:  # a weight listed twice: its gradient once
            seen.add(id(grad))
            t = value.dtype.type
            grad += t(l1) * np.sign(value) + t(2 * l2) * value
            w = value.astype(np.float64)
            total += l1 * np.abs(w).sum() + l2 * np.square(w).sum()
        folded.append((value, grad, *slots, 0.0, 0.0, scale))
    return folded, total


def _square_sum(var):
    reg = var.regularizer
    l1, l2 = (reg.l1, reg.l2) if reg is not None else (0.0, 0.0)
    return _core.effective_gradient_square_sum(var.value, var.grad, l1, l2)


class SGD(Optimizer):
    """Gradient descent, with momentum and Nesterov momentum as in Keras:
    w -= lr*g; or m = momentum*m - lr*g, w += m (Nesterov: w += momentum*m - lr*g)."""

    _kernel = staticmethod(_core.sgd_update)
    _kernel_many = staticmethod(_core.sgd_update_many)

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not isinstance(momentum, (int, float, np.integer, np.floating)) or \
                not 0 <= momentum <= 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _slot_names(self):
        return ("momentum" if self.momentum != 0 else None,)

    def _step_args(self):
        return self._learning_rate, self.momentum, self.nesterov

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop as in Keras 3: velocity = rho*velocity + (1-rho)*g^2,
    w -= lr*g / sqrt(velocity + epsilon) (epsilon inside the root); `centered` subtracts the
    squared mean gradient inside the root; `momentum` > 0 accumulates the increments."""

    _kernel = staticmethod(_core.rmsprop_update)
    _kernel_many = staticmethod(_core.rmsprop_update_many)

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 name="rmsprop", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)

    def _slot_names(self):
        return ("velocity", "momentum" if self.momentum > 0 else None,
                "average_gradient" if self.centered else None)

    def _step_args(self):
        return self._learning_rate, self.rho, self.momentum, self.epsilon, self.centered

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adam(Optimizer):
    """Adam as in Keras 3: m += (g-m)*(1-beta_1), v += (g^2-v)*(1-beta_2),
    w -= alpha*m / (sqrt(v) + epsilon) with alpha = lr*sqrt(1-beta_2^t)/(1-beta_1^t);
    `amsgrad` uses the running maximum of v."""

    _kernel = staticmethod(_core.adam_update)
    _kernel_many = staticmethod(_core.adam_update_many)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, name="adam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.amsgrad = bool(amsgrad)

    def _slot_names(self):
        return ("momentum", "velocity", "velocity_hat" if self.amsgrad else None)

    def _step_args(self):
        # The bias corrections fold into one scalar per step, computed here in double.
        t = self._iterations + 1
        alpha = self._learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        return alpha, self.beta_1, self.beta_2, self.epsilon, self.amsgrad

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay, as Keras 3's AdamW (weight_decay 0.004 by default):
    each step first shrinks w by lr * weight_decay * w, then takes the Adam step."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, name="adamw", **kwargs):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: "
                             "weight_decay=None")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, name=name, weight_decay=weight_decay,
                         **kwargs)


def _number(owner, key, value):
    """A real number argument as a float (a string from a crafted file fails here, not in fit)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{owner}: {key} must be a number, got {value!r}")
    return float(value)


class Adagrad(Optimizer):
    """Adagrad as in Keras 3: accumulator += g^2, w -= lr*g / sqrt(accumulator + epsilon), the
    accumulators starting at `initial_accumulator_value`."""

    _kernel = staticmethod(_core.adagrad_update)
    _kernel_many = staticmethod(_core.adagrad_update_many)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 name="adagrad", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.initial_accumulator_value = _number("Adagrad", "initial_accumulator_value",
                                                 initial_accumulator_value)
        self.epsilon = _number("Adagrad", "epsilon", epsilon)

    def _slot_names(self):
        return ("accumulator",)

    def _slot_initial_value(self, name):
        return self.initial_accumulator_value

    def _step_args(self):
        return self._learning_rate, self.epsilon

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Adadelta as in Keras 3: accumulated_grad = rho*a_g + (1-rho)*g^2,
    delta = -sqrt(a_d + epsilon)*g / sqrt(a_g + epsilon), a_d = rho*a_d + (1-rho)*delta^2,
    w += lr*delta (epsilon inside both roots)."""

    _kernel = staticmethod(_core.adadelta_update)
    _kernel_many = staticmethod(_core.adadelta_update_many)

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name="adadelta", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho = _number("Adadelta", "rho", rho)
        self.epsilon = _number("Adadelta", "epsilon", epsilon)

    def _slot_names(self):
        return ("accumulated_grad", "accumulated_delta_var")

    def _step_args(self):
        return self._learning_rate, self.rho, self.epsilon

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Adamax as in Keras 3: m += (g-m)*(1-beta_1), u = max(beta_2*u, |g|),
    w -= lr*m / ((1 - beta_1^t) * (u + epsilon))."""

    _kernel = staticmethod(_core.adamax_update)
    _kernel_many = staticmethod(_core.adamax_update_many)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name="adamax", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = _number("Adamax", "beta_1", beta_1)
        self.beta_2 = _number("Adamax", "beta_2", beta_2)
        self.epsilon = _number("Adamax", "epsilon", epsilon)

    def _slot_names(self):
        return ("momentum", "norm")

    def _step_args(self):
        t = self._iterations + 1
        return (self._learning_rate, self.beta_1, self.beta_2, self.epsilon,
                1 - self.beta_1 ** t)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Nadam as in Keras 3 (Dozat's momentum schedule): with u_t = beta_1*(1 - 0.5*0.96^t),
    m += (g-m)*(1-beta_1), v += (g^2-v)*(1-beta_2),
    m_hat = u_{t+1}*m / (1 - u_prod_t*u_{t+1}) + (1-u_t)*g / (1 - u_prod_t),
    w -= lr*m_hat / (sqrt(v / (1 - beta_2^t)) + epsilon).

    u_prod_t = u_1*...*u_t is Keras' `u_product` variable: one for the optimizer, of the dtype
    of the first variable it is built with, multiplied by u_t in that dtype before each step.
    It is part of the state ('u_product', saved as float64, which holds it exactly).
    """

    _kernel = staticmethod(_core.nadam_update)
    _kernel_many = staticmethod(_core.nadam_update_many)
    _scalar_state_names = ("u_product",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name="nadam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = _number("Nadam", "beta_1", beta_1)
        self.beta_2 = _number("Nadam", "beta_2", beta_2)
        self.epsilon = _number("Nadam", "epsilon", epsilon)
        self._u_product = None  # a NumPy scalar once built

    def _build_state(self, variables):
        if self._u_product is None and variables:
            self._u_product = variables[0].value.dtype.type(1.0)

    def _next_u_product(self):
        """u_product after this step, computed as Keras does in the variable's dtype:
        u_product * beta_1 * (1 - 0.5 * 0.96^(iterations + 1))."""
        u = self._u_product if self._u_product is not None else np.float32(1.0)
        dtype = u.dtype.type
        decay = np.power(dtype(0.96), dtype(self._iterations + 1))
        return u * dtype(self.beta_1) * (dtype(1.0) - dtype(0.5) * decay)

    def _step_args(self):
        t = self._iterations + 1
        b1 = self.beta_1
        u_t = b1 * (1.0 - 0.5 * 0.96 ** t)
        u_next = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        u_product = float(self._next_u_product())
        return (self._learning_rate, self.beta_1, self.beta_2, self.epsilon,
                u_next / (1.0 - u_product * u_next), (1.0 - u_t) / (1.0 - u_product),
                1.0 - self.beta_2 ** t)

    def _finish_step(self):
        self._u_product = self._next_u_product()
        self._iterations += 1

    def _get_scalar_state(self):
        u = 1.0 if self._u_product is None else self._u_product
        return {"u_product": np.array(u, dtype=np.float64)}

    def _checked_scalar_state(self, where, state, iterations, variables):
        if "u_product" not in state:
            if iterations:
                raise ValueError(f"{where}: the state has no 'u_product' (Nadam's momentum "
                                 f"schedule product after {iterations} steps)")
            return {"u_product": None}
        u = np.asarray(state["u_product"])
        if u.shape != () or u.dtype.kind != "f" or not np.isfinite(u):
            raise ValueError(f"{where}: 'u_product' must be a finite float scalar, got "
                             f"{state['u_product']!r}")
        # Keras builds u_product in the dtype of the first variable, then assigns the saved value.
        dtype = variables[0].value.dtype.type if variables else u.dtype.type
        return {"u_product": dtype(u)}

    def _set_scalar_state(self, scalars):
        self._u_product = scalars["u_product"]

    def _summary_sizes(self):
        values, size = super()._summary_sizes()
        if self._u_product is None:
            return values, size
        return values + 1, size + self._u_product.dtype.itemsize

    def _slot_names(self):
        return ("momentum", "velocity")

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Lion(Optimizer):
    """Lion as in Keras 3: w -= lr*sign(beta_1*m + (1-beta_1)*g), then
    m = beta_2*m + (1-beta_2)*g."""

    _kernel = staticmethod(_core.lion_update)
    _kernel_many = staticmethod(_core.lion_update_many)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, name="lion", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = _number("Lion", "beta_1", beta_1)
        self.beta_2 = _number("Lion", "beta_2", beta_2)
        if self.beta_1 <= 0 or self.beta_1 > 1:
            raise ValueError("Argument `beta_1` must be in the [0, 1] range. Otherwise, the "
                             f"optimizer degenerates to SignSGD. Received: beta_1={beta_1}.")

    def _slot_names(self):
        return ("momentum",)

    def _step_args(self):
        return self._learning_rate, self.beta_1, self.beta_2

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Ftrl(Optimizer):
    """FTRL-proximal as in Keras 3: with p = -learning_rate_power and n the accumulator
    (starting at `initial_accumulator_value`), new_n = n + g^2,
    linear += g + 2*l2_shrinkage*w - (new_n^p - n^p)/lr * w,
    w = (clip(linear, -l1, l1) - linear) / (new_n^p/lr + 2*(l2 + beta/(2*lr))), n = new_n."""

    _kernel = staticmethod(_core.ftrl_update)
    _kernel_many = staticmethod(_core.ftrl_update_many)
    _update_reads_weight = True

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
                 beta=0.0, name="ftrl", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        values = {"learning_rate_power": learning_rate_power,
                  "initial_accumulator_value": initial_accumulator_value,
                  "l1_regularization_strength": l1_regularization_strength,
                  "l2_regularization_strength": l2_regularization_strength,
                  "l2_shrinkage_regularization_strength": l2_shrinkage_regularization_strength,
                  "beta": beta}
        values = {k: _number("Ftrl", k, v) for k, v in values.items()}
        if values["initial_accumulator_value"] < 0.0:
            raise ValueError("`initial_accumulator_value` needs to be positive or zero. "
                             f"Received: initial_accumulator_value={initial_accumulator_value}.")
        if values["learning_rate_power"] > 0.0:
            raise ValueError("`learning_rate_power` needs to be negative or zero. Received: "
                             f"learning_rate_power={learning_rate_power}.")
        for key in ("l1_regularization_strength", "l2_regularization_strength",
                    "l2_shrinkage_regularization_strength"):
            if values[key] < 0.0:
                raise ValueError(f"`{key}` needs to be positive or zero. Received: "
                                 f"{key}={values[key]}.")
        for key, value in values.items():
            setattr(self, key, value)

    def _slot_names(self):
        return ("accumulator", "linear")

    def _slot_initial_value(self, name):
        return self.initial_accumulator_value if name == "accumulator" else 0.0

    def _step_args(self):
        lr = self._learning_rate
        # Keras: l2_regularization_strength + beta / (2 lr), in the learning rate's arithmetic.
        extra = 0.0 if self.beta == 0 else (self.beta / (2.0 * lr) if lr else math.inf)
        return (lr, self.learning_rate_power, self.l1_regularization_strength,
                self.l2_regularization_strength + extra,
                self.l2_shrinkage_regularization_strength)

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength":
                    self.l2_shrinkage_regularization_strength,
                "beta": self.beta}


_CLASSES = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW,
            "adagrad": Adagrad, "adadelta": Adadelta, "adamax": Adamax, "nadam": Nadam,
            "lion": Lion, "ftrl": Ftrl}


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config):
    name = config.get("class_name") if isinstance(config, dict) else None
    cls = _CLASSES.get(name.lower()) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"Unknown optimizer {name!r}: use one of "
                         f"{', '.join(repr(k) for k in _CLASSES)}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """An optimizer from a name ('sgd', 'adam', 'nadam', ... as in `_CLASSES`, any case), a
    {'class_name', 'config'} dict or an Optimizer (returned as is); None gives None."""
    if identifier is None or isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")
