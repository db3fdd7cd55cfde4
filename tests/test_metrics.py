"""Metrics against NumPy references and Keras 3's docstring examples (keras/src/metrics)."""
import numpy as np
import pytest

from brisknn import layers, metrics, models


def test_keras_docstring_examples():
    m = metrics.BinaryAccuracy()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(0.5)
    m = metrics.Mean()
    m.update_state([1, 3, 5, 7])
    assert m.result() == 4.0
    m.reset_state()
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert m.result() == 2.0
    m = metrics.TopKCategoricalAccuracy(k=1)
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(0.5)
    m.reset_state()
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
                   sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3)
    m = metrics.SparseTopKCategoricalAccuracy(k=1)
    m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(0.5)
    for cls in (metrics.Precision, metrics.Recall):
        m = cls()
        m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
        assert m.result() == pytest.approx(2 / 3)
        m.reset_state()
        m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
        assert m.result() == pytest.approx(1.0)


def test_binary_accuracy_compares_labels_exactly_as_keras():
    # binary_accuracy: y_true == (y_pred > threshold); a soft label 0.9 is never right.
    m = metrics.BinaryAccuracy()
    m.update_state([[0.9], [0.9]], [[0.8], [0.2]])
    assert m.result() == 0.0
    assert metrics.BinaryAccuracy(threshold=0.7)([1, 0, 1], [[0.75], [0.71], [0.5]]) == \
        pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="threshold"):
        metrics.BinaryAccuracy(threshold=1.0)


def test_accuracy_string_on_a_sigmoid_output_is_exact_binary_accuracy():
    model = models.Sequential([layers.Input((3,)), layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(8, 3))
    p = model.predict(x, verbose=0)[:, 0]
    soft = np.where(p > 0.5, 0.9, 0.1)  # the "right" side, but smoothed labels
    assert model.evaluate(x, soft, verbose=0)[1] == 0.0
    hard = (p > 0.5).astype(np.float32)
    assert model.evaluate(x, hard, verbose=0)[1] == 1.0


def test_metric_objects_are_callable_and_expose_their_variables():
    m = metrics.BinaryAccuracy()
    assert m([[1]], [[0.9]]) == 1.0
    assert m([[1]], [[0.1]]) == 0.5  # running over both calls, as Keras' Metric.__call__
    assert [v.name for v in m.variables] == ["total", "count"]
    assert [float(v.numpy()) for v in m.variables] == [1.0, 2.0]
    m.reset_state()
    assert [float(v.numpy()) for v in m.variables] == [0.0, 0.0]
    assert [v.name for v in metrics.Precision().variables] == ["true_positives",
                                                                 "false_positives"]


def test_precision_and_recall_match_numpy_over_batches_thresholds_and_classes():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (40, 3))
    p = rng.random((40, 3))
    w = rng.random(40)
    precision = metrics.Precision(thresholds=[0.3, 0.5, 0.8])
    recall = metrics.Recall(class_id=1)
    weighted = metrics.Precision()
    for lo in range(0, 40, 16):  # three batches, the last short
        precision.update_state(y[lo:lo + 16], p[lo:lo + 16])
        recall.update_state(y[lo:lo + 16], p[lo:lo + 16])
        weighted.update_state(y[lo:lo + 16], p[lo:lo + 16], sample_weight=w[lo:lo + 16])
    for i, t in enumerate([0.3, 0.5, 0.8]):
        pos = p > t
        assert precision.result()[i] == pytest.approx((pos & (y == 1)).sum() / pos.sum())
    pos = p[:, 1] > 0.5
    assert recall.result() == pytest.approx((pos & (y[:, 1] == 1)).sum() / (y[:, 1] == 1).sum())
    ww = np.broadcast_to(w[:, None], y.shape)
    pos = p > 0.5
    assert weighted.result() == pytest.approx((ww * (pos & (y == 1))).sum() / (ww * pos).sum())
    assert metrics.Recall().result() == 0.0  # nothing seen: 0, not NaN (divide_no_nan)


def test_root_mean_squared_error_is_the_root_of_the_mean_over_all_samples():
    rng = np.random.default_rng(2)
    y, p = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    m = metrics.RootMeanSquaredError()
    m.update_state(y[:20], p[:20])
    m.update_state(y[20:], p[20:])
    assert m.result() == pytest.approx(np.sqrt(np.mean((y - p) ** 2)), rel=1e-12)
    # (n,) labels against an (n, 1) output
    assert metrics.RootMeanSquaredError()(y[:, 0], p[:, :1]) == pytest.approx(
        np.sqrt(np.mean((y[:, 0] - p[:, 0]) ** 2)))


def test_top_k_accuracies_match_numpy():
    rng = np.random.default_rng(3)
    p = rng.random((50, 7))
    labels = rng.integers(0, 7, 50)
    ranks = (p > p[np.arange(50), labels][:, None]).sum(1)
    for k in (1, 2, 5):
        want = np.mean(ranks < k)
        assert metrics.SparseTopKCategoricalAccuracy(k=k)(labels, p) == pytest.approx(want)
        assert metrics.SparseTopKCategoricalAccuracy(k=k)(labels[:, None], p) == \
            pytest.approx(want)
        assert metrics.TopKCategoricalAccuracy(k=k)(np.eye(7)[labels], p) == pytest.approx(want)


def _ref_bce(t, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p), axis=-1)


def test_string_metrics_resolve_as_keras_and_report_under_their_names():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(20, 3)).astype(np.float32)
    y = rng.integers(0, 2, 20).astype(np.float32)
    model = models.Sequential([layers.Input((3,)), layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy",
                  metrics=["binary_crossentropy", "mse", "mae", "precision", "recall",
                           "root_mean_squared_error", "BinaryAccuracy"])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)[:, 0].astype(np.float64)
    assert logs["binary_crossentropy"] == pytest.approx(_ref_bce(y[:, None], p[:, None]).mean(),
                                                        rel=1e-5)
    assert logs["binary_crossentropy"] == pytest.approx(logs["loss"], rel=1e-6)
    assert logs["mse"] == pytest.approx(np.mean((y - p) ** 2), rel=1e-5)
    assert logs["mae"] == pytest.approx(np.mean(np.abs(y - p)), rel=1e-5)
    assert logs["root_mean_squared_error"] == pytest.approx(np.sqrt(np.mean((y - p) ** 2)),
                                                            rel=1e-5)
    pos = p > 0.5
    assert logs["precision"] == pytest.approx((pos & (y == 1)).sum() / max(pos.sum(), 1))
    assert logs["recall"] == pytest.approx((pos & (y == 1)).sum() / (y == 1).sum())
    assert logs["BinaryAccuracy"] == pytest.approx(np.mean(pos == (y == 1)))
    assert isinstance(metrics.get("categorical_crossentropy"), metrics.CategoricalCrossentropy)
    with pytest.raises(ValueError, match="Unknown metric"):
        metrics.get("no_such_metric")


def test_categorical_crossentropy_metric_matches_numpy_and_its_config_round_trips():
    rng = np.random.default_rng(5)
    p = rng.random((6, 4))
    p /= p.sum(1, keepdims=True)
    t = np.eye(4)[rng.integers(0, 4, 6)]
    m = metrics.CategoricalCrossentropy(label_smoothing=0.1)
    ts = t * 0.9 + 0.1 / 4
    want = -np.sum(ts * np.log(np.clip(p, 1e-7, 1 - 1e-7)), axis=-1).mean()
    assert m(t, p) == pytest.approx(want, rel=1e-6)
    clone = metrics.CategoricalCrossentropy.from_config(m.get_config())
    assert clone.get_config() == m.get_config()
    sparse = metrics.SparseCategoricalCrossentropy()
    assert sparse(t.argmax(1), p) == pytest.approx(
        -np.log(np.clip(p[np.arange(6), t.argmax(1)], 1e-7, 1)).mean(), rel=1e-6)


def test_a_metric_function_is_wrapped_in_a_mean_named_after_it():
    def doubled_error(y_true, y_pred):
        return 2 * np.abs(y_true - y_pred).mean(axis=-1)

    m = metrics.get(doubled_error)
    assert isinstance(m, metrics.MeanMetricWrapper) and m.name == "doubled_error"
    assert m([[1.0], [3.0]], [[0.0], [0.0]]) == pytest.approx(4.0)


def _ref_counts(y, p, thresholds, w=None):
    w = np.ones(y.size) if w is None else w
    y, p = y.reshape(-1) != 0, p.reshape(-1)
    rows = []
    for t in thresholds:  # one threshold at a time, as the definition reads
        pos = p > t
        rows.append([np.sum(w * (pos & y)), np.sum(w * (pos & ~y)),
                     np.sum(w * (~pos & ~y)), np.sum(w * (~pos & y))])
    return np.array(rows).T  # tp, fp, tn, fn


def test_auc_matches_keras_example_and_a_numpy_reference():
    m = metrics.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert m.result() == pytest.approx(0.75)  # Keras' docstring
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(1.0)
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1)
    w = rng.random(300)
    roc, pr, minor = metrics.AUC(), metrics.AUC(curve="PR"), metrics.AUC(
        summation_method="minoring")
    for lo in range(0, 300, 64):
        for m in (roc, pr, minor):
            m.update_state(y[lo:lo + 64], p[lo:lo + 64], sample_weight=w[lo:lo + 64])
    tp, fp, tn, fn = _ref_counts(y, p, roc.thresholds, w)
    np.testing.assert_allclose(roc.true_positives.numpy(), tp, rtol=1e-12)
    np.testing.assert_allclose(roc.true_negatives.numpy(), tn, rtol=1e-12)
    tpr, fpr = tp / (tp + fn), fp / (fp + tn)
    assert roc.result() == pytest.approx(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))
    assert minor.result() == pytest.approx(np.sum((fpr[:-1] - fpr[1:]) *
                                                  np.minimum(tpr[:-1], tpr[1:])))
    # The exact weighted ROC AUC (probability a positive outscores a negative) is close.
    pos, neg = p[y == 1], p[y == 0]
    wp, wn = w[y == 1], w[y == 0]
    exact = np.sum(wp[:, None] * wn[None, :] * (pos[:, None] > neg[None, :])) / \
        (wp.sum() * wn.sum())
    assert roc.result() == pytest.approx(exact, abs=5e-3)
    # PR interpolation (Davis & Goadrich), written out per interval.
    area = 0.0
    for i in range(len(tp) - 1):
        dtp, pa, pb = tp[i] - tp[i + 1], tp[i] + fp[i], tp[i + 1] + fp[i + 1]
        if pa - pb <= 0 or dtp == 0:
            continue
        slope = dtp / (pa - pb)
        intercept = tp[i + 1] - slope * pb
        ratio = pa / pb if pa > 0 and pb > 0 else 1.0
        area += slope * (dtp + intercept * np.log(ratio)) / (tp[i + 1] + fn[i + 1])
    assert pr.result() == pytest.approx(area, rel=1e-9)


def test_auc_string_metric_and_from_logits():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = models.Sequential([layers.Input((3,)), layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=["auc"])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    reference = metrics.AUC()
    reference.update_state(y, model.predict(x, verbose=0))
    assert logs["auc"] == pytest.approx(reference.result(), rel=1e-12)
    z = rng.normal(size=50)
    labels = rng.integers(0, 2, 50)
    a, b = metrics.AUC(from_logits=True), metrics.AUC()
    assert a(labels, z) == pytest.approx(b(labels, 1 / (1 + np.exp(-z))))


def test_a_loss_object_as_metric_is_averaged_over_batches_under_its_name():
    from brisknn import losses
    m = metrics.get(losses.MeanSquaredError())
    assert m.name == "mean_squared_error"
    m.update_state([[1.0], [0.0]], [[0.0], [0.0]])  # batch loss 0.5
    m.update_state([[2.0]], [[0.0]])  # batch loss 4.0
    assert m.result() == pytest.approx(2.25)  # Keras' Mean over the batch values


def test_a_metric_of_the_users_own_may_keep_y_pred():
    # The training step reuses its output buffer; Keras hands metrics fresh tensors.
    import brisknn

    class Keep(brisknn.metrics.Metric):
        def __init__(self, name="keep", **kwargs):
            super().__init__(name=name, **kwargs)
            self.seen = []

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.seen.append(y_pred)

        def result(self):
            return 0.0

    rng = np.random.default_rng(0)
    x, y = rng.random((8, 3)).astype(np.float32), rng.random((8, 2)).astype(np.float32)
    model = brisknn.Sequential([brisknn.layers.Input((3,)), brisknn.layers.Dense(2)])
    keep = Keep()
    model.compile("sgd", "mse", metrics=[keep])
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    assert len(keep.seen) == 4
    assert not np.shares_memory(keep.seen[0], keep.seen[1])
    assert not np.array_equal(keep.seen[0], keep.seen[1])
