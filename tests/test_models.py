import numpy as np
import pytest

import brisknn
from brisknn import layers, optimizers, regularizers
from brisknn.layers import Dense, Dropout
from brisknn.models import Sequential

XOR_X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float32)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=np.float32)


def _blobs(n=240, classes=3, features=5, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (classes, features))
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.normal(size=(n, features))).astype(np.float32), y


def _mlp(classes=3, features=5, **dense_kwargs):
    return brisknn.Sequential([
        Dense(16, activation="relu", input_shape=(features,), **dense_kwargs),
        Dense(classes, activation="softmax")])


def test_seed_xor_network_trains_to_small_loss():
    # Slide 6's data and network shape, through the public API.
    model = brisknn.Sequential([Dense(8, activation="tanh", input_shape=(3,)),
                                Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(XOR_X, XOR_Y, epochs=400, batch_size=4, verbose=0)
    assert history.history["loss"][-1] < 0.01
    assert history.history["accuracy"][-1] == 1.0
    np.testing.assert_array_equal(model.predict(XOR_X, verbose=0).round(), XOR_Y)


def test_fit_returns_keras_history():
    x, y = _blobs()
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=32, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values())
    assert history.epoch == [0, 1, 2]
    assert model.history is history
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_validation_split_takes_the_last_fraction_before_shuffling():
    x, y = _blobs(n=100)
    runs = []
    for use_split in (True, False):
        brisknn.utils.set_random_seed(7)
        model = _mlp()
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        if use_split:
            h = model.fit(x, y, epochs=2, batch_size=16, validation_split=0.2, verbose=0)
        else:
            h = model.fit(x[:80], y[:80], epochs=2, batch_size=16,
                          validation_data=(x[80:], y[80:]), verbose=0)
        runs.append(h.history)
    assert runs[0] == runs[1]


def test_evaluate_returns_what_keras_returns_and_averages_over_samples():
    x, y = _blobs(n=50)
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    loss = model.evaluate(x, y, verbose=0)
    assert isinstance(loss, float)
    probs = model.predict(x, verbose=0)
    expected = -np.log(np.clip(probs[np.arange(50), y], 1e-7, 1)).mean()
    assert loss == pytest.approx(expected, rel=1e-5)
    # uneven batches are weighted by their size, so the batch size does not matter
    assert model.evaluate(x, y, batch_size=7, verbose=0) == pytest.approx(loss, rel=1e-6)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2
    assert result[1] == pytest.approx((probs.argmax(1) == y).mean())
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert as_dict == {"loss": result[0], "accuracy": result[1]}


def test_accuracy_resolves_from_the_loss():
    x, y = _blobs(n=30)
    model = _mlp()
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    onehot = brisknn.utils.to_categorical(y, 3)
    _, acc = model.evaluate(x, onehot, verbose=0)
    assert acc == pytest.approx((model.predict(x, verbose=0).argmax(1) == y).mean())
    binary = brisknn.Sequential([Dense(1, activation="sigmoid", input_shape=(5,))])
    binary.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    yb = (y > 0).astype(np.float32)
    _, acc = binary.evaluate(x, yb, verbose=0)  # (n,) targets for a (n, 1) output, as Keras
    assert acc == pytest.approx(((binary.predict(x, verbose=0)[:, 0] > 0.5) == yb).mean())


def test_gradients_through_the_model_match_finite_differences():
    # float64 end to end: softmax + cross-entropy fused, L2 penalty in the loss and gradient.
    brisknn.backend.set_floatx("float64")
    x, y = _blobs(n=12, features=4)
    model = brisknn.Sequential([
        Dense(5, activation="tanh", input_shape=(4,), kernel_regularizer=regularizers.L2(0.01)),
        Dense(3, activation="softmax", kernel_regularizer=regularizers.L1(0.001))])
    lr = 1e-3
    model.compile(optimizers.SGD(learning_rate=lr), "sparse_categorical_crossentropy")
    before = model.get_weights()

    def loss():
        return model.evaluate(x, y, batch_size=12, verbose=0)

    numeric = []
    for var in model.weights:
        grad = np.zeros_like(var.value)
        for i in np.ndindex(var.shape):
            old = var.value[i]
            var.value[i] = old + 1e-6
            up = loss()
            var.value[i] = old - 1e-6
            down = loss()
            var.value[i] = old
            grad[i] = (up - down) / 2e-6
        numeric.append(grad)
    reported = model.train_on_batch(x, y)
    assert isinstance(reported, float)
    for w0, w1, g in zip(before, model.get_weights(), numeric):
        np.testing.assert_allclose((w0 - w1) / lr, g, rtol=1e-5, atol=1e-7)


def test_train_on_batch_reports_the_loss_before_the_update():
    x, y = _blobs(n=16)
    model = _mlp()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    expected = model.evaluate(x, y, verbose=0, batch_size=16)
    loss, acc = model.train_on_batch(x, y)
    assert loss == pytest.approx(expected[0], rel=1e-6)
    assert acc == pytest.approx(expected[1])
    assert model.evaluate(x, y, verbose=0)[0] < loss
    assert model.test_on_batch(x, y)[0] == pytest.approx(model.evaluate(x, y, verbose=0)[0],
                                                         rel=1e-6)


def test_same_seed_same_training_result():
    x, y = _blobs()
    results = []
    for _ in range(2):
        brisknn.utils.set_random_seed(42)
        model = brisknn.Sequential([Dense(16, activation="relu", input_shape=(5,)),
                                    Dropout(0.3), Dense(3, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_get_weights_follows_keras_order_and_shapes():
    model = brisknn.Sequential([brisknn.Input(shape=(3,)), Dense(4), Dense(2, use_bias=False),
                                Dense(5)])
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4, 2), (2, 5), (5,)]
    assert len(model.layers) == 3  # the Input is not a layer
    new = [np.full(w.shape, i, np.float32) for i, w in enumerate(model.get_weights())]
    model.set_weights(new)
    for a, b in zip(model.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), new[0])
    with pytest.raises(ValueError, match=r"shape \(3, 4\)"):
        model.set_weights([np.zeros((4, 3))] + new[1:])
    with pytest.raises(ValueError, match="has 5 weights, got 2"):
        model.set_weights(new[:2])


def test_frozen_layers_do_not_change_and_summary_counts_them(capsys):
    x, y = _blobs()
    model = _mlp()
    model.layers[0].trainable = False
    model.compile("adam", "sparse_categorical_crossentropy")
    frozen = model.layers[0].get_weights()
    head = model.layers[1].get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen, model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(head[0], model.layers[1].get_weights()[0])
    model.summary()
    out = capsys.readouterr().out
    # Keras 3 counts the built optimizer's variables too: Adam's two slots per trainable value,
    # its iterations and its learning rate (2 * 51 + 2), in the total as well.
    assert "Total params: 251 (" in out and "Trainable params: 51 (204.00 B)" in out
    assert "Non-trainable params: 96 (384.00 B)" in out
    assert "Optimizer params: 104 (" in out


def test_summary_shows_trainable_expands_nested_models_and_takes_a_layer_range():
    base = brisknn.Sequential([layers.Input((5,)), Dense(4, name="b1"), Dropout(0.1, name="b2")],
                              name="base")
    base.trainable = False
    model = brisknn.Sequential([base, Dense(3, name="head")])
    lines = []
    model.summary(print_fn=lines.append)  # compiled or not, no optimizer line before it steps
    assert "Total params: 39 (156.00 B)" in lines[0] and "Optimizer" not in lines[0]
    text = []
    model.summary(print_fn=text.append, show_trainable=True, expand_nested=True)
    rows = {line.split()[0] if not line.startswith("   ") else line.split()[1]: line
            for line in text[0].splitlines() if "(" in line and "params" not in line}
    assert rows["base"].split()[-1] == "N" and rows["head"].split()[-1] == "Y"
    assert rows["b1"].startswith("   \u2514 b1 (Dense)") and rows["b1"].split()[-1] == "N"
    assert rows["b2"].split()[-1] == "-"  # no weights: Keras shows '-'
    assert "Trainable" in text[0].splitlines()[2]
    model.compile(optimizers.SGD(), "mse")
    model.train_on_batch(np.ones((2, 5)), np.ones((2, 3)))
    text.clear()
    model.summary(print_fn=text.append, layer_range=["head", "head"])
    assert "base (Sequential)" not in text[0] and "head (Dense)" in text[0]
    assert "Optimizer params: 2 (12.00 B)" in text[0]  # SGD: iterations and learning_rate
    with pytest.raises(ValueError, match="do not match the layer names"):
        model.summary(layer_range=["nope", "head"])
    wide = brisknn.Sequential([layers.Input((3,)), Dense(2, name="a_rather_long_layer_name")])
    text.clear()
    wide.summary(print_fn=text.append)  # a name wider than its column still has a space
    assert "a_rather_long_layer_name (Dense) (None, 2)" in text[0]


def test_nested_sequential_is_a_layer():
    x, y = _blobs()
    base = brisknn.Sequential([Dense(16, activation="relu", input_shape=(5,))])
    model = brisknn.Sequential([base, Dense(3, activation="softmax")])
    assert [w.shape for w in model.get_weights()] == [(5, 16), (16,), (16, 3), (3,)]
    base.trainable = False
    model.compile("adam", "sparse_categorical_crossentropy")
    before = base.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(before[0], base.get_weights()[0])


def test_dropout_is_inverted_and_only_in_training():
    layer = Dropout(0.25, seed=3)
    x = np.ones((200, 100), np.float32)
    y = layer(x, training=True)
    kept = y != 0
    assert 0.72 < kept.mean() < 0.78
    np.testing.assert_allclose(y[kept], 1 / 0.75)
    np.testing.assert_array_equal(layer(x, training=False), x)
    dy = np.random.default_rng(0).normal(size=x.shape).astype(np.float32)
    layer(x, training=True)
    mask = layer._mask.astype(bool)
    np.testing.assert_allclose(layer.backward(dy), np.where(mask, dy / 0.75, 0), rtol=1e-6)


def test_dropout_mask_does_not_depend_on_thread_count():
    x = np.ones(300_000, np.float32)
    before = brisknn.get_num_threads()
    try:
        masks = []
        for threads in (1, 2):
            brisknn.set_num_threads(threads)
            masks.append(brisknn.ops.dropout(x, 0.5, seed=99)[1])
    finally:
        brisknn.set_num_threads(before)
    np.testing.assert_array_equal(*masks)


def test_predict_does_not_depend_on_batch_size_and_accepts_any_layout():
    x, _ = _blobs(n=45)
    model = _mlp()
    full = model.predict(x, batch_size=45, verbose=0)
    np.testing.assert_allclose(model.predict(x, batch_size=4, verbose=0), full, rtol=1e-6)
    strided = np.asfortranarray(x)
    readonly = x.copy()
    readonly.setflags(write=False)
    np.testing.assert_allclose(model.predict(strided, verbose=0), full, rtol=1e-6)
    np.testing.assert_allclose(model.predict(readonly.astype(np.float64), verbose=0), full,
                               rtol=1e-6)


def test_regression_with_mse_learns_a_line():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (256, 1)).astype(np.float32)
    y = 2 * x + 1
    model = brisknn.Sequential([Dense(1, input_shape=(1,))])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    kernel, bias = model.get_weights()
    assert kernel[0, 0] == pytest.approx(2.0, abs=1e-2)
    assert bias[0] == pytest.approx(1.0, abs=1e-2)


def test_fit_output_by_verbosity(capsys):
    x, y = _blobs(n=64)
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(x, y, epochs=2, batch_size=16, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert lines[1].startswith("4/4 - ") and "- loss: " in lines[1] and "accuracy: " in lines[1]
    model.fit(x, y, epochs=1, batch_size=16, verbose=1)
    out = capsys.readouterr().out
    # Keras 3's ProgbarLogger writes the "Epoch i/n" header only when epochs > 1.
    assert "Epoch" not in out and "4/4 \u2501" in out and "/step" in out and "loss: " in out
    model.fit(x, y, epochs=1, batch_size=16, verbose=1, validation_split=0.5)
    out = capsys.readouterr().out  # validation inside fit draws no bar of its own
    assert out.count("2/2 \u2501") >= 1 and "1/1" not in out and "val_loss: " in out


def test_evaluate_and_predict_print_keras_progress_bars_by_verbosity(capsys):
    x, y = _blobs(n=40)
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.evaluate(x, y, batch_size=16)  # verbose="auto": the bar, as Keras 3
    final = capsys.readouterr().out.split("\r")[-1]
    assert final.startswith("3/3 \u2501") and "/step - accuracy: " in final and \
        final.endswith("\n") and final.index("accuracy") < final.index("loss")
    model.evaluate(x, y, batch_size=16, verbose=2)
    line = capsys.readouterr().out
    assert line.startswith("3/3 - ") and "/step - accuracy: " in line and line.count("\n") == 1
    model.predict(x, batch_size=16)
    final = capsys.readouterr().out.split("\r")[-1]
    assert final.startswith("3/3 \u2501") and final.rstrip().endswith("/step")
    model.predict(x, batch_size=16, verbose=2)
    assert capsys.readouterr().out.startswith("3/3 - ")
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_evaluate_and_predict_honour_steps_as_keras_3_array_adapter():
    x, y = _blobs(n=40)
    model = _mlp()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    full = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    # With a batch size, the first `steps` batches.
    first = model.evaluate(x, y, batch_size=8, steps=2, verbose=0, return_dict=True)
    expected = model.evaluate(x[:16], y[:16], batch_size=8, verbose=0, return_dict=True)
    assert first == expected and first != full
    np.testing.assert_array_equal(model.predict(x, batch_size=8, steps=3, verbose=0),
                                  model.predict(x[:24], verbose=0))
    # Without one, `steps` batches over all the data (batch size ceil(40 / 3) = 14).
    seen = []
    from brisknn.callbacks import LambdaCallback
    record = LambdaCallback(on_test_batch_end=lambda batch, logs: seen.append(batch))
    assert model.evaluate(x, y, steps=3, verbose=0, return_dict=True,
                          callbacks=[record])["loss"] == pytest.approx(full["loss"], rel=1e-6)
    assert seen == [0, 1, 2]
    assert model.predict(x, steps=3, verbose=0).shape == (40, 3)
    with pytest.warns(UserWarning, match="ran out of data"):
        assert model.predict(x, batch_size=16, steps=5, verbose=0).shape == (40, 3)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        model.evaluate(x, y, steps=0, verbose=0)


def test_logs_and_history_keys_are_sorted_as_keras_3_pythonify_logs():
    # Keras 3 passes every logs dict through pythonify_logs, which sorts the keys.
    x, y = _blobs(n=40)
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=["sparse_top_k_categorical_accuracy", "accuracy"])
    seen = []
    from brisknn.callbacks import LambdaCallback
    record = LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(list(logs)))
    history = model.fit(x, y, epochs=1, validation_split=0.25, verbose=0, callbacks=[record])
    assert list(history.history) == ["accuracy", "loss", "sparse_top_k_categorical_accuracy",
                                     "val_accuracy", "val_loss",
                                     "val_sparse_top_k_categorical_accuracy"]
    assert seen[0] == ["accuracy", "loss", "sparse_top_k_categorical_accuracy"]
    assert list(model.evaluate(x, y, verbose=0, return_dict=True)) == \
        ["accuracy", "loss", "sparse_top_k_categorical_accuracy"]
    # The list form keeps Keras' order: the loss, then the metrics as compiled.
    result = model.evaluate(x, y, verbose=0)
    assert result[0] == model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    assert list(model.train_on_batch(x, y, return_dict=True)) == \
        ["accuracy", "loss", "sparse_top_k_categorical_accuracy"]


BAD_INPUTS = [
    (np.zeros((4, 6), np.float32), np.zeros(4), ValueError, r"expects input of shape \(None, 5\), got \(None, 6\)"),
    (np.zeros((4,), np.float32), np.zeros(4), ValueError, "expects input of shape"),
    (np.array([["a"] * 5] * 4), np.zeros(4), TypeError, "x must be numeric"),
    (np.full((4, 5), np.nan, np.float32), np.zeros(4), ValueError, r"NaN or inf \(first at index \(0, 0\)\)"),
    (np.zeros((4, 5), np.float32), np.array([0, 1, 3, 0]), ValueError, r"labels must be in \[0, 3\)"),
    (np.zeros((4, 5), np.float32), np.array([0, 1.5, 2, 0]), ValueError, "whole numbers"),
    (np.zeros((4, 5), np.float32), np.zeros(3), ValueError, "4 samples but y has shape"),
    (np.zeros((0, 5), np.float32), np.zeros(0), ValueError, "empty"),
]


@pytest.mark.parametrize("x,y,error,message", BAD_INPUTS)
def test_bad_input_gives_clear_errors(x, y, error, message):
    model = _mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(error, match=message):
        model.fit(x, y, verbose=0)


def test_fit_before_compile_is_refused():
    with pytest.raises(ValueError, match="compile"):
        _mlp().fit(np.zeros((2, 5)), np.zeros(2), verbose=0)


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match="Unknown activation"):
        Dense(3, activation="swish_of_doom")
    with pytest.raises(ValueError, match="units must be a positive integer"):
        Dense(0)
    with pytest.raises(ValueError, match="rate must be in"):
        Dropout(1.0)
    with pytest.raises(ValueError, match="Only instances of `keras.Layer`"):  # as Keras 3
        brisknn.Sequential([np.zeros(3)])


def test_nonfinite_values_are_located():
    model = brisknn.Sequential([Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    x = np.zeros((5000, 3), np.float32)
    x[4321, 2] = np.inf
    with pytest.raises(ValueError, match=r"x contains NaN or inf \(first at index \(4321, 2\)\)"):
        model.fit(x, np.zeros(5000), verbose=0)
    y = np.zeros(4)
    y[3] = np.nan
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        model.train_on_batch(np.zeros((4, 3)), y)


@pytest.mark.parametrize("first", ["dense", "dense_inf_bias", "dropout"])
def test_train_on_batch_refuses_nonfinite_x_before_any_step(first):
    # A first Dense tells from its product whether x was finite (no separate scan); whatever
    # the first layer, a bad x is located and the weights, slots and step count stay as they were.
    layers = [Dense(4, activation="relu", input_shape=(3,)), Dense(2, activation="softmax")]
    if first == "dropout":
        layers.insert(0, Dropout(0.5, input_shape=(3,)))
    model = brisknn.Sequential(layers)
    model.compile("adam", "sparse_categorical_crossentropy")
    y = np.array([0, 1, 0, 1, 1])
    model.train_on_batch(np.ones((5, 3)), y)
    if first == "dense_inf_bias":
        model.layers[0].bias.assign(np.full(4, np.inf))
    before = [w.copy() for w in model.get_weights()]
    for bad in (np.nan, np.inf):
        x = np.ones((5, 3), np.float32)
        x[3, 2] = bad
        with pytest.raises(ValueError, match=r"train_on_batch: x contains NaN or inf \(first at "
                                             r"index \(3, 2\)\)"):
            model.train_on_batch(x, y)
    assert model.optimizer.iterations.numpy() == 1
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    if first == "dense_inf_bias":  # x finite: trained on, as Keras would (to a NaN loss)
        assert np.isnan(model.train_on_batch(np.ones((5, 3)), y))


def test_binary_accuracy_config_keeps_its_threshold():
    from brisknn import metrics
    assert metrics.BinaryAccuracy(threshold=0.7).get_config()["threshold"] == 0.7


def test_input_rank_is_adjusted_as_keras_does():
    # The TensorFlow "hello world": Dense(1, input_shape=[1]) fed a flat x.
    model = Sequential([layers.Dense(1, input_shape=[1])])
    model.compile("sgd", "mse")
    x = np.array([-1.0, 0, 1, 2, 3, 4])
    history = model.fit(x, 2 * x - 1, epochs=50, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(np.array([10.0]), verbose=0).shape == (1, 1)
    images = Sequential([layers.Input((8, 8, 1)), layers.Conv2D(2, 3), layers.Flatten()])
    assert images.predict(np.random.rand(3, 8, 8), verbose=0).shape == (3, 72)
    flat = Sequential([layers.Input((4,)), layers.Dense(2)])
    assert flat.predict(np.random.rand(3, 4, 1), verbose=0).shape == (3, 2)
    with pytest.raises(ValueError, match=r"expects input of shape \(None, 4\)"):
        flat.predict(np.random.rand(3, 4, 2))


def test_validation_data_may_carry_a_none_sample_weight_and_save_model_is_exported(tmp_path):
    from brisknn import models
    model = Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.random.rand(8, 3), np.random.rand(8)
    history = model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y, None))
    assert "val_loss" in history.history
    models.save_model(model, tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_accuracy_resolves_from_the_shapes_as_keras_3_does():
    from brisknn import metrics
    rng = np.random.default_rng(0)
    x = rng.random((16, 6))
    cases = [  # (units, activation, loss, y, expected accuracy class)
        (1, "sigmoid", "binary_crossentropy", rng.integers(0, 2, 16), metrics.BinaryAccuracy),
        (5, "softmax", "sparse_categorical_crossentropy", rng.integers(0, 5, 16),
         metrics.SparseCategoricalAccuracy),
        (5, "softmax", "categorical_crossentropy", np.eye(5)[rng.integers(0, 5, 16)],
         metrics.CategoricalAccuracy),
        # Keras' well-known quirk: several sigmoid outputs report categorical accuracy.
        (5, "sigmoid", "binary_crossentropy", rng.integers(0, 2, (16, 5)),
         metrics.CategoricalAccuracy)]
    for units, activation, loss, y, expected in cases:
        model = Sequential([layers.Input((6,)), layers.Dense(units, activation=activation)])
        model.compile("adam", loss, metrics=["accuracy"])
        model.evaluate(x, y, verbose=0)
        assert type(model._metrics[0]) is expected, (loss, units)
        assert model.metrics_names == ["loss", "accuracy"]


def test_layer_name_and_trainable_must_have_their_types():
    with pytest.raises(TypeError, match="`name` must be a string"):
        layers.Dense(2, name={"a": 1})
    with pytest.raises(TypeError, match="`trainable` must be a bool"):
        layers.Dense(2, trainable="no")


def test_complex_and_string_data_are_refused_everywhere():
    layer = brisknn.layers.Dense(2)
    with pytest.raises(TypeError, match=r"Layer 'dense.*' \(Dense\): expected real numeric input, "
                                        r"got dtype complex128"):
        layer(np.ones((1, 3)) * 1j)
    with pytest.raises(TypeError, match="dtype <U1"):
        layer(np.array([["1", "2", "3"]]))
    layer(np.ones((1, 3)))
    with pytest.raises(TypeError, match=r"weight dense.*/kernel needs real numbers, got a value of "
                                        r"dtype complex128"):
        layer.set_weights([np.ones((3, 2)) * 1j, np.zeros(2)])
    with pytest.raises(TypeError, match="dtype object"):
        layer.set_weights([np.full((3, 2), None), np.zeros(2)])
    with pytest.raises(TypeError, match="kernel: expected numeric data, got dtype complex128"):
        brisknn.ops.dense(np.ones((1, 3)), np.ones((3, 2)) * 1j)
    with pytest.raises(TypeError, match="b: expected numeric data, got dtype <U1"):
        brisknn.ops.matmul(np.ones((1, 1)), np.array([["1"]]))


def test_reshape_follows_keras_rules_and_names_itself():
    with pytest.raises(ValueError, match=r"\(Reshape\): cannot reshape \(None, 6\) to \(0, -1\)"):
        brisknn.layers.Reshape((0, -1)).compute_output_shape((None, 6))
    with pytest.raises(ValueError, match="at most one -1"):
        brisknn.layers.Reshape((-1, -1)).compute_output_shape((None, 6))
    r = brisknn.layers.Reshape((-1, 2))
    assert r.compute_output_shape((None, None, 3)) == (None, None, 2)
    y = r(np.arange(12.0).reshape(2, 2, 3))  # the size is checked when data arrives
    assert y.shape == (2, 3, 2)


def test_fit_with_a_batch_size_beyond_the_data_uses_one_batch():
    model = brisknn.Sequential([brisknn.layers.Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse")
    history = model.fit(np.ones((4, 2)), np.ones(4), batch_size=10**9, epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1


def test_sequences_of_zero_steps_are_refused_as_empty():
    model = brisknn.Sequential([brisknn.layers.Input((None, 3)), brisknn.layers.Dense(2)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"train_on_batch: x is empty \(shape \(2, 0, 3\)\)"):
        model.train_on_batch(np.ones((2, 0, 3)), np.ones((2, 0, 2)))


def _frozen_regularized_model():
    model = Sequential([Dense(4, input_shape=(3,), kernel_regularizer=regularizers.L2(1.0)),
                        Dense(1, kernel_regularizer=regularizers.L2(0.5))])
    model.layers[0].trainable = False
    model.compile(optimizers.SGD(0.01), "mse")
    return model


def test_frozen_weights_regularizers_count_nowhere_as_keras_3():
    # Keras 3 Layer._get_regularization_losses walks trainable_weights only.
    model = _frozen_regularized_model()
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    y = np.zeros((4, 1), np.float32)
    head = model.layers[1].kernel.numpy().astype(np.float64)
    head_penalty = 0.5 * np.sum(head ** 2)
    assert model.losses == [pytest.approx(head_penalty, rel=1e-6)]
    data = float(np.mean(model.predict(x, verbose=0).astype(np.float64) ** 2))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(data + head_penalty, rel=1e-5)
    history = model.fit(x, y, validation_data=(x, y), verbose=0, shuffle=False,
                        batch_size=4).history
    assert history["loss"][0] == pytest.approx(data + head_penalty, rel=1e-5)
    model.trainable = False
    assert model.losses == []
    assert model.layers[0].losses == [] and model.layers[1].losses == []


def test_frozen_layer_clears_its_variables_trainable_flags_as_keras_3():
    layer = Dense(2)
    Sequential([layers.Input((3,)), layer])
    layer.trainable = False
    assert [w.trainable for w in layer.weights] == [False, False]
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    layer.trainable = True
    assert [w.trainable for w in layer.weights] == [True, True]
    model = Sequential([layers.Input((3,)), Dense(2)])
    model.trainable = False
    assert [w.trainable for w in model.weights] == [False, False]


def test_no_gradient_leaks_from_unfreezing_without_recompiling():
    # The review's F6: freeze, compile, fit; unfreeze and fit without recompiling (the cached
    # training set leaves the base out, as Keras' traced step); recompile: the first step must
    # equal a fresh model's from the same weights, with no gradient saved up in between.
    rng = np.random.default_rng(0)
    x = rng.random((16, 3)).astype(np.float32)
    y = rng.random((16, 1)).astype(np.float32)
    model = Sequential([Dense(4, input_shape=(3,)), Dense(1)])
    model.layers[0].trainable = False
    model.compile(optimizers.SGD(0.01), "mse")
    model.fit(x, y, verbose=0)
    model.layers[0].trainable = True
    base = model.layers[0].get_weights()
    model.fit(x, y, epochs=3, verbose=0)
    for a, b in zip(base, model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert all(not w.grad.any() for w in model.layers[0].weights)
    weights = model.get_weights()
    model.compile(optimizers.SGD(0.01), "mse")
    model.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    fresh = Sequential([Dense(4, input_shape=(3,)), Dense(1)])
    fresh.set_weights(weights)
    fresh.compile(optimizers.SGD(0.01), "mse")
    fresh.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_shared_layer_toggled_after_compile_gets_no_gradient_from_the_other_model():
    # A GAN-style shared discriminator: `gan` cached it frozen; unfreezing it afterwards must not
    # let gan's backward pass leave gradients that the discriminator's own step then applies.
    rng = np.random.default_rng(1)
    x = rng.random((8, 3)).astype(np.float32)
    y = rng.random((8, 1)).astype(np.float32)
    disc_layer = Dense(1)
    disc = Sequential([layers.Input((2,)), disc_layer])
    disc.compile(optimizers.SGD(0.1), "mse")
    gen = Dense(2, input_shape=(3,))
    gan = Sequential([gen, disc])
    disc.trainable = False
    gan.compile(optimizers.SGD(0.1), "mse")
    gan.train_on_batch(x, y)
    disc.trainable = True  # toggled without recompiling gan
    gan.train_on_batch(x, y)
    z = gen(x)
    before = disc.get_weights()
    disc.train_on_batch(z, y)
    # The discriminator's step is its own gradient alone (the MSE gradient, by hand).
    p = z @ before[0] + before[1]
    g = 2 * (p - y) / len(y)
    np.testing.assert_allclose(disc.get_weights()[0], before[0] - 0.1 * z.T @ g, rtol=1e-5)
    np.testing.assert_allclose(disc.get_weights()[1], before[1] - 0.1 * g.sum(0), rtol=1e-5)


def test_unbuilt_model_raises_for_count_params_and_shapes_as_keras_3():
    model = Sequential([Dense(2)])
    with pytest.raises(ValueError, match="isn't built"):
        model.count_params()
    with pytest.raises(ValueError, match="isn't built"):
        Dense(2).count_params()
    with pytest.raises(ValueError, match="has no defined input shape yet"):
        model.input_shape
    with pytest.raises(ValueError, match="has no defined output shape yet"):
        model.output_shape
    lines = []
    model.summary(print_fn=lines.append)  # still prints, as Keras, with "0 (unbuilt)"
    assert "0 (unbuilt)" in lines[0] and "Total params: 0" in lines[0]
    model.build((None, 3))
    assert model.count_params() == 8
    assert model.input_shape == (None, 3) and model.output_shape == (None, 2)


def test_sequential_add_and_pop_errors_follow_keras_3():
    with pytest.raises(ValueError, match="Only instances of `keras.Layer` can be added"):
        Sequential().add("dense")
    with pytest.raises(ValueError, match="should have unique names.*'a'"):
        Sequential([Dense(2, name="a"), Dense(2, name="a")])
    with pytest.raises(IndexError):
        Sequential().pop()
    model = Sequential([layers.Input((3,)), Dense(2, name="a"), Dense(1)])
    top = model.pop()
    assert top.name != "a" and model.output_shape == (None, 2)
    model.add(Dense(4))
    assert model.output_shape == (None, 4)


def test_pop_and_add_after_training_train_the_new_head_with_its_own_loss():
    # Transfer learning without a second compile: the replaced head's softmax/cross-entropy
    # fusion and the cached trainable set must not outlive it.
    x, y = _blobs(n=32)
    model = _mlp()
    model.compile(optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, verbose=0)
    model.pop()
    model.add(Dense(3, name="linear_head"))  # no softmax: Keras' loss sees raw outputs
    fresh = brisknn.Sequential(model.layers)
    fresh.compile(optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
    assert model.evaluate(x, y, verbose=0) == fresh.evaluate(x, y, verbose=0)
    head = model.layers[-1].get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(head[0], model.layers[-1].get_weights()[0])


def test_clone_model_copies_the_architecture_with_fresh_weights_as_keras():
    inner = brisknn.Sequential([Dense(2, name="inner_dense")], name="inner")
    base = brisknn.Sequential([layers.Input((4,)), Dense(3, name="a"), Dropout(0.1, name="d"),
                               inner], name="base")
    base.layers[0].trainable = False
    copy = brisknn.models.clone_model(base)
    assert copy.name == "base" and [l.name for l in copy.layers] == ["a", "d", "inner"]
    assert copy.input_shape == (None, 4) and [l.trainable for l in copy.layers] == \
        [False, True, True]
    assert all(c is not b for c, b in zip(copy.layers, base.layers)) and not copy.compiled
    assert not np.array_equal(copy.get_weights()[0], base.get_weights()[0])  # re-initialized
    copy.set_weights(base.get_weights())
    x = np.random.default_rng(0).random((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(copy.predict(x, verbose=0), base.predict(x, verbose=0))
    shared = brisknn.models.clone_model(
        base, clone_function=lambda l: l if isinstance(l, Dropout) else
        type(l).from_config(l.get_config()), recursive=True)
    assert shared.layers[1] is base.layers[1] and shared.layers[2].layers[0] is not \
        inner.layers[0]
    with pytest.raises(NotImplementedError, match="input_tensors"):
        brisknn.models.clone_model(base, input_tensors=[x])


def test_an_empty_model_raises_keras_message_instead_of_acting_as_the_identity():
    x, y = np.ones((4, 3), np.float32), np.ones((4, 1), np.float32)
    empty = Sequential()
    empty.compile("sgd", "mse")
    for run in (lambda: empty.predict(x, verbose=0), lambda: empty(x),
                lambda: empty.fit(x, y, verbose=0), lambda: empty.evaluate(x, y, verbose=0),
                lambda: empty.build((None, 3))):
        with pytest.raises(ValueError, match="cannot be built because it has no layers"):
            run()
    popped = Sequential([layers.Input((3,)), Dense(2)])
    popped.pop()
    with pytest.raises(ValueError, match="has no layers"):
        popped.predict(x, verbose=0)


def test_subclassed_models_are_refused_by_name():
    class WithCall(brisknn.Model):  # Keras' subclassing: call() would be silently skipped
        def __init__(self):
            super().__init__()
            self.dense = Dense(1)

        def call(self, inputs):
            return self.dense(inputs)

    class WithTrainStep(Sequential):
        def train_step(self, data):
            return {}

    for cls, name in ((WithCall, "call"), (WithTrainStep, "train_step")):
        with pytest.raises(NotImplementedError, match=f"defines {name}: brisknn has no automatic"):
            cls()

    class KerasStyleLayer(layers.Layer):  # call() instead of forward/backward
        def call(self, inputs):
            return inputs

    with pytest.raises(NotImplementedError, match="does not implement forward"):
        KerasStyleLayer()(np.ones((2, 3)))


def test_validation_freq_takes_an_int_or_a_list_of_epochs_as_keras_3():
    model = Sequential([layers.Input((3,)), Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.ones((4, 3), np.float32), np.ones(4, np.float32)
    seen = []
    from brisknn.callbacks import LambdaCallback
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append("val_loss" in logs))
    model.fit(x, y, epochs=5, validation_data=(x, y), validation_freq=[2, 5], verbose=0,
              callbacks=[record])
    assert seen == [False, True, False, False, True]
    seen.clear()
    model.fit(x, y, epochs=4, validation_data=(x, y), validation_freq=2, verbose=0,
              callbacks=[record])
    assert seen == [False, True, False, True]
    with pytest.raises(ValueError, match="validation_freq"):
        model.fit(x, y, validation_data=(x, y), validation_freq="often", verbose=0)


def test_a_model_without_trainable_weights_warns_and_takes_no_step_as_keras_3():
    model = Sequential([layers.Input((3,)), Dense(2)])
    model.trainable = False
    model.compile("adam", "mse")
    before = model.get_weights()
    with pytest.warns(UserWarning, match="does not have any trainable weights"):
        model.train_on_batch(np.ones((4, 3)), np.zeros((4, 2)))
    assert model.optimizer.iterations == 0
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_input_takes_keras_batch_shape():
    model = Sequential([layers.Input(batch_shape=(None, 3)), Dense(2)])
    assert model.input_shape == (None, 3) and model.output_shape == (None, 2)
    assert layers.Input(batch_shape=(8, 5, 2)).shape == (8, 5, 2)
    with pytest.raises(ValueError, match="both `shape` and `batch_shape`"):
        layers.Input(shape=(3,), batch_shape=(None, 3))


def test_call_results_losses_and_metric_results_answer_numpy_as_keras_tensors_do():
    from brisknn import losses, metrics
    model = Sequential([layers.Input((3,)), Dense(2)])
    x = np.ones((4, 3), np.float32)
    out = model(x)
    assert isinstance(out, np.ndarray) and type(out.numpy()) is np.ndarray
    np.testing.assert_array_equal(out.numpy(), model.predict(x, verbose=0))
    assert type(model.layers[0](x).numpy()) is np.ndarray
    loss = losses.MeanSquaredError()(np.zeros((4, 2)), out)
    assert isinstance(loss, float) and loss.numpy() == np.float32(loss)
    assert type(losses.MeanSquaredError(reduction=None)(np.zeros((4, 2)), out).numpy()) is \
        np.ndarray
    m = metrics.BinaryAccuracy()
    m.update_state([[1], [0]], [[0.7], [0.6]])
    assert m.result() == 0.5 and m.result().numpy() == np.float32(0.5)
    assert metrics.AUC()([0, 1], [0.2, 0.9]).numpy() == np.float32(1.0)


def test_build_called_directly_leaves_the_layer_built_as_in_keras():
    x = np.random.default_rng(0).normal(size=(4, 3))
    w = np.random.default_rng(1).normal(size=(3, 2))
    dense = brisknn.layers.Dense(2, use_bias=False, dtype="float64")
    dense.build((None, 3))
    assert dense.built and dense.output_shape == (None, 2)
    dense.set_weights([w])
    np.testing.assert_allclose(dense(x), x @ w, rtol=1e-12)  # not rebuilt with new weights
    dense.build((None, 3))  # again: nothing changes
    np.testing.assert_allclose(dense.kernel.value, w)

    class Scale(brisknn.layers.Layer):  # a user's layer, Keras-style
        def build(self, input_shape):
            self.scale = self.add_weight("scale", (input_shape[-1],), "ones")

        def forward(self, x, training=False):
            return x * self.scale.value

    layer = Scale(dtype="float64")
    layer.build((None, 3))
    layer.set_weights([np.array([1.0, 2.0, 3.0])])
    np.testing.assert_allclose(layer(x), x * [1.0, 2.0, 3.0])
    embedding = brisknn.layers.Embedding(10, 4)
    embedding.build()
    assert embedding.built and embedding(np.array([[1, 2]])).shape == (1, 2, 4)


def test_reductions_of_a_model_call_are_numpy_scalars():
    model = brisknn.Sequential([brisknn.layers.Dense(3, input_shape=(4,), activation="softmax")])
    out = model(np.random.default_rng(0).random((5, 4)))
    accuracy = (np.argmax(out, 1) == np.array([0, 1, 2, 0, 1])).mean()
    assert type(accuracy) is np.float64 and isinstance(out.sum(), np.floating)
    assert type(out.numpy()) is np.ndarray and hasattr(out + 1, "numpy")


def test_a_layer_frozen_after_compile_stays_put():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=(16, 1))
    first = brisknn.layers.Dense(4, kernel_regularizer=brisknn.regularizers.L2(0.1))
    model = brisknn.Sequential([brisknn.layers.Input((3,)), first, brisknn.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(x, y, epochs=1, verbose=0)
    first.trainable = False  # no recompile: momentum and the penalty must not move it either
    before = [w.copy() for w in first.get_weights()]
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(before, first.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_compile_without_a_loss_predicts_and_refuses_to_train(tmp_path):
    model = brisknn.Sequential([brisknn.layers.Input((3,)), brisknn.layers.Dense(2)])
    model.compile(optimizer="adam")  # Keras allows it; the first fit or evaluate refuses
    assert model.predict(np.ones((4, 3)), verbose=0).shape == (4, 2)
    for call in (lambda: model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0),
                 lambda: model.evaluate(np.ones((4, 3)), np.ones((4, 2)), verbose=0),
                 lambda: model.train_on_batch(np.ones((4, 3)), np.ones((4, 2)))):
        with pytest.raises(ValueError, match="No loss to compute. Provide a `loss` argument"):
            call()
    model.save(tmp_path / "m.keras")
    loaded = brisknn.models.load_model(tmp_path / "m.keras")
    assert loaded.compiled and loaded.loss is None


@pytest.mark.parametrize("make,first,second", [
    (lambda: brisknn.layers.Dense(4), (2, 3), (2, 5, 3)),
    (lambda: brisknn.layers.Conv2D(4, 3, padding="same"), (2, 8, 8, 3), (2, 10, 12, 3)),
    (lambda: brisknn.layers.Conv1D(4, 3), (2, 9, 3), (2, 20, 3)),
    (lambda: brisknn.layers.Conv2DTranspose(4, 3, strides=2), (1, 4, 4, 3), (1, 5, 6, 3)),
    (lambda: brisknn.layers.LSTM(4, return_sequences=True), (2, 5, 3), (2, 7, 3)),
    (lambda: brisknn.layers.BatchNormalization(), (4, 6, 6, 3), (4, 5, 7, 3)),
])
def test_a_layer_called_directly_takes_what_keras_input_spec_lets_through(make, first, second):
    # Keras checks a built layer's input against its InputSpec: the channels / features (and the
    # rank, or Dense's min_ndim 2), not the other sizes it was first called with.
    rng = np.random.default_rng(0)
    layer = make()
    layer(rng.random(first))
    x = rng.random(second)
    fresh = make()
    fresh(x)
    fresh.set_weights(layer.get_weights())
    np.testing.assert_allclose(layer(x), fresh(x), rtol=1e-6)
    assert layer.input_shape == (None,) + first[1:]  # still the shape it was built for
    bad = np.zeros(second[:-1] + (second[-1] + 1,))
    with pytest.raises(ValueError, match="expects input of shape"):
        layer(bad)
    wrong_rank = (3,) if len(first) == 2 else second[:1] + second[2:]  # Dense: below min_ndim
    with pytest.raises(ValueError, match="expects input of shape"):
        layer(np.zeros(wrong_rank))


def test_an_embedding_called_directly_takes_ids_of_any_shape_as_keras():
    emb = brisknn.layers.Embedding(10, 3)
    a = emb(np.array([[1, 2, 3]]))
    b = emb(np.array([[4, 5], [1, 2]]))
    c = emb(np.array([7]))
    table = emb.get_weights()[0]
    np.testing.assert_array_equal(a, table[[[1, 2, 3]]])
    np.testing.assert_array_equal(b, table[[[4, 5], [1, 2]]])
    np.testing.assert_array_equal(c, table[[7]])


def test_a_deep_copy_of_a_trained_model_predicts_and_trains_as_the_original():
    # copy.deepcopy (a PyTorch habit: best = deepcopy(model)) copies the dtype objects too;
    # the kernels take an equal dtype, not only NumPy's own descriptor.
    import copy
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype(np.float32), rng.normal(size=(16, 2))
    brisknn.utils.set_random_seed(0)
    model = brisknn.Sequential([brisknn.Input((3,)), Dense(4, name="hidden"),
                                brisknn.layers.BatchNormalization(), Dense(2)])
    model.compile("adam", "mse")
    model.fit(x, y, epochs=1, verbose=0, shuffle=False)
    twin = copy.deepcopy(model)
    np.testing.assert_array_equal(twin.predict(x, verbose=0), model.predict(x, verbose=0))
    for m in (model, twin):
        m.fit(x, y, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(twin.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert twin.get_layer("hidden").output.shape == (None, 4)


@pytest.mark.parametrize("last", [None, "float64"])
def test_a_layer_of_another_dtype_computes_in_it_as_keras_autocasts(last):
    # Keras casts floating inputs to each layer's dtype: here a float64 layer inside a float32
    # model, its gradients cast back on the way down.
    brisknn.utils.set_random_seed(3)
    model = Sequential([layers.Input((3,)), Dense(4, activation="tanh", dtype="float64"),
                        Dense(2, dtype=last)])
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((5, 2))
    w1, b1, w2, b2 = model.get_weights()
    assert (w1.dtype, w2.dtype) == (np.float64, np.dtype(last or "float32"))
    h = np.tanh(x.astype(np.float64) @ w1 + b1)
    out = h.astype(w2.dtype) @ w2 + b2
    pred = model.predict(x, verbose=0)
    assert pred.dtype == w2.dtype
    np.testing.assert_allclose(pred, out, rtol=1e-6)
    dy = (2 * (out - t.astype(out.dtype)) / out.size).astype(out.dtype)
    model.forward(x, training=True)
    model.backward(dy, need_dx=False)
    dh = (dy @ w2.T).astype(np.float64)
    np.testing.assert_allclose(model.layers[0].kernel.grad, x.astype(np.float64).T @
                               (dh * (1 - h ** 2)), rtol=1e-5, atol=1e-7)
    for w in model.weights:
        w.grad.fill(0)
    hist = model.fit(x, t.astype(np.float32), epochs=5, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert model.layers[0].kernel.value.dtype == np.float64


@pytest.mark.parametrize("weights", [0.25, [0.25], {"out": 0.25}])
def test_loss_weights_scale_the_loss_and_its_gradient_as_keras(weights, tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 3)).astype(np.float32), rng.integers(0, 2, 16)

    def run(loss_weights):
        brisknn.utils.set_random_seed(4)
        model = Sequential([layers.Input((3,)), Dense(4, activation="relu",
                                                      kernel_regularizer="l2"),
                            Dense(2, activation="softmax", name="out")])
        model.compile(optimizer=optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                      loss_weights=loss_weights)
        before = model.get_weights()
        penalty = sum(model.losses)
        loss = model.train_on_batch(x, y)
        return model, loss - penalty, [a - b for a, b in zip(before, model.get_weights())]

    _, plain_loss, plain_steps = run(None)
    weighted, loss, steps = run(weights)
    np.testing.assert_allclose(loss, 0.25 * plain_loss, rtol=1e-6)
    # SGD steps of the unregularized output layer: its gradient is scaled (the first layer's
    # L2 penalty, not weighted, would not be)
    np.testing.assert_allclose(steps[2], 0.25 * plain_steps[2], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(steps[3], 0.25 * plain_steps[3], rtol=1e-5, atol=1e-7)
    weighted.save(tmp_path / "m.keras")
    assert brisknn.models.load_model(tmp_path / "m.keras")._loss_weight == 0.25
    with pytest.raises(ValueError, match="must match the number of losses"):
        weighted.compile(loss="mse", loss_weights=[1.0, 2.0])


def test_activity_regularizers_join_the_loss_and_its_gradient_as_keras():
    # Keras 3: regularizer(output) per call, not divided by the batch size, in fit's and
    # evaluate's loss; the output layer's then needs its softmax's output (no fusion).
    from conftest import numeric_grad
    brisknn.backend.set_floatx("float64")  # conftest puts float32 back
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    brisknn.utils.set_random_seed(1)
    model = Sequential([layers.Input((4,)),
                        Dense(5, activation="tanh",
                              activity_regularizer=regularizers.L1L2(0.01, 0.02)),
                        Dense(3, activation="softmax", activity_regularizer=regularizers.L2(0.05))])
    lr = 0.5
    model.compile(optimizer=optimizers.SGD(lr), loss="sparse_categorical_crossentropy")
    w1, b1, w2, b2 = model.get_weights()
    h = np.tanh(x @ w1 + b1)
    z = h @ w2 + b2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = (-np.log(p[np.arange(6), y]).mean() + 0.01 * np.abs(h).sum() +
                0.02 * (h ** 2).sum() + 0.05 * (p ** 2).sum())
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-12)
    kernels = [model.layers[0].kernel.value, model.layers[1].kernel.value]
    numeric = [numeric_grad(lambda: model.evaluate(x, y, verbose=0), k) for k in kernels]
    before = [k.copy() for k in kernels]
    np.testing.assert_allclose(model.train_on_batch(x, y), expected, rtol=1e-12)
    for b, k, g in zip(before, kernels, numeric):
        np.testing.assert_allclose((b - k) / lr, g, rtol=1e-6, atol=1e-9)


def test_a_convolution_activity_regularizer_trains_with_the_right_gradient():
    from conftest import numeric_grad
    brisknn.backend.set_floatx("float64")  # conftest puts float32 back
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((3, 5, 5, 1)), rng.standard_normal((3, 1))
    brisknn.utils.set_random_seed(2)
    model = Sequential([layers.Input((5, 5, 1)),
                        layers.Conv2D(2, 3, activation="tanh",
                                      activity_regularizer=regularizers.L1L2(0.01, 0.03)),
                        layers.Flatten(), Dense(1)])
    model.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    kernel = model.layers[0].kernel.value
    numeric = numeric_grad(lambda: model.evaluate(x, t, verbose=0), kernel)
    before = kernel.copy()
    model.train_on_batch(x, t)
    np.testing.assert_allclose((before - kernel) / 0.1, numeric, rtol=1e-6, atol=1e-9)
