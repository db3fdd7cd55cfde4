"""Adagrad, Adadelta, Adamax, Nadam, Lion and Ftrl: the fused C++ steps against NumPy
transcriptions of Keras 3's update_step (keras/src/optimizers/{adagrad,adadelta,adamax,nadam,
lion,ftrl}.py), the prepared Dense step against the general one, the slide-5 minimum, config,
state and saving."""
import math

import numpy as np
import pytest

import brisknn
from brisknn import _core, layers, models, optimizers, regularizers
from brisknn.backend import Variable
from brisknn.optimizers import Adadelta, Adagrad, Adamax, Ftrl, Lion, Nadam
from test_dense_step import assert_same_state, both_ways, mlp
from test_optimizers import (TOLERANCE, clip, effective_gradient, gradients, make_variables,
                             minimum_of_f, penalty, through_npz)
from test_optimizers import df as slide5_gradient

CASES = {
    "adagrad": (Adagrad, dict(learning_rate=0.1)),
    "adagrad_initial": (Adagrad, dict(learning_rate=0.05, initial_accumulator_value=0.5,
                                      epsilon=1e-3)),
    "adadelta": (Adadelta, dict(learning_rate=1.0)),
    "adadelta_rho": (Adadelta, dict(learning_rate=0.5, rho=0.8, epsilon=1e-4)),
    "adamax": (Adamax, dict(learning_rate=0.01)),
    "adamax_betas": (Adamax, dict(learning_rate=0.02, beta_1=0.5, beta_2=0.9, epsilon=1e-3)),
    "nadam": (Nadam, dict(learning_rate=0.01)),
    "nadam_betas": (Nadam, dict(learning_rate=0.02, beta_1=0.8, beta_2=0.95, epsilon=1e-4)),
    "lion": (Lion, dict(learning_rate=0.01)),
    "lion_betas": (Lion, dict(learning_rate=0.02, beta_1=0.5, beta_2=0.9)),
    "ftrl": (Ftrl, dict(learning_rate=0.1)),
    "ftrl_all": (Ftrl, dict(learning_rate=0.2, learning_rate_power=-0.3,
                            initial_accumulator_value=0.4, l1_regularization_strength=0.05,
                            l2_regularization_strength=0.1,
                            l2_shrinkage_regularization_strength=0.02, beta=0.3)),
    "ftrl_fixed_rate": (Ftrl, dict(learning_rate=0.3, learning_rate_power=0.0,
                                   l1_regularization_strength=0.5)),
}
SLOT_NAMES = {Adagrad: ["accumulator"], Adadelta: ["accumulated_grad", "accumulated_delta_var"],
              Adamax: ["momentum", "norm"], Nadam: ["momentum", "velocity"], Lion: ["momentum"],
              Ftrl: ["accumulator", "linear"]}


# -- NumPy transcriptions of Keras 3's update_step, in the variable's dtype ---------------------
def keras_u_product(u, beta_1, iterations):
    """Nadam._backend_update_step: u_product * beta_1 * (1 - 0.5 * 0.96^(iterations + 1)), in
    u_product's own dtype."""
    d = u.dtype.type
    return u * d(beta_1) * (d(1.0) - d(0.5) * np.power(d(0.96), d(iterations + 1)))


def reference_step(opt, w, g, slots, t, u_product=None):
    """One Keras step for one weight (copies; slots, a dict by Keras' names, updated in place);
    t = iterations before the step; u_product: Nadam's, already advanced for this step."""
    cfg = opt.get_config()
    d = w.dtype.type
    lr = d(cfg["learning_rate"])

    def slot(name, initial=0.0):
        return slots.setdefault(name, np.full_like(w, initial))

    if isinstance(opt, Adagrad):
        acc = slot("accumulator", cfg["initial_accumulator_value"])
        acc += np.square(g)
        return w - (lr * g) / np.sqrt(acc + d(cfg["epsilon"]))
    if isinstance(opt, Adadelta):
        rho, eps = cfg["rho"], d(cfg["epsilon"])
        acc_g, acc_d = slot("accumulated_grad"), slot("accumulated_delta_var")
        acc_g[...] = d(rho) * acc_g + d(1 - rho) * np.square(g)
        delta = -(np.sqrt(acc_d + eps) * g / np.sqrt(acc_g + eps))
        acc_d[...] = d(rho) * acc_d + d(1 - rho) * np.square(delta)
        return w + lr * delta
    if isinstance(opt, Adamax):
        b1 = cfg["beta_1"]
        beta_1_power = np.power(d(b1), d(t + 1))
        m, u = slot("momentum"), slot("norm")
        m += (g - m) * d(1 - b1)
        u[...] = np.maximum(d(cfg["beta_2"]) * u, np.abs(g))
        return w - (lr * m) / ((d(1) - beta_1_power) * (u + d(cfg["epsilon"])))
    if isinstance(opt, Nadam):
        b1, b2 = d(cfg["beta_1"]), d(cfg["beta_2"])
        u_t = b1 * (d(1.0) - d(0.5) * np.power(d(0.96), d(t + 1)))
        u_t_1 = b1 * (d(1.0) - d(0.5) * np.power(d(0.96), d(t + 2)))
        u_product_t = d(u_product)
        u_product_t_1 = u_product_t * u_t_1
        m, v = slot("momentum"), slot("velocity")
        m += (g - m) * (d(1) - b1)
        v += (np.square(g) - v) * (d(1) - b2)
        m_hat = u_t_1 * m / (d(1) - u_product_t_1) + (d(1) - u_t) * g / (d(1) - u_product_t)
        v_hat = v / (d(1) - np.power(b2, d(t + 1)))
        return w - (m_hat * lr) / (np.sqrt(v_hat) + d(cfg["epsilon"]))
    if isinstance(opt, Lion):
        b1, b2 = d(cfg["beta_1"]), d(cfg["beta_2"])
        m = slot("momentum")
        new_w = w - lr * np.sign(m * b1 + g * (d(1) - b1))
        m[...] = m * b2 + g * (d(1) - b2)
        return new_w
    # Ftrl
    p = -cfg["learning_rate_power"]
    acc = slot("accumulator", cfg["initial_accumulator_value"])
    linear = slot("linear")
    l1 = cfg["l1_regularization_strength"]
    l2 = cfg["l2_regularization_strength"] + cfg["beta"] / (2.0 * cfg["learning_rate"])
    grad_to_use = g + d(2 * cfg["l2_shrinkage_regularization_strength"]) * w
    new_acc = acc + np.square(g)
    linear += grad_to_use - (np.power(new_acc, d(p)) - np.power(acc, d(p))) / lr * w
    quadratic = np.power(new_acc, d(p)) / lr + d(2 * l2)
    new_w = (np.clip(linear, d(-l1), d(l1)) - linear) / quadratic
    acc[...] = new_acc
    return new_w


def run_against_reference(opt, variables, steps, grad_scale=1.0):
    """Steps opt and the reference side by side: weights, penalties, slots (by Keras' names)
    and, for Nadam, the stored u_product, which must be Keras' to the bit."""
    ref_w = [v.value.copy() for v in variables]
    ref_slots = [{} for _ in variables]
    u_product = variables[0].value.dtype.type(1.0)  # Keras: the first variable's dtype
    for t, grads in enumerate(gradients(variables, steps)):
        for v, g in zip(variables, grads):
            v.grad += g * v.dtype.type(grad_scale)
        expected_penalty = sum(penalty(v.value, v.regularizer) for v in variables)
        eff = clip(opt, [effective_gradient(w, g * v.dtype.type(grad_scale), v.regularizer)
                         for w, g, v in zip(ref_w, grads, variables)])
        if isinstance(opt, Nadam):
            u_product = keras_u_product(u_product, opt.beta_1, t)
        ref_w = [reference_step(opt, w, g, s, t, u_product)
                 for w, g, s in zip(ref_w, eff, ref_slots)]
        assert opt.apply(variables) == pytest.approx(expected_penalty, rel=1e-12, abs=0)
        for v, w in zip(variables, ref_w):
            np.testing.assert_allclose(v.value, w, **TOLERANCE[v.dtype.type])
            assert not v.grad.any()
        if isinstance(opt, Nadam):
            assert opt.get_state()["u_product"] == u_product
            assert opt._u_product.dtype == u_product.dtype
    state = opt.get_state(variables)
    for i, (v, slots) in enumerate(zip(variables, ref_slots)):
        assert sorted(slots) == sorted(SLOT_NAMES[type(opt)])
        for name, expected in slots.items():
            assert state[f"{i}/{name}"].dtype == v.dtype
            np.testing.assert_allclose(state[f"{i}/{name}"], expected, **TOLERANCE[v.dtype.type])


@pytest.mark.parametrize("regularized", [False, True], ids=["plain", "l1l2"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", list(CASES))
def test_update_matches_keras_rule(case, dtype, regularized):
    cls, kwargs = CASES[case]
    regs = [regularizers.L1L2(l1=0.01, l2=0.02), regularizers.L2(0.05)] if regularized \
        else [None, None]
    opt = cls(**kwargs)
    run_against_reference(opt, make_variables(dtype, regs), steps=6)
    assert opt.iterations == 6


@pytest.mark.parametrize("clipping", [dict(clipvalue=0.5), dict(clipnorm=1.0),
                                      dict(global_clipnorm=1.5)], ids=lambda c: next(iter(c)))
@pytest.mark.parametrize("case", ["adagrad", "adadelta", "adamax", "nadam", "lion", "ftrl_all"])
def test_clipping_matches_keras(case, clipping):
    cls, kwargs = CASES[case]
    variables = make_variables(np.float64, [regularizers.L1(0.1), None])
    run_against_reference(cls(**kwargs, **clipping), variables, steps=4, grad_scale=4.0)


@pytest.mark.parametrize("case", ["adagrad", "nadam", "lion", "ftrl", "ftrl_all"])
def test_decoupled_weight_decay_matches_keras(case):
    # Keras shrinks w by lr * weight_decay * w, then takes the update with the gradient of the
    # weights before the shrinking (regularizer included); Ftrl's update reads the shrunk w.
    cls, kwargs = CASES[case]
    opt = cls(weight_decay=0.05, **kwargs)
    variables = make_variables(np.float64, [regularizers.L1L2(0.01, 0.02), None])
    ref_w = [v.value.copy() for v in variables]
    ref_slots = [{}, {}]
    u_product = np.float64(1.0)
    lr = opt.get_config()["learning_rate"]
    for t, grads in enumerate(gradients(variables, 4)):
        for v, g in zip(variables, grads):
            v.grad += g
        expected_penalty = sum(penalty(v.value, v.regularizer) for v in variables)
        eff = [effective_gradient(w, g, v.regularizer)
               for w, g, v in zip(ref_w, grads, variables)]
        decayed = [w - w * 0.05 * lr for w in ref_w]
        u_product = keras_u_product(u_product, getattr(opt, "beta_1", 0.0), t)
        ref_w = [reference_step(opt, w, g, s, t, u_product)
                 for w, g, s in zip(decayed, eff, ref_slots)]
        assert opt.apply(variables) == pytest.approx(expected_penalty, rel=1e-12, abs=0)
        for v, w in zip(variables, ref_w):
            np.testing.assert_allclose(v.value, w, **TOLERANCE[np.float64])
            assert not v.grad.any()


def test_nadam_u_product_follows_keras_across_steps_and_dtypes():
    # One u_product for the optimizer, in the dtype of the first variable it is built with
    # (here float32), multiplied in that dtype; a float64 weight reads it cast to float64.
    rng = np.random.default_rng(4)
    variables = [Variable(rng.standard_normal((3, 2)).astype(np.float32), "a"),
                 Variable(rng.standard_normal(4), "b")]
    opt = Nadam(0.01)
    u = np.float32(1.0)
    for t in range(40):
        for v in variables:
            v.grad[...] = rng.standard_normal(v.shape)
        opt.apply(variables)
        u = keras_u_product(u, 0.9, t)
        assert opt._u_product.dtype == np.float32 and opt._u_product == u
    closed_form = math.prod(0.9 * (1 - 0.5 * 0.96 ** k) for k in range(1, 41))
    assert float(u) == pytest.approx(closed_form, rel=1e-5)
    state = opt.get_state(variables)
    assert state["u_product"].dtype == np.float64 and state["u_product"] == u


# -- all weights in one call, any thread count ---------------------------------------------------
@pytest.mark.parametrize("case", ["adagrad", "adadelta", "adamax", "nadam", "lion", "ftrl_all"])
def test_many_weights_in_one_call_equal_one_call_each_bitwise(case):
    cls, kwargs = CASES[case]
    sizes = [(2 * (1 << 15) + 77,), (130, 9), (1,), (0,), (5, 3)]
    regs = [regularizers.L1L2(0.01, 0.02), None, regularizers.L2(0.1), regularizers.L1(0.1), None]
    scales = [1.0, 0.5, 1.0, 2.0, 0.75]
    before = _core.get_num_threads()
    results = []
    try:
        for threads, many in ((1, False), (1, True), (2, True)):
            _core.set_num_threads(threads)
            rng = np.random.default_rng(5)
            opt = cls(**kwargs)
            variables = [Variable(rng.standard_normal(s).astype([np.float32, np.float64][i % 2]),
                                  f"w{i}", regularizer=r)
                         for i, (s, r) in enumerate(zip(sizes, regs))]
            opt.build(variables)
            for v in variables:
                v.grad[...] = rng.standard_normal(v.shape) * 3
            params = opt._kernel_params(variables, scales, True)
            args = opt._step_args()
            if many:
                total = opt._kernel_many(params, *args, 0.7)
            else:
                total = sum(opt._kernel(value, grad, *rest[:-3], *args, *rest[-3:], 0.7)
                            for value, grad, *rest in params)
            results.append((total, [[a.copy() for a in p[:-3]] for p in params]))
    finally:
        _core.set_num_threads(before)
    (total, arrays), others = results[0], results[1:]
    assert total > 0
    for other_total, other_arrays in others:
        assert other_total == total
        for mine, theirs in zip(arrays, other_arrays):
            for a, b in zip(mine, theirs):
                assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert all(not weight_arrays[1].any() for weight_arrays in arrays)  # grads zeroed


# -- the prepared Dense step ---------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", [
    "adagrad", "adadelta", "adamax", "nadam", "lion", "ftrl",
    lambda: optimizers.Adagrad(0.05, initial_accumulator_value=0.3, clipvalue=0.01),
    lambda: optimizers.Nadam(optimizers.schedules.ExponentialDecay(0.01, 2, 0.5)),
    lambda: optimizers.Lion(0.003, beta_1=0.5, clipvalue=0.05),
    lambda: optimizers.Ftrl(0.05, learning_rate_power=-0.3, l1_regularization_strength=0.01,
                            l2_shrinkage_regularization_strength=0.01, beta=0.1)],
    ids=["adagrad", "adadelta", "adamax", "nadam", "lion", "ftrl", "adagrad_clip",
         "nadam_schedule", "lion_clip", "ftrl_all"])
def test_prepared_dense_step_same_bits_as_the_general_step(monkeypatch, optimizer):
    fast, slow, a, b = both_ways(monkeypatch, lambda: mlp(
        optimizer=optimizer, kernel_regularizer=regularizers.L1L2(1e-3, 1e-2)))
    assert a == b
    assert_same_state(fast, slow)
    assert fast.optimizer.get_state().keys() == slow.optimizer.get_state().keys()


# -- the seed's slide 5: f(x) = x^2 + 5 sin(x) ---------------------------------------------------
@pytest.mark.parametrize("make, steps", [
    (lambda: Adagrad(1.0), 300),
    (lambda: Adadelta(0.5), 3000),  # with lr 1.0 it keeps circling within ~0.01
    (lambda: Adamax(0.1), 500),
    (lambda: Nadam(0.1), 500),
    # Steps of exactly lr: a decaying rate lets it settle.
    (lambda: Lion(optimizers.schedules.ExponentialDecay(0.05, 100, 0.5)), 2000),
    (lambda: Ftrl(1.0), 300),
], ids=["adagrad", "adadelta", "adamax", "nadam", "lion", "ftrl"])
def test_slide5_finds_the_minimum(make, steps):
    opt = make()
    x = Variable(np.array([3.0]), "x")
    for _ in range(steps):
        x.grad[...] = slide5_gradient(x.value)
        opt.apply([x])
    assert abs(x.value[0] - minimum_of_f()) < 1e-6


# -- the Keras interface -------------------------------------------------------------------------
def test_keras_defaults_and_names():
    expected = {
        Adagrad: dict(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                      name="adagrad"),
        Adadelta: dict(learning_rate=0.001, rho=0.95, epsilon=1e-7, name="adadelta"),
        Adamax: dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="adamax"),
        Nadam: dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="nadam"),
        Lion: dict(learning_rate=0.001, beta_1=0.9, beta_2=0.99, name="lion"),
        Ftrl: dict(learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                   l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                   l2_shrinkage_regularization_strength=0.0, beta=0.0, name="ftrl"),
    }
    base = dict(weight_decay=None, clipnorm=None, global_clipnorm=None, clipvalue=None,
                use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                loss_scale_factor=None, gradient_accumulation_steps=None)
    for cls, values in expected.items():
        assert cls().get_config() == {**base, **values}


@pytest.mark.parametrize("case", list(CASES))
def test_config_round_trip(case):
    cls, kwargs = CASES[case]
    opt = cls(**kwargs, clipnorm=2.0, weight_decay=0.01, name="mine")
    config = opt.get_config()
    assert config["name"] == "mine" and config["clipnorm"] == 2.0
    for key, value in kwargs.items():
        assert config[key] == value
    clone = cls.from_config(config)
    assert type(clone) is cls and clone.get_config() == config
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert type(again) is cls and again.get_config() == config
    assert optimizers.serialize(opt)["class_name"] == cls.__name__


def test_get_accepts_the_names():
    for name, cls in [("adagrad", Adagrad), ("Adagrad", Adagrad), ("adadelta", Adadelta),
                      ("adamax", Adamax), ("Adamax", Adamax), ("nadam", Nadam),
                      ("Nadam", Nadam), ("lion", Lion), ("Lion", Lion), ("ftrl", Ftrl),
                      ("Ftrl", Ftrl)]:
        opt = optimizers.get(name)
        assert type(opt) is cls and opt.get_config() == cls().get_config()
    opt = optimizers.get({"class_name": "Nadam", "config": {"learning_rate": 0.5}})
    assert type(opt) is Nadam and opt.learning_rate == 0.5


def test_invalid_arguments_raise_as_keras():
    with pytest.raises(ValueError, match="beta_1"):
        Lion(beta_1=0.0)
    with pytest.raises(ValueError, match="beta_1"):
        Lion(beta_1=1.5)
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        Ftrl(initial_accumulator_value=-0.1)
    with pytest.raises(ValueError, match="learning_rate_power"):
        Ftrl(learning_rate_power=0.5)
    for key in ("l1_regularization_strength", "l2_regularization_strength",
                "l2_shrinkage_regularization_strength"):
        with pytest.raises(ValueError, match=key):
            Ftrl(**{key: -1.0})
    with pytest.raises(ValueError, match="epsilon"):
        Adagrad(epsilon="small")
    with pytest.raises(ValueError, match="not recognized"):
        Nadam(beta1=0.9)
    with pytest.raises(NotImplementedError, match="use_ema"):
        Adamax(use_ema=True)
    with pytest.raises(ValueError, match="only one of"):
        Adadelta(clipnorm=1.0, global_clipnorm=1.0)


# -- state, saving and resuming ------------------------------------------------------------------
@pytest.mark.parametrize("case", ["adagrad_initial", "adadelta", "adamax", "nadam", "lion",
                                  "ftrl_all"])
def test_state_export_import_resumes_bitwise(case):
    cls, kwargs = CASES[case]
    regs = [regularizers.L1L2(0.01, 0.02), None]
    grads = gradients(make_variables(np.float32, regs), 6)

    def step(opt, variables, g):
        for v, gi in zip(variables, g):
            v.grad[...] = gi
        return opt.apply(variables)

    straight, straight_vars = cls(**kwargs), make_variables(np.float32, regs)
    straight_penalties = [step(straight, straight_vars, g) for g in grads]
    first, resumed_vars = cls(**kwargs), make_variables(np.float32, regs)
    penalties = [step(first, resumed_vars, g) for g in grads[:3]]
    second = cls(**kwargs)
    second.set_state(through_npz(first.get_state(resumed_vars)), resumed_vars)
    penalties += [step(second, resumed_vars, g) for g in grads[3:]]
    assert penalties == straight_penalties
    for a, b in zip(straight_vars, resumed_vars):
        assert a.value.tobytes() == b.value.tobytes()
    expected = straight.get_state(straight_vars)
    got = second.get_state(resumed_vars)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key].dtype == value.dtype and got[key].tobytes() == value.tobytes()


def test_nadam_set_state_checks_u_product():
    var = Variable(np.ones(3, np.float32), "w")
    opt = Nadam()
    good = {"iterations": np.array(2), "0/momentum": np.zeros(3, np.float32),
            "0/velocity": np.zeros(3, np.float32)}
    with pytest.raises(ValueError, match="no 'u_product'"):
        opt.set_state(good, [var])
    with pytest.raises(ValueError, match="'u_product' must be a finite float"):
        opt.set_state({**good, "u_product": np.array([0.5])}, [var])
    assert opt.iterations == 0 and not opt._slots
    opt.set_state({**good, "u_product": np.array(0.25)}, [var])
    assert opt._u_product == np.float32(0.25) and opt._u_product.dtype == np.float32
    with pytest.raises(ValueError, match="unexpected key 'u_product'"):
        optimizers.Adam().set_state({**good, "u_product": np.array(0.25)}, [var])


def _regression_model(optimizer):
    brisknn.utils.set_random_seed(3)
    model = models.Sequential([layers.Input((4,)),
                               layers.Dense(8, activation="tanh",
                                            kernel_regularizer=regularizers.L2(1e-3)),
                               layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


@pytest.mark.parametrize("optimizer", [
    lambda: Adagrad(0.05), lambda: Adadelta(1.0), lambda: Adamax(0.01), lambda: Nadam(0.01),
    lambda: Lion(0.003), lambda: Ftrl(0.05, l1_regularization_strength=0.001, beta=0.1)],
    ids=["adagrad", "adadelta", "adamax", "nadam", "lion", "ftrl"])
def test_saved_model_resumes_training_bitwise(optimizer, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 4)).astype(np.float32)
    y = np.sin(x).sum(axis=1, keepdims=True)
    model = _regression_model(optimizer())
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 6
    h1 = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    h2 = loaded.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert h1.history == h2.history
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert a.tobytes() == b.tobytes()
    for (k1, a), (k2, b) in zip(model.optimizer.get_state().items(),
                                loaded.optimizer.get_state().items()):
        assert k1 == k2 and a.tobytes() == b.tobytes()


# -- bad input at the kernel boundary ------------------------------------------------------------
def test_core_rejects_bad_slots():
    w = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"adagrad_update: accumulator has shape \(4, 3\), "
                                         r"expected \(3, 4\)"):
        _core.adagrad_update(w, np.zeros_like(w), np.zeros((4, 3), np.float32), 0.1, 1e-7)
    with pytest.raises(TypeError, match="nadam_update: v has dtype float64, expected float32"):
        _core.nadam_update(w, np.zeros_like(w), np.zeros_like(w), np.zeros((3, 4)), 0.1, 0.9,
                           0.999, 1e-7, 1.0, 1.0, 1.0)
    buffer = np.zeros(8)
    with pytest.raises(ValueError, match="accumulator and linear share memory"):
        _core.ftrl_update(np.zeros(4), np.zeros(4), buffer[:4], buffer[2:6], 0.1, -0.5, 0.0,
                          0.0, 0.0)
    with pytest.raises(ValueError, match=r"lion_update_many: params\[0\]: m has shape"):
        _core.lion_update_many([(np.zeros(4), np.zeros(4), np.zeros(3), 0.0, 0.0, 1.0)], 0.1,
                               0.9, 0.99)
    with pytest.raises(TypeError, match=r"adadelta_update_many: params\[0\] must be a tuple"):
        _core.adadelta_update_many([(np.zeros(4), np.zeros(4), np.zeros(4), 0.0, 0.0, 1.0)],
                                   0.1, 0.95, 1e-7)


def test_summary_counts_nadam_u_product_and_adagrad_accumulators(capsys):
    # Keras 3 counts the built optimizer's variables: iterations (int64), learning_rate
    # (float32), the slots and, for Nadam, its u_product (one float32 here).
    x = np.ones((8, 4), np.float32)
    y = np.ones((8, 1), np.float32)
    for optimizer, expected in [(Nadam(), "Optimizer params: 101 (408.00 B)"),
                                (Adagrad(), "Optimizer params: 51 (208.00 B)")]:
        model = _regression_model(optimizer)  # 49 trainable values
        model.fit(x, y, epochs=1, verbose=0)
        model.summary()
        assert expected in capsys.readouterr().out
