import warnings

import numpy as np
import pytest

import brisknn
from brisknn import _core, initializers, ops
from brisknn.layers import Dense, Embedding, Flatten, GlobalAveragePooling1D
from brisknn.models import Sequential
from conftest import numeric_grad


# -- kernels -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("id_dtype", [np.int32, np.int64])
def test_embedding_forward_matches_numpy_indexing(dtype, id_dtype):
    rng = np.random.default_rng(0)
    table = rng.normal(size=(13, 5)).astype(dtype)
    ids = rng.integers(0, 13, size=(4, 7)).astype(id_dtype)
    ids[0, :3] = 12  # repeats and the last row
    out = ops.embedding(ids, table)
    assert out.shape == (4, 7, 5) and out.dtype == dtype
    np.testing.assert_array_equal(out, table[ids])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("id_dtype", [np.int32, np.int64])
def test_embedding_backward_adds_like_np_add_at_into_the_rows_used_only(dtype, id_dtype):
    rng = np.random.default_rng(1)
    ids = np.array([3, 0, 3, 7, 3, 0], dtype=id_dtype)
    dy = rng.normal(size=(6, 4)).astype(dtype)
    grad = np.full((10, 4), 0.5, dtype=dtype)
    expected = grad.astype(np.float64)
    np.add.at(expected, ids, dy.astype(np.float64))
    _core.embedding_backward(ids, dy, grad)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(grad, expected, rtol=tol)
    unused = np.setdiff1d(np.arange(10), ids)
    assert (grad[unused] == 0.5).all()
    np.testing.assert_allclose(ops.embedding_backward(ids, dy, 10), expected - 0.5, rtol=tol,
                               atol=tol)


def test_embedding_kernels_reject_out_of_range_ids_naming_id_position_and_vocab():
    table = np.zeros((4, 3), dtype=np.float32)
    grad = np.zeros_like(table)
    for bad, pos in (([0, 1, 4], 2), ([-1, 0], 0), ([0, 0, 0, 2**40], 3)):
        ids = np.array(bad, dtype=np.int64)
        with pytest.raises(ValueError, match=rf"id {bad[pos]} at position {pos} is out of range "
                                             r"for a vocabulary of 4"):
            _core.embedding_forward(ids, table, np.empty((len(bad), 3), np.float32))
        with pytest.raises(ValueError, match=rf"id {bad[pos]} at position {pos}"):
            _core.embedding_backward(ids, np.ones((len(bad), 3), np.float32), grad)
    assert not grad.any()  # nothing written before the check failed
    ids32 = np.array([0, np.iinfo(np.int32).min], dtype=np.int32)
    with pytest.raises(ValueError, match="id -2147483648 at position 1"):
        _core.embedding_forward(ids32, table, np.empty((2, 3), np.float32))


def test_embedding_kernels_check_dtypes_shapes_and_writeability():
    table = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(TypeError, match="ids must be int32 or int64, got float32"):
        _core.embedding_forward(np.zeros(2, np.float32), table, np.empty((2, 3), np.float32))
    with pytest.raises(TypeError, match="expected float32 or float64"):
        _core.embedding_forward(np.zeros(2, np.int64), table.astype(np.int32),
                                np.empty((2, 3), np.int32))
    with pytest.raises(ValueError, match=r"out has shape \(2, 4\), expected \(2, 3\)"):
        _core.embedding_forward(np.zeros(2, np.int64), table, np.empty((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"dy has shape \(3, 3\), expected \(2, 3\)"):
        _core.embedding_backward(np.zeros(2, np.int64), np.ones((3, 3), np.float32), table)
    with pytest.raises(ValueError, match="ids must have rank 1"):
        _core.embedding_forward(np.zeros((2, 2), np.int64), table, np.empty((4, 3), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.embedding_forward(np.zeros(4, np.int64)[::2], table, np.empty((2, 3), np.float32))
    readonly = np.zeros_like(table)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _core.embedding_backward(np.zeros(2, np.int64), np.ones((2, 3), np.float32), readonly)


def test_embedding_ops_check_their_arguments():
    table = np.zeros((4, 3))
    with pytest.raises(TypeError, match="ids must be integers, got dtype float64"):
        ops.embedding(np.array([1.0]), table)
    with pytest.raises(ValueError, match=r"table must be \(vocab, dim\)"):
        ops.embedding(np.array([1]), np.zeros(4))
    with pytest.raises(ValueError, match=r"dy of shape \(2, 5\) does not match ids of shape"):
        ops.embedding_backward(np.array([[1, 2]]), np.zeros((2, 5)), 4)
    assert ops.embedding(np.zeros((0,), np.int64), table).shape == (0, 3)


def test_embedding_results_do_not_depend_on_thread_count():
    # Big enough (13,000 x 130 > 3 x 2^19 elements) for the backward to split its columns into
    # 3 blocks at 3 threads, the last one partial, with many repeated ids.
    rng = np.random.default_rng(2)
    table = rng.normal(size=(300, 130)).astype(np.float32)
    ids = rng.integers(0, 300, size=13_000).astype(np.int32)
    dy = rng.normal(size=(13_000, 130)).astype(np.float32)
    results = []
    saved = brisknn.get_num_threads()
    try:
        for threads in (1, 2, 3):
            brisknn.set_num_threads(threads)
            out = np.empty((ids.size, 130), np.float32)
            _core.embedding_forward(ids, table, out)
            grad = np.zeros_like(table)
            _core.embedding_backward(ids, dy, grad)
            results.append((out, grad))
    finally:
        brisknn.set_num_threads(saved)
    for out, grad in results[1:]:
        np.testing.assert_array_equal(out, results[0][0])
        np.testing.assert_array_equal(grad, results[0][1])
    expected = np.zeros_like(table, dtype=np.float64)
    np.add.at(expected, ids, dy.astype(np.float64))
    np.testing.assert_allclose(results[0][1], expected, rtol=1e-4, atol=1e-4)


# -- the layer -----------------------------------------------------------------------------------
def test_embedding_layer_weight_name_shape_and_keras_uniform_default():
    layer = Embedding(1000, 16)
    out = layer(np.array([[1, 2, 3]]))
    assert out.shape == (1, 3, 16)
    assert [(w.name, w.path) for w in layer.weights] == [("embeddings", "embedding/embeddings")]
    table = layer.get_weights()[0]
    assert table.shape == (1000, 16) and table.dtype == np.float32
    assert table.min() >= -0.05 and table.max() <= 0.05 and table.std() > 0.02
    assert isinstance(initializers.get("uniform"), initializers.RandomUniform)
    assert layer.compute_output_shape((None, 3)) == (None, 3, 16)
    np.testing.assert_array_equal(out[0], table[[1, 2, 3]])


def test_embedding_config_round_trips_and_input_length_is_accepted_and_ignored():
    with pytest.warns(UserWarning, match="input_length"):
        layer = Embedding(50, 4, input_length=10, embeddings_regularizer="l2", name="emb")
    config = layer.get_config()
    assert config["input_dim"] == 50 and config["output_dim"] == 4
    assert config["mask_zero"] is False and "input_length" not in config
    assert config["embeddings_initializer"]["class_name"] == "RandomUniform"  # as Keras
    clone = Embedding.from_config(config)
    assert (clone.input_dim, clone.output_dim, clone.name) == (50, 4, "emb")
    assert clone.embeddings_regularizer.get_config() == layer.embeddings_regularizer.get_config()


def test_embedding_weights_argument_sets_the_table():
    table = np.arange(12, dtype=np.float32).reshape(6, 2)
    layer = Embedding(6, 2, weights=[table])
    np.testing.assert_array_equal(layer(np.array([[5, 0]])), [[[10, 11], [0, 1]]])


def test_embedding_mask_zero_is_stored_and_computes_keras_mask_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer = Embedding(10, 3, mask_zero=True)
    assert layer.get_config()["mask_zero"] is True and layer.supports_masking
    np.testing.assert_array_equal(layer.compute_mask(np.array([[0, 0, 4, 5]])),
                                  [[False, False, True, True]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Embedding(10, 3).compute_mask(np.array([[0, 1]])) is None


def test_embedding_layer_rejects_bad_ids_naming_the_layer():
    layer = Embedding(10, 3, name="tokens")
    with pytest.raises(ValueError, match=r"'tokens'.*id 10 at index \(1, 0\).*input_dim=10"):
        layer(np.array([[1, 2], [10, 3]]))
    with pytest.raises(ValueError, match=r"'tokens'.*id -2 at index \(0, 1\)"):
        layer(np.array([[1, -2]]))
    with pytest.raises(ValueError, match=r"'tokens'.*whole numbers.*index \(0, 1\)"):
        layer(np.array([[1.0, 2.5]]))
    with pytest.raises(ValueError, match="'tokens'.*whole numbers"):
        layer(np.array([[1.0, np.nan]]))
    with pytest.raises(TypeError, match="'tokens'.*integers"):
        layer(np.array([["a", "b"]]))
    layer(np.array([[1]]))
    with pytest.raises(ValueError, match="'tokens'.*out of range"):  # forward called directly
        layer.forward(np.array([[3, 11]], dtype=np.int64))


def test_embedding_layer_accepts_whole_floats_and_small_int_types_as_keras_casts():
    layer = Embedding(300, 4)
    ids = np.array([[0, 7, 255], [299, 1, 2]])
    expected = layer(ids)
    np.testing.assert_array_equal(layer(ids.astype(np.float32)), expected)
    np.testing.assert_array_equal(layer(ids[:1].astype(np.uint8)), expected[:1])
    np.testing.assert_array_equal(layer(ids.astype(np.uint64)), expected)
    np.testing.assert_array_equal(layer(ids.astype(np.int16)), expected)


def test_embedding_backward_returns_none_and_fills_only_used_rows():
    layer = Embedding(20, 3)
    layer(np.array([[4, 9, 4]]))
    dy = np.ones((1, 3, 3), dtype=np.float32)
    assert layer.backward(dy, need_dx=True) is None
    grad = layer.embeddings.grad
    np.testing.assert_array_equal(grad[4], [2, 2, 2])
    np.testing.assert_array_equal(grad[9], [1, 1, 1])
    assert not np.delete(grad, [4, 9], axis=0).any()
    layer.trainable = False
    grad[...] = 0
    layer(np.array([[1]]))
    layer.backward(np.ones((1, 1, 3), np.float32))
    assert not grad.any()


@pytest.mark.parametrize("pool", ["flatten", "average"])
def test_embedding_gradient_through_a_dense_head_matches_finite_differences(pool):
    brisknn.backend.set_floatx("float64")
    rng = np.random.default_rng(3)
    ids = np.array([[1, 4, 1], [0, 4, 6]])
    model = Sequential([Embedding(7, 3, embeddings_initializer="random_normal"),
                        Flatten() if pool == "flatten" else GlobalAveragePooling1D(),
                        Dense(2, activation="tanh")])
    model.build((None, 3))
    weights = model.trainable_weights
    r = rng.normal(size=(2, 2))

    def loss():
        return float((model.forward(ids) * r).sum())

    out = model.forward(ids, training=True)
    assert out.dtype == np.float64
    assert model.backward(r, need_dx=False) is None
    table = weights[0]
    np.testing.assert_allclose(table.grad, numeric_grad(loss, table.value), rtol=1e-6, atol=1e-9)
    assert not table.grad[[2, 3, 5]].any()
    for w in weights[1:]:
        np.testing.assert_allclose(w.grad, numeric_grad(loss, w.value), rtol=1e-6, atol=1e-9)


def test_model_keeps_ids_integer_and_checks_their_range_before_training():
    model = Sequential([Embedding(30, 4), Flatten(), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    ids = np.random.default_rng(4).integers(0, 30, (8, 5)).astype(np.int32)
    assert model._prepare_x(ids, "fit").dtype == np.int32
    assert model._prepare_x(ids.astype(np.float64), "fit").dtype == np.int64
    before = model.get_weights()
    bad = ids.copy()
    bad[6, 2] = 30
    with pytest.raises(ValueError, match=r"fit: Layer 'embedding.*id 30 at index \(6, 2\)"):
        model.fit(bad, np.zeros(8), verbose=0)
    with pytest.raises(ValueError, match="whole numbers"):
        model.predict(ids + 0.5, verbose=0)
    for b, a in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_nested_model_with_an_embedding_first_trains():
    inner = Sequential([Embedding(12, 4), GlobalAveragePooling1D()])
    model = Sequential([inner, Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    ids = np.random.default_rng(5).integers(0, 12, (16, 6))
    model.build((None, 6))
    before = inner.get_weights()[0]
    model.train_on_batch(ids, np.ones(16))
    assert not np.array_equal(inner.get_weights()[0], before)


def _sentiment_data(n, rng, vocab=60, steps=12):
    # Ids 2..29 are "negative" words and 30..59 "positive"; a review's label is its majority.
    x = rng.integers(2, vocab, size=(n, steps))
    x[:, :3] = 0  # padding, as pad_sequences puts it
    y = ((x >= 30).sum(1) > (x[:, 3:] < 30).sum(1)).astype(np.float32)
    return x.astype(np.int32), y


@pytest.mark.parametrize("pool", ["flatten", "average"])
def test_bag_of_words_model_learns_a_generated_sentiment_task(pool):
    rng = np.random.default_rng(6)
    x, y = _sentiment_data(1200, rng)
    x_test, y_test = _sentiment_data(300, rng)
    model = Sequential([Embedding(60, 8), Flatten() if pool == "flatten" else
                        GlobalAveragePooling1D(), Dense(1, activation="sigmoid")])
    model.compile(optimizer=brisknn.optimizers.Adam(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, batch_size=32, validation_split=0.2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] - 0.2
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.9


# -- GlobalAveragePooling1D ----------------------------------------------------------------------
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling1d_matches_mean_and_finite_differences(data_format, keepdims):
    brisknn.backend.set_floatx("float64")
    axis = 1 if data_format == "channels_last" else 2
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 5, 4))
    layer = GlobalAveragePooling1D(data_format=data_format, keepdims=keepdims)
    y = layer(x)
    np.testing.assert_allclose(y, x.mean(axis=axis, keepdims=keepdims), rtol=1e-14)
    assert layer.compute_output_shape((None, 5, 4)) == (None,) + y.shape[1:]
    r = rng.normal(size=y.shape)

    def f():
        return float((layer.forward(x) * r).sum())

    layer.forward(x)
    np.testing.assert_allclose(layer.backward(r), numeric_grad(f, x), rtol=1e-7, atol=1e-10)
    assert layer.get_config()["data_format"] == data_format
    assert layer.name.startswith("global_average_pooling1d")  # Keras' auto name


def test_global_average_pooling1d_rejects_wrong_rank_and_format():
    with pytest.raises(ValueError, match=r"rank 3.*\(None, 4\)"):
        Sequential([GlobalAveragePooling1D(input_shape=(4,))])
    with pytest.raises(ValueError, match="data_format"):
        GlobalAveragePooling1D(data_format="channels_middle")
