import numpy as np
import pytest

import brisknn
from brisknn import _core, losses, ops
from conftest import numeric_grad

EPS = 1e-7


# Keras 3's definitions (keras/src/losses, numpy backend), per sample, then the batch mean.
def ref_mse(t, p):
    return np.mean((t - p) ** 2, axis=-1)


def ref_mae(t, p):
    return np.mean(np.abs(t - p), axis=-1)


def ref_bce(t, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p), axis=-1)


def ref_cce(t, p):
    p = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    return -np.sum(t * np.log(p), axis=-1)


def ref_scce(labels, p):
    return ref_cce(np.eye(p.shape[-1])[labels], p)


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _data(rng, n=6, k=4):
    logits = rng.normal(0, 2, (n, k))
    labels = rng.integers(0, k, n)
    return logits, labels, np.eye(k)[labels]


def test_mse_and_mae_match_the_seed_formula():
    rng = np.random.default_rng(0)
    t, p = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    assert ops.mean_squared_error(t, p) == pytest.approx(np.mean((t - p) ** 2), rel=1e-12)
    assert ops.mean_absolute_error(t, p) == pytest.approx(np.mean(np.abs(t - p)), rel=1e-12)
    np.testing.assert_allclose(losses.mean_squared_error(t, p), ref_mse(t, p))


def test_cross_entropies_match_keras_with_clipping():
    rng = np.random.default_rng(1)
    logits, labels, onehot = _data(rng)
    probs = softmax(logits)
    probs[0] = [1.0, 0.0, 0.0, 0.0]  # exercises the clip at 1e-7
    assert ops.categorical_crossentropy(onehot, probs) == pytest.approx(
        ref_cce(onehot, probs).mean(), rel=1e-12)
    assert ops.sparse_categorical_crossentropy(labels, probs) == pytest.approx(
        ref_scce(labels, probs).mean(), rel=1e-12)
    t = rng.integers(0, 2, (6, 1)).astype(float)
    p = 1 / (1 + np.exp(-rng.normal(0, 3, (6, 1))))
    p[0, 0], p[1, 0] = 0.0, 1.0
    assert ops.binary_crossentropy(t, p) == pytest.approx(ref_bce(t, p).mean(), rel=1e-12)


def test_probability_zero_costs_minus_log_epsilon():
    assert losses.BinaryCrossentropy()(np.array([[1.0]]), np.array([[0.0]])) == pytest.approx(
        -np.log(1e-7), rel=1e-6)
    assert losses.SparseCategoricalCrossentropy()(np.array([1]), np.array([[1.0, 0.0]])) == \
        pytest.approx(-np.log(1e-7), rel=1e-6)


def test_from_logits_equals_probabilities_where_no_clip_applies():
    rng = np.random.default_rng(2)
    logits, labels, onehot = _data(rng)
    probs = softmax(logits)
    for name, t in [("categorical_crossentropy", onehot),
                    ("sparse_categorical_crossentropy", labels)]:
        assert ops.loss(t, logits, name, from_logits=True) == pytest.approx(
            ops.loss(t, probs, name), rel=1e-10)
    z = rng.normal(0, 2, (6, 2))
    t = rng.integers(0, 2, (6, 2)).astype(float)
    assert ops.binary_crossentropy(t, z, from_logits=True) == pytest.approx(
        ref_bce(t, 1 / (1 + np.exp(-z))).mean(), rel=1e-10)


def test_from_logits_is_stable_for_extreme_logits():
    z = np.array([[1000.0, -1000.0]])
    assert ops.categorical_crossentropy(np.array([[0.0, 1.0]]), z, from_logits=True) == \
        pytest.approx(2000.0)
    assert ops.binary_crossentropy(np.array([[0.0, 1.0]]), z, from_logits=True) == \
        pytest.approx(1000.0)
    assert ops.binary_crossentropy(np.array([[1.0, 0.0]]), z, from_logits=True) == \
        pytest.approx(0.0, abs=1e-12)


GRAD_CASES = [
    ("mean_squared_error", False), ("mean_absolute_error", False),
    ("binary_crossentropy", False), ("binary_crossentropy", True),
    ("categorical_crossentropy", False), ("categorical_crossentropy", True),
    ("sparse_categorical_crossentropy", False), ("sparse_categorical_crossentropy", True),
]


@pytest.mark.parametrize("name,from_logits", GRAD_CASES)
def test_loss_gradient_matches_finite_differences(name, from_logits):
    rng = np.random.default_rng(3)
    logits, labels, onehot = _data(rng, n=5, k=3)
    if name == "sparse_categorical_crossentropy":
        t = labels
    elif name == "binary_crossentropy":
        t = rng.integers(0, 2, logits.shape).astype(float)
    elif name == "categorical_crossentropy":
        t = onehot
    else:
        t = rng.normal(size=logits.shape)
    if from_logits or name.startswith("mean"):
        p = logits
    elif name == "binary_crossentropy":
        p = 1 / (1 + np.exp(-logits))
    else:  # unnormalised positive scores exercise Keras' renormalisation
        p = np.exp(logits)
    g = ops.loss_backward(t, p, name, from_logits)
    expected = numeric_grad(lambda: float(ops.loss(t, p, name, from_logits)), p)
    np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-9)


def test_sparse_labels_out_of_range_are_refused():
    p = np.full((3, 4), 0.25, np.float32)
    with pytest.raises(ValueError, match=r"label 4 at position 1 is outside \[0, 4\)"):
        ops.sparse_categorical_crossentropy(np.array([0, 4, 1]), p)
    with pytest.raises(ValueError, match="outside"):
        ops.sparse_categorical_crossentropy_backward(np.array([-1, 0, 1]), p)
    with pytest.raises(ValueError, match="whole numbers"):
        ops.sparse_categorical_crossentropy(np.array([0.5, 1, 1]), p)
    with pytest.raises(ValueError, match="labels have shape"):
        ops.sparse_categorical_crossentropy(np.array([0, 1]), p)


def test_loss_lookup_by_keras_names():
    # compile's resolver: always a Loss object
    assert isinstance(losses.loss_object("mse"), losses.MeanSquaredError)
    assert isinstance(losses.loss_object("sparse_categorical_crossentropy"),
                      losses.SparseCategoricalCrossentropy)
    assert losses.loss_object(losses.binary_crossentropy).kernel == "binary_crossentropy"
    with pytest.raises(ValueError, match="Unknown loss"):
        losses.loss_object("hinge_of_doom")
    # keras.losses.get: a function name gives the function, a class name an instance
    assert losses.get("mse") is losses.mean_squared_error
    assert losses.get("sparse_categorical_crossentropy") is losses.sparse_categorical_crossentropy
    assert isinstance(losses.get("SparseCategoricalCrossentropy"),
                      losses.SparseCategoricalCrossentropy)
    assert losses.get(losses.binary_crossentropy) is losses.binary_crossentropy
    assert losses.get(None) is None
    with pytest.raises(ValueError, match="Could not interpret loss"):
        losses.get("hinge_of_doom")


def test_losses_get_reads_keras_serialized_dicts_and_refuses_unknown_ones():
    from brisknn import losses
    loss = losses.get({"class_name": "BinaryCrossentropy", "config": {"from_logits": True}})
    assert isinstance(loss, losses.BinaryCrossentropy) and loss.from_logits
    with pytest.raises(ValueError, match="Unknown loss"):
        losses.get({"class_name": "os.system"})


@pytest.mark.parametrize("name,from_logits", GRAD_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_forward_backward_equals_the_two_kernels_bitwise(name, from_logits, dtype):
    from brisknn import _core
    rng = np.random.default_rng(4)
    logits, labels, onehot = _data(rng, n=300, k=7)
    t = {"sparse_categorical_crossentropy": labels, "categorical_crossentropy": onehot,
         "binary_crossentropy": rng.integers(0, 2, logits.shape)}.get(name, logits[::-1])
    t = t if t is labels else np.ascontiguousarray(t, dtype=dtype)
    p = logits if from_logits or name.startswith("mean") else softmax(logits)
    p = p.astype(dtype)
    per_sample, grad = np.empty(300, dtype), np.empty_like(p)
    _core.loss_forward_backward(t, p, per_sample, grad, name, from_logits, 1 / 300)
    fused = per_sample.copy(), grad.copy()
    # Into the same buffers: Eigen's vectorised elementwise kernels round a few elements
    # differently depending on the output's alignment.
    _core.loss_forward(t, p, per_sample, name, from_logits)
    _core.loss_backward(t, p, grad, name, from_logits, 1 / 300)
    np.testing.assert_array_equal(fused[0], per_sample)
    np.testing.assert_array_equal(fused[1], grad)


def test_fused_forward_backward_refuses_bad_labels_and_shapes():
    from brisknn import _core
    p = np.full((3, 4), 0.25, np.float32)
    out, grad = np.empty(3, np.float32), np.empty_like(p)
    with pytest.raises(ValueError, match=r"loss_forward_backward: label 4 at position 1 is "
                                         r"outside \[0, 4\)"):
        _core.loss_forward_backward(np.array([0, 4, 1]), p, out, grad,
                                    "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"grad has shape \(3, 3\), expected \(3, 4\)"):
        _core.loss_forward_backward(np.array([0, 1, 1]), p, out, np.empty((3, 3), np.float32),
                                    "sparse_categorical_crossentropy")


@pytest.mark.parametrize("name", ["binary_crossentropy", "categorical_crossentropy",
                                  "sparse_categorical_crossentropy", "mean_squared_error"])
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_bits_do_not_depend_on_where_the_buffers_sit(name, from_logits, dtype):
    # exp/log and row sums take Eigen's scalar or vector path by alignment: the per-sample losses
    # and the gradient must come out the same whatever the offset from a 64-byte boundary.
    rng = np.random.default_rng(3)
    rows, classes = 37, 11
    logits = rng.normal(0, 3, (rows, classes))
    pred = logits if from_logits else (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
                                       if "categorical" in name else 1 / (1 + np.exp(-logits)))
    if name == "sparse_categorical_crossentropy":
        y_true = rng.integers(0, classes, rows).astype(np.int64)
    else:
        y_true = rng.random((rows, classes)).astype(dtype)

    def at(offset, source):
        out = np.empty(source.size + 16, dtype)[offset:offset + source.size]
        out[:] = source.reshape(-1)
        return out.reshape(source.shape)

    results = set()
    for offset in range(8):
        p, per_sample, grad = at(offset, pred), at(offset, np.zeros(rows)), at(offset, pred)
        _core.loss_forward(y_true, p, per_sample, name, from_logits)
        _core.loss_backward(y_true, p, grad, name, from_logits, 1.0 / rows)
        results.add((per_sample.tobytes(), grad.tobytes()))
    assert len(results) == 1


@pytest.mark.parametrize("name,classes", [("BinaryCrossentropy", 2), ("CategoricalCrossentropy", 3)])
def test_label_smoothing_is_keras_formula_in_the_loss_and_in_training(name, classes):
    rng = np.random.default_rng(0)
    y = np.eye(3)[rng.integers(0, 3, 8)]
    p = rng.uniform(0.05, 0.95, (8, 3))
    p = p / p.sum(-1, keepdims=True) if classes == 3 else p
    smoothed = getattr(losses, name)(label_smoothing=0.2)
    plain = getattr(losses, name)()
    np.testing.assert_allclose(smoothed(y, p), plain(y * 0.8 + 0.2 / classes, p), rtol=1e-12)
    assert smoothed.get_config()["label_smoothing"] == 0.2
    from brisknn import layers, models
    act = "sigmoid" if classes == 2 else "softmax"
    model = models.Sequential([layers.Input((4,)), layers.Dense(3, activation=act)])
    model.compile("sgd", smoothed)
    x = rng.random((8, 4))
    expected = plain(y * 0.8 + 0.2 / classes, model.predict(x, verbose=0))
    assert abs(model.evaluate(x, y, verbose=0) - expected) < 1e-5
    with pytest.raises(NotImplementedError, match="axis"):
        getattr(losses, name)(axis=0)


# Cross-entropies from logits over <= 32 classes run 16 (float32) or 8 (float64) rows at once,
# one row per SIMD lane, padding the last block: a row's bits must not depend on which block or
# lane it lands in, nor on the thread count, on either side of the 32-class switch.
@pytest.mark.parametrize("classes", [1, 10, 32, 33])
@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_from_logits_rows_do_not_depend_on_their_batch(classes, name, dtype):
    import brisknn
    rng = np.random.default_rng(8)
    rows = 53
    logits = rng.normal(0, 3, (rows, classes)).astype(dtype)
    labels = rng.integers(0, classes, rows)
    if classes > 1 and name.startswith("sparse"):  # a class ruled out: exp(-inf) = 0
        logits[4, 0], labels[4] = -np.inf, classes - 1
    onehot = np.eye(classes, dtype=dtype)[labels]
    t = labels if name.startswith("sparse") else onehot

    def run(z, target):
        per_sample, grad = np.empty(len(z), dtype), np.empty_like(z)
        _core.loss_forward_backward(target, z, per_sample, grad, name, True, 1.0)
        return per_sample, grad

    whole = run(logits, t)
    z = logits.astype(np.float64)
    lse = z.max(-1) + np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1))
    np.testing.assert_allclose(whole[0], lse - z[np.arange(rows), labels],
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)
    np.testing.assert_allclose(whole[1], softmax(logits.astype(np.float64)) - onehot,
                               atol=1e-6 if dtype == np.float32 else 1e-12)
    for start, stop in [(0, 1), (5, 6), (3, 20), (17, 53)]:
        part = run(logits[start:stop].copy(), t[start:stop].copy())
        assert part[0].tobytes() == whole[0][start:stop].tobytes()
        assert part[1].tobytes() == whole[1][start:stop].tobytes()
    before = brisknn.get_num_threads()
    try:
        brisknn.set_num_threads(1)
        single = run(logits, t)
    finally:
        brisknn.set_num_threads(before)
    assert single[0].tobytes() == whole[0].tobytes() and single[1].tobytes() == whole[1].tobytes()


def test_sparse_labels_that_int64_cannot_hold_are_reported_as_given():
    p = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match="labels must be whole numbers"):
        ops.sparse_categorical_crossentropy(np.array([0.0, np.inf]), p)
    with pytest.raises(ValueError, match="label 18446744073709551615 is out of range"):
        ops.sparse_categorical_crossentropy(np.array([0, 2**64 - 1], np.uint64), p)
    with pytest.raises(ValueError, match=r"label 1e\+30 is out of range"):
        ops.sparse_categorical_crossentropy(np.array([0.0, 1e30]), p)


@pytest.mark.parametrize("cls,ref", [(losses.BinaryCrossentropy, ref_bce),
                                     (losses.MeanSquaredError, ref_mse),
                                     (losses.MeanAbsoluteError, ref_mae)])
def test_loss_objects_squeeze_or_expand_a_trailing_axis_of_one_as_keras(cls, ref):
    # Keras' LossFunctionWrapper.call: (n,) labels against an (n, 1) output, and the reverse.
    y = np.array([1.0, 0.0, 1.0])
    p = np.array([[0.9], [0.2], [0.4]])
    want = ref(y[:, None], p).mean()
    assert cls()(y, p) == pytest.approx(want, rel=1e-6)
    assert cls()(y[:, None], p[:, 0]) == pytest.approx(want, rel=1e-6)
    # (n, k) against (n, k, 1): the longer one loses its axis.
    y2, p2 = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[0.7, 0.4], [0.1, 0.8]])
    assert cls()(y2, p2[..., None]) == pytest.approx(ref(y2, p2).mean(), rel=1e-6)
    assert cls()(y2[..., None], p2) == pytest.approx(ref(y2, p2).mean(), rel=1e-6)


def test_binary_crossentropy_object_on_column_output_gives_keras_value():
    got = losses.BinaryCrossentropy()(np.array([1.0, 0.0]), np.array([[0.9], [0.2]]))
    assert got == pytest.approx(-(np.log(0.9) + np.log(0.8)) / 2, rel=1e-6)


def test_categorical_crossentropy_object_squeezes_a_trailing_axis_of_one():
    t, p = np.array([[0.0, 1.0, 0.0]]), np.array([[0.2, 0.5, 0.3]])
    want = ref_cce(t, p).mean()
    assert losses.CategoricalCrossentropy()(t[..., None], p) == pytest.approx(want, rel=1e-6)
    assert losses.CategoricalCrossentropy()(t, p[..., None]) == pytest.approx(want, rel=1e-6)


def test_regression_loss_functions_match_ranks_but_cross_entropy_functions_do_not():
    y, p = np.array([1.0, 0.0]), np.array([[0.9], [0.2]])
    np.testing.assert_allclose(losses.mean_squared_error(y, p), [0.01, 0.04], rtol=1e-6)
    np.testing.assert_allclose(losses.mean_absolute_error(y, p), [0.1, 0.2], rtol=1e-6)
    # Keras' backends raise "must have the same rank" here.
    with pytest.raises(ValueError):
        losses.binary_crossentropy(y, p)


def test_loss_reductions_follow_keras_reduce_values():
    t = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    p = np.array([[0.9, 0.2], [0.3, 0.6], [0.5, 0.8]])
    per_sample = ref_bce(t, p)
    assert losses.BinaryCrossentropy(reduction="sum")(t, p) == pytest.approx(per_sample.sum())
    for none in (None, "none"):
        np.testing.assert_allclose(losses.BinaryCrossentropy(reduction=none)(t, p), per_sample,
                                   rtol=1e-6)
    for mean in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
        assert losses.BinaryCrossentropy(reduction=mean)(t, p) == pytest.approx(
            per_sample.mean())
    assert losses.MeanSquaredError(reduction="sum")(t, p) == pytest.approx(ref_mse(t, p).sum())
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="median")
    from brisknn import layers, models
    model = models.Sequential([layers.Input((2,)), layers.Dense(2)])
    with pytest.raises(NotImplementedError, match="reduction"):
        model.compile("sgd", losses.MeanSquaredError(reduction="sum"))


def test_loss_functions_take_keras_label_smoothing():
    t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    p = np.array([[0.2, 0.7, 0.1], [0.5, 0.3, 0.2]])
    np.testing.assert_allclose(losses.categorical_crossentropy(t, p, label_smoothing=0.1),
                               ref_cce(t * 0.9 + 0.1 / 3, p), rtol=1e-6)
    np.testing.assert_allclose(losses.binary_crossentropy(t, p, label_smoothing=0.2),
                               ref_bce(t * 0.8 + 0.1, p), rtol=1e-6)
    with pytest.raises(NotImplementedError, match="axis"):
        losses.categorical_crossentropy(t, p, axis=0)


def test_a_loss_of_an_array_against_itself_is_allowed_but_outputs_stay_private():
    a = np.eye(4, dtype=np.float32)
    assert losses.CategoricalCrossentropy()(a, a) == pytest.approx(0.0, abs=2e-7)  # log(1 - 1e-7)
    assert ops.mean_squared_error(a, a) == 0.0
    with pytest.raises(ValueError, match="grad and y_true share memory"):
        _core.loss_backward(a, a, a, "mean_squared_error", False, 1.0)
    with pytest.raises(ValueError, match="per_sample and y_pred share memory"):
        _core.loss_forward(np.zeros((4, 4), np.float32), a, a.reshape(-1)[:4],
                           "mean_squared_error", False)
    per_sample = np.empty(4, np.float32)
    _core.loss_forward(a, a, per_sample, "mean_squared_error", False)
    assert not per_sample.any()


def test_function_form_losses_give_per_sample_values_with_numpy():
    y, p = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[0.2, 0.8], [0.7, 0.3]])
    np.testing.assert_allclose(losses.categorical_crossentropy(y, p).numpy(),
                               -np.log([0.8, 0.7]), rtol=1e-12)
    np.testing.assert_allclose(losses.mse(y, p).numpy(), [0.04, 0.09], rtol=1e-12)


def test_sparse_crossentropy_ignore_class_as_keras():
    # Keras 3: ignored labels give 0 and are masked; the mean is over the others.
    from brisknn import losses
    y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]], np.float32)
    y_true = np.array([1, 2, -1])
    ref = -np.log(np.clip([0.95, 0.1], 1e-7, 1))
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(y_true, y_pred,
                                                                      ignore_class=-1),
                               [ref[0], ref[1], 0.0], rtol=1e-6)
    loss = losses.SparseCategoricalCrossentropy(ignore_class=-1)
    np.testing.assert_allclose(loss(y_true, y_pred), ref.sum() / (2 + 1e-7), rtol=1e-6)
    np.testing.assert_allclose(loss(y_true[:, None], y_pred, sample_weight=[1, 2, 3]),
                               (ref[0] + 2 * ref[1]) / (2 + 1e-7), rtol=1e-6)
    summed = losses.SparseCategoricalCrossentropy(ignore_class=-1, reduction="sum")
    np.testing.assert_allclose(summed(y_true, y_pred), ref.sum(), rtol=1e-6)
    by_weight = losses.SparseCategoricalCrossentropy(ignore_class=-1,
                                                     reduction="mean_with_sample_weight")
    np.testing.assert_allclose(by_weight(y_true, y_pred, sample_weight=[1, 2, 3]),
                               (ref[0] + 2 * ref[1]) / 3, rtol=1e-6)
    assert losses.SparseCategoricalCrossentropy.from_config(loss.get_config()).ignore_class == -1


def test_fit_ignores_the_ignored_class_with_the_right_gradient():
    brisknn.backend.set_floatx("float64")  # conftest puts float32 back
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 4))
    y = rng.integers(0, 3, 12)
    y[[1, 5, 6]] = 255
    brisknn.utils.set_random_seed(2)
    model = brisknn.Sequential([brisknn.layers.Input((4,)),
                                brisknn.layers.Dense(5, activation="tanh"),
                                brisknn.layers.Dense(3, activation="softmax")])
    lr = 0.5
    model.compile(optimizer=brisknn.optimizers.SGD(lr),
                  loss=brisknn.losses.SparseCategoricalCrossentropy(ignore_class=255))
    kernel = model.layers[0].kernel.value

    def loss():
        return model.evaluate(x, y, batch_size=12, verbose=0)
    p = model.predict(x, verbose=0)
    valid = y != 255
    np.testing.assert_allclose(loss(), -np.log(p[valid, y[valid]]).sum() / (valid.sum() + 1e-7))
    expected = numeric_grad(loss, kernel)
    before = kernel.copy()
    model.train_on_batch(x, y)
    np.testing.assert_allclose((before - kernel) / lr, expected, rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        model.train_on_batch(x, np.where(valid, y, 254))
