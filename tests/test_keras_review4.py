"""Fourth Keras-fidelity review: what a Keras 3 user calls directly (losses, metrics,
activations, initializers, regularizers, utils, callbacks), checked against Keras 3's own
formulas and docstring examples (keras/src/losses/losses.py, keras/src/metrics/*.py, ...)."""
import numpy as np
import pytest

import brisknn
from brisknn import layers, losses
from conftest import numeric_grad


# -- losses computed in NumPy: Keras' docstring values and formulas -----------------------------
def test_new_loss_classes_give_keras_docstring_values():
    yt, yp = [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]
    assert float(losses.Huber()(yt, yp)) == pytest.approx(0.155)
    np.testing.assert_allclose(losses.huber(yt, yp), [0.18, 0.13], rtol=1e-6)
    assert float(losses.LogCosh()([[0., 1.], [0., 0.]], [[1., 1.], [0., 0.]])) == \
        pytest.approx(0.108, abs=5e-4)
    np.testing.assert_allclose(
        losses.cosine_similarity([[0., 1.], [1., 1.], [1., 1.]], [[1., 0.], [1., 1.], [-1., -1.]]),
        [0., -1., 1.], atol=1e-6)
    assert float(losses.Hinge()(yt, yp)) == pytest.approx(1.3)
    assert float(losses.SquaredHinge()(yt, yp)) == pytest.approx(1.86)
    assert float(losses.CategoricalHinge()(yt, yp)) == pytest.approx(1.4)
    assert float(losses.KLDivergence()(yt, yp)) == pytest.approx(0.458, abs=5e-4)
    assert float(losses.Poisson()([[0., 1.], [0., 0.]], [[1., 1.], [0., 0.]])) == \
        pytest.approx(0.5, abs=1e-6)
    assert float(losses.MeanAbsolutePercentageError()([[2., 1.], [2., 3.]],
                                                      [[1., 1.], [1., 0.]])) == pytest.approx(50)
    assert float(losses.MeanSquaredLogarithmicError()([[0., 1.], [0., 0.]],
                                                      [[1., 1.], [1., 0.]])) == \
        pytest.approx(0.240, abs=5e-4)


def _keras_reference(name, t, p):
    eps = 1e-7
    if name == "huber":
        e = p - t
        return np.where(np.abs(e) <= 1.0, 0.5 * e * e, np.abs(e) - 0.5).mean(-1)
    if name == "log_cosh":
        return np.log(np.cosh(p - t)).mean(-1)
    if name == "mean_absolute_percentage_error":
        return 100 * np.mean(np.abs((t - p) / np.maximum(np.abs(t), eps)), -1)
    if name == "mean_squared_logarithmic_error":
        return np.mean((np.log(np.maximum(p, eps) + 1) - np.log(np.maximum(t, eps) + 1)) ** 2, -1)
    if name == "cosine_similarity":
        return -np.sum(t / np.linalg.norm(t, axis=-1, keepdims=True) *
                       p / np.linalg.norm(p, axis=-1, keepdims=True), -1)
    if name in ("hinge", "squared_hinge"):
        h = np.maximum(1 - t * p, 0)
        return (h if name == "hinge" else h * h).mean(-1)
    if name == "categorical_hinge":
        return np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0)
    if name == "kl_divergence":
        tc, pc = np.clip(t, eps, 1), np.clip(p, eps, 1)
        return (tc * np.log(tc / pc)).sum(-1)
    if name == "poisson":
        return (p - t * np.log(p + eps)).mean(-1)
    raise KeyError(name)


NUMPY_LOSSES = ["huber", "log_cosh", "mean_absolute_percentage_error",
                "mean_squared_logarithmic_error", "cosine_similarity", "hinge", "squared_hinge",
                "categorical_hinge", "kl_divergence", "poisson"]


def _loss_data(name, rng, shape=(4, 3, 5)):
    p = rng.uniform(0.1, 0.9, shape)
    if name in ("hinge", "squared_hinge"):
        t = rng.choice([-1.0, 1.0], shape)
    elif name in ("categorical_hinge", "kl_divergence"):
        t = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
    else:
        t = rng.uniform(0.1, 2.0, shape)
    return t, p


@pytest.mark.parametrize("name", NUMPY_LOSSES)
def test_numpy_losses_match_keras_formulas_per_sample_and_reduced(name):
    t, p = _loss_data(name, np.random.default_rng(0))
    expected = _keras_reference(name, t, p)
    fn = getattr(losses, name)
    np.testing.assert_allclose(fn(t, p), expected, rtol=1e-6, atol=1e-9)
    assert fn(t, p).shape == (4, 3)
    cls = type(losses.loss_object(name))
    assert float(cls()(t, p)) == pytest.approx(expected.mean(), rel=1e-6)
    assert float(cls(reduction="sum")(t, p)) == pytest.approx(expected.sum(), rel=1e-6)
    np.testing.assert_allclose(cls(reduction=None)(t, p), expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(cls(reduction="none")(t, p), expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", NUMPY_LOSSES)
def test_numpy_losses_gradient_matches_finite_differences(name):
    t, p = _loss_data(name, np.random.default_rng(1), shape=(3, 4))
    loss = losses.loss_object(name)
    value, grad = loss.batch_loss_and_grad(t, p, with_grad=True)
    assert value == pytest.approx(float(loss(t, p)))
    expected = numeric_grad(lambda: loss.batch_loss_and_grad(t, p, False)[0], p)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)


def test_huber_delta_gradient_and_hinge_binary_labels():
    t = np.array([[0.0, 1.0, 3.0]])
    p = np.array([[2.5, 1.2, 0.0]])
    loss = losses.Huber(delta=2.0)
    np.testing.assert_allclose(losses.huber(t, p, delta=2.0),
                               [(2 * 2.5 - 2 + 0.5 * 0.04 + 2 * 3 - 2) / 3])
    expected = numeric_grad(lambda: loss.batch_loss_and_grad(t, p, False)[0], p)
    np.testing.assert_allclose(loss.batch_loss_and_grad(t, p, True)[1], expected, atol=1e-7)
    # 0/1 labels are read as -1/1 (Keras' convert_binary_labels_to_hinge)
    np.testing.assert_allclose(losses.hinge([[0., 1.]], [[0.5, 0.5]]), [(1.5 + 0.5) / 2])


def test_loss_get_knows_keras_class_names_functions_and_aliases():
    assert isinstance(losses.get("CategoricalCrossentropy"), losses.CategoricalCrossentropy)
    assert isinstance(losses.get("MeanSquaredError"), losses.MeanSquaredError)
    for name, cls in [("huber", losses.Huber), ("Huber", losses.Huber), ("kld", losses.KLDivergence),
                      ("KLD", losses.KLDivergence), ("mape", losses.MeanAbsolutePercentageError),
                      ("msle", losses.MeanSquaredLogarithmicError), ("log_cosh", losses.LogCosh),
                      ("hinge", losses.Hinge), ("poisson", losses.Poisson),
                      ("cosine_similarity", losses.CosineSimilarity),
                      ("categorical_hinge", losses.CategoricalHinge)]:
        assert isinstance(losses.loss_object(name), cls), name
    assert isinstance(losses.loss_object(losses.huber), losses.Huber)
    # keras.losses.get: names of functions and the aliases give the functions
    assert losses.get("huber") is losses.huber and losses.get("kld") is losses.kl_divergence
    assert losses.get("MAPE") is losses.mean_absolute_percentage_error
    np.testing.assert_allclose(losses.get("mse")([[0.0, 1.0]], [[1.0, 1.0]]), [0.5])
    loss = losses.get({"class_name": "Huber", "config": {"delta": 3.0, "name": "h"}})
    assert loss.delta == 3.0 and loss.name == "h"
    assert losses.Huber().name == "huber_loss" and losses.KLDivergence().name == "kl_divergence"
    assert losses.Huber(2.0, "sum").reduction == "sum"


def test_custom_loss_subclass_with_call_reduces_as_keras():
    class Cube(losses.Loss):
        def call(self, y_true, y_pred):
            return np.mean((y_pred - y_true) ** 3, axis=-1)

    t, p = np.zeros((2, 2)), np.array([[1.0, 2.0], [3.0, 0.0]])
    assert float(Cube()(t, p)) == pytest.approx((4.5 + 13.5) / 2)
    assert float(Cube(reduction="sum")(t, p)) == pytest.approx(18.0)
    np.testing.assert_allclose(Cube(reduction=None)(t, p), [4.5, 13.5])
    assert Cube().name == "cube"


@pytest.mark.parametrize("loss", ["huber", "log_cosh", losses.Huber(delta=0.5), "mape"])
def test_fit_trains_with_the_numpy_losses_and_reports_their_value(loss):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5]) + 3.0)[:, None]
    model = brisknn.Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile(brisknn.optimizers.Adam(0.05), loss=loss)
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < 0.7 * history[0]
    value = model.evaluate(x, y, verbose=0)
    assert isinstance(value, float)
    expected = float(losses.loss_object(loss)(y, model.predict(x, verbose=0)))
    assert value == pytest.approx(expected, rel=1e-5)


# -- activations called directly ---------------------------------------------------------------
def test_relu_takes_keras3_negative_slope_max_value_and_threshold():
    from brisknn import activations
    x = [-10, -5, 0.0, 5, 10]  # Keras' docstring examples
    np.testing.assert_array_equal(activations.relu(x), [0, 0, 0, 5, 10])
    np.testing.assert_array_equal(activations.relu(x, negative_slope=0.5), [-5, -2.5, 0, 5, 10])
    np.testing.assert_array_equal(activations.relu(x, max_value=5.0), [0, 0, 0, 5, 5])
    np.testing.assert_array_equal(activations.relu(x, threshold=5.0), [0, 0, 0, 0, 10])
    # all three: Keras' ReLU.static_call gives x * (x > t), clipped, minus slope * relu(t - x)
    np.testing.assert_allclose(activations.relu(x, negative_slope=0.5, max_value=5.0,
                                                threshold=2.0), [-6, -3.5, -1, 5, 5])


@pytest.mark.parametrize("axis", [0, 1, -2])
def test_softmax_and_log_softmax_take_any_axis(axis):
    from brisknn import activations
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    expected = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(activations.softmax(x, axis=axis), expected, rtol=1e-12)
    np.testing.assert_allclose(activations.log_softmax(x, axis=axis), np.log(expected),
                               rtol=1e-12)


@pytest.mark.parametrize("kwargs", [{}, {"max_value": 6.0}, {"negative_slope": 0.1},
                                    {"max_value": 1.5, "negative_slope": 0.2, "threshold": 0.5},
                                    {"threshold": 1.0}, {"max_value": 2.0}])
def test_relu_layer_forward_and_backward_as_keras(kwargs):
    from brisknn import activations
    layer = layers.ReLU(**kwargs)
    x = np.random.default_rng(0).normal(0, 2, size=(4, 6))
    x[np.abs(x - kwargs.get("threshold", 0.0)) < 1e-3] += 0.01  # away from the kinks
    x[np.abs(x - kwargs.get("max_value", 99.0)) < 1e-3] += 0.01
    y = layer(x)
    np.testing.assert_allclose(y, activations.relu(x, kwargs.get("negative_slope", 0.0),
                                                   kwargs.get("max_value"),
                                                   kwargs.get("threshold", 0.0)))
    dy = np.random.default_rng(1).normal(size=x.shape)
    layer.forward(x, training=True)
    dx = layer.backward(dy)
    expected = numeric_grad(lambda: float((layer.forward(x) * dy).sum()), x)
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-8)
    config = layer.get_config()
    assert config["max_value"] == kwargs.get("max_value")
    assert config["negative_slope"] == kwargs.get("negative_slope", 0.0)
    assert config["threshold"] == kwargs.get("threshold", 0.0)
    with pytest.raises(ValueError, match="max_value"):
        layers.ReLU(max_value=-1)


@pytest.mark.parametrize("axis", [-1, 1])
def test_softmax_layer_forward_backward_and_elu_layer(axis):
    layer = layers.Softmax(axis=axis)
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    e = np.exp(x)
    np.testing.assert_allclose(layer(x), e / e.sum(axis=axis, keepdims=True), rtol=1e-6)
    dy = np.random.default_rng(1).normal(size=x.shape)
    layer.forward(x, training=True)
    dx = layer.backward(dy)
    expected = numeric_grad(lambda: float((layer.forward(x) * dy).sum()), x)
    np.testing.assert_allclose(dx, expected, rtol=1e-5, atol=1e-8)
    assert layer.get_config()["axis"] == axis
    elu = layers.ELU(alpha=0.5)
    np.testing.assert_allclose(elu(np.array([[-1.0, 2.0]])), [[0.5 * np.expm1(-1.0), 2.0]])
    assert elu.get_config()["alpha"] == 0.5


def test_models_with_relu_and_softmax_layers_train_save_and_load(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = brisknn.Sequential([layers.Input((4,)), layers.Dense(8), layers.ReLU(max_value=3.0,
                                negative_slope=0.1), layers.Dense(2), layers.Softmax()])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = brisknn.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    assert loaded.layers[1].max_value == 3.0 and loaded.layers[1].negative_slope == 0.1


# -- metrics -----------------------------------------------------------------------------------
def test_new_metric_classes_give_keras_docstring_values():
    from brisknn import metrics
    yt, yp = [[0, 1], [0, 0]], [[1, 1], [0, 0]]
    m = metrics.CosineSimilarity(axis=1)
    assert float(m([[0., 1.], [1., 1.]], [[1., 0.], [1., 1.]])) == pytest.approx(0.5)
    m.reset_state()
    m.update_state([[0., 1.], [1., 1.]], [[1., 0.], [1., 1.]], sample_weight=[0.3, 0.7])
    assert float(m.result()) == pytest.approx(0.7)
    m = metrics.LogCoshError()
    assert m.name == "logcosh" and float(m(yt, yp)) == pytest.approx(0.10844523, rel=1e-6)
    m.reset_state()
    m.update_state(yt, yp, sample_weight=[1, 0])
    assert float(m.result()) == pytest.approx(0.21689045, rel=1e-6)
    assert float(metrics.MeanAbsolutePercentageError()(yt, yp)) == pytest.approx(2.5e8)
    assert float(metrics.MeanSquaredLogarithmicError()(yt, yp)) == pytest.approx(0.12011322)
    assert float(metrics.Poisson()(yt, yp)) == pytest.approx(0.49999997)
    p2 = [[0.6, 0.4], [0.4, 0.6]]
    assert float(metrics.Hinge()(yt, p2)) == pytest.approx(1.3)
    assert float(metrics.SquaredHinge()(yt, p2)) == pytest.approx(1.86)
    assert float(metrics.CategoricalHinge()(yt, p2)) == pytest.approx(1.4)
    assert float(metrics.KLDivergence()(yt, p2)) == pytest.approx(0.45814306, rel=1e-6)
    r2 = metrics.R2Score()
    assert float(r2(np.array([[1], [4], [3]]), np.array([[2], [4], [4]]))) == \
        pytest.approx(0.57142854, rel=1e-6)
    assert float(metrics.TruePositives()([0, 1, 1, 1], [1, 0, 1, 1])) == 2
    assert float(metrics.FalsePositives()([0, 1, 0, 0], [0, 0, 1, 1])) == 2
    assert float(metrics.TrueNegatives()([0, 1, 0, 0], [1, 1, 0, 0])) == 2
    assert float(metrics.FalseNegatives()([0, 1, 1, 1], [0, 1, 0, 0])) == 2
    tp = metrics.TruePositives(thresholds=[0.15, 0.5, 0.95])
    np.testing.assert_array_equal(tp([0, 1, 1, 1], [0.1, 0.2, 0.6, 0.9]), [3, 2, 0])


def test_r2_score_matches_the_formula_with_aggregations_and_adjustment():
    from brisknn import metrics
    rng = np.random.default_rng(0)
    t, p = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    raw = 1 - ((t - p) ** 2).sum(0) / ((t - t.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(metrics.R2Score(class_aggregation=None)(t, p), raw)
    variance = ((t - t.mean(0)) ** 2).sum(0)
    assert float(metrics.R2Score("variance_weighted_average")(t, p)) == \
        pytest.approx((variance * raw).sum() / variance.sum())
    n = t.size  # Keras counts every value as a sample
    assert float(metrics.R2Score(num_regressors=2)(t, p)) == \
        pytest.approx(1 - (1 - raw.mean()) * (n - 1) / (n - 2 - 1))


def test_compile_takes_the_new_metric_names_and_history_uses_them():
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    y = np.abs(x.sum(axis=1, keepdims=True)) + 1
    model = brisknn.Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile("adam", "mse", metrics=["mape", "msle", brisknn.metrics.R2Score(),
                                          brisknn.metrics.LogCoshError()])
    history = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0).history
    for key in ("mape", "msle", "r2_score", "logcosh", "val_mape", "val_r2_score"):
        assert key in history, key
    pred = model.predict(x[24:], verbose=0)
    assert history["val_mape"][-1] == pytest.approx(
        float(np.mean(100 * np.abs((y[24:] - pred) / y[24:]))), rel=1e-5)
    stop = brisknn.callbacks.EarlyStopping(monitor="val_mape", patience=0)
    model.fit(x, y, epochs=1, validation_split=0.25, verbose=0, callbacks=[stop])
    assert stop.monitor_op is not None and stop.best < np.inf  # mode auto: minimised


# -- initializers, regularizers, utils -----------------------------------------------------------
def test_initializers_get_takes_keras_class_names_classes_and_dicts():
    from brisknn import initializers
    assert isinstance(initializers.get("GlorotUniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get("HeNormal"), initializers.HeNormal)
    assert isinstance(initializers.get(initializers.Orthogonal), initializers.Orthogonal)
    const = initializers.get({"class_name": "Constant", "config": {"value": 3.0}})
    np.testing.assert_array_equal(const((2,)), [3.0, 3.0])
    assert initializers.get(None) is None
    clone = initializers.GlorotNormal(seed=3).clone()
    assert isinstance(clone, initializers.GlorotNormal) and clone.seed == 3
    dense = layers.Dense(3, kernel_initializer=initializers.Ones)
    dense.build((None, 2))
    np.testing.assert_array_equal(dense.kernel.numpy(), np.ones((2, 3)))


def test_variance_scaling_validates_and_draws_keras_distributions():
    from brisknn import initializers
    for bad in ({"scale": 0.0}, {"mode": "fan_sum"}, {"distribution": "gamma"}):
        with pytest.raises(ValueError):
            initializers.VarianceScaling(**bad)
    assert initializers.VarianceScaling(distribution="normal").distribution == "truncated_normal"
    # untruncated_normal: a plain normal of stddev sqrt(scale / fan)
    w = initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal", seed=0)((400, 500))
    assert w.std() == pytest.approx(np.sqrt(2 / 400), rel=0.01)
    assert np.abs(w).max() > 2.5 * np.sqrt(2 / 400)  # not cut at two standard deviations
    # glorot_normal: truncated at 2 stddev, stddev sqrt(2 / (fan_in + fan_out)) after the cut
    g = initializers.GlorotNormal(seed=1)((300, 500))
    assert g.std() == pytest.approx(np.sqrt(2 / 800), rel=0.01)
    assert np.abs(g).max() <= 2 * np.sqrt(2 / 800) / 0.87962566103423978 + 1e-6
    with pytest.raises(ValueError, match="at least two-dimensional"):
        initializers.Orthogonal()((3,))


def test_regularizers_take_none_as_the_default_and_refuse_negative_factors():
    from brisknn import regularizers
    assert regularizers.L2(None).l2 == 0.01 and regularizers.L1(None).l1 == 0.01
    assert regularizers.L1L2(None, 0.1).get_config() == {"l1": 0.0, "l2": 0.1}
    w = np.array([[1.0, -2.0], [3.0, 4.0]])
    assert regularizers.L2()(w) == pytest.approx(0.01 * 30)
    assert regularizers.L1L2(0.01, 0.02)(w) == pytest.approx(0.01 * 10 + 0.02 * 30)
    for bad in (-1.0, float("nan"), float("inf"), "0.1"):
        with pytest.raises(ValueError, match="non-negative"):
            regularizers.L2(bad)
    assert isinstance(regularizers.get(regularizers.L1), regularizers.L1)
    assert regularizers.L1L2.from_config({"l1": 0.5, "l2": 0.0}).l1 == 0.5


def test_utils_normalize_as_keras():
    from brisknn import utils
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(x, order=1), [[3 / 7, 4 / 7], [0.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(np.array([[3.0, 4.0], [0, 2]]), axis=0),
                               [[1.0, 4 / np.sqrt(20)], [0.0, 2 / np.sqrt(20)]])


def test_add_weight_takes_keras3_keywords():
    class Scale(brisknn.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones",
                                     trainable=True, name="w")
            self.v = self.add_weight(shape=(2, 3))  # Keras: glorot_uniform, named 'variable'

    layer = Scale()
    layer.build((None, 4))
    np.testing.assert_array_equal(layer.w.numpy(), np.ones(4))
    assert layer.v.name == "variable" and layer.v.shape == (2, 3)
    limit = np.sqrt(6 / 5)
    assert np.all(np.abs(layer.v.numpy()) <= limit) and np.any(layer.v.numpy() != 0)


def test_f1_and_fbeta_scores_as_keras():
    from brisknn import metrics
    y_true = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], np.int32)
    y_pred = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]], np.float32)
    m = metrics.F1Score(threshold=0.5)
    m.update_state(y_true, y_pred)
    np.testing.assert_allclose(m.result(), [0.5, 0.8, 0.6666667], rtol=1e-6)
    np.testing.assert_allclose(metrics.FBetaScore(beta=2.0, threshold=0.5)(y_true, y_pred),
                               [0.3846154, 0.90909094, 0.8333332], rtol=1e-6)
    per_class = np.array([0.5, 0.8, 2 / 3])
    assert float(metrics.F1Score("macro", 0.5)(y_true, y_pred)) == \
        pytest.approx(per_class.mean(), rel=1e-6)
    support = y_true.sum(0)
    assert float(metrics.F1Score("weighted", 0.5)(y_true, y_pred)) == \
        pytest.approx((per_class * support).sum() / support.sum(), rel=1e-6)
    tp, fp, fn = 4, 2, 2  # micro: every class's counts together
    assert float(metrics.F1Score("micro", 0.5)(y_true, y_pred)) == \
        pytest.approx(2 * tp / (2 * tp + fp + fn), rel=1e-6)
    # threshold None: each row's largest score is its prediction
    onehot = np.eye(3)[[0, 1, 2, 1]]
    scores = np.array([[.8, .1, .1], [.2, .7, .1], [.5, .2, .3], [.1, .8, .1]])
    np.testing.assert_allclose(metrics.F1Score()(onehot, scores), [2 / 3, 1.0, 0.0], atol=1e-6)
    assert "beta" not in metrics.F1Score().get_config()
    with pytest.raises(ValueError, match="average"):
        metrics.F1Score(average="samples")


def test_fit_progress_bar_shows_an_array_metric_by_its_mean(capsys):
    x = np.random.default_rng(0).random((30, 4)).astype("float32")
    y = np.eye(3)[np.random.default_rng(1).integers(0, 3, 30)]
    model = brisknn.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy", metrics=[brisknn.metrics.F1Score()])
    history = model.fit(x, y, epochs=1, verbose=1).history
    scores = history["f1_score"][0]
    assert scores.shape == (3,)
    assert f"f1_score: {np.mean(scores):.4f}" in capsys.readouterr().out


def test_precision_and_recall_take_top_k_as_keras():
    from brisknn import metrics
    assert float(metrics.Precision(top_k=2)([0, 0, 1, 1], [1, 1, 1, 1])) == 0.0
    assert float(metrics.Precision(top_k=4)([0, 0, 1, 1], [1, 1, 1, 1])) == 0.5
    y_true = [[0, 0, 1], [0, 1, 0]]
    y_pred = [[0.1, 0.2, 0.7], [0.5, 0.2, 0.3]]
    assert float(metrics.Precision(top_k=1)(y_true, y_pred)) == 0.5
    assert float(metrics.Recall(top_k=2)(y_true, y_pred)) == 0.5
    assert float(metrics.Recall(top_k=1, class_id=2)([[0, 0, 1], [0, 0, 1]], y_pred)) == 0.5
    # top_k with a threshold: a kept score must also pass it
    assert float(metrics.Precision(top_k=2, thresholds=0.4)(y_true, y_pred)) == 0.5


def test_activations_serialize_and_deserialize():
    from brisknn import activations
    assert activations.serialize(activations.relu) == "relu"
    assert activations.deserialize("swish") is activations.silu
    np.testing.assert_allclose(activations.deserialize("relu")(np.array([-1.0, 2.0])), [0, 2])


def test_direct_calls_return_values_that_answer_numpy_as_keras_tensors():
    from brisknn import activations, initializers, metrics, regularizers
    assert np.array_equal(activations.relu([-1.0, 2.0]).numpy(), [0.0, 2.0])
    assert activations.swish is activations.silu
    assert initializers.GlorotUniform(seed=1)((3, 4)).numpy().shape == (3, 4)
    assert initializers.Zeros()((2,)).numpy().tolist() == [0.0, 0.0]
    assert regularizers.L2(0.5)(np.ones(2)).numpy() == np.float32(1.0)
    assert metrics.binary_accuracy([[1.0]], [[0.7]]).numpy().tolist() == [1.0]
    layer = layers.Dense(2, kernel_initializer="ones")
    layer.build((None, 3))
    assert type(layer.kernel.value) is np.ndarray  # weights stay plain arrays


def test_a_keras_style_custom_metric_with_assign_add_trains_and_resets():
    from brisknn import initializers, metrics

    class PositiveCount(metrics.Metric):
        def __init__(self, name="positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.count = self.add_variable(shape=(), initializer=initializers.Zeros(),
                                           name="count")
            self.offset = self.add_variable(shape=(2,), initializer="ones", name="offset")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.count.assign_add(np.sum(np.asarray(y_pred) > 0.5))
            self.offset.assign_sub([1.0, 1.0])

        def result(self):
            return self.count

    m = PositiveCount()
    m.update_state([1, 0, 1], [0.9, 0.2, 0.8])
    assert float(m.result()) == 2.0 and m.offset.numpy().tolist() == [0.0, 0.0]
    m.reset_state()  # back to each variable's initial value
    assert float(m.count) == 0.0 and m.offset.numpy().tolist() == [1.0, 1.0]
    x = np.random.default_rng(0).random((16, 2)).astype("float32")
    model = brisknn.Sequential([layers.Input((2,)), layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[PositiveCount()])
    expected = float((model.predict(x, verbose=0) > 0.5).sum())  # what the one step sees
    history = model.fit(x, (x[:, :1] > 0.5).astype("float32"), epochs=1, batch_size=16,
                        verbose=0).history
    assert history["positives"] == [expected]
    assert isinstance(history["positives"][0], float)


# -- learning-rate schedules -----------------------------------------------------------------
def test_learning_rate_schedules_follow_keras_formulas():
    from brisknn.optimizers import schedules
    s = schedules.ExponentialDecay(0.1, 10, 0.5)
    np.testing.assert_allclose([s(i) for i in (0, 5, 10, 20)], [0.1, 0.1 * 0.5 ** 0.5, 0.05, 0.025])
    s = schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)
    assert s(19) == pytest.approx(0.05)
    s = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [s(i) for i in (0, 10, 11, 20, 21)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    s = schedules.PolynomialDecay(0.1, 10, 0.01, power=2.0)
    np.testing.assert_allclose([s(i) for i in (0, 5, 10, 20)],
                               [0.1, 0.09 * 0.25 + 0.01, 0.01, 0.01])
    s = schedules.PolynomialDecay(0.1, 10, 0.01, cycle=True)
    np.testing.assert_allclose([s(i) for i in (0, 5, 15)], [0.1, 0.055, 0.09 * 0.25 + 0.01])
    s = schedules.InverseTimeDecay(0.1, 10, 0.5)
    assert s(20) == pytest.approx(0.1 / 2)
    s = schedules.CosineDecay(0.1, 100, alpha=0.1)
    np.testing.assert_allclose([s(i) for i in (0, 50, 100, 500)],
                               [0.1, 0.1 * (0.9 * 0.5 + 0.1), 0.01, 0.01])
    s = schedules.CosineDecay(0.0, 100, warmup_target=0.1, warmup_steps=10)
    np.testing.assert_allclose([s(i) for i in (0, 5, 10, 60, 110)], [0, 0.05, 0.1, 0.05, 0],
                               atol=1e-12)
    s = schedules.CosineDecayRestarts(0.1, 10, t_mul=2.0, m_mul=0.5)
    np.testing.assert_allclose([s(i) for i in (0, 5, 10, 20, 30)],
                               [0.1, 0.05, 0.05, 0.05 * 0.5 * (1 + np.cos(np.pi / 2)), 0.025])
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, 0, 0.5)


def test_optimizer_with_a_schedule_steps_with_its_rate_and_saves_it(tmp_path):
    from brisknn import optimizers
    from brisknn.optimizers.schedules import ExponentialDecay
    opt = optimizers.SGD(learning_rate=ExponentialDecay(0.1, 1, 0.5))
    assert float(opt.learning_rate) == pytest.approx(0.1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 2)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = brisknn.Sequential([layers.Input((2,)), layers.Dense(1, kernel_initializer="zeros")])
    model.compile(opt, "mse")
    model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    w, b = np.zeros((2, 1)), np.zeros(1)
    for step in range(3):  # step t uses schedule(t), t the iterations before it
        g = 2 * (x @ w + b - y) / len(x)
        lr = 0.1 * 0.5 ** step
        w, b = w - lr * x.T @ g, b - lr * g.sum(0)
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), w, rtol=1e-5, atol=1e-7)
    assert float(opt.learning_rate) == pytest.approx(0.1 * 0.5 ** 3)
    with pytest.raises(TypeError, match="not settable"):
        opt.learning_rate = 0.01
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = brisknn.saving.load_model(path)
    assert isinstance(loaded.optimizer.get_config()["learning_rate"], dict)
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.1 * 0.5 ** 3)


def test_activations_get_returns_the_function_as_keras():
    from brisknn import activations
    assert activations.get("relu") is activations.relu
    assert activations.get(None) is activations.linear
    assert activations.get("swish") is activations.silu
    custom = lambda x: x  # noqa: E731  (Keras returns any callable as is)
    assert activations.get(custom) is custom
    np.testing.assert_allclose(activations.get("sigmoid")(np.zeros(2)), [0.5, 0.5])
    with pytest.raises(ValueError, match="Unknown activation"):
        activations.get("no_such_activation")
    assert layers.Dense(2, activation="swish").activation is activations.silu


def test_plot_losses_draws_numpy_losses_too():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from brisknn import plot
    fig = plot.losses(names=("mse", "huber"))
    huber = fig.axes[0].lines[1].get_ydata()
    p = np.linspace(0, 1, 100)[:, None]
    expected = np.where(np.abs(p - [0, 1, 1, 0]) <= 1, 0.5 * (p - [0, 1, 1, 0]) ** 2, 0).mean(1)
    np.testing.assert_allclose(huber, expected, rtol=1e-6)
    plt.close(fig)


def test_focal_crossentropies_give_keras_docstring_values():
    np.testing.assert_allclose(
        losses.binary_focal_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], gamma=2),
        [0.330, 0.206], atol=5e-4)
    logits = [-18.6, 0.51, 2.94, -12.8]
    assert float(losses.BinaryFocalCrossentropy(gamma=2, from_logits=True)([0, 1, 0, 0],
                                                                           logits)) == \
        pytest.approx(0.691, abs=5e-4)
    assert float(losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=2,
                                                from_logits=True)([0, 1, 0, 0], logits)) == \
        pytest.approx(0.51, abs=5e-3)
    assert float(losses.BinaryFocalCrossentropy(gamma=3, from_logits=True)(
        [[0, 1], [0, 0]], [[-18.6, 0.51], [2.94, -12.8]])) == pytest.approx(0.647, abs=5e-4)
    np.testing.assert_allclose(
        losses.categorical_focal_crossentropy([[0, 1, 0], [0, 0, 1]],
                                              [[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]]),
        [2.63401289e-04, 6.75912094e-01], rtol=1e-6)
    assert float(losses.CategoricalFocalCrossentropy()([[0., 1., 0.], [0., 0., 1.]],
                                                       [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])) == \
        pytest.approx(0.23315276, rel=1e-6)


@pytest.mark.parametrize("loss", [
    losses.BinaryFocalCrossentropy(), losses.BinaryFocalCrossentropy(from_logits=True),
    losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=3.0, label_smoothing=0.1),
    losses.CategoricalFocalCrossentropy(), losses.CategoricalFocalCrossentropy(from_logits=True),
    losses.CategoricalFocalCrossentropy(gamma=1.5, label_smoothing=0.2)])
def test_focal_crossentropy_gradients_match_finite_differences(loss):
    rng = np.random.default_rng(3)
    t = np.eye(4)[rng.integers(0, 4, 5)]
    p = rng.normal(size=(5, 4)) if loss.from_logits else rng.uniform(0.05, 0.95, (5, 4))
    value, grad = loss.batch_loss_and_grad(t, p, with_grad=True)
    assert value == pytest.approx(float(loss(t, p)))
    expected = numeric_grad(lambda: loss.batch_loss_and_grad(t, p, False)[0], p)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-8)


def test_fit_with_focal_losses_on_sigmoid_and_softmax_outputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 2)).astype("float32")
    labels = (x[:, 0] + x[:, 1] > 0).astype("int64")
    for loss, units, act, y in [
            (losses.BinaryFocalCrossentropy(), 1, "sigmoid", labels[:, None].astype("float32")),
            ("categorical_focal_crossentropy", 2, "softmax", np.eye(2)[labels])]:
        model = brisknn.Sequential([layers.Input((2,)), layers.Dense(units, activation=act)])
        model.compile(brisknn.optimizers.Adam(0.05), loss=loss, metrics=["accuracy"])
        history = model.fit(x, y, epochs=15, batch_size=16, verbose=0).history
        assert history["loss"][-1] < 0.5 * history["loss"][0]
        assert history["accuracy"][-1] > 0.9


# -- Normalization (keras/src/layers/preprocessing/normalization.py) ----------------------------
def test_normalization_layer_gives_keras_docstring_values_and_weights():
    adapt_data = np.array([[0., 7., 4.], [2., 9., 6.], [0., 7., 4.], [2., 9., 6.]], "float32")
    layer = layers.Normalization(axis=-1)
    layer.adapt(adapt_data)
    np.testing.assert_allclose(layer(np.array([[0., 7., 4.]], "float32")), [[-1., -1., -1.]])
    weights = layer.get_weights()  # Keras 3: mean, variance, and an int 'count'
    assert [w.shape for w in weights] == [(3,), (3,), ()] and weights[2].dtype == np.int64
    np.testing.assert_allclose(weights[1], adapt_data.var(axis=0))
    assert layer.count_params() == 7 and not layer.trainable_weights
    layer = layers.Normalization(mean=3., variance=2.)
    np.testing.assert_allclose(layer(np.array([[1.], [2.], [3.]], "float32")),
                               [[-1.4142135], [-0.70710677], [0.]], rtol=1e-6)
    layer = layers.Normalization(axis=-1, invert=True)
    layer.adapt(adapt_data)
    np.testing.assert_allclose(layer(np.array([[1., 2., 3.]], "float32")), [[2., 10., 8.]])
    layer = layers.Normalization(axis=None)
    layer.adapt([adapt_data[:2], adapt_data[2:]])  # an iterable of batches
    assert float(layer.get_weights()[0]) == pytest.approx(adapt_data.mean())
    with pytest.raises(ValueError, match="both `mean` and `variance`"):
        layers.Normalization(mean=1.0)


def test_normalization_backward_and_training_behind_it():
    layer = layers.Normalization(mean=[1.0, -2.0], variance=[4.0, 0.25], dtype="float64")
    x = np.random.default_rng(0).normal(size=(3, 2))
    dy = np.random.default_rng(1).normal(size=(3, 2))
    layer(x)
    layer.forward(x)
    expected = numeric_grad(lambda: float((layer.forward(x) * dy).sum()), x)
    np.testing.assert_allclose(layer.backward(dy), expected, rtol=1e-6)
    rng = np.random.default_rng(0)
    x = rng.normal(50.0, 10.0, size=(128, 3)).astype("float32")
    y = (x - 50.0) @ np.array([[1.0], [-1.0], [0.5]]) / 10.0
    norm = layers.Normalization()
    norm.adapt(x)
    model = brisknn.Sequential([layers.Input((3,)), norm, layers.Dense(1)])
    model.compile(brisknn.optimizers.Adam(0.05), "mse")
    history = model.fit(x, y, epochs=40, batch_size=32, verbose=0).history["loss"]
    assert history[-1] < 0.01 * history[0]
    np.testing.assert_allclose(norm.get_weights()[0], x.mean(axis=0), rtol=1e-5)  # untouched


# -- RepeatVector, Permute, and the noise layers -----------------------------------------------
def test_repeat_vector_and_permute_forward_backward():
    x = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")
    rv = layers.RepeatVector(4)
    y = rv(x)
    assert y.shape == (2, 4, 3) and np.array_equal(y[:, 2], x)
    dy = np.random.default_rng(1).normal(size=(2, 4, 3))
    np.testing.assert_allclose(rv.backward(dy), dy.sum(axis=1))
    x3 = np.random.default_rng(2).normal(size=(2, 3, 4, 5)).astype("float32")
    perm = layers.Permute((3, 1, 2))
    y = perm(x3)
    assert y.shape == (2, 5, 3, 4) and np.array_equal(y, np.transpose(x3, (0, 3, 1, 2)))
    dy = np.random.default_rng(3).normal(size=y.shape)
    np.testing.assert_array_equal(perm.backward(dy), np.transpose(dy, (0, 2, 3, 1)))
    with pytest.raises(ValueError, match="consecutive"):
        layers.Permute((1, 3))
    model = brisknn.Sequential([layers.Input((5, 3)), layers.LSTM(4), layers.RepeatVector(5),
                                layers.LSTM(4, return_sequences=True),
                                layers.TimeDistributed(layers.Dense(3))])
    assert model.output_shape == (None, 5, 3)


def test_noise_layers_in_training_and_inference():
    x = np.ones((3, 4, 6), "float32")
    for layer in (layers.SpatialDropout1D(0.5, seed=1), layers.GaussianNoise(0.3, seed=1),
                  layers.GaussianDropout(0.4, seed=1)):
        np.testing.assert_array_equal(layer(x), x)  # inference: identity
        y = np.asarray(layer(x, training=True))
        assert not np.array_equal(y, x)
        dy = np.random.default_rng(0).normal(size=x.shape).astype("float32")
        dx = layer.backward(dy)
        expected = dy if isinstance(layer, layers.GaussianNoise) else dy * y  # x is ones
        np.testing.assert_allclose(dx, expected, rtol=1e-6)
    y = np.asarray(layers.SpatialDropout1D(0.5, seed=2)(x, training=True))
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert np.all(y == y[:, :1, :])  # a channel is kept or dropped at every step
    z = np.asarray(layers.SpatialDropout2D(0.5, seed=3)(np.ones((2, 3, 3, 8)), training=True))
    assert np.all(z == z[:, :1, :1, :]) and set(np.unique(z)) <= {0.0, 2.0}
    noise = np.asarray(layers.GaussianNoise(0.3, seed=4)(np.zeros((200, 50)), training=True))
    assert noise.std() == pytest.approx(0.3, rel=0.02)
    scale = np.asarray(layers.GaussianDropout(0.2, seed=5)(np.ones((200, 50)), training=True))
    assert scale.std() == pytest.approx(np.sqrt(0.2 / 0.8), rel=0.02)


# -- LayerNormalization and PReLU --------------------------------------------------------------
def _check_layer_gradients(layer, x):
    """dx and every weight's gradient of sum(layer(x) * dy) against central differences."""
    dy = np.random.default_rng(7).normal(size=layer.forward(x, training=True).shape)
    for w in layer.weights:
        w.grad[...] = 0
    layer.forward(x, training=True)
    dx = layer.backward(dy)

    def loss():
        return float((layer.forward(x, training=True) * dy).sum())
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    for w in layer.trainable_weights:
        np.testing.assert_allclose(w.grad, numeric_grad(loss, w.value), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("axis", [-1, [1, 2]])
def test_layer_normalization_matches_keras_formula_and_gradients(axis):
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(4, 3, 5))
    layer = layers.LayerNormalization(axis=axis, epsilon=1e-3, dtype="float64")
    layer.build((None, 3, 5))
    layer.gamma.assign(rng.normal(size=layer.gamma.shape))
    layer.beta.assign(rng.normal(size=layer.beta.shape))
    axes = (2,) if axis == -1 else (1, 2)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    gamma = layer.gamma.numpy().reshape((1, 1, 5) if axis == -1 else (1, 3, 5))
    beta = layer.beta.numpy().reshape(gamma.shape)
    np.testing.assert_allclose(layer(x), gamma * (x - mean) / np.sqrt(var + 1e-3) + beta,
                               rtol=1e-10)
    assert [w.name for w in layer.weights] == ["gamma", "beta"]
    _check_layer_gradients(layer, x)


def test_prelu_forward_weights_and_gradients():
    layer = layers.PReLU(alpha_initializer=brisknn.initializers.Constant(0.25),
                         shared_axes=[1], dtype="float64")
    x = np.random.default_rng(1).normal(size=(3, 4, 2))
    x[np.abs(x) < 1e-3] += 0.01
    y = layer(x)
    assert layer.alpha.shape == (1, 2)
    np.testing.assert_allclose(y, np.where(x > 0, x, 0.25 * x))
    layer.alpha.assign(np.array([[0.1, -0.3]]))
    _check_layer_gradients(layer, x)
    assert layers.PReLU().get_config()["shared_axes"] is None


def test_models_with_layer_normalization_and_prelu_train():
    x = np.random.default_rng(0).random((64, 6)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = brisknn.Sequential([layers.Input((6,)), layers.Dense(8), layers.LayerNormalization(),
                                layers.PReLU(), layers.Dense(1)])
    model.compile(brisknn.optimizers.Adam(0.02), "mse")
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < 0.1 * history[0]


def test_a_custom_loss_trains_when_it_gives_its_gradient_and_says_so_when_not():
    class QuarticError(losses.Loss):
        def call(self, y_true, y_pred):
            return np.mean((y_pred - y_true) ** 4, axis=-1)

        def grad(self, y_true, y_pred):  # d(call)/d(y_pred), one row per sample
            return 4 * (y_pred - y_true) ** 3 / y_pred.shape[-1]

    x = np.random.default_rng(0).normal(size=(32, 2)).astype("float32")
    y = x @ np.array([[1.0], [-1.0]])
    model = brisknn.Sequential([layers.Input((2,)), layers.Dense(1)])
    model.compile(brisknn.optimizers.SGD(0.05), QuarticError())
    history = model.fit(x, y, epochs=10, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]
    assert model.evaluate(x, y, verbose=0) == pytest.approx(
        float(np.mean((model.predict(x, verbose=0) - y) ** 4)), rel=1e-5)

    class NoGradient(losses.Loss):
        def call(self, y_true, y_pred):
            return np.mean(np.abs(y_pred - y_true), axis=-1)

    model.compile("sgd", NoGradient())
    assert model.evaluate(x, y, verbose=0) > 0  # the value needs no gradient
    with pytest.raises(NotImplementedError, match="grad"):
        model.fit(x, y, epochs=1, verbose=0)


@pytest.mark.parametrize("layer,shape,reference", [
    (layers.UpSampling1D(3), (2, 4, 5), lambda x: np.repeat(x, 3, axis=1)),
    (layers.ZeroPadding1D((1, 2)), (2, 4, 5), lambda x: np.pad(x, ((0, 0), (1, 2), (0, 0)))),
    (layers.ZeroPadding1D(2), (2, 4, 5), lambda x: np.pad(x, ((0, 0), (2, 2), (0, 0)))),
    (layers.Cropping1D((1, 2)), (2, 6, 5), lambda x: x[:, 1:4]),
    (layers.Cropping2D(((1, 0), (2, 1))), (2, 5, 6, 3), lambda x: x[:, 1:, 2:5]),
    (layers.Cropping2D(1, data_format="channels_first"), (2, 3, 5, 6),
     lambda x: x[:, :, 1:4, 1:5]),
])
def test_1d_reshaping_and_cropping_layers_as_keras(layer, shape, reference):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    y = layer(x)
    np.testing.assert_array_equal(y, reference(x))
    assert tuple(layer.compute_output_shape((None,) + shape[1:]))[1:] == y.shape[1:]
    dy = np.random.default_rng(1).normal(size=y.shape)
    # the backward of a linear map is its transpose: <dy, J x> == <J^T dy, x>
    assert float((dy * y).sum()) == pytest.approx(float((layer.backward(dy) * x).sum()),
                                                  rel=1e-5)
    assert layer.backward(dy).shape == x.shape


def test_dice_and_tversky_as_keras_with_gradients():
    y_true = [[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]]
    y_pred = [[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]]
    np.testing.assert_allclose(losses.dice(y_true, y_pred, axis=(1, 2, 3)), [0.5, 0.75757575],
                               rtol=1e-6)
    assert float(losses.dice(y_true, y_pred)) == pytest.approx(0.6164384, rel=1e-6)
    assert float(losses.Dice()(y_true, y_pred)) == pytest.approx(0.6164384, rel=1e-6)
    # alpha = beta = 0.5 is the Dice loss
    assert float(losses.tversky(y_true, y_pred)) == pytest.approx(0.6164384, rel=1e-6)
    rng = np.random.default_rng(0)
    t = (rng.random((3, 4)) > 0.5).astype(float)
    p = rng.uniform(0.05, 0.95, (3, 4))
    for loss in (losses.Dice(), losses.Dice(axis=[1]), losses.Tversky(alpha=0.3, beta=0.7)):
        value, grad = loss.batch_loss_and_grad(t, p, with_grad=True)
        assert value == pytest.approx(float(loss(t, p)))
        expected = numeric_grad(lambda: loss.batch_loss_and_grad(t, p, False)[0], p)
        np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-9)


def test_iou_metrics_give_keras_docstring_values():
    from brisknn import metrics
    m = metrics.MeanIoU(num_classes=2)
    assert float(m([0, 0, 1, 1], [0, 1, 0, 1])) == pytest.approx(1 / 3, rel=1e-6)
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[0.3, 0.3, 0.3, 0.1])
    assert float(m.result()) == pytest.approx(0.23809525, rel=1e-6)
    m = metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
    assert float(m([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7])) == pytest.approx(1 / 3, rel=1e-6)
    m.reset_state()
    m.update_state([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7], sample_weight=[0.2, 0.3, 0.4, 0.1])
    assert float(m.result()) == pytest.approx(0.17361112, rel=1e-6)
    y_true = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]])
    y_pred = np.array([[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1], [0.1, 0.4, 0.5]])
    weight = [0.1, 0.2, 0.3, 0.4]
    m = metrics.OneHotIoU(num_classes=3, target_class_ids=[0, 2])
    m.update_state(y_true, y_pred, sample_weight=weight)
    assert float(m.result()) == pytest.approx((0 + 0.1 / 0.7) / 2, rel=1e-5)
    m = metrics.OneHotMeanIoU(num_classes=3)
    m.update_state(y_true, y_pred, sample_weight=weight)
    assert float(m.result()) == pytest.approx(0.1 / 0.7 / 3, rel=1e-5)
    m = metrics.MeanIoU(num_classes=3, ignore_class=2)
    assert float(m([0, 1, 2, 2], [0, 1, 1, 0])) == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="class ids"):
        metrics.MeanIoU(num_classes=2)([0, 3], [0, 1])


def test_rate_at_rate_metrics_give_keras_docstring_values():
    from brisknn import metrics
    y_true, y_pred = [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]
    m = metrics.SensitivityAtSpecificity(0.5)
    assert float(m(y_true, y_pred)) == pytest.approx(0.5)
    m.reset_state()
    m.update_state(y_true, y_pred, sample_weight=[1, 1, 2, 2, 1])
    assert float(m.result()) == pytest.approx(1 / 3)
    m = metrics.SpecificityAtSensitivity(0.5)
    assert float(m(y_true, y_pred)) == pytest.approx(2 / 3)
    m.reset_state()
    m.update_state(y_true, y_pred, sample_weight=[1, 1, 2, 2, 2])
    assert float(m.result()) == pytest.approx(0.5)
    m = metrics.PrecisionAtRecall(0.5)
    assert float(m(y_true, y_pred)) == pytest.approx(0.5)
    m.reset_state()
    m.update_state(y_true, y_pred, sample_weight=[2, 2, 2, 1, 1])
    assert float(m.result()) == pytest.approx(1 / 3)
    m = metrics.RecallAtPrecision(0.8)
    assert float(m([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])) == pytest.approx(0.5)
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert float(m.result()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="range"):
        metrics.PrecisionAtRecall(1.5)


def test_newer_keras_activations_called_directly():
    from brisknn import activations
    x = np.array([-1.0, -0.3, 0.2, 0.7, 2.0])
    np.testing.assert_allclose(activations.hard_shrink(x), [-1, 0, 0, 0.7, 2])
    np.testing.assert_allclose(activations.soft_shrink(x), [-0.5, 0, 0, 0.2, 1.5])
    np.testing.assert_allclose(activations.threshold(x, 0.5, -9.0), [-9, -9, -9, 0.7, 2])
    np.testing.assert_allclose(activations.sparse_sigmoid(x), [0, 0.35, 0.6, 0.85, 1])
    np.testing.assert_allclose(activations.glu(np.array([[1.0, 2.0, 0.0, 3.0]])),
                               [[0.5, 2 / (1 + np.exp(-3.0))]])
    np.testing.assert_allclose(activations.sparsemax(np.array([-1.0, 0.0, 1.0])), [0, 0, 1])
    p = activations.sparsemax(np.array([[0.1, 0.2, 0.3], [3.0, 1.0, 2.5]]))
    np.testing.assert_allclose(p, [[0.1 + 1 / 3 - 0.2, 1 / 3, 1 / 3 + 0.1], [0.75, 0, 0.25]],
                               atol=1e-12)
    assert activations.get("sparsemax") is activations.sparsemax
    with pytest.raises(ValueError, match="Unknown activation"):
        layers.Dense(2, activation="hard_shrink")  # no kernel: direct calls only


def test_initializers_called_directly_use_floatx():
    from brisknn import initializers
    assert initializers.GlorotUniform(seed=0)((2, 3)).dtype == np.float32
    brisknn.backend.set_floatx("float64")
    for init in (initializers.Zeros(), initializers.Ones(), initializers.Constant(2.0),
                 initializers.RandomNormal(seed=1), initializers.HeNormal(seed=1),
                 initializers.Orthogonal(seed=1)):
        assert init((3, 3)).dtype == np.float64, type(init).__name__
    assert initializers.Ones()((2,), dtype="float32").dtype == np.float32


def test_config_module_as_keras_config():
    from brisknn import config
    assert config.floatx() == "float32" and config.epsilon() == 1e-7
    assert config.image_data_format() == "channels_last"
    config.set_floatx("float64")
    assert brisknn.backend.floatx() == "float64"
    assert layers.Dense(2)(np.ones((1, 3))).dtype == np.float64
    config.set_epsilon(1e-7)
    with pytest.raises(NotImplementedError):
        config.set_epsilon(1e-5)
    with pytest.raises(ValueError):
        config.set_image_data_format("channels_middle")
