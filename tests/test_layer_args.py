"""Keras 3 layer arguments: weight constraints (keras/src/constraints/constraints.py, applied by
BaseOptimizer.apply after each step), checked against NumPy transcriptions of Keras' code."""
import numpy as np
import pytest

import brisknn
from brisknn import constraints, layers, models, optimizers

EPS = 1e-7  # backend.epsilon()


# -- NumPy transcriptions of keras/src/constraints/constraints.py ----------------------------
def keras_max_norm(w, max_value=2, axis=0):
    norms = np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))
    desired = np.clip(norms, 0, max_value)
    return w * (desired / (EPS + norms))


def keras_min_max_norm(w, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
    norms = np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))
    desired = rate * np.clip(norms, min_value, max_value) + (1 - rate) * norms
    return w * (desired / (EPS + norms))


def keras_unit_norm(w, axis=0):
    norms = np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))
    return w / (EPS + norms)


def weights(shape, dtype=np.float64, seed=0, scale=2.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [0, 1, -1, [0, 1, 2]])
def test_constraint_formulas_match_keras(dtype, axis):
    w = weights((3, 2, 4, 5), dtype)
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    cases = [(constraints.MaxNorm(1.5, axis=axis), keras_max_norm(w, 1.5, np_axis)),
             (constraints.MaxNorm(axis=axis), keras_max_norm(w, 2, np_axis)),
             (constraints.UnitNorm(axis=axis), keras_unit_norm(w, np_axis)),
             (constraints.MinMaxNorm(0.5, 2.0, 0.7, axis=axis),
              keras_min_max_norm(w, 0.5, 2.0, 0.7, np_axis)),
             (constraints.MinMaxNorm(axis=axis), keras_min_max_norm(w, axis=np_axis)),
             (constraints.NonNeg(), np.maximum(w, 0))]
    for constraint, expected in cases:
        got = constraint(w)
        assert got.dtype == dtype, constraint  # computed in the weight's dtype, as Keras
        np.testing.assert_array_equal(got, expected.astype(dtype), err_msg=repr(constraint))


def test_constraints_do_what_their_names_say():
    w = weights((6, 4))
    norms = lambda a: np.sqrt((a ** 2).sum(axis=0))  # noqa: E731
    assert norms(constraints.MaxNorm(1.0)(w)).max() <= 1.0
    np.testing.assert_allclose(norms(constraints.UnitNorm()(w)), 1.0, rtol=1e-6)
    out = norms(constraints.MinMaxNorm(2.0, 3.0)(w * 0.01))
    assert (out > 2.0 - 1e-5).all() and (out <= 3.0).all()
    small = w * 1e-3  # within bounds: only Keras' epsilon factor norm / (norm + 1e-7) remains
    np.testing.assert_allclose(constraints.MaxNorm(2)(small), small, rtol=1e-3)
    assert (constraints.NonNeg()(w) >= 0).all()
    zero = np.zeros((3, 2))
    np.testing.assert_array_equal(constraints.UnitNorm()(zero), zero)  # epsilon: no NaN


def test_get_takes_keras_names_classes_dicts_and_callables():
    for name, cls in [("max_norm", constraints.MaxNorm), ("MaxNorm", constraints.MaxNorm),
                      ("non_neg", constraints.NonNeg), ("NonNeg", constraints.NonNeg),
                      ("unit_norm", constraints.UnitNorm), ("UnitNorm", constraints.UnitNorm),
                      ("min_max_norm", constraints.MinMaxNorm),
                      ("MinMaxNorm", constraints.MinMaxNorm)]:
        assert type(constraints.get(name)) is cls
    assert constraints.get(None) is None
    assert type(constraints.get(constraints.NonNeg)) is constraints.NonNeg
    c = constraints.MaxNorm(3, axis=[0, 1])
    assert constraints.get(c) is c
    again = constraints.get(constraints.serialize(c))
    assert type(again) is constraints.MaxNorm and again.get_config() == {"max_value": 3,
                                                                         "axis": [0, 1]}
    assert constraints.serialize(c) == {"class_name": "MaxNorm",
                                        "config": {"max_value": 3, "axis": [0, 1]}}
    assert constraints.max_norm is constraints.MaxNorm and constraints.non_neg is \
        constraints.NonNeg
    fn = lambda w: w * 0  # noqa: E731
    assert constraints.get(fn) is fn
    for bad in ("maxnorm", "MAX_NORM", 3, {"class_name": "Clip"}):
        with pytest.raises(ValueError, match="constraint"):
            constraints.get(bad)
    with pytest.raises(ValueError, match="MaxNorm: axis"):
        constraints.MaxNorm(axis="rows")
    with pytest.raises(ValueError, match="MinMaxNorm: rate"):
        constraints.MinMaxNorm(rate="fast")
    with pytest.raises(ValueError, match="Cannot serialize constraint"):
        constraints.serialize(fn)


def constrained_layers():
    return [
        (layers.Dense(3, kernel_constraint="max_norm", bias_constraint="non_neg"), (4, 5),
         ["kernel", "bias"]),
        (layers.Conv2D(2, 3, kernel_constraint=constraints.MaxNorm(1.0, axis=[0, 1, 2]),
                       bias_constraint="non_neg"), (2, 5, 5, 3), ["kernel", "bias"]),
        (layers.Conv1D(2, 3, kernel_constraint="unit_norm"), (2, 6, 3), ["kernel"]),
        (layers.Conv2DTranspose(2, 3, kernel_constraint="non_neg",
                                bias_constraint="max_norm"), (2, 3, 3, 2), ["kernel", "bias"]),
        (layers.SimpleRNN(3, kernel_constraint="unit_norm", recurrent_constraint="max_norm",
                          bias_constraint="non_neg"), (2, 4, 3),
         ["kernel", "recurrent_kernel", "bias"]),
        (layers.LSTM(2, recurrent_constraint=constraints.MinMaxNorm(0.5, 1.0, 0.5)), (2, 4, 3),
         ["recurrent_kernel"]),
        (layers.GRU(2, kernel_constraint="non_neg"), (2, 4, 3), ["kernel"]),
        (layers.BatchNormalization(gamma_constraint="non_neg", beta_constraint="max_norm"),
         (4, 3), ["gamma", "beta"]),
    ]


@pytest.mark.parametrize("index", range(8))
def test_layers_keep_their_constraints_on_the_weights_and_in_the_config(index):
    layer, shape, constrained = constrained_layers()[index]
    layer(np.ones(shape, np.float32))
    by_name = {w.name: w for w in layer.weights}
    for name in constrained:
        assert isinstance(by_name[name].constraint, constraints.Constraint), name
    assert all(w.constraint is None for n, w in by_name.items() if n not in constrained)
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    again(np.ones(shape, np.float32))
    for name in constrained:
        got = {w.name: w for w in again.weights}[name].constraint
        assert got.get_config() == by_name[name].constraint.get_config()


def test_embedding_takes_embeddings_constraint():
    emb = layers.Embedding(10, 4, embeddings_constraint="unit_norm")
    assert emb.get_config()["embeddings_constraint"] == {"class_name": "UnitNorm",
                                                         "config": {"axis": 0}}
    emb(np.array([[1, 2]]))
    assert type(emb.embeddings.constraint) is constraints.UnitNorm
    assert type(layers.Embedding.from_config(emb.get_config()).embeddings_constraint) is \
        constraints.UnitNorm


def test_bad_constraint_arguments_name_the_problem():
    with pytest.raises(ValueError, match="constraint identifier"):
        layers.Dense(2, kernel_constraint="clip")
    with pytest.raises(ValueError, match="constraint identifier"):
        layers.Conv2D(2, 3, bias_constraint=1.5)
    with pytest.raises(ValueError, match="constraint identifier"):
        layers.LSTM(2, recurrent_constraint="positive")


@pytest.mark.parametrize("make", [lambda: optimizers.SGD(0.5),
                                  lambda: optimizers.Adam(0.1, amsgrad=True),
                                  lambda: optimizers.AdamW(0.1, weight_decay=0.1)])
def test_optimizer_projects_each_constrained_variable_after_its_step(make):
    rng = np.random.default_rng(1)
    value = rng.standard_normal((4, 3)).astype(np.float32)
    grad = rng.standard_normal((4, 3)).astype(np.float32)
    plain = brisknn.backend.Variable(value.copy(), "plain")
    kept = brisknn.backend.Variable(value.copy(), "kept", constraint=constraints.MaxNorm(0.5))
    opt_a, opt_b = make(), make()
    for _ in range(3):
        plain.grad[...] = grad
        kept.grad[...] = grad
        opt_a.apply([plain])
        opt_b.apply([kept])
        # Keras: variable.assign(variable.constraint(variable)) right after the update.
        expected = keras_max_norm(plain.value, 0.5)
        np.testing.assert_array_equal(kept.value, expected)
        plain.value[...] = expected
    # apply_gradients (a custom loop) applies it too, as Keras' apply does
    opt_b.apply_gradients([(grad * 10, kept)])
    assert np.sqrt((kept.value ** 2).sum(axis=0)).max() <= 0.5


def test_a_constraint_that_changes_the_shape_is_refused():
    var = brisknn.backend.Variable(np.ones((2, 2), np.float32), "w",
                                   constraint=lambda w: w.sum(axis=0))
    with pytest.raises(ValueError, match="returned shape"):
        optimizers.SGD().apply([var])


def dense_model(optimizer="adam"):
    brisknn.utils.set_random_seed(3)
    model = models.Sequential([layers.Input((6,)),
                               layers.Dense(8, activation="relu",
                                            kernel_constraint=constraints.MaxNorm(0.3),
                                            bias_constraint="non_neg"),
                               layers.Dense(3, activation="softmax",
                                            kernel_constraint="unit_norm")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


def test_dense_only_model_with_constraints_same_bits_fast_and_general_path(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    y = rng.integers(0, 3, 40)

    def run():
        model = dense_model()
        losses = [model.train_on_batch(x[:16], y[:16]) for _ in range(3)]
        losses.append(model.fit(x, y, batch_size=16, epochs=2, verbose=0).history["loss"])
        return model, losses

    fast, fast_losses = run()
    assert fast._dense_step_cache[1] is not None  # the prepared step ran
    with monkeypatch.context() as m:
        m.setattr(models.Sequential, "_dense_step", lambda self, x: None)
        slow, slow_losses = run()
    assert fast_losses == slow_losses
    for a, b in zip(fast.get_weights(), slow.get_weights()):
        np.testing.assert_array_equal(a, b)
    kernel, bias, head, _ = fast.get_weights()
    assert np.sqrt((kernel ** 2).sum(axis=0)).max() <= 0.3 and (bias >= 0).all()
    np.testing.assert_allclose(np.sqrt((head ** 2).sum(axis=0)), 1.0, rtol=1e-5)


def test_frozen_weights_are_not_projected():
    model = dense_model("sgd")
    model.layers[0].trainable = False
    before = model.layers[0].kernel.numpy()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.train_on_batch(np.ones((4, 6), np.float32), np.zeros(4, int))
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), before)


class HalfMaxNorm(constraints.Constraint):
    def __init__(self, scale=0.5):
        self.scale = scale

    def __call__(self, w):
        return w * self.scale

    def get_config(self):
        return {"scale": self.scale}


def test_constraints_survive_save_and_load(tmp_path):
    model = models.Sequential([layers.Input((5, 3)),
                               layers.Conv1D(4, 2, kernel_constraint=constraints.MaxNorm(
                                   1.0, axis=[0, 1])),
                               layers.LSTM(3, recurrent_constraint="unit_norm"),
                               layers.Dense(2, kernel_constraint=HalfMaxNorm(0.25),
                                            bias_constraint="non_neg")])
    model.compile("sgd", "mse")
    path = tmp_path / "m.keras"
    model.save(path)
    with pytest.raises(ValueError, match="HalfMaxNorm"):
        models.load_model(path)
    loaded = models.load_model(path, custom_objects={"HalfMaxNorm": HalfMaxNorm})
    assert loaded.get_config() == model.get_config()
    conv, lstm, dense = loaded.layers
    assert conv.kernel.constraint.get_config() == {"max_value": 1.0, "axis": [0, 1]}
    assert type(lstm.recurrent_kernel.constraint) is constraints.UnitNorm
    assert type(dense.kernel.constraint) is HalfMaxNorm and dense.kernel.constraint.scale == 0.25
    x = np.ones((2, 5, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    loaded.train_on_batch(x, np.ones((2, 2), np.float32))
    assert (dense.bias.numpy() >= 0).all()


def test_a_function_constraint_trains_but_cannot_be_saved(tmp_path):
    model = models.Sequential([layers.Input((3,)),
                               layers.Dense(2, kernel_constraint=lambda w: np.clip(w, -0.1, 0.1))])
    model.compile("sgd", "mse")
    model.train_on_batch(np.ones((2, 3), np.float32), np.full((2, 2), 5, np.float32))
    assert np.abs(model.layers[0].kernel.numpy()).max() <= 0.1
    with pytest.raises(ValueError, match="Cannot serialize constraint"):
        model.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()
