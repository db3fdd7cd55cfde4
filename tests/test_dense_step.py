"""The prepared training step of Dense-only models (brisknn._dense_step) against the general
step: the same bits, and the general step wherever the prepared one would be wrong."""
import numpy as np
import pytest

import brisknn
from brisknn import layers, models, optimizers, regularizers


def general_only(monkeypatch):
    monkeypatch.setattr(models.Sequential, "_dense_step", lambda self, x: None)


def data(n=50, features=12, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    return x, rng.integers(0, classes, n)


def mlp(activation="relu", head="softmax", loss="sparse_categorical_crossentropy",
        optimizer="adam", metrics=None, **dense):
    brisknn.utils.set_random_seed(5)
    model = brisknn.Sequential([layers.Input((12,)),
                                layers.Dense(16, activation=activation, **dense),
                                layers.Dense(8, activation="tanh", use_bias=False),
                                layers.Dense(4, activation=head)])
    model.compile(optimizer=optimizers.get(optimizer) if isinstance(optimizer, str)
                  else optimizer(), loss=loss, metrics=metrics)
    return model


def train(model, x, y, targets=None):
    """Losses of three single steps and a shuffled fit with a short last batch."""
    out = [model.train_on_batch(x[:32], (targets if targets is not None else y)[:32])
           for _ in range(3)]
    hist = model.fit(x, targets if targets is not None else y, batch_size=16, epochs=2,
                     verbose=0)
    return out, hist.history


def both_ways(monkeypatch, make, targets=None):
    x, y = data()
    fast = make()
    fast_losses = train(fast, x, y, targets)
    assert fast._dense_step_cache[1] is not None  # the prepared step ran
    with monkeypatch.context() as m:
        general_only(m)
        slow = make()
        slow_losses = train(slow, x, y, targets)
    return fast, slow, fast_losses, slow_losses


def assert_same_state(fast, slow):
    for a, b in zip(fast.get_weights(), slow.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(fast.optimizer.get_state().values(), slow.optimizer.get_state().values()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("optimizer", [
    "adam", "rmsprop", "sgd",
    lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    lambda: optimizers.Adam(amsgrad=True, clipvalue=0.01),
    lambda: optimizers.RMSprop(momentum=0.5, centered=True),
    lambda: optimizers.SGD(optimizers.schedules.ExponentialDecay(0.1, 2, 0.5))])
def test_same_bits_as_the_general_step(monkeypatch, optimizer):
    fast, slow, a, b = both_ways(monkeypatch, lambda: mlp(
        optimizer=optimizer, metrics=["accuracy"],
        kernel_regularizer=regularizers.L1L2(1e-3, 1e-2)))
    assert a == b
    assert_same_state(fast, slow)


@pytest.mark.parametrize("head,loss,onehot", [
    ("softmax", "categorical_crossentropy", True),
    ("linear", "mse", True),
    ("sigmoid", "binary_crossentropy", True),
    ("linear", brisknn.losses.SparseCategoricalCrossentropy(from_logits=True), False),
    ("softmax", brisknn.losses.CategoricalCrossentropy(label_smoothing=0.1), True)])
def test_same_bits_for_each_loss(monkeypatch, head, loss, onehot):
    _, y = data()
    targets = np.eye(4, dtype=np.float32)[y] if onehot else None
    fast, slow, a, b = both_ways(monkeypatch, lambda: mlp(head=head, loss=loss,
                                                          metrics=["accuracy"]), targets)
    assert a == b
    assert_same_state(fast, slow)


def test_same_bits_in_float64(monkeypatch):
    brisknn.backend.set_floatx("float64")
    try:
        fast, slow, a, b = both_ways(monkeypatch, mlp)
    finally:
        brisknn.backend.set_floatx("float32")
    assert fast.get_weights()[0].dtype == np.float64
    assert a == b
    assert_same_state(fast, slow)


def prepared(model):
    cache = model._dense_step_cache
    return cache is not None and cache[1] is not None

def fast_and_general_agree(monkeypatch, run):
    """run(model) -> (losses, model) gives the same losses and state on both paths; returns
    (losses, the model trained through the prepared step)."""
    a, fast = run(mlp())
    assert prepared(fast)
    with monkeypatch.context() as m:
        general_only(m)
        b, slow = run(mlp())
    assert a == b
    assert_same_state(fast, slow)
    return a, fast



@pytest.mark.parametrize("model_fn", [
    lambda: mlp(activation="gelu"),  # applied in a separate call
    lambda: mlp(optimizer=lambda: optimizers.Adam(clipnorm=1.0)),
    lambda: mlp(optimizer=lambda: optimizers.SGD(global_clipnorm=1.0)),
    lambda: mlp(optimizer=lambda: optimizers.AdamW()),
])
def test_general_step_where_a_step_is_more_than_the_kernels(model_fn):
    model = model_fn()
    x, y = data()
    assert np.isfinite(model.train_on_batch(x, y))
    assert not prepared(model)


def test_changes_after_compile_are_seen(monkeypatch):
    x, y = data()

    def run(model, fast):
        losses = [model.train_on_batch(x, y)]
        model.layers[1].trainable = False  # Keras' torch/JAX backends: the frozen one stays put
        losses.append(model.train_on_batch(x, y))
        assert not prepared(model)
        model.layers[1].trainable = True
        losses.append(model.train_on_batch(x, y))
        assert prepared(model) == fast
        model.optimizer.clipvalue = 1e-3  # read by the next step
        losses.append(model.train_on_batch(x, y))
        state = model.optimizer.get_state()
        model.optimizer.set_state({k: v * 0.5 if "/" in k else v for k, v in state.items()},
                                  model.trainable_weights)  # new slot arrays
        losses.append(model.train_on_batch(x, y))
        model.optimizer.learning_rate = 0.1
        losses.append(model.train_on_batch(x, y))
        model.pop()
        brisknn.utils.set_random_seed(9)
        model.add(layers.Dense(4, activation="softmax"))
        losses.append(model.train_on_batch(x, y))
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        losses.append(model.train_on_batch(x, y))
        assert prepared(model) == fast
        return losses, model

    a, fast = run(mlp(), True)
    with monkeypatch.context() as m:
        general_only(m)
        b, slow = run(mlp(), False)
    assert a == b
    assert_same_state(fast, slow)


def test_nan_in_x_is_refused_and_no_step_is_taken():
    model = mlp()
    x, y = data()
    model.train_on_batch(x, y)
    before = model.get_weights()
    iterations = int(model.optimizer.iterations)
    x[3, 5] = np.nan
    with pytest.raises(ValueError, match=r"train_on_batch: x contains NaN or inf \(first at "
                                         r"index \(3, 5\)\)"):
        model.train_on_batch(x, y)
    assert int(model.optimizer.iterations) == iterations
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_outputs_do_not_leak_between_steps():
    # The step reuses its buffers: what the caller gets (losses, metrics, predict) is fresh.
    model = mlp(metrics=["accuracy"])
    x, y = data()
    first = model.train_on_batch(x, y)
    pred = model.predict(x, verbose=0)
    model.train_on_batch(x, y)
    assert isinstance(first[0], float) and 0 <= first[1] <= 1
    np.testing.assert_array_equal(pred, pred.copy())
    assert not np.shares_memory(pred, model._dense_step_cache[1].chains[x.shape][1])


def test_a_regularizer_changed_after_the_first_step_counts_from_the_next(monkeypatch):
    # Keras 3 reads variable.regularizer (and its l1/l2) at each step: so does the general
    # step, and the prepared one must not keep the penalty it was prepared with.
    x, y = data()

    def run(model):
        losses = [model.train_on_batch(x, y)]
        model.layers[0].kernel.regularizer = regularizers.L2(0.5)
        losses.append(model.train_on_batch(x, y))
        model.layers[0].kernel.regularizer.l2 = 0.1
        model.layers[1].kernel.regularizer = regularizers.L1(0.2)
        losses.append(model.train_on_batch(x, y))
        model.layers[0].kernel.regularizer = None
        losses.append(model.train_on_batch(x, y))
        return losses, model

    fast_and_general_agree(monkeypatch, run)


@pytest.mark.parametrize("optimizer,switch", [
    ("sgd", lambda opt: setattr(opt, "momentum", 0.9)),
    ("adam", lambda opt: setattr(opt, "amsgrad", True))])
def test_a_failed_step_leaves_no_gradient_for_the_next(monkeypatch, optimizer, switch):
    # Switching momentum or amsgrad on after the slots exist fails the step, as in Keras; the
    # gradient its backward pass accumulated must not be applied again by the next step.
    x, y = data()

    def run(model, fail):
        model.train_on_batch(x, y)
        if fail:
            before = model.get_weights()
            switch(model.optimizer)
            with pytest.raises(ValueError, match="needs the"):
                model.train_on_batch(x, y)
            for a, b in zip(before, model.get_weights()):
                np.testing.assert_array_equal(a, b)
            model.optimizer.momentum, model.optimizer.amsgrad = 0.0, False
        model.train_on_batch(x, y)
        return model

    for fast in (True, False):
        with monkeypatch.context() as m:
            if not fast:
                general_only(m)
            assert_same_state(run(mlp(optimizer=optimizer), True),
                              run(mlp(optimizer=optimizer), False))


def test_an_activation_replaced_after_compile_is_what_the_next_steps_apply(monkeypatch):
    # Keras' model.layers[-1].activation = None (logits for Grad-CAM) and a hidden layer's
    # new activation: predict, evaluate and both training steps use them; the softmax head
    # no longer fuses with the crossentropy.
    x, y = data()

    def run(model):
        losses = [model.train_on_batch(x, y)]
        model.layers[0].activation = "tanh"
        losses.append(model.train_on_batch(x, y))
        model.layers[-1].activation = None
        assert model.layers[-1].activation is brisknn.activations.linear
        losses.append(model.evaluate(x, y, verbose=0))
        losses.append(model.train_on_batch(x, y))
        return losses, model

    a, fast = fast_and_general_agree(monkeypatch, run)
    brisknn.utils.set_random_seed(5)
    same = brisknn.Sequential([layers.Input((12,)), layers.Dense(16, activation="tanh"),
                               layers.Dense(8, activation="tanh", use_bias=False),
                               layers.Dense(4)])
    same.compile("adam", "sparse_categorical_crossentropy")
    same.set_weights(fast.get_weights())
    np.testing.assert_array_equal(same.predict(x, verbose=0), fast.predict(x, verbose=0))
    assert same.evaluate(x, y, verbose=0) == fast.evaluate(x, y, verbose=0)


def chain_arrays(batch=6, sizes=(5, 4, 3), dtype=np.float32):
    rng = np.random.default_rng(0)
    layers_ = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers_.append((rng.normal(size=(n_in, n_out)).astype(dtype), np.zeros(n_out, dtype),
                        np.zeros((n_in, n_out), dtype), np.zeros(n_out, dtype),
                        np.empty((batch, n_out), dtype),
                        None if i == 0 else np.empty((batch, n_in), dtype), "relu", 0.0))
    return layers_, np.empty(batch, dtype), np.empty((batch, sizes[-1]), dtype)


def test_the_chain_binding_checks_its_arrays_once_and_each_step():
    from brisknn import _core
    layers_, per_sample, grad = chain_arrays()
    chain = _core.DenseChain(layers_, per_sample, grad, "sparse_categorical_crossentropy",
                             True, 1 / 6)
    x = np.ones((6, 5), np.float32)
    with pytest.raises(ValueError, match=r"DenseChain: x has shape \(6, 4\), expected \(6, 5\)"):
        chain.run(np.ones((6, 4), np.float32), np.zeros(6, np.int64), True)
    with pytest.raises(TypeError, match="DenseChain: x has dtype float64, the layers float32"):
        chain.run(np.ones((6, 5)), np.zeros(6, np.int64), True)
    with pytest.raises(ValueError, match=r"label 3 at position 2 is outside \[0, 3\)"):
        chain.run(x, np.array([0, 1, 3, 0, 0, 0]), True)
    assert not layers_[0][2].any()  # no backward pass after a bad label
    x = np.random.default_rng(1).standard_normal((6, 5)).astype(np.float32)
    total = chain.run(x, np.zeros(6, np.int64), True)
    assert total == _core.numpy_sum(per_sample) and isinstance(total, float)
    assert any(layer[2].any() for layer in layers_)  # a backward pass ran
    for layer in layers_:
        layer[2][...] = 0
    x[1, 2] = np.nan
    assert chain.run(x, np.zeros(6, np.int64), True) is None
    assert not any(layer[2].any() for layer in layers_)  # stopped after the forward pass
    assert np.isnan(chain.run(x, np.zeros(6, np.int64), False))
    bad = list(layers_[1])
    bad[5] = layers_[0][4]  # dx of layer 1 is layer 0's output
    with pytest.raises(ValueError, match="share memory"):
        _core.DenseChain([layers_[0], tuple(bad)], per_sample, grad, "mean_squared_error", False, 1.0)
    with pytest.raises(ValueError, match="layer 1 takes 5 inputs, the layer before gives 4"):
        _core.DenseChain([layers_[0], layers_[0]], per_sample, grad, "mean_squared_error", False, 1.0)
    with pytest.raises(ValueError, match="unknown activation 'gelu_x'"):
        _core.DenseChain([layers_[0][:6] + ("gelu_x", 0.0)], per_sample, grad, "mean_squared_error", False, 1.0)


def test_the_chain_keeps_only_real_arrays():
    # A list would become a temporary array the chain points into after it is freed.
    from brisknn import _core
    layers_, per_sample, grad = chain_arrays()
    listed = list(layers_[0])
    listed[2] = listed[2].tolist()
    with pytest.raises(TypeError, match="DenseChain: dkernel must be a NumPy array, got"):
        _core.DenseChain([tuple(listed), layers_[1]], per_sample, grad,
                         "mean_squared_error", False, 1.0)
    with pytest.raises(TypeError, match="DenseChain: per_sample must be a NumPy array"):
        _core.DenseChain(layers_, per_sample.tolist(), grad, "mean_squared_error", False, 1.0)



def count_checks(monkeypatch):
    calls, original = [], models.Sequential._prepare_x

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)
    monkeypatch.setattr(models.Sequential, "_prepare_x", counted)
    return calls


def test_train_on_batch_skips_its_checks_only_for_arrays_they_pass_unchanged(monkeypatch):
    x, y = data(n=64)
    xb, yb = x[:32], y[:32]
    odd = [  # each needs a conversion, or a chain for another shape: the checks run
        (xb.astype(np.float64), yb), (np.asfortranarray(xb), yb), (xb, yb.astype(np.int32)),
        (xb.tolist(), yb), (xb, yb.tolist()), (x[:16], y[:16]), (xb, np.repeat(yb, 2)[::2]),
        (xb[:, :, None], yb), (xb, yb.astype(np.float32))]

    def run(model, m):
        losses = [model.train_on_batch(xb, yb)]  # the first prepares the step
        calls = count_checks(m)
        losses += [model.train_on_batch(xb, yb) for _ in range(2)]
        unchecked = 2 - len(calls)
        for a, b in odd:
            losses.append(model.train_on_batch(a, b))
        return losses, unchecked, len(calls)

    with monkeypatch.context() as m:
        fast = mlp(metrics=["accuracy"])
        fast_losses, unchecked, checked = run(fast, m)
    assert unchecked == 2 and checked == len(odd)
    with monkeypatch.context() as m:
        general_only(m)
        slow = mlp(metrics=["accuracy"])
        slow_losses, unchecked, _ = run(slow, m)
    assert unchecked == 0
    assert fast_losses == slow_losses
    assert_same_state(fast, slow)


@pytest.mark.parametrize("label", [4, -1, 2**40])
def test_labels_out_of_range_get_the_checks_message_after_a_prepared_step(label):
    model = mlp()
    x, y = data()
    model.train_on_batch(x, y)
    before, iterations = model.get_weights(), int(model.optimizer.iterations)
    y[7] = label
    with pytest.raises(ValueError, match=r"train_on_batch: labels must be in \[0, 4\)"):
        model.train_on_batch(x, y)
    assert int(model.optimizer.iterations) == iterations
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_targets_get_the_checks_message_after_a_prepared_step():
    model = mlp(head="linear", loss="mse")
    x, _ = data()
    t = np.zeros((len(x), 4), np.float32)
    model.train_on_batch(x, t)
    t[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"train_on_batch: y contains NaN or inf \(first at "
                                         r"index \(2, 1\)\)"):
        model.train_on_batch(x, t)
    with pytest.raises(ValueError, match=r"train_on_batch: y has shape \(50, 3\)"):
        model.train_on_batch(x, np.zeros((len(x), 3), np.float32))
    assert np.isfinite(model.train_on_batch(x, np.ones((len(x), 4), np.float32)))


def test_the_chain_accepts_only_what_it_takes_as_it_is():
    from brisknn import _core
    layers_, per_sample, grad = chain_arrays()
    sparse = _core.DenseChain(layers_, per_sample, grad, "sparse_categorical_crossentropy",
                              True, 1 / 6)
    x, labels = np.ones((6, 5), np.float32), np.array([0, 1, 2, 0, 1, 2])
    assert sparse.accepts(x, labels)
    for bad_x in (x.astype(np.float64), np.asfortranarray(x),
                  x[:5], x[:, :4], x.tolist(), x[None]):
        assert not sparse.accepts(bad_x, labels)
    for bad in ([0] * 6, labels.astype(np.int32), labels[:5], labels[:, None],
                np.where(labels == 2, 3, labels), np.where(labels == 2, -1, labels),
                np.repeat(labels, 2)[::2], labels.astype(np.float32)):
        assert not sparse.accepts(x, bad)
    dense_ = _core.DenseChain(layers_, per_sample, grad, "mean_squared_error", False, 1 / 6)
    targets = np.zeros((6, 3), np.float32)
    assert dense_.accepts(x, targets)
    for bad in (targets.astype(np.float64), targets[:, :2], np.asfortranarray(targets),
                np.where(np.eye(6, 3) > 0, np.nan, targets).astype(np.float32)):
        assert not dense_.accepts(x, bad)


def test_an_update_plan_is_its_params_checked_once():
    from brisknn import _core
    rng = np.random.default_rng(0)

    def params(dtype):
        out = []
        for shape in ((3, 4), (4,)):
            w = rng.standard_normal(shape).astype(dtype)
            out.append((w, rng.standard_normal(shape).astype(dtype), np.zeros_like(w),
                        np.zeros_like(w), None, 0.01, 0.0, 1.0))
        return out

    mixed = params(np.float32) + params(np.float64)
    copies = [tuple(a.copy() if isinstance(a, np.ndarray) else a for a in t) for t in mixed]
    plan = _core.UpdatePlan(copies)
    for _ in range(3):
        for t, c in zip(mixed, copies):  # the same gradients for both
            c[1][...] = t[1]
        a = _core.adam_update_many(mixed, 0.01, 0.9, 0.999, 1e-7, False, 0.5)
        b = _core.adam_update_many(plan, 0.01, 0.9, 0.999, 1e-7, False, 0.5)
        assert a == b
        for t, c in zip(mixed, copies):
            np.testing.assert_array_equal(t[0], c[0])
            np.testing.assert_array_equal(t[2], c[2])
            t[1][...] = rng.standard_normal(t[1].shape)
    with pytest.raises(ValueError, match=r"adam_update_many: params\[0\]: amsgrad=True needs "
                                         r"the v_hat buffer"):
        _core.adam_update_many(plan, 0.01, 0.9, 0.999, 1e-7, True)
    with pytest.raises(TypeError, match="the plan's params have 3 slots, the rule takes 1"):
        _core.sgd_update_many(plan, 0.1, 0.9, False)
    with pytest.raises(ValueError, match="share memory"):
        _core.UpdatePlan([mixed[0], mixed[0]])
    with pytest.raises(TypeError, match="params must be a sequence of tuples or an UpdatePlan"):
        _core.adam_update_many(3, 0.01, 0.9, 0.999, 1e-7, False)
    alone = _core.UpdatePlan(params(np.float32))  # the plan alone keeps its arrays alive
    import gc
    gc.collect()
    assert np.isfinite(_core.adam_update_many(alone, 0.01, 0.9, 0.999, 1e-7, False))
