"""sample_weight, class_weight and weighted_metrics in Sequential, as Keras 3: the loss is
'sum_over_batch_size', sum(loss * sample_weight) / (number of loss values) (not / sum of the
weights; keras/src/losses/loss.py reduce_weighted_values), an output mask folds in as
weight * mask / unmasked count, class_weight becomes one weight per sample
(data_adapter_utils.class_weight_to_sample_weights), and only `weighted_metrics` see the
weights (trainers/compile_utils.py CompileMetrics)."""
import numpy as np
import pytest

import brisknn
from brisknn import layers, models, optimizers, regularizers
from conftest import numeric_grad

LR = 1e-3


def _data(n=12, features=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    y = rng.integers(0, classes, n)
    w = rng.uniform(0.0, 3.0, n)  # sum(w) != n: the two reductions differ
    return x, y, w


def _mlp(out=3, activation="softmax", features=4, seed=7, regularize=False):
    brisknn.utils.set_random_seed(seed)
    reg = regularizers.L2(0.01) if regularize else None
    return models.Sequential([layers.Input((features,)),
                              layers.Dense(5, activation="tanh", kernel_regularizer=reg),
                              layers.Dense(out, activation=activation)])


def _twins(make, loss, optimizer=lambda: optimizers.SGD(learning_rate=0.1), **compile_kw):
    """Two models with the same weights and the same training seed."""
    pair = []
    for _ in range(2):
        m = make()
        m.compile(optimizer(), loss, **compile_kw)
        pair.append(m)
    pair[1].set_weights(pair[0].get_weights())
    return pair


def _same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# NumPy per-sample losses (float64), on the model's outputs (probabilities for the
# cross-entropies, clipped at 1e-7 as Keras).
def _per_sample(loss, y, p):
    eps = 1e-7
    if loss == "mse":
        return ((p - y) ** 2).mean(axis=-1)
    if loss == "mae":
        return np.abs(p - y).mean(axis=-1)
    pc = np.clip(p, eps, 1 - eps)
    if loss == "binary_crossentropy":
        return -(y * np.log(pc) + (1 - y) * np.log(1 - pc)).mean(axis=-1)
    if loss == "categorical_crossentropy":
        return -(y * np.log(pc)).sum(axis=-1)
    return -np.log(np.take_along_axis(pc, y[..., None].astype(int), -1)[..., 0])


CASES = [  # (loss, output units, activation, targets from labels)
    ("sparse_categorical_crossentropy", 3, "softmax", lambda y: y),
    ("categorical_crossentropy", 3, "softmax", lambda y: np.eye(3)[y]),
    ("binary_crossentropy", 1, "sigmoid", lambda y: (y > 0).astype(float)[:, None]),
    ("mse", 2, "linear", lambda y: np.stack([y, -y], 1) * 0.5),
    ("mae", 2, "linear", lambda y: np.stack([y, -y], 1) * 0.5),
]


@pytest.mark.parametrize("loss, units, activation, targets", CASES, ids=[c[0] for c in CASES])
def test_weighted_loss_is_keras_sum_over_batch_size(loss, units, activation, targets):
    brisknn.backend.set_floatx("float64")
    x, labels, w = _data()
    y = targets(labels)
    model = _mlp(units, activation)
    model.compile("sgd", loss)
    p = model.predict(x, verbose=0)
    expected = (_per_sample(loss, y, p) * w).sum() / len(x)
    assert not np.isclose(expected, (_per_sample(loss, y, p) * w).sum() / w.sum())
    # One batch, several batches (the last one short), test_on_batch: the same value.
    assert model.evaluate(x, y, sample_weight=w, batch_size=12, verbose=0) == \
        pytest.approx(expected, rel=1e-12)
    assert model.evaluate(x, y, sample_weight=w, batch_size=5, verbose=0) == \
        pytest.approx(expected, rel=1e-12)
    assert model.test_on_batch(x, y, sample_weight=w) == pytest.approx(expected, rel=1e-12)
    # (samples, 1) weights are the same weights (Keras squeezes the axis of 1).
    assert model.test_on_batch(x, y, sample_weight=w[:, None]) == \
        pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("loss, units, activation, targets", CASES[:4],
                         ids=[c[0] for c in CASES[:4]])
def test_weighted_step_follows_the_gradient_of_the_weighted_loss(loss, units, activation,
                                                                 targets):
    # float64 end to end; central differences of evaluate's weighted loss (with the L2
    # penalty) against the step train_on_batch takes with plain SGD.
    brisknn.backend.set_floatx("float64")
    x, labels, w = _data()
    w[3] = 0.0
    w[5] = -0.5  # Keras takes negative weights as they are
    y = targets(labels)
    model = _mlp(units, activation, regularize=True)
    model.compile(optimizers.SGD(learning_rate=LR), loss)
    before = model.get_weights()

    def weighted_loss():
        return model.evaluate(x, y, sample_weight=w, batch_size=len(x), verbose=0)

    numeric = [numeric_grad(weighted_loss, var.value) for var in model.weights]
    expected = weighted_loss()
    assert model.train_on_batch(x, y, sample_weight=w) == pytest.approx(expected, rel=1e-12)
    for w0, w1, g in zip(before, model.get_weights(), numeric):
        np.testing.assert_allclose((w0 - w1) / LR, g, rtol=1e-5, atol=1e-8)


def test_train_on_batch_reports_the_weighted_loss_before_the_step():
    brisknn.backend.set_floatx("float64")
    x, y, w = _data()
    model = _mlp()
    model.compile("sgd", "sparse_categorical_crossentropy")
    expected = model.evaluate(x, y, sample_weight=w, batch_size=12, verbose=0)
    assert model.train_on_batch(x, y, sample_weight=w) == pytest.approx(expected, rel=1e-12)


def test_weights_of_one_give_the_unweighted_training_bit_for_bit():
    x, y, _ = _data(n=50)
    x = x.astype(np.float32)
    a, b = _twins(_mlp, "sparse_categorical_crossentropy", metrics=["accuracy"])
    brisknn.utils.set_random_seed(3)
    ha = a.fit(x, y, batch_size=8, epochs=2, validation_split=0.2, verbose=0)
    brisknn.utils.set_random_seed(3)
    hb = b.fit(x, y, batch_size=8, epochs=2, validation_split=0.2, verbose=0,
               sample_weight=np.ones(50))
    _same_weights(a, b)
    assert ha.history == hb.history
    assert a.train_on_batch(x, y) == b.train_on_batch(x, y, sample_weight=np.ones(50))
    _same_weights(a, b)
    assert a.evaluate(x, y, verbose=0) == b.evaluate(x, y, sample_weight=np.ones(50),
                                                     verbose=0)


def test_a_sample_of_weight_zero_does_not_affect_the_step():
    x, y, w = _data(n=10)
    w[[2, 7]] = 0.0
    a, b = _twins(_mlp, "sparse_categorical_crossentropy")
    loss_a = a.train_on_batch(x, y, sample_weight=w)
    x2, y2 = x.copy(), y.copy()
    x2[[2, 7]] = 50.0  # anything finite
    y2[[2, 7]] = (y[[2, 7]] + 1) % 3
    loss_b = b.train_on_batch(x2, y2, sample_weight=w)
    assert loss_a == loss_b
    _same_weights(a, b)


def test_zeroed_samples_still_count_in_the_batch_size():
    # Keras divides by the number of samples, not the weights' sum: zeroing half of a batch
    # equals training on the other half with weights of one half.
    brisknn.backend.set_floatx("float64")
    x, y, _ = _data(n=12)
    keep = np.arange(12) % 2 == 0
    a, b = _twins(_mlp, "sparse_categorical_crossentropy")
    loss_a = a.train_on_batch(x, y, sample_weight=keep.astype(float))
    loss_b = b.train_on_batch(x[keep], y[keep], sample_weight=np.full(6, 0.5))
    assert loss_a == pytest.approx(loss_b, rel=1e-12)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-12, atol=1e-14)


def test_fit_shuffles_and_splits_the_weights_with_x_and_y():
    # Samples of weight 0 are corrupted: a run where their weights followed other rows (a
    # shuffle or validation split not applied to the weights) would see the corruption.
    rng = np.random.default_rng(5)
    x, y, w = _data(n=40)
    x = x.astype(np.float32)
    w[rng.choice(40, 12, replace=False)] = 0.0
    w[[33, 38]] = 0.0  # in the validation part (the last 20%)
    x_bad, y_bad = x.copy(), y.copy()
    x_bad[w == 0] = rng.normal(size=(int((w == 0).sum()), 4)) * 30
    y_bad[w == 0] = (y[w == 0] + 1) % 3
    runs = []
    for xs, ys in ((x, y), (x_bad, y_bad)):
        m = _mlp()
        m.compile(optimizers.SGD(learning_rate=0.1), "sparse_categorical_crossentropy",
                  weighted_metrics=["accuracy"])
        brisknn.utils.set_random_seed(11)
        h = m.fit(xs, ys, sample_weight=w, batch_size=6, epochs=3, shuffle=True,
                  validation_split=0.2, verbose=0)
        runs.append((m, h.history))
    _same_weights(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    # The validation loss is evaluate's on the last 20% with its weights.
    model, history = runs[0]
    val = model.evaluate(x[32:], y[32:], sample_weight=w[32:], batch_size=6, verbose=0,
                         return_dict=True)
    assert history["val_loss"][-1] == pytest.approx(val["loss"], rel=1e-6)
    assert history["val_accuracy"][-1] == pytest.approx(val["accuracy"], rel=1e-6)
    # ... and the weights did weigh: unweighted training differs.
    m = _mlp()
    m.compile(optimizers.SGD(learning_rate=0.1), "sparse_categorical_crossentropy")
    brisknn.utils.set_random_seed(11)
    m.fit(x, y, batch_size=6, epochs=3, validation_split=0.2, verbose=0)
    assert not np.array_equal(m.get_weights()[0], model.get_weights()[0])


def test_fit_history_loss_is_the_batch_size_weighted_mean_of_weighted_batch_losses():
    brisknn.backend.set_floatx("float64")
    x, y, w = _data(n=11)
    a, b = _twins(_mlp, "sparse_categorical_crossentropy")
    history = a.fit(x, y, sample_weight=w, batch_size=4, epochs=1, shuffle=False, verbose=0)
    losses = [b.train_on_batch(x[lo:lo + 4], y[lo:lo + 4], sample_weight=w[lo:lo + 4]) *
              len(x[lo:lo + 4]) for lo in range(0, 11, 4)]
    assert history.history["loss"][0] == pytest.approx(sum(losses) / 11, rel=1e-12)
    _same_weights(a, b)


def test_validation_data_takes_val_sample_weight():
    brisknn.backend.set_floatx("float64")
    x, y, w = _data(n=20)
    model = _mlp()
    model.compile("sgd", "sparse_categorical_crossentropy")
    h = model.fit(x[:12], y[:12], epochs=1, verbose=0,
                  validation_data=(x[12:], y[12:], w[12:]))
    expected = model.evaluate(x[12:], y[12:], sample_weight=w[12:], verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(expected, rel=1e-12)
    h = model.fit(x[:12], y[:12], epochs=1, verbose=0, validation_data=(x[12:], y[12:], None))
    assert h.history["val_loss"][0] == pytest.approx(
        model.evaluate(x[12:], y[12:], verbose=0), rel=1e-12)


# -- class_weight ------------------------------------------------------------------------------
@pytest.mark.parametrize("loss, units, activation, targets", CASES[:3],
                         ids=[c[0] for c in CASES[:3]])
def test_class_weight_is_the_equivalent_sample_weight(loss, units, activation, targets):
    x, labels, _ = _data(n=30)
    y = targets(labels)
    class_weight = {0: 0.5, 1: 3.0}  # class 2 missing: weight 1, as Keras' .get(c, 1.0)
    classes = labels if units > 1 else (labels > 0).astype(int)
    w = np.array([class_weight.get(int(c), 1.0) for c in classes])
    a, b = _twins(lambda: _mlp(units, activation), loss)
    assert a.train_on_batch(x, y, class_weight=class_weight) == \
        b.train_on_batch(x, y, sample_weight=w)
    _same_weights(a, b)
    brisknn.utils.set_random_seed(2)
    ha = a.fit(x, y, class_weight=class_weight, batch_size=7, epochs=2, verbose=0,
               validation_split=0.3)
    brisknn.utils.set_random_seed(2)
    # class_weight weighs the training part only: the validation part is unweighted.
    hb = b.fit(x[:21], y[:21], sample_weight=w[:21], batch_size=7, epochs=2, verbose=0,
               validation_data=(x[21:], y[21:]))
    _same_weights(a, b)
    assert ha.history == hb.history


def test_class_weight_reads_labels_as_keras_does():
    brisknn.backend.set_floatx("float64")
    x, labels, _ = _data(n=8)
    cw = {0: 2.0, 1: 0.25, 2: 4.0}
    expected = np.array([cw[c] for c in labels])
    model = _mlp()
    model.compile("sgd", "sparse_categorical_crossentropy")
    for y in (labels, labels[:, None], labels.astype(float), np.eye(3)[labels] * 0.9):
        got = model._class_weight_to_sample_weight(cw, y, "fit")
        np.testing.assert_array_equal(got, expected)
    # Keys as Keras' int(key) reads them; other classes weigh 1.
    got = model._class_weight_to_sample_weight({"1": 5.0, np.int64(2): 3.0}, labels, "fit")
    np.testing.assert_array_equal(got, np.select([labels == 1, labels == 2], [5.0, 3.0], 1.0))
    binary = _mlp(1, "sigmoid")
    binary.compile("sgd", "binary_crossentropy")
    got = binary._class_weight_to_sample_weight({0: 3.0, 1: 0.5}, np.array([0.2, 0.7, 1.0]),
                                                "fit")
    np.testing.assert_array_equal(got, [3.0, 0.5, 0.5])  # rounded labels


# -- weighted_metrics ------------------------------------------------------------------------
def test_only_weighted_metrics_see_the_weights_and_share_names_as_keras():
    brisknn.backend.set_floatx("float64")
    x, y, w = _data(n=16)
    model = _mlp()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy", "sparse_categorical_crossentropy"])
    hit = (model.predict(x, verbose=0).argmax(-1) == y).astype(float)
    logs = model.evaluate(x, y, sample_weight=w, batch_size=5, verbose=0, return_dict=True)
    assert list(logs) == ["accuracy", "loss", "sparse_categorical_crossentropy",
                          "weighted_accuracy"]
    assert logs["accuracy"] == pytest.approx(hit.mean(), rel=1e-12)
    assert logs["weighted_accuracy"] == pytest.approx((hit * w).sum() / w.sum(), rel=1e-12)
    # A weighted metric is Keras' weighted mean (/ sum of weights), the loss is not.
    assert logs["sparse_categorical_crossentropy"] == pytest.approx(
        logs["loss"] * len(x) / w.sum(), rel=1e-10)
    assert model.metrics_names == ["loss", "accuracy", "weighted_accuracy",
                                   "sparse_categorical_crossentropy"]
    values = model.evaluate(x, y, sample_weight=w, batch_size=5, verbose=0)
    assert values == [logs[k] for k in ["loss", "accuracy", "weighted_accuracy",
                                        "sparse_categorical_crossentropy"]]
    # Without weights the weighted metrics are the plain ones.
    plain = model.evaluate(x, y, verbose=0, return_dict=True)
    assert plain["weighted_accuracy"] == plain["accuracy"]
    history = model.fit(x, y, sample_weight=w, validation_split=0.25, verbose=0)
    assert sorted(history.history) == sorted(
        ["loss", "accuracy", "weighted_accuracy", "sparse_categorical_crossentropy"] +
        ["val_loss", "val_accuracy", "val_weighted_accuracy",
         "val_sparse_categorical_crossentropy"])


def test_weighted_metrics_survive_save_and_load(tmp_path):
    x, y, w = _data(n=8)
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy"])
    model.fit(x, y, sample_weight=w, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras")
    assert loaded.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True) == \
        model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)


# -- sequence outputs ------------------------------------------------------------------------
def _sequence_model(mask_zero):
    brisknn.utils.set_random_seed(9)
    return models.Sequential([layers.Input((None,)),
                              layers.Embedding(20, 3, mask_zero=mask_zero),
                              layers.SimpleRNN(3, return_sequences=True),
                              layers.Dense(2, activation="softmax")])


@pytest.mark.parametrize("mask_zero", [False, True])
@pytest.mark.parametrize("per_step", [False, True])
def test_sequence_weights_combine_with_the_mask_as_keras(mask_zero, per_step):
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(21)
    ids = np.array([[3, 7, 1, 0, 0], [0, 4, 4, 9, 2], [5, 5, 0, 6, 1]])
    y = rng.integers(0, 2, (3, 5))
    w = rng.uniform(0.2, 2.0, (3, 5) if per_step else 3)
    model = _sequence_model(mask_zero)
    model.compile(optimizers.SGD(learning_rate=LR), "sparse_categorical_crossentropy",
                  weighted_metrics=["accuracy"])
    p = model.predict(ids, verbose=0)
    losses = _per_sample("sparse_categorical_crossentropy", y, p)
    mask = ids != 0 if mask_zero else np.ones(ids.shape, bool)
    step_w = w if per_step else np.broadcast_to(w[:, None], ids.shape)
    # Keras: weight * mask * total / unmasked (apply_mask), then the sum / total.
    denominator = mask.sum() + 1e-7 if mask_zero else mask.size
    expected = (losses * step_w * mask).sum() / denominator
    loss, acc = model.evaluate(ids, y, sample_weight=w, verbose=0)
    assert loss == pytest.approx(expected, rel=1e-12)
    # The weighted accuracy: Keras' Mean over samples of weight * mask.
    hit = (p.argmax(-1) == y)
    sw = step_w * mask
    per_sample_w = sw.mean(axis=1)
    expected_acc = ((hit * sw).mean(axis=1)).sum() / per_sample_w.sum()
    assert acc == pytest.approx(expected_acc, rel=1e-12)
    # The step follows the gradient of that loss.
    before = model.get_weights()

    def weighted_loss():
        return model.evaluate(ids, y, sample_weight=w, verbose=0)[0]

    numeric = [numeric_grad(weighted_loss, var.value) for var in model.trainable_weights]
    model.train_on_batch(ids, y, sample_weight=w)
    for w0, w1, g in zip(before, model.get_weights(), numeric):
        np.testing.assert_allclose((w0 - w1) / LR, g, rtol=1e-5, atol=1e-8)


# -- bad input -------------------------------------------------------------------------------
def _compiled():
    model = _mlp()
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("weight, error, message", [
    (np.ones(11), ValueError, r"sample_weight has shape \(11,\), expected \(12,\)"),
    (np.ones((12, 3)), ValueError, r"sample_weight has shape \(12, 3\), expected \(12,\)"),
    (np.ones(()), ValueError, r"sample_weight has shape \(\)"),
    (np.r_[np.ones(11), np.nan], ValueError, r"sample_weight contains NaN or inf .*\(11,\)"),
    (np.r_[np.inf, np.ones(11)], ValueError, r"sample_weight contains NaN or inf"),
    (np.array(["a"] * 12), TypeError, r"sample_weight must be numeric, got dtype <U1"),
    (np.ones(12, complex), TypeError, r"sample_weight must be numeric"),
])
def test_bad_sample_weight_is_refused_naming_the_method(weight, error, message):
    x, y, _ = _data()
    model = _compiled()
    before = model.get_weights()
    for method, call in [
            ("fit", lambda: model.fit(x, y, sample_weight=weight, verbose=0)),
            ("evaluate", lambda: model.evaluate(x, y, sample_weight=weight, verbose=0)),
            ("train_on_batch", lambda: model.train_on_batch(x, y, sample_weight=weight)),
            ("test_on_batch", lambda: model.test_on_batch(x, y, sample_weight=weight))]:
        with pytest.raises(error, match=method + ": " + message):
            call()
    _same_weights_as(model, before)


def _same_weights_as(model, weights):
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)


def test_negative_and_integer_weights_are_taken_as_keras():
    brisknn.backend.set_floatx("float64")
    x, y, _ = _data()
    model = _compiled()
    w = np.arange(12) - 4
    p = model.predict(x, verbose=0)
    expected = (_per_sample("sparse_categorical_crossentropy", y, p) * w).sum() / 12
    assert model.evaluate(x, y, sample_weight=w, verbose=0) == pytest.approx(expected)
    assert model.evaluate(x, y, sample_weight=list(w > 0), verbose=0) == pytest.approx(
        (_per_sample("sparse_categorical_crossentropy", y, p) * (w > 0)).sum() / 12)


@pytest.mark.parametrize("class_weight, error, message", [
    ([1.0, 2.0], TypeError, r"class_weight must be a dict .* got list"),
    ({"a": 1.0}, ValueError, r"class_weight must have integer keys .* 'a' of type str"),
    ({1.5: 1.0}, ValueError, r"class_weight must have integer keys .* 1.5 of type float"),
    ({None: 1.0}, ValueError, r"class_weight must have integer keys .* None of type NoneType"),
    ({0: "heavy"}, TypeError, r"class_weight\[0\] must be a number"),
    ({0: [1, 2]}, TypeError, r"class_weight\[0\] must be a number"),
    ({0: np.nan}, ValueError, r"class_weight contains NaN or inf"),
])
def test_bad_class_weight_is_refused(class_weight, error, message):
    x, y, _ = _data()
    model = _compiled()
    with pytest.raises(error, match="fit: " + message):
        model.fit(x, y, class_weight=class_weight, verbose=0)
    with pytest.raises(error, match="train_on_batch: " + message):
        model.train_on_batch(x, y, class_weight=class_weight)


def test_class_weight_with_sample_weight_or_a_sequence_output_is_refused():
    x, y, w = _data()
    model = _compiled()
    for call in (lambda: model.fit(x, y, sample_weight=w, class_weight={0: 2.0}, verbose=0),
                 lambda: model.train_on_batch(x, y, sample_weight=w, class_weight={0: 2.0})):
        with pytest.raises(ValueError, match="cannot be specified at the same time"):
            call()
    seq = _sequence_model(False)
    seq.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"fit: class_weight needs one class per sample.*"
                                         r"\(None, None, 2\)"):
        seq.fit(np.ones((2, 4)), np.zeros((2, 4)), class_weight={0: 1.0}, verbose=0)


def test_bad_validation_weights_and_sequence_weights_are_refused():
    x, y, w = _data(n=20)
    model = _compiled()
    with pytest.raises(ValueError, match=r"fit \(validation_data\): val_sample_weight has "
                                         r"shape \(5,\), expected \(8,\)"):
        model.fit(x[:12], y[:12], validation_data=(x[12:], y[12:], w[:5]), verbose=0)
    with pytest.raises(ValueError, match=r"validation_data must be \(x_val, y_val\) or"):
        model.fit(x[:12], y[:12], validation_data=(x[12:], y[12:], w[12:], w[12:]), verbose=0)
    seq = _sequence_model(True)
    seq.compile("sgd", "sparse_categorical_crossentropy")
    ids = np.ones((2, 4), int)
    with pytest.raises(ValueError, match=r"evaluate: sample_weight has shape \(2, 3\), "
                                         r"expected \(2,\) or \(2, 4\)"):
        seq.evaluate(ids, np.zeros((2, 4)), sample_weight=np.ones((2, 3)), verbose=0)


# -- loss objects called directly ------------------------------------------------------------
def test_loss_objects_take_sample_weight_as_keras_reduce_weighted_values():
    brisknn.backend.set_floatx("float64")
    from brisknn import losses
    rng = np.random.default_rng(8)
    t = (rng.uniform(size=(6, 3)) > 0.5).astype(float)
    p = rng.uniform(0.05, 0.95, (6, 3))
    w = rng.uniform(0, 2, 6)
    per_sample = _per_sample("binary_crossentropy", t, p)
    bce = losses.BinaryCrossentropy
    assert bce()(t, p, sample_weight=w) == pytest.approx((per_sample * w).sum() / 6, rel=1e-12)
    assert bce(reduction="mean")(t, p, sample_weight=w) == pytest.approx(
        (per_sample * w).sum() / 6, rel=1e-12)
    assert bce(reduction="mean_with_sample_weight")(t, p, sample_weight=w) == pytest.approx(
        (per_sample * w).sum() / w.sum(), rel=1e-12)
    assert bce(reduction="mean_with_sample_weight")(t, p, sample_weight=np.zeros(6)) == 0.0
    assert bce(reduction="sum")(t, p, sample_weight=w) == pytest.approx((per_sample * w).sum(),
                                                                        rel=1e-12)
    # (batch, 1) weights: Keras' squeeze_or_expand_to_same_rank gives the values that axis.
    np.testing.assert_allclose(bce(reduction=None)(t, p, sample_weight=w[:, None]),
                               (per_sample * w)[:, None], rtol=1e-12)
    np.testing.assert_allclose(bce(reduction=None)(t, p, sample_weight=w), per_sample * w,
                               rtol=1e-12)
    # The model's loss is the loss object's on its outputs.
    x, labels, w = _data()
    model = _mlp()
    model.compile("sgd", "sparse_categorical_crossentropy")
    direct = losses.SparseCategoricalCrossentropy()(labels, model.predict(x, verbose=0),
                                                     sample_weight=w)
    assert model.evaluate(x, labels, sample_weight=w, verbose=0) == pytest.approx(direct,
                                                                                  rel=1e-12)
    with pytest.raises(ValueError, match=r"MeanSquaredError: sample_weight of shape \(4,\) "
                                         r"does not fit the losses of shape \(6,\)"):
        losses.MeanSquaredError()(t, p, sample_weight=np.ones(4))
    with pytest.raises(TypeError, match="sample_weight must be numeric"):
        losses.MeanSquaredError()(t, p, sample_weight=["a"] * 6)


def test_a_numpy_loss_is_weighted_as_keras():
    # Huber is computed in NumPy (losses.py): sum(w * loss) / samples, as the C++ losses.
    rng = np.random.default_rng(7)
    x = rng.normal(size=(12, 3)).astype(np.float32)
    y = rng.normal(size=(12, 2)).astype(np.float32)
    w = rng.uniform(0, 2, size=12).astype(np.float32)
    model = brisknn.Sequential([layers.Input((3,)), layers.Dense(2)])
    model.compile("sgd", brisknn.losses.Huber())
    pred = model.predict(x, verbose=0)
    per_sample = brisknn.losses.Huber(reduction=None)(y, pred)
    expected = float((np.asarray(per_sample, np.float64) * w).sum() / 12)
    assert model.evaluate(x, y, sample_weight=w, verbose=0) == pytest.approx(expected, rel=1e-6)
    assert model.train_on_batch(x, y, sample_weight=w) == pytest.approx(expected, rel=1e-6)
