"""Keras masking: Embedding(mask_zero=True) / Masking make masks, Sequential passes them along,
SimpleRNN/LSTM/GRU skip masked steps (state carried over) in their fused kernels, and
GlobalAveragePooling1D averages over the unmasked steps."""
import warnings

import numpy as np
import pytest

import brisknn
from brisknn import _core, layers, models, ops
from conftest import numeric_grad

CELLS = ["simple_rnn", "lstm", "gru"]
LAYERS = {"simple_rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}

# Rows: all real, post-padded, pre-padded, holes in the middle, all masked.
MASK = np.array([[1, 1, 1, 1, 1],
                 [1, 1, 1, 0, 0],
                 [0, 0, 1, 1, 1],
                 [1, 0, 1, 0, 1],
                 [0, 0, 0, 0, 0]], dtype=bool)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def masked_reference(cell, x, kernel, rkernel, bias, mask, input_mask=None, rec_mask=None):
    """Keras' backend.rnn in NumPy (float64): each step's cell, then where(mask, new, previous)
    for the states and the output; returns every output (batch, steps, units)."""
    batch, steps, _ = x.shape
    u, g = rkernel.shape[0], GATES[cell]

    def drop(m, j):
        return 1.0 if m is None else m[j if len(m) > 1 else 0]

    def product(inp, m, w, j):
        return (inp * drop(m, j)) @ w[:, j * u:(j + 1) * u]

    h, c, out = np.zeros((batch, u)), np.zeros((batch, u)), []
    for t in range(steps):
        px = np.concatenate([product(x[:, t], input_mask, kernel, j) for j in range(g)], 1)
        ph = np.concatenate([product(h, rec_mask, rkernel, j) for j in range(g)], 1)
        new_c = c
        if cell == "simple_rnn":
            new_h = np.tanh(px + ph + bias)
        elif cell == "lstm":
            z = px + ph + bias
            i, f = _sigmoid(z[:, :u]), _sigmoid(z[:, u:2 * u])
            new_c = f * c + i * np.tanh(z[:, 2 * u:3 * u])
            new_h = _sigmoid(z[:, 3 * u:]) * np.tanh(new_c)
        else:
            px, ph = px + bias[0], ph + bias[1]
            z = _sigmoid(px[:, :u] + ph[:, :u])
            r = _sigmoid(px[:, u:2 * u] + ph[:, u:2 * u])
            new_h = z * h + (1 - z) * np.tanh(px[:, 2 * u:] + r * ph[:, 2 * u:])
        keep = mask[:, t, None]
        h, c = np.where(keep, new_h, h), np.where(keep, new_c, c)
        out.append(h)
    return np.stack(out, 1)


def _problem(cell, rng, batch=5, steps=5, in_dim=3, units=4):
    g = GATES[cell]
    x = rng.normal(size=(batch, steps, in_dim))
    kernel = rng.normal(size=(in_dim, g * units)) * 0.5
    rkernel = rng.normal(size=(units, g * units)) * 0.5
    bias = rng.normal(size=(2, g * units) if cell == "gru" else (g * units,)) * 0.3
    return x, kernel, rkernel, bias


def _dropout_masks(count, batch, width, rng, rate=0.3):
    return (rng.random((count, batch, width)) >= rate) / (1 - rate)


# -- kernels against the NumPy reference -----------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dropout", [False, True])
def test_masked_forward_matches_keras_reference(cell, dtype, dropout):
    rng = np.random.default_rng(0)
    x, kernel, rkernel, bias = _problem(cell, rng)
    g = GATES[cell]
    im = _dropout_masks(g, 5, 3, rng) if dropout else None
    rm = _dropout_masks(g, 5, 4, rng) if dropout else None
    expected = masked_reference(cell, x, kernel, rkernel, bias, MASK, im, rm)
    cast = [None if a is None else a.astype(dtype) for a in (x, kernel, rkernel, bias, im, rm)]
    got = getattr(ops, cell)(*cast[:4], input_mask=cast[4], recurrent_mask=cast[5], mask=MASK)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    # The state holds over masked steps, is zero before the first real one, and an all-masked
    # row stays zero; uint8 masks mean the same.
    np.testing.assert_array_equal(got[1, 3], got[1, 2])
    np.testing.assert_array_equal(got[2, :2], 0)
    np.testing.assert_array_equal(got[4], 0)
    again = getattr(ops, cell)(*cast[:4], input_mask=cast[4], recurrent_mask=cast[5],
                               mask=MASK.astype(np.uint8))
    np.testing.assert_array_equal(again, got)


@pytest.mark.parametrize("cell", CELLS)
def test_all_true_mask_changes_nothing(cell):
    rng = np.random.default_rng(1)
    x, kernel, rkernel, bias = _problem(cell, rng)
    plain = getattr(ops, cell)(x, kernel, rkernel, bias)
    masked = getattr(ops, cell)(x, kernel, rkernel, bias, mask=np.ones((5, 5), dtype=bool))
    np.testing.assert_array_equal(masked, plain)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("sequences", [True, False])
@pytest.mark.parametrize("dropout", [False, True])
def test_masked_bptt_matches_finite_differences(cell, sequences, dropout):
    rng = np.random.default_rng(2)
    x, kernel, rkernel, bias = _problem(cell, rng)
    g = GATES[cell]
    im = _dropout_masks(g, 5, 3, rng) if dropout else None
    rm = _dropout_masks(g, 5, 4, rng) if dropout else None
    dy = rng.normal(size=(5, 5, 4) if sequences else (5, 4))

    def loss():
        h = getattr(ops, cell)(x, kernel, rkernel, bias, input_mask=im, recurrent_mask=rm,
                               mask=MASK)
        return float(((h if sequences else h[:, -1]) * dy).sum())

    grads = getattr(ops, cell + "_backward")(dy, x, kernel, rkernel, bias, input_mask=im,
                                             recurrent_mask=rm, mask=MASK)
    for name, value, grad in zip(["x", "kernel", "recurrent_kernel", "bias"],
                                 [x, kernel, rkernel, bias], grads):
        np.testing.assert_allclose(grad, numeric_grad(loss, value), rtol=1e-6, atol=1e-8,
                                   err_msg=f"{cell} d{name}")
    # A masked step's input has no effect at all.
    assert not grads[0][~MASK].any()


@pytest.mark.parametrize("cell", CELLS)
def test_masked_steps_add_nothing_to_the_weight_gradients(cell):
    # Dropping the masked steps of a row and running the rest unmasked gives the same weight
    # gradients: the row [a, 0, b, 0, c] is the sequence [a, b, c].
    rng = np.random.default_rng(3)
    x, kernel, rkernel, bias = _problem(cell, rng, batch=1)
    mask = np.array([[1, 0, 1, 0, 1]], dtype=bool)
    dy = rng.normal(size=(1, 4))
    masked = getattr(ops, cell + "_backward")(dy, x, kernel, rkernel, bias, mask=mask)
    short = getattr(ops, cell + "_backward")(dy, x[:, mask[0]], kernel, rkernel, bias)
    for a, b in zip(masked[1:], short[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(masked[0][:, mask[0]], short[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", CELLS)
def test_masked_results_do_not_depend_on_thread_count(cell):
    rng = np.random.default_rng(4)
    x, kernel, rkernel, bias = (a.astype(np.float32) for a in _problem(cell, rng, 24, 30, 16, 32))
    mask = rng.random((24, 30)) > 0.3
    dy = rng.normal(size=(24, 30, 32)).astype(np.float32)
    results = []
    saved = brisknn.get_num_threads()
    try:
        for threads in (1, 2):
            brisknn.set_num_threads(threads)
            y = getattr(ops, cell)(x, kernel, rkernel, bias, mask=mask)
            grads = getattr(ops, cell + "_backward")(dy, x, kernel, rkernel, bias, mask=mask)
            results.append([y, *grads])
    finally:
        brisknn.set_num_threads(saved)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


def test_kernel_rejects_a_bad_mask():
    x = np.zeros((2, 3, 4), dtype=np.float32)
    kernel, rkernel = np.zeros((4, 5), np.float32), np.zeros((5, 5), np.float32)
    h = np.empty((2, 3, 5), np.float32)
    ws = np.empty(_core.recurrent_workspace_size("simple_rnn", 2, 3, 4, 5, 0, 0, False),
                  np.float32)
    with pytest.raises(ValueError, match=r"mask has shape \(3, 2\), expected \(2, 3\)"):
        _core.recurrent_forward("simple_rnn", x, kernel, rkernel, None, None, None, h, None, None,
                                ws, mask=np.ones((3, 2), dtype=bool))
    with pytest.raises(TypeError, match="mask has dtype float32, expected bool or uint8"):
        _core.recurrent_forward("simple_rnn", x, kernel, rkernel, None, None, None, h, None, None,
                                ws, mask=np.ones((2, 3), dtype=np.float32))


# -- the layers ------------------------------------------------------------------------------------
def _layer(cell, x, **kwargs):
    brisknn.backend.set_floatx("float64")
    layer = LAYERS[cell](4, **kwargs)
    layer(x)
    rng = np.random.default_rng(5)
    for w in layer.weights:
        w.value[...] = rng.normal(size=w.shape) * 0.5
    return layer


@pytest.mark.parametrize("cell", CELLS)
def test_layer_outputs_follow_keras_zero_output_for_mask(cell):
    x = np.random.default_rng(6).normal(size=(5, 5, 3))
    seq = _layer(cell, x, return_sequences=True)
    kernel, rkernel, bias = (w.value for w in seq.weights)
    expected = masked_reference(cell, x, kernel, rkernel, bias, MASK)
    # Keras 3's default: a masked step outputs the previous output (the carried state).
    np.testing.assert_allclose(seq(x, mask=MASK), expected, rtol=1e-12, atol=1e-12)
    last = LAYERS[cell](4)
    last(x)
    last.set_weights(seq.get_weights())
    np.testing.assert_allclose(last(x, mask=MASK), expected[:, -1], rtol=1e-12, atol=1e-12)
    # zero_output_for_mask=True: zeros at masked steps (and a masked last step), as Keras' rnn.
    zero = LAYERS[cell](4, return_sequences=True, zero_output_for_mask=True)
    zero(x)
    zero.set_weights(seq.get_weights())
    np.testing.assert_allclose(zero(x, mask=MASK), expected * MASK[..., None], rtol=1e-12,
                               atol=1e-12)
    assert zero.get_config()["zero_output_for_mask"] is True
    assert seq.compute_mask(x, MASK) is MASK and last.compute_mask(x, MASK) is None


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("sequences", [True, False])
@pytest.mark.parametrize("zero_output", [False, True])
def test_layer_backward_with_mask_and_dropout_matches_finite_differences(cell, sequences,
                                                                        zero_output):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(5, 5, 3))
    layer = _layer(cell, x, return_sequences=sequences, dropout=0.3, recurrent_dropout=0.3,
                   seed=2, zero_output_for_mask=zero_output)
    y = layer.forward(x, training=True, mask=MASK)
    _, im, rm, *_ = layer._saved
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    kernel, rkernel, bias = (w.value for w in layer.weights)

    def loss():
        h = masked_reference(cell, x, kernel, rkernel, bias, MASK, im, rm)
        out = h if sequences else h[:, -1]
        if zero_output:
            out = out * (MASK[..., None] if sequences else MASK[:, -1, None])
        return float((out * dy).sum())

    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    for var in layer.weights:
        np.testing.assert_allclose(var.grad, numeric_grad(loss, var.value), rtol=1e-6,
                                   atol=1e-8, err_msg=var.name)


@pytest.mark.parametrize("cell", CELLS)
def test_go_backwards_reverses_the_mask_with_the_sequence(cell):
    x = np.random.default_rng(8).normal(size=(5, 5, 3))
    layer = _layer(cell, x, return_sequences=True, go_backwards=True)
    kernel, rkernel, bias = (w.value for w in layer.weights)
    expected = masked_reference(cell, x[:, ::-1], kernel, rkernel, bias, MASK[:, ::-1])
    np.testing.assert_allclose(layer(x, mask=MASK), expected, rtol=1e-12, atol=1e-12)
    # As Keras, the mask passed on is the incoming one, not reversed.
    assert layer.compute_mask(x, MASK) is MASK
    # The gradient w.r.t. x lands on the original step order, zero at masked steps.
    layer.forward(x, mask=MASK)
    dx = layer.backward(np.ones((5, 5, 4)))
    assert not dx[~MASK].any() and dx[MASK].any()


def test_layer_rejects_a_mask_of_the_wrong_shape_naming_the_layer():
    layer = layers.LSTM(3, name="enc")
    x = np.zeros((2, 4, 3), dtype=np.float32)
    layer(x)
    with pytest.raises(ValueError, match=r"'enc' \(LSTM\) expects a mask of shape \(2, 4\)"):
        layer(x, mask=np.ones((2, 5), dtype=bool))


# -- models: the property users rely on ------------------------------------------------------------
def _ids(rng, lengths, steps, pad="post"):
    out = np.zeros((len(lengths), steps), dtype=np.int64)
    for i, n in enumerate(lengths):
        seq = rng.integers(1, 30, n)
        if pad == "post":
            out[i, :n] = seq
        else:
            out[i, steps - n:] = seq
    return out


@pytest.mark.parametrize("rnn", ["SimpleRNN", "LSTM", "GRU"])
def test_model_output_does_not_depend_on_zero_padding(rnn):
    rng = np.random.default_rng(9)
    model = models.Sequential([layers.Input((None,)), layers.Embedding(30, 6, mask_zero=True),
                               layers.Dropout(0.3), layers.Dense(5, activation="tanh"),
                               getattr(layers, rnn)(4), layers.Dense(2)])
    seqs = [rng.integers(1, 30, n) for n in (3, 7, 1)]
    alone = []
    for s in seqs:
        alone.append(model.predict(s[None], verbose=0)[0])
    for steps in (7, 12):
        for pad in ("post", "pre"):
            x = np.zeros((3, steps), dtype=np.int64)
            for i, s in enumerate(seqs):
                if pad == "post":
                    x[i, :len(s)] = s
                else:
                    x[i, steps - len(s):] = s
            np.testing.assert_allclose(model.predict(x, verbose=0), alone, rtol=1e-5, atol=1e-6,
                                       err_msg=f"{steps} steps, {pad}-padded")


def test_return_sequences_then_average_pooling_ignores_padding():
    rng = np.random.default_rng(10)
    model = models.Sequential([layers.Input((None,)), layers.Embedding(30, 6, mask_zero=True),
                               layers.LSTM(4, return_sequences=True),
                               layers.GRU(3, return_sequences=True),
                               layers.GlobalAveragePooling1D(), layers.Dense(1)])
    seq = rng.integers(1, 30, 5)
    alone = model.predict(seq[None], verbose=0)
    padded = np.concatenate([[0, 0], seq, [0, 0, 0]])[None]
    np.testing.assert_allclose(model.predict(padded, verbose=0), alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rnn", ["LSTM", "GRU"])
def test_training_step_does_not_depend_on_zero_padding(rnn):
    # One SGD step on a post-padded batch and on the same sequences unpadded (one at a time,
    # summed) moves the weights alike: padded steps add nothing to any gradient.
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(11)

    def build():
        brisknn.utils.set_random_seed(3)
        m = models.Sequential([layers.Input((None,)), layers.Embedding(30, 5, mask_zero=True),
                               getattr(layers, rnn)(4), layers.Dense(1)])
        m.compile(optimizer=brisknn.optimizers.SGD(0.1), loss="mse")
        return m

    seqs = [rng.integers(1, 30, n) for n in (2, 6)]
    y = np.array([[0.5], [-0.3]])
    padded = build()
    x = np.zeros((2, 9), dtype=np.int64)
    for i, s in enumerate(seqs):
        x[i, :len(s)] = s
    padded.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False)
    start = build().get_weights()
    grads = [np.zeros_like(w) for w in start]
    for s, t in zip(seqs, y):
        m = build()
        m.train_on_batch(s[None], t[None])
        # The batch loss is the mean over 2 samples; each alone took a full step.
        for g, w0, w1 in zip(grads, start, m.get_weights()):
            g += (w1 - w0) / 2
    for w0, w, g in zip(start, padded.get_weights(), grads):
        np.testing.assert_allclose(w - w0, g, rtol=1e-9, atol=1e-12)


def test_mask_passes_through_supporting_layers_and_is_dropped_with_a_warning_otherwise():
    emb = layers.Embedding(10, 4, mask_zero=True)
    model = models.Sequential([layers.Input((5,)), emb, layers.Dense(3),
                               layers.Activation("relu"), layers.Dropout(0.1)])
    ids = np.array([[1, 2, 0, 0, 0], [0, 3, 4, 5, 6]])
    model.predict(ids, verbose=0)
    np.testing.assert_array_equal(model.compute_mask(ids), ids != 0)
    flat = models.Sequential([layers.Input((5,)), layers.Embedding(10, 4, mask_zero=True),
                              layers.Flatten(name="flat"), layers.Dense(1)])
    with pytest.warns(UserWarning, match="'flat'.*does not support masking"):
        flat.predict(ids, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per layer
        flat.predict(ids, verbose=0)
    assert flat.compute_mask(ids) is None


def test_nested_model_passes_its_mask_on():
    inner = models.Sequential([layers.Embedding(30, 6, mask_zero=True), layers.Dense(4)])
    outer = models.Sequential([layers.Input((None,)), inner, layers.LSTM(3)])
    seq = np.array([[5, 9, 2]])
    padded = np.array([[5, 9, 2, 0, 0, 0]])
    np.testing.assert_allclose(outer.predict(padded, verbose=0), outer.predict(seq, verbose=0),
                               rtol=1e-5, atol=1e-6)


# -- GlobalAveragePooling1D ------------------------------------------------------------------------
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_average_pooling_with_mask_is_the_mean_over_unmasked_steps(data_format, keepdims):
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(12)
    mask = MASK[:4]  # no all-masked row here
    x = rng.normal(size=(4, 5, 3))
    xin = x if data_format == "channels_last" else x.transpose(0, 2, 1).copy()
    layer = layers.GlobalAveragePooling1D(data_format=data_format, keepdims=keepdims)
    layer(xin)
    y = layer.forward(xin, mask=mask)
    expected = np.stack([x[b, mask[b]].mean(axis=0) for b in range(4)])
    axis = 1 if data_format == "channels_last" else 2
    np.testing.assert_allclose(y, np.expand_dims(expected, axis) if keepdims else expected,
                               rtol=1e-12)
    assert layer.compute_mask(xin, mask) is None
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)

    def loss():
        return float((layer.forward(xin, mask=mask) * dy).sum())

    np.testing.assert_allclose(dx, numeric_grad(loss, xin), rtol=1e-6, atol=1e-8)


def test_average_pooling_of_an_all_masked_row_is_nan_as_keras():
    layer = layers.GlobalAveragePooling1D()
    x = np.ones((2, 3, 2), dtype=np.float32)
    mask = np.array([[1, 0, 1], [0, 0, 0]], dtype=bool)
    layer(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning either
        y = layer.forward(x, mask=mask)
    np.testing.assert_array_equal(y[0], [1, 1])
    assert np.isnan(y[1]).all()
    dx = layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(dx[1], 0)
    with pytest.raises(ValueError, match=r"expects a mask of shape \(2, 3\)"):
        layer.forward(x, mask=mask[:, :2])


# -- Masking ---------------------------------------------------------------------------------------
def test_masking_layer_masks_steps_equal_to_mask_value_and_zeroes_them():
    x = np.array([[[1., 2.], [-1., -1.], [0., -1.]]], dtype=np.float32)
    layer = layers.Masking(mask_value=-1.0)
    y = layer(x)
    np.testing.assert_array_equal(y, [[[1, 2], [0, 0], [0, -1]]])
    np.testing.assert_array_equal(layer.compute_mask(x), [[True, False, True]])
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), [[[1, 1], [0, 0], [1, 1]]])
    assert layers.Masking(0.5).get_config()["mask_value"] == 0.5


def test_masking_layer_feeds_an_lstm_like_embedding_mask_zero():
    rng = np.random.default_rng(13)
    model = models.Sequential([layers.Input((None, 3)), layers.Masking(), layers.LSTM(4)])
    seq = rng.normal(size=(1, 4, 3)).astype(np.float32)
    padded = np.concatenate([np.zeros((1, 2, 3), np.float32), seq,
                             np.zeros((1, 3, 3), np.float32)], axis=1)
    np.testing.assert_allclose(model.predict(padded, verbose=0), model.predict(seq, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_masked_model_saves_and_loads(tmp_path):
    model = models.Sequential([layers.Input((6,)), layers.Embedding(20, 4, mask_zero=True),
                               layers.LSTM(3, return_sequences=True, zero_output_for_mask=True),
                               layers.GlobalAveragePooling1D(), layers.Dense(2)])
    ids = np.array([[1, 2, 3, 0, 0, 0], [0, 0, 4, 5, 6, 7]])
    expected = model.predict(ids, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = brisknn.models.load_model(tmp_path / "m.keras")
    assert loaded.get_config() == model.get_config()
    assert loaded.layers[1].zero_output_for_mask
    np.testing.assert_array_equal(loaded.predict(ids, verbose=0), expected)


# -- the loss of a masked sequence output ----------------------------------------------------------
def test_loss_of_a_masked_sequence_output_averages_over_unmasked_steps_as_keras():
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(14)
    model = models.Sequential([layers.Input((None,)), layers.Embedding(30, 5, mask_zero=True),
                               layers.LSTM(4, return_sequences=True), layers.Dense(2)])
    model.compile(optimizer=brisknn.optimizers.SGD(0.1), loss="mse")
    ids = np.array([[3, 7, 1, 0, 0], [0, 4, 4, 9, 2]])
    y = rng.normal(size=(2, 5, 2))
    out = model.predict(ids, verbose=0)
    mask = ids != 0
    per_step = ((out - y) ** 2).mean(axis=-1)
    expected = (per_step * mask).sum() / (mask.sum() + 1e-7)  # Keras' apply_mask
    assert model.evaluate(ids, y, verbose=0) == pytest.approx(expected, rel=1e-12)


def test_sequence_output_training_step_ignores_padded_steps():
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(15)

    def build():
        brisknn.utils.set_random_seed(4)
        m = models.Sequential([layers.Input((None,)), layers.Embedding(30, 5, mask_zero=True),
                               layers.GRU(4, return_sequences=True), layers.Dense(2)])
        m.compile(optimizer=brisknn.optimizers.SGD(0.1), loss="mse")
        return m

    seq = np.array([[6, 2, 8]])
    y = rng.normal(size=(1, 3, 2))
    a, b = build(), build()
    a.train_on_batch(seq, y)
    padded_y = np.concatenate([y, rng.normal(size=(1, 4, 2)) * 100], axis=1)
    b.train_on_batch(np.array([[6, 2, 8, 0, 0, 0, 0]]), padded_y)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-10, atol=1e-13)


def test_metrics_of_a_masked_sequence_output_count_unmasked_steps_only():
    rng = np.random.default_rng(16)
    model = models.Sequential([layers.Input((None,)), layers.Embedding(30, 5, mask_zero=True),
                               layers.LSTM(4, return_sequences=True),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    ids = np.array([[3, 7, 1, 0, 0, 0], [0, 0, 4, 4, 9, 2]])
    y = rng.integers(0, 3, (2, 6))
    hit = model.predict(ids, verbose=0).argmax(-1) == y
    mask = ids != 0
    _, accuracy = model.evaluate(ids, y, verbose=0)
    assert accuracy == pytest.approx(hit[mask].mean(), rel=1e-12)


def test_metric_sample_weight_follows_keras_mean():
    m = brisknn.metrics.MeanSquaredError()
    y_true, y_pred = np.zeros((2, 3, 1)), np.arange(6.0).reshape(2, 3, 1)
    m.update_state(y_true, y_pred, sample_weight=np.array([[1, 1, 0], [0, 1, 1]]))
    assert m.result() == pytest.approx((0 + 1 + 16 + 25) / 4)
