import subprocess
import sys

import numpy as np
import pytest

import brisknn


def test_build_info_reports_version_compiler_simd_and_threads():
    info = brisknn.build_info()
    assert info["version"] == brisknn.__version__
    assert info["compiler"] and isinstance(info["simd"], list) and "SSE2" in info["simd"]
    assert info["num_threads"] == brisknn.get_num_threads() >= 1
    assert info["openmp"] >= 201511


def test_set_num_threads_round_trips():
    before = brisknn.get_num_threads()
    try:
        brisknn.set_num_threads(1)
        assert brisknn.get_num_threads() == 1
    finally:
        brisknn.set_num_threads(before)
    with pytest.raises(ValueError):
        brisknn.set_num_threads(0)
    for bad in (2**40, -2**70):
        with pytest.raises(ValueError, match=r"expected a count in \[1, 4096\], got"):
            brisknn.set_num_threads(bad)
    for bad in (2.5, "2", True):
        with pytest.raises(TypeError, match="expected an integer thread count"):
            brisknn.set_num_threads(bad)
    brisknn.set_num_threads(np.int64(before))
    assert brisknn.get_num_threads() == before


def test_keras_top_level_names():
    assert brisknn.Sequential is brisknn.models.Sequential
    for name in ("layers", "models", "optimizers", "losses", "regularizers", "callbacks",
                 "datasets", "utils", "ops", "metrics", "initializers", "activations"):
        assert getattr(brisknn, name).__name__ == f"brisknn.{name}"
    assert isinstance(brisknn.Input(shape=(3,)), brisknn.layers.InputLayer)
    with pytest.raises(AttributeError):
        brisknn.no_such_thing


def test_import_is_lazy():
    # `import brisknn` must not pay for the Python layer (or NumPy) until it is used.
    code = ("import sys, brisknn; print(sorted(m for m in sys.modules "
            "if m.startswith('brisknn.') or m == 'numpy'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['brisknn._core']"


def test_to_categorical_as_keras():
    np.testing.assert_array_equal(brisknn.utils.to_categorical([0, 2, 1], 3),
                                  [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert brisknn.utils.to_categorical(np.array([[1], [0]])).shape == (2, 2)
    with pytest.raises(ValueError, match=r"in \[0, 2\)"):
        brisknn.utils.to_categorical([0, 2], 2)


def test_plot_history_saves_a_png(tmp_path):
    history = {"accuracy": [0.5, 0.8], "val_accuracy": [0.4, 0.7], "loss": [1.0, 0.5],
               "val_loss": [1.1, 0.6]}
    path = tmp_path / "history.png"
    fig = brisknn.plot.history(history, path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [ax.get_title() for ax in fig.axes] == ["Model Accuracy", "Model Loss"]


def test_to_categorical_is_float64_and_infers_classes_as_keras_3():
    # keras/src/utils/numerical_utils.py: np.zeros((batch, num_classes)), float64.
    out = brisknn.utils.to_categorical([0, 2])
    assert out.dtype == np.float64 and out.shape == (2, 3)
    assert brisknn.utils.to_categorical([1, 0], num_classes=0).shape == (2, 2)
    column = brisknn.utils.to_categorical(np.array([[2], [0], [1]]), 4)
    np.testing.assert_array_equal(column, np.eye(4)[[2, 0, 1]])
    assert column.dtype == np.float64
    assert brisknn.utils.to_categorical(np.zeros((2, 3), int), 2).shape == (2, 3, 2)


def test_float64_one_hot_targets_train_like_float32_ones():
    from brisknn.layers import Dense
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    labels = rng.integers(0, 3, 32)
    results = []
    for dtype in (np.float64, np.float32):
        brisknn.utils.set_random_seed(3)
        model = brisknn.Sequential([Dense(3, activation="softmax", input_shape=(4,))])
        model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
        y = brisknn.utils.to_categorical(labels, 3).astype(dtype)
        results.append(model.fit(x, y, epochs=2, batch_size=8, verbose=0).history)
    assert results[0] == results[1]


def test_clear_session_resets_automatic_names_as_keras():
    from brisknn import backend, metrics, utils
    from brisknn.layers import Dense
    [Dense(2) for _ in range(3)]
    assert Dense(2).name.startswith("dense_")
    backend.clear_session()
    assert Dense(2).name == "dense"
    assert Dense(2).name == "dense_1"
    assert metrics.Precision().name == "precision"
    utils.clear_session(free_memory=False)
    assert Dense(2).name == "dense" and metrics.Precision().name == "precision"
    assert backend.floatx() == "float32"
