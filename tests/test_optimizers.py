"""Optimizers: the fused C++ steps against NumPy transcriptions of Keras 3's rules
(keras/src/optimizers/{sgd,rmsprop,adam}.py, clipping from base_optimizer.py)."""
import io
import math

import numpy as np
import pytest

from brisknn import _core, optimizers, regularizers
from brisknn.backend import Variable
from brisknn.optimizers import SGD, Adam, RMSprop

CASES = {
    "sgd": (SGD, dict(learning_rate=0.1)),
    "sgd_momentum": (SGD, dict(learning_rate=0.1, momentum=0.9)),
    "sgd_nesterov": (SGD, dict(learning_rate=0.1, momentum=0.9, nesterov=True)),
    "rmsprop": (RMSprop, dict(learning_rate=0.01)),
    "rmsprop_centered": (RMSprop, dict(learning_rate=0.01, centered=True)),
    "rmsprop_momentum": (RMSprop, dict(learning_rate=0.01, momentum=0.9)),
    "rmsprop_centered_momentum": (RMSprop, dict(learning_rate=0.01, momentum=0.5, centered=True)),
    "adam": (Adam, dict(learning_rate=0.01)),
    "adam_amsgrad": (Adam, dict(learning_rate=0.01, amsgrad=True)),
}
TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


# -- NumPy transcriptions of Keras 3 ---------------------------------------------------------
def reference_step(opt, w, g, slots, t):
    """One Keras step on copies; slots (dict of arrays) are updated in place; t = iterations."""
    cfg = opt.get_config()
    lr = cfg["learning_rate"]
    if isinstance(opt, SGD):
        if cfg["momentum"] == 0:
            return w - g * lr
        m = slots.setdefault("momentum", np.zeros_like(w))
        m[...] = m * cfg["momentum"] - g * lr
        return w + (m * cfg["momentum"] - g * lr) if cfg["nesterov"] else w + m
    if isinstance(opt, RMSprop):
        rho = cfg["rho"]
        v = slots.setdefault("velocity", np.zeros_like(w))
        v[...] = rho * v + (1 - rho) * np.square(g)
        if cfg["centered"]:
            avg = slots.setdefault("average_gradient", np.zeros_like(w))
            avg[...] = rho * avg + (1 - rho) * g
            denominator = v - np.square(avg) + cfg["epsilon"]
        else:
            denominator = v + cfg["epsilon"]
        increment = lr * g / np.sqrt(denominator)
        if cfg["momentum"] > 0:
            mom = slots.setdefault("momentum", np.zeros_like(w))
            mom[...] = cfg["momentum"] * mom + increment
            return w - mom
        return w - increment
    b1, b2 = cfg["beta_1"], cfg["beta_2"]
    alpha = lr * math.sqrt(1 - b2 ** (t + 1)) / (1 - b1 ** (t + 1))
    m = slots.setdefault("momentum", np.zeros_like(w))
    v = slots.setdefault("velocity", np.zeros_like(w))
    m += (g - m) * (1 - b1)
    v += (np.square(g) - v) * (1 - b2)
    if cfg["amsgrad"]:
        v_hat = slots.setdefault("velocity_hat", np.zeros_like(w))
        v_hat[...] = np.maximum(v_hat, v)
        v = v_hat
    return w - (m * alpha) / (np.sqrt(v) + cfg["epsilon"])


def effective_gradient(w, g, reg):
    if reg is None:
        return g
    return g + reg.l1 * np.sign(w) + 2 * reg.l2 * w


def penalty(w, reg):
    w = w.astype(np.float64)
    return 0.0 if reg is None else reg.l1 * np.abs(w).sum() + reg.l2 * np.square(w).sum()


def clip(opt, grads):
    """Keras' _clip_gradients on the effective gradients of all variables of a step."""
    if opt.clipnorm:
        return [g * (opt.clipnorm / max(np.linalg.norm(g.astype(np.float64)), opt.clipnorm))
                for g in grads]
    if opt.global_clipnorm:
        norm = math.sqrt(sum(np.square(g.astype(np.float64)).sum() for g in grads))
        return [g * (opt.global_clipnorm / max(norm, opt.global_clipnorm)) for g in grads]
    if opt.clipvalue:
        return [np.clip(g, -opt.clipvalue, opt.clipvalue) for g in grads]
    return grads


def make_variables(dtype, regs, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(6, 5), (5,)]
    return [Variable(rng.standard_normal(s).astype(dtype), f"v{i}", regularizer=r)
            for i, (s, r) in enumerate(zip(shapes, regs))]


def gradients(variables, steps, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(v.shape).astype(v.dtype) for v in variables]
            for _ in range(steps)]


def run_against_reference(opt, variables, steps, grad_scale=1.0):
    """Steps opt and the reference side by side, checking weights, slots and penalties."""
    dtype = variables[0].dtype.type
    ref_w = [v.value.copy() for v in variables]
    ref_slots = [{} for _ in variables]
    for t, grads in enumerate(gradients(variables, steps)):
        for v, g in zip(variables, grads):
            v.grad += g * dtype(grad_scale)
        # Of the weights the step starts from (the reference's differ by rounding).
        expected_penalty = sum(penalty(v.value, v.regularizer) for v in variables)
        eff = [effective_gradient(w, g * dtype(grad_scale), v.regularizer)
               for w, g, v in zip(ref_w, grads, variables)]
        eff = clip(opt, eff)
        ref_w = [reference_step(opt, w, g, s, t) for w, g, s in zip(ref_w, eff, ref_slots)]
        got_penalty = opt.apply(variables)
        assert got_penalty == pytest.approx(expected_penalty, rel=1e-12, abs=0)
        for v, w in zip(variables, ref_w):
            assert v.value.dtype == dtype
            np.testing.assert_allclose(v.value, w, **TOLERANCE[dtype])
            assert not v.grad.any()
    state = opt.get_state(variables)
    for i, slots in enumerate(ref_slots):
        for name, expected in slots.items():
            np.testing.assert_allclose(state[f"{i}/{name}"], expected, **TOLERANCE[dtype])
    assert {k for k in state if "/" in k} == {f"{i}/{n}" for i, s in enumerate(ref_slots)
                                              for n in s}


# -- update rules ----------------------------------------------------------------------------
@pytest.mark.parametrize("regularized", [False, True], ids=["plain", "l1l2"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", list(CASES))
def test_update_matches_keras_rule(case, dtype, regularized):
    cls, kwargs = CASES[case]
    regs = [regularizers.L1L2(l1=0.01, l2=0.02), regularizers.L2(0.05)] if regularized \
        else [None, None]
    variables = make_variables(dtype, regs)
    opt = cls(**kwargs)
    run_against_reference(opt, variables, steps=6)
    assert opt.iterations == 6


@pytest.mark.parametrize("clipping", [dict(clipvalue=0.5), dict(clipnorm=1.0),
                                      dict(global_clipnorm=1.5)], ids=lambda c: next(iter(c)))
@pytest.mark.parametrize("case", ["sgd_momentum", "adam"])
def test_clipping_matches_keras(case, clipping):
    cls, kwargs = CASES[case]
    variables = make_variables(np.float64, [regularizers.L1(0.1), None])
    # Gradients 4x larger than usual, so every kind of clipping is active.
    run_against_reference(cls(**kwargs, **clipping), variables, steps=5, grad_scale=4.0)


def test_penalty_and_update_do_not_depend_on_thread_count():
    # Over several chunks, so two threads split the work differently from one.
    n = 5 * (1 << 15) + 123
    results = []
    before = _core.get_num_threads()
    try:
        for threads in (1, 2):
            _core.set_num_threads(threads)
            var = Variable(np.linspace(-2, 3, n, dtype=np.float32), "w",
                           regularizer=regularizers.L1L2(0.01, 0.02))
            opt = Adam(0.01)
            pens = []
            for step in range(3):
                var.grad[...] = np.cos(np.arange(n, dtype=np.float32) * (step + 1))
                pens.append(opt.apply([var]))
            results.append((var.value.copy(), opt.get_state([var]), pens))
    finally:
        _core.set_num_threads(before)
    (w1, s1, p1), (w2, s2, p2) = results
    assert p1 == p2
    np.testing.assert_array_equal(w1, w2)
    for key in s1:
        np.testing.assert_array_equal(s1[key], s2[key])
    expected = 0.01 * np.abs(np.linspace(-2, 3, n)).sum() + 0.02 * np.square(
        np.linspace(-2, 3, n, dtype=np.float32).astype(np.float64)).sum()
    assert p1[0] == pytest.approx(expected, rel=1e-6)


def test_l1_gradient_is_zero_at_zero_weight():
    # Keras differentiates |w| as sign(w), which is 0 at w = 0: zero weights stay put.
    var = Variable(np.array([0.0, 1.0, -1.0]), "w", regularizer=regularizers.L1(0.5))
    assert SGD(1.0).apply([var]) == 1.0  # 0.5 * (0 + 1 + 1), before the step
    np.testing.assert_array_equal(var.value, [0.0, 0.5, -0.5])


# -- the seed's slide 5: gradient descent on f(x) = x^2 + 5 sin(x) ---------------------------
def df(x):
    return 2 * x + 5 * np.cos(x)


def minimum_of_f():
    x = -1.0
    for _ in range(50):  # Newton on f'(x) = 0
        x -= df(x) / (2 - 5 * math.sin(x))
    return x


@pytest.mark.parametrize("opt, steps, tol", [
    (SGD(0.1), 50, 1e-6),                      # the slide's exact setting
    (SGD(0.05, momentum=0.5), 100, 1e-6),
    (SGD(0.05, momentum=0.9, nesterov=True), 200, 1e-6),
    (RMSprop(0.001), 5000, 1e-3),              # settles within ~lr/2 of the minimum
    (Adam(0.1), 500, 1e-6),
], ids=["sgd", "momentum", "nesterov", "rmsprop", "adam"])
def test_slide5_gradient_descent_finds_minimum(opt, steps, tol):
    x = Variable(np.array([3.0]), "x")
    for _ in range(steps):
        x.grad[...] = df(x.value)
        opt.apply([x])
    x_star = minimum_of_f()
    assert x_star == pytest.approx(-1.1105, abs=1e-4)
    assert abs(x.value[0] - x_star) < tol


# -- the Keras interface ---------------------------------------------------------------------
def test_apply_zeroes_grads_and_counts_iterations():
    opt = SGD(0.1, momentum=0.9)
    variables = make_variables(np.float32, [None, None])
    for step in range(1, 4):
        for v in variables:
            v.grad[...] = 1.0
        opt.apply(variables)
        assert opt.iterations == step
        assert all(not v.grad.any() for v in variables)
    # A step with zero gradient still moves the weights: the momentum carries on.
    before = variables[0].value.copy()
    opt.apply(variables)
    assert not np.array_equal(before, variables[0].value)


def test_learning_rate_setter_takes_effect():
    opt = SGD(0.1)
    var = Variable(np.array([1.0, -2.0]), "w")
    opt.learning_rate = 0.25
    assert opt.learning_rate == 0.25 and isinstance(opt.learning_rate, float)
    var.grad[...] = [2.0, 4.0]
    opt.apply([var])
    np.testing.assert_array_equal(var.value, [0.5, -3.0])
    opt.learning_rate = 0.0
    var.grad[...] = [2.0, 4.0]
    opt.apply([var])
    np.testing.assert_array_equal(var.value, [0.5, -3.0])
    assert opt.get_config()["learning_rate"] == 0.0
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = "fast"


def test_apply_gradients_adds_then_steps():
    opt = SGD(0.5)
    a, b = Variable(np.ones(3), "a"), Variable(np.zeros((2, 2), np.float32), "b")
    a.grad[...] = 1.0  # already accumulated by a backward pass: apply_gradients adds to it
    assert opt.apply_gradients([(np.full(3, 2.0), a), (np.ones((2, 2)), b)]) == 1
    np.testing.assert_array_equal(a.value, np.full(3, -0.5))
    np.testing.assert_array_equal(b.value, np.full((2, 2), -0.5, np.float32))
    assert not a.grad.any() and not b.grad.any()
    with pytest.warns(UserWarning, match="do not exist"):
        opt.apply_gradients([(None, a), (np.ones((2, 2)), b)])
    with pytest.raises(ValueError, match=r"shape \(3,\) .*expected real numbers of shape \(2, 2\)"):
        opt.apply_gradients([(np.ones(3), b)])
    # a bad pair after a good one leaves the good one's gradient out too
    with pytest.raises(ValueError, match="dtype complex128"):
        opt.apply_gradients([(np.ones(3), a), (np.ones((2, 2)) * 1j, b)])
    assert not a.grad.any() and not b.grad.any()
    with pytest.raises(ValueError, match="No gradients"):
        opt.apply_gradients([(None, a)])


@pytest.mark.parametrize("case", list(CASES))
def test_config_round_trip(case):
    cls, kwargs = CASES[case]
    opt = cls(**kwargs, clipnorm=2.0, name="mine")
    config = opt.get_config()
    keras_keys = {"name", "learning_rate", "weight_decay", "clipnorm", "global_clipnorm",
                  "clipvalue", "use_ema", "ema_momentum", "ema_overwrite_frequency",
                  "loss_scale_factor", "gradient_accumulation_steps"}
    assert keras_keys <= set(config)
    assert config["name"] == "mine" and config["clipnorm"] == 2.0
    for key, value in kwargs.items():
        assert config[key] == value
    clone = cls.from_config(config)
    assert type(clone) is cls and clone.get_config() == config
    again = optimizers.get(optimizers.serialize(opt))
    assert type(again) is cls and again.get_config() == config


def test_keras_defaults():
    sgd, rms, adam = SGD(), RMSprop(), Adam()
    assert (sgd.learning_rate, sgd.momentum, sgd.nesterov, sgd.name) == (0.01, 0.0, False, "SGD")
    assert (rms.learning_rate, rms.rho, rms.momentum, rms.epsilon, rms.centered, rms.name) == \
        (0.001, 0.9, 0.0, 1e-7, False, "rmsprop")
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon, adam.amsgrad,
            adam.name) == (0.001, 0.9, 0.999, 1e-7, False, "adam")


def test_get_accepts_names_dicts_and_instances():
    for name, cls in [("sgd", SGD), ("SGD", SGD), ("rmsprop", RMSprop), ("RMSprop", RMSprop),
                      ("adam", Adam), ("Adam", Adam), ("ADAM", Adam)]:
        opt = optimizers.get(name)
        assert type(opt) is cls and opt.get_config() == cls().get_config()
    opt = optimizers.get({"class_name": "SGD", "config": {"learning_rate": 0.5, "momentum": 0.9}})
    assert type(opt) is SGD and opt.learning_rate == 0.5 and opt.momentum == 0.9
    assert optimizers.get(opt) is opt
    assert optimizers.get(None) is None
    assert type(optimizers.get("adamw")) is optimizers.AdamW
    with pytest.raises(ValueError, match="Unknown optimizer 'adafactor'"):
        optimizers.get("adafactor")
    with pytest.raises(ValueError, match="Could not interpret"):
        optimizers.get(42)


def test_unsupported_and_invalid_arguments_raise():
    with pytest.raises(NotImplementedError, match="use_ema"):
        Adam(use_ema=True)
    with pytest.raises(ValueError, match="weight_decay"):
        SGD(weight_decay="lots")
    with pytest.raises(NotImplementedError, match="gradient_accumulation_steps"):
        RMSprop(gradient_accumulation_steps=4)
    with pytest.raises(NotImplementedError, match="schedule"):
        Adam(learning_rate=lambda: 0.1)
    with pytest.raises(ValueError, match="only one of"):
        SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="not recognized"):
        Adam(beta1=0.9)
    with pytest.raises(ValueError, match="momentum"):
        SGD(momentum=1.5)
    with pytest.raises(ValueError, match="learning_rate"):
        SGD(learning_rate="0.1")


# -- saving and resuming ---------------------------------------------------------------------
def through_npz(state):
    """The state as a model file would hold it: plain arrays, loaded without pickle."""
    buffer = io.BytesIO()
    np.savez(buffer, **{k.replace("/", "__"): v for k, v in state.items()})
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as data:
        return {k.replace("__", "/"): data[k] for k in data.files}


@pytest.mark.parametrize("case", list(CASES))
def test_state_export_import_resumes_bitwise(case):
    cls, kwargs = CASES[case]
    regs = [regularizers.L1L2(0.01, 0.02), None]
    grads = gradients(make_variables(np.float32, regs), 6)

    def step(opt, variables, g):
        for v, gi in zip(variables, g):
            v.grad[...] = gi
        return opt.apply(variables)

    # A scheduler halves the learning rate after 3 steps; the saved state carries it.
    straight, straight_vars = cls(**kwargs), make_variables(np.float32, regs)
    straight_penalties = [step(straight, straight_vars, g) for g in grads[:3]]
    straight.learning_rate = straight.learning_rate / 2
    straight_penalties += [step(straight, straight_vars, g) for g in grads[3:]]

    first, resumed_vars = cls(**kwargs), make_variables(np.float32, regs)
    penalties = [step(first, resumed_vars, g) for g in grads[:3]]
    first.learning_rate = first.learning_rate / 2
    state = through_npz(first.get_state(resumed_vars))
    second = cls(**kwargs)
    second.set_state(state, resumed_vars)
    assert second.iterations == 3 and second.learning_rate == first.learning_rate
    penalties += [step(second, resumed_vars, g) for g in grads[3:]]

    assert penalties == straight_penalties
    for a, b in zip(straight_vars, resumed_vars):
        np.testing.assert_array_equal(a.value, b.value)
    for key, value in straight.get_state(straight_vars).items():
        np.testing.assert_array_equal(second.get_state(resumed_vars)[key], value)


def test_state_keys_and_learning_rate():
    opt = Adam(0.01, amsgrad=True)
    var = Variable(np.ones((2, 3), np.float32), "w")
    var.grad[...] = 1.0
    opt.apply([var])
    opt.learning_rate = 0.005
    state = opt.get_state()
    assert sorted(state) == ["0/momentum", "0/velocity", "0/velocity_hat", "iterations",
                             "learning_rate"]
    assert state["iterations"] == 1 and state["learning_rate"] == 0.005
    assert state["0/momentum"] is not opt._slots[var][0]  # a copy, not the live buffer
    fresh = Adam(0.01, amsgrad=True)
    fresh.set_state(state, [var])
    assert fresh.learning_rate == 0.005 and fresh.iterations == 1
    assert SGD(0.1).get_state().keys() == {"iterations", "learning_rate"}


def test_set_state_rejects_mismatches_before_changing_anything():
    opt = SGD(0.1, momentum=0.9)
    var = Variable(np.zeros((2, 3), np.float32), "w")
    good = {"iterations": np.array(2), "0/momentum": np.ones((2, 3), np.float32)}
    bad_states = {
        "has shape": dict(good, **{"0/momentum": np.ones((3, 2), np.float32)}),
        "dtype float64": dict(good, **{"0/momentum": np.ones((2, 3))}),
        "unexpected key '0/velocity'": dict(good, **{"0/velocity": np.ones((2, 3), np.float32)}),
        "unexpected key '1/momentum'": dict(good, **{"1/momentum": np.ones((2, 3), np.float32)}),
        "no 'iterations'": {"0/momentum": np.ones((2, 3), np.float32)},
        "non-negative integer": dict(good, iterations=np.array(1.5)),
    }
    for message, state in bad_states.items():
        with pytest.raises(ValueError, match=message):
            opt.set_state(state, [var])
        assert opt.iterations == 0 and not opt._slots
    opt.set_state(good, [var])
    assert opt.iterations == 2
    var.grad[...] = 0.0
    opt.apply([var])  # zero gradient: the restored momentum alone moves w
    np.testing.assert_allclose(var.value, np.full((2, 3), 0.9, np.float32))


# -- bad input at the kernel boundary --------------------------------------------------------
def test_core_rejects_mismatched_shapes_and_dtypes():
    w = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"sgd_update: grad has shape \(4, 3\), expected \(3, 4\)"):
        _core.sgd_update(w, np.zeros((4, 3), np.float32), None, 0.1, 0.0, False)
    with pytest.raises(TypeError, match="sgd_update: grad has dtype float64, expected float32"):
        _core.sgd_update(w, np.zeros((3, 4)), None, 0.1, 0.0, False)
    with pytest.raises(TypeError, match="expected float32 or float64"):
        _core.sgd_update(np.zeros(3, np.int32), np.zeros(3, np.int32), None, 0.1, 0.0, False)
    with pytest.raises(ValueError, match=r"adam_update: v has shape \(3,\), expected \(3, 4\)"):
        _core.adam_update(w, np.zeros_like(w), np.zeros_like(w), np.zeros(3, np.float32), None,
                          0.1, 0.9, 0.999, 1e-7, False)
    with pytest.raises(TypeError, match="rmsprop_update: velocity has dtype float64"):
        _core.rmsprop_update(w, np.zeros_like(w), np.zeros((3, 4)), None, None, 0.1, 0.9, 0.0,
                             1e-7, False)
    with pytest.raises(TypeError, match="momentum_slot must be a numpy array"):
        _core.sgd_update(w, np.zeros_like(w), [0.0] * 12, 0.1, 0.9, False)


def test_core_rejects_missing_or_unused_slots():
    w = np.zeros(4)
    with pytest.raises(ValueError, match="momentum != 0 needs the momentum_slot buffer"):
        _core.sgd_update(w, np.zeros(4), None, 0.1, 0.9, False)
    with pytest.raises(ValueError, match="only used with momentum != 0"):
        _core.sgd_update(w, np.zeros(4), np.zeros(4), 0.1, 0.0, False)
    with pytest.raises(ValueError, match="centered=True needs the average_gradient buffer"):
        _core.rmsprop_update(w, np.zeros(4), np.zeros(4), None, None, 0.1, 0.9, 0.0, 1e-7, True)
    with pytest.raises(ValueError, match="amsgrad=True needs the v_hat buffer"):
        _core.adam_update(w, np.zeros(4), np.zeros(4), np.zeros(4), None, 0.1, 0.9, 0.999, 1e-7,
                          True)


def test_core_rejects_unsafe_buffers():
    w = np.zeros((4, 4))
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.sgd_update(w[:, ::2], np.zeros((4, 2)), None, 0.1, 0.0, False)
    read_only = np.zeros((4, 4))
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="grad is read-only"):
        _core.sgd_update(w, read_only, None, 0.1, 0.0, False)
    with pytest.raises(ValueError, match="value and grad share memory"):
        _core.sgd_update(w, w, None, 0.1, 0.0, False)
    buffer = np.zeros(8)
    with pytest.raises(ValueError, match="m and v share memory"):
        _core.adam_update(np.zeros(4), np.zeros(4), buffer[:4], buffer[:4], None,
                          0.1, 0.9, 0.999, 1e-7, False)


def test_core_effective_gradient_square_sum():
    rng = np.random.default_rng(3)
    w, g = rng.standard_normal(1000), rng.standard_normal(1000)
    expected = np.square(g + 0.1 * np.sign(w) + 2 * 0.3 * w).sum()
    assert _core.effective_gradient_square_sum(w, g, 0.1, 0.3) == pytest.approx(expected, 1e-12)
    assert _core.effective_gradient_square_sum(w, g) == pytest.approx(np.square(g).sum(), 1e-12)


def test_a_scalar_variable_stays_a_scalar_and_descends_to_the_slide5_minimum():
    x = Variable(np.array(3.0), "x")
    assert x.shape == ()
    opt = optimizers.SGD(learning_rate=0.1)
    for _ in range(50):
        opt.apply_gradients([(2 * x.value + 5 * np.cos(x.value), x)])
    assert x.shape == () and abs(float(x.value) + 1.1105) < 1e-3


# -- all weights in one call -----------------------------------------------------------------
def _many_case(case, dtypes, seed=5):
    """Weights of sizes around the kernels' block (1024) and chunk (32768) lengths, some
    regularized, each with a slot tuple as Optimizer.apply builds it."""
    cls, kwargs = CASES[case]
    opt = cls(**kwargs)
    rng = np.random.default_rng(seed)
    sizes = [(2 * (1 << 15) + 77,), (1 << 15, 2), (130, 9), (1,), (1024,), (0,), (5, 3)]
    regs = [regularizers.L1L2(0.01, 0.02), None, regularizers.L2(0.1), None,
            regularizers.L1(0.3), regularizers.L1(0.1), None]
    variables = [Variable(rng.standard_normal(s).astype(dtypes[i % len(dtypes)]), f"w{i}",
                          regularizer=r) for i, (s, r) in enumerate(zip(sizes, regs))]
    for v in variables:
        v.grad[...] = rng.standard_normal(v.shape) * 3
    return opt, variables


def _as_params(opt, variables, scales):
    params = []
    for v, scale in zip(variables, scales):
        slots = opt._slots.get(v) or opt._create_slots(v)
        for slot in slots:
            if slot is not None:
                slot[...] = np.abs(np.sin(np.arange(slot.size))).reshape(slot.shape)
        reg = v.regularizer
        l1, l2 = (reg.l1, reg.l2) if reg is not None else (0.0, 0.0)
        params.append((v.value, v.grad, *slots, l1, l2, scale))
    return params


@pytest.mark.parametrize("case", list(CASES))
def test_many_weights_in_one_call_equal_one_call_each_bitwise(case):
    before = _core.get_num_threads()
    try:
        results = []
        for threads, many in ((1, False), (1, True), (2, True)):
            _core.set_num_threads(threads)
            opt, variables = _many_case(case, [np.float32, np.float64])
            scales = [1.0, 0.5, 0.25, 1.0, 2.0, 1.0, 0.75]
            params = _as_params(opt, variables, scales)
            args = opt._step_args()
            if many:
                total = opt._kernel_many(params, *args, 0.7)
            else:
                total = 0.0
                for value, grad, *rest in params:
                    *slots, l1, l2, scale = rest
                    total += opt._kernel(value, grad, *slots, *args, l1, l2, scale, 0.7)
            results.append((total, [[a.copy() for a in p[:-3] if a is not None]
                                    for p in params]))
    finally:
        _core.set_num_threads(before)
    (total, arrays), others = results[0], results[1:]
    assert total > 0
    for other_total, other_arrays in others:
        assert other_total == total  # the same sum, in the same order
        for mine, theirs in zip(arrays, other_arrays):
            for a, b in zip(mine, theirs):
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(a, b)
    for weight_arrays in arrays:
        assert not weight_arrays[1].any()  # grad zeroed


def test_apply_steps_a_variable_listed_twice_twice():
    var = Variable(np.ones(4, np.float32), "w")
    once, twice = SGD(0.5), SGD(0.5)
    var.grad[...] = 1.0
    twice.apply([var, var])  # the second step sees the zeroed gradient
    np.testing.assert_array_equal(var.value, np.full(4, 0.5, np.float32))
    other = Variable(np.ones(4, np.float32), "w2")
    other.grad[...] = 1.0
    once.apply([other])
    np.testing.assert_array_equal(other.value, var.value)


def test_core_many_rejects_bad_params():
    w, g = np.zeros(4, np.float32), np.zeros(4, np.float32)
    m, v = np.zeros(4, np.float32), np.zeros(4, np.float32)
    ok = (w, g, m, v, None, 0.0, 0.0, 1.0)
    assert _core.adam_update_many([], 0.1, 0.9, 0.999, 1e-7, False) == 0.0
    with pytest.raises(TypeError, match=r"adam_update_many: params\[1\] must be a tuple"):
        _core.adam_update_many([ok, (w, g)], 0.1, 0.9, 0.999, 1e-7, False)
    with pytest.raises(ValueError, match=r"params\[0\] v and params\[1\] m share memory"):
        _core.adam_update_many([ok, (np.zeros(4, np.float32), np.zeros(4, np.float32), v,
                                     np.zeros(4, np.float32), None, 0.0, 0.0, 1.0)],
                               0.1, 0.9, 0.999, 1e-7, False)
    with pytest.raises(ValueError, match=r"adam_update_many: params\[0\]: v has shape \(3,\), "
                                         r"expected \(4,\)"):
        _core.adam_update_many([(w, g, m, np.zeros(3, np.float32), None, 0.0, 0.0, 1.0)],
                               0.1, 0.9, 0.999, 1e-7, False)
    with pytest.raises(ValueError, match=r"params\[0\]: amsgrad=True needs the v_hat buffer"):
        _core.adam_update_many([ok], 0.1, 0.9, 0.999, 1e-7, True)
    with pytest.raises(ValueError, match="momentum != 0 needs the momentum_slot buffer"):
        _core.sgd_update_many([(w, g, None, 0.0, 0.0, 1.0)], 0.1, 0.9, False)
    with pytest.raises(TypeError, match=r"rmsprop_update_many: params\[0\]: expected float32 or "
                                        "float64"):
        i = np.zeros(4, np.int32)
        _core.rmsprop_update_many([(i, i, i, None, None, 0.0, 0.0, 1.0)], 0.1, 0.9, 0.0, 1e-7,
                                  False)
    assert not w.any() and not m.any()  # nothing ran


def test_learning_rate_and_iterations_have_keras_variable_calls_and_stay_numbers():
    import json
    from brisknn import callbacks, layers, models
    opt = Adam(learning_rate=0.01)
    lr = opt.learning_rate
    assert lr == 0.01 and isinstance(lr, float) and f"{lr:.3f}" == "0.010"
    assert lr * 2 == 0.02 and 1 - lr == 0.99 and lr < 0.1 and json.dumps(lr) == "0.01"
    assert lr.numpy() == np.float32(0.01) and lr.numpy().dtype == np.float32
    lr.assign(0.002)
    assert opt.learning_rate == 0.002 and lr.numpy() == np.float32(0.002)
    opt.learning_rate.assign(np.float32(0.5))
    assert opt.learning_rate == 0.5 and opt.get_config()["learning_rate"] == 0.5
    opt.learning_rate.assign(opt.learning_rate * 0.1)
    assert opt.learning_rate == pytest.approx(0.05)
    with pytest.raises(ValueError):
        opt.learning_rate.assign("fast")
    it = opt.iterations
    assert it == 0 and isinstance(it, int) and it.numpy() == 0 and it.numpy().dtype == np.int64
    model = models.Sequential([layers.Input((2,)), layers.Dense(1)])
    model.compile(opt, "mse")
    model.fit(np.ones((4, 2)), np.ones(4), batch_size=2, epochs=2, verbose=0,
              callbacks=[callbacks.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5,
                                                     min_delta=10.0)])
    assert opt.iterations == 4 and it.numpy() == 4 and range(10)[opt.iterations] == 4
    assert opt.learning_rate == pytest.approx(0.05 * 0.5)  # one plateau in two epochs
    opt.iterations.assign(7)
    assert opt.iterations == 7


@pytest.mark.parametrize("name", ["sgd_momentum", "rmsprop", "adam", "adamw"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_decoupled_weight_decay_matches_keras(name, dtype):
    # Keras' apply: clip the gradients, then w -= w * weight_decay * lr, then the update step
    # (with the gradient of the weights before the decay, regularizer included).
    if name == "adamw":
        opt = optimizers.AdamW(learning_rate=0.01, weight_decay=0.05)
    else:
        cls, kwargs = CASES[name]
        opt = cls(weight_decay=0.05, **kwargs)
    variables = make_variables(dtype, [regularizers.L2(0.01), None])
    opt.exclude_from_weight_decay(var_names=["v1"])  # the second variable keeps its size
    ref_w = [v.value.copy() for v in variables]
    ref_slots = [{} for _ in variables]
    lr = opt.get_config()["learning_rate"]
    for t, grads in enumerate(gradients(variables, 3)):
        for v, g in zip(variables, grads):
            v.grad += g
        eff = [effective_gradient(w, g, v.regularizer)
               for w, g, v in zip(ref_w, grads, variables)]
        decayed = [ref_w[0] - ref_w[0] * 0.05 * lr, ref_w[1]]
        ref_w = [reference_step(opt, w, g, s, t) for w, g, s in zip(decayed, eff, ref_slots)]
        opt.apply(variables)
        for v, w in zip(variables, ref_w):
            np.testing.assert_allclose(v.value, w, **TOLERANCE[dtype])
    assert opt.get_config()["weight_decay"] == 0.05


def test_adamw_defaults_and_round_trip_as_keras():
    opt = optimizers.AdamW()
    config = opt.get_config()
    assert (config["name"], config["weight_decay"], config["learning_rate"]) == \
        ("adamw", 0.004, 0.001)
    clone = optimizers.deserialize(optimizers.serialize(opt))
    assert type(clone) is optimizers.AdamW and clone.get_config() == config
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)


def test_apply_gradients_applies_exactly_the_given_gradients_and_lr_copies():
    import copy
    import pickle
    from brisknn import regularizers
    var = Variable(np.ones(3), "w", regularizer=regularizers.L2(0.5))
    opt = SGD(0.1)
    opt.apply_gradients([(np.full(3, 2.0), var)])
    np.testing.assert_allclose(var.value, 1 - 0.1 * 2.0)  # Keras: no penalty gradient added
    assert copy.deepcopy(opt.learning_rate) == 0.1
    assert pickle.loads(pickle.dumps(opt.iterations)) == 1


def test_variables_take_part_in_numpy_arithmetic_and_indexing():
    var = Variable(np.array([1.0, -2.0, 3.0]), "w")
    np.testing.assert_array_equal(var * 2, [2.0, -4.0, 6.0])
    np.testing.assert_array_equal(-var, [-1.0, 2.0, -3.0])
    np.testing.assert_array_equal(abs(var), [1.0, 2.0, 3.0])
    assert var[1] == -2.0 and len(var) == 3 and float(np.sum(var)) == 2.0
    copy = var[:]
    copy[0] = 9.0  # indexing gives a copy: the weight changes only through assign()
    assert var.value[0] == 1.0
    assert var == var and var != Variable(np.zeros(3), "v") and {var: 1}[var] == 1
