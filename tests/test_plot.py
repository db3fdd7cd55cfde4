"""brisknn.plot: every figure function returns a Figure holding the expected artists, computed
with brisknn's own kernels, and saves a PNG atomically when given a path."""
import math
import os

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")  # this test process only: no display needed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import brisknn  # noqa: E402
from brisknn import plot  # noqa: E402
from brisknn.layers import Conv2D, Dense, Dropout, Flatten, Input  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _nodes(ax):
    return sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))


def _edges(ax):
    return sum(len(c.get_segments()) for c in ax.collections if isinstance(c, LineCollection))


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def _images(fig):
    return [im for ax in fig.axes for im in ax.images]


def _mlp(*units, inputs=3):
    layers = [Input(shape=(inputs,))] + [Dense(n) for n in units]
    return brisknn.Sequential(layers)


# -- plot.model ------------------------------------------------------------------------------
def test_model_draws_a_node_per_unit_and_every_edge_between_consecutive_layers():
    model = _mlp(4, 2)
    fig = plot.model(model)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert _nodes(ax) == 3 + 4 + 2
    assert _edges(ax) == 3 * 4 + 4 * 2
    labels = "\n".join(_texts(ax))
    for layer in model.layers:
        assert layer.name in labels
    assert "4 units" in labels and "2 units" in labels and "Dense" in labels
    assert ax.get_title().endswith("3-4-2")


def test_model_caps_a_wide_layer_with_an_ellipsis():
    ax = plot.model(_mlp(64, 10, inputs=30), max_nodes=10).axes[0]
    # 30 and 64 show 9 nodes each around a gap; 10 fits.
    assert _nodes(ax) == 9 + 9 + 10
    assert _edges(ax) == 9 * 9 + 9 * 10
    assert _texts(ax).count("\u22ee") == 2
    assert "64 units" in "\n".join(_texts(ax))


def test_model_folds_weightless_same_shape_layers_and_flattens_nested_models():
    inner = brisknn.Sequential([Input(shape=(5,)), Dense(4), Dropout(0.5)], name="inner")
    model = brisknn.Sequential([inner, Dense(2, name="out")])
    ax = plot.model(model).axes[0]
    assert _nodes(ax) == 5 + 4 + 2
    assert any("+ dropout" in text for text in _texts(ax))


def test_model_of_a_cnn_uses_channels_and_shows_shapes():
    model = brisknn.Sequential([Input(shape=(8, 8, 1)), Conv2D(6, 3), Flatten(), Dense(3)])
    ax = plot.model(model).axes[0]
    assert _nodes(ax) == 1 + 6 + 9 + 3  # channels, filters, 216 features capped, units
    assert "(None, 6, 6, 6)" in "\n".join(_texts(ax))


def test_model_needs_a_built_model():
    with pytest.raises(ValueError, match="not built"):
        plot.model(brisknn.Sequential([Dense(2)]))


# -- plot.activations / losses / regularized_loss --------------------------------------------
def test_activations_plots_brisknn_kernels_one_line_each():
    x = np.linspace(-4, 4, 41)
    ax = plot.activations(("sigmoid", "tanh", "relu", "leaky_relu"), x=x).axes[0]
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["Sigmoid", "Tanh", "ReLU", "Leaky ReLU"]
    expected = [1 / (1 + np.exp(-x)), np.tanh(x), np.maximum(x, 0), np.where(x > 0, x, 0.2 * x)]
    for line, y in zip(lines, expected):
        np.testing.assert_allclose(line.get_ydata(), y, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="softmax"):
        plot.activations(("softmax",))
    with pytest.raises(ValueError, match="Unknown activation"):
        plot.activations(("swishy",))


def test_losses_compares_mse_and_clipped_cross_entropy():
    p = np.linspace(0, 1, 101)
    ax = plot.losses((0, 1, 1, 0), p).axes[0]
    mse, ce = ax.get_lines()
    assert (mse.get_label(), ce.get_label()) == ("MSE", "Cross-Entropy")
    np.testing.assert_allclose(mse.get_ydata(), 0.5 * (p ** 2 + (1 - p) ** 2), rtol=1e-6)
    assert ce.get_ydata()[50] == pytest.approx(math.log(2), rel=1e-6)
    assert np.isfinite(ce.get_ydata()).all()  # clipped at 1e-7 as Keras does
    assert ce.get_ydata()[0] == pytest.approx(-0.5 * math.log(1e-7), rel=1e-3)


def test_regularized_loss_adds_the_l1_and_l2_penalties():
    x = np.linspace(0, 10, 20)
    y = 2 * x + 1
    w = np.linspace(-3, 3, 13)
    ax = plot.regularized_loss(x, y, w, l1=0.1, l2=0.3).axes[0]
    plain, l1, l2 = ax.get_lines()
    expected = ((y[None, :] - w[:, None] * x[None, :]) ** 2).mean(axis=1)
    np.testing.assert_allclose(plain.get_ydata(), expected, rtol=1e-5)
    np.testing.assert_allclose(l1.get_ydata() - plain.get_ydata(), 0.1 * np.abs(w), atol=1e-3)
    np.testing.assert_allclose(l2.get_ydata() - plain.get_ydata(), 0.3 * w ** 2, atol=1e-3)
    with pytest.raises(ValueError, match="20 values"):
        plot.regularized_loss(x, y[:5])


# -- plot.optimizer_paths --------------------------------------------------------------------
def test_optimizer_paths_draws_contours_and_one_line_per_path():
    paths = {"SGD": np.array([[3, 3], [2.4, 2.4], [1.9, 1.9]]),
             "Adam": np.array([[3, 3], [2.9, 2.9]])}
    ax = plot.optimizer_paths(paths, f=lambda a, b: a ** 2 + 2 * b ** 2).axes[0]
    assert any(isinstance(c, ContourSet) for c in ax.collections)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["SGD", "Adam"]
    np.testing.assert_array_equal(lines[0].get_xydata(), paths["SGD"])
    with pytest.raises(ValueError, match=r"\(steps, 2\)"):
        plot.optimizer_paths({"bad": np.zeros((4, 3))})


# -- plot.conv_kernels / feature_maps --------------------------------------------------------
def test_conv_kernels_draws_one_image_per_channel_and_filter():
    kernel = np.random.default_rng(0).standard_normal((3, 3, 2, 4))
    images = _images(plot.conv_kernels(kernel))
    assert len(images) == 8
    np.testing.assert_array_equal(images[1].get_array(), kernel[:, :, 1, 0])
    assert len(_images(plot.conv_kernels(kernel[:, :, 0, 0]))) == 1
    assert len(_images(plot.conv_kernels(kernel, max_kernels=5))) == 5
    with pytest.raises(ValueError, match="k_h, k_w"):
        plot.conv_kernels(np.zeros((3, 3, 2)))


def test_feature_maps_of_a_layer_output_and_of_a_list():
    maps = np.random.default_rng(0).random((2, 6, 6, 5))
    fig = plot.feature_maps(maps)
    images = _images(fig)
    assert len(images) == 5
    np.testing.assert_array_equal(images[4].get_array(), maps[0, :, :, 4])
    fig = plot.feature_maps([np.eye(8), np.ones((3, 3)), np.zeros((6, 6))],
                            titles=["image", "kernel", "result"])
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["image", "kernel", "result"]
    with pytest.raises(ValueError, match="2-D"):
        plot.feature_maps([np.zeros((2, 2, 2))])
    with pytest.raises(ValueError, match="3 images but 1 titles"):
        plot.feature_maps([np.eye(2)] * 3, titles=["only one"])


# -- plot.hidden_states / history ------------------------------------------------------------
def test_hidden_states_draws_one_line_per_time_step():
    states = np.random.default_rng(0).standard_normal((5, 4))
    for given in (states, states[None], [s.reshape(4, 1) for s in states]):
        lines = plot.hidden_states(given).axes[0].get_lines()
        assert [line.get_label() for line in lines] == [f"Time step {i}" for i in range(1, 6)]
        np.testing.assert_allclose(lines[2].get_ydata(), states[2])
    with pytest.raises(ValueError, match="steps, units"):
        plot.hidden_states(np.zeros(4))


def test_history_draws_training_and_validation_curves():
    logs = {"accuracy": [0.5, 0.8], "val_accuracy": [0.4, 0.7], "loss": [1.0, 0.5],
            "val_loss": [1.1, 0.6]}
    fig = plot.history(logs)
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2]


# -- saving ----------------------------------------------------------------------------------
FIGURES = {  # name -> positional arguments
    "model": lambda: (_mlp(4, 2),),
    "activations": lambda: (),
    "losses": lambda: (),
    "regularized_loss": lambda: (np.arange(5.0), np.arange(5.0) * 2),
    "optimizer_paths": lambda: ({"SGD": np.array([[3, 3], [0, 0]])},),
    "conv_kernels": lambda: (np.ones((3, 3, 1, 2)),),
    "feature_maps": lambda: (np.ones((4, 4, 2)),),
    "hidden_states": lambda: (np.ones((3, 2)),),
    "history": lambda: ({"loss": [1.0, 0.5], "accuracy": [0.5, 0.6]},),
}


def test_every_figure_function_is_covered():
    assert sorted(FIGURES) == sorted(set(plot.__all__) - {"save"})


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_each_figure_saves_a_png_given_a_path(name, tmp_path):
    path = tmp_path / f"{name}.png"
    fig = getattr(plot, name)(*FIGURES[name](), path=path)
    assert isinstance(fig, Figure)
    assert path.read_bytes()[:8] == PNG
    assert os.listdir(tmp_path) == [path.name]  # no temporary file left behind


def test_save_is_atomic_and_leaves_nothing_on_failure(tmp_path):
    fig = plot.hidden_states(np.ones((2, 2)))
    target = tmp_path / "states.png"
    target.write_bytes(b"old")
    with pytest.raises(ValueError):
        plot.save(fig, tmp_path / "states.notaformat")
    assert sorted(os.listdir(tmp_path)) == ["states.png"]
    plot.save(fig, target)
    assert target.read_bytes()[:8] == PNG
    assert sorted(os.listdir(tmp_path)) == ["states.png"]
    old_umask = os.umask(0o022)
    os.umask(old_umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~old_umask
    plot.save(fig, str(tmp_path / "states.svg"))
    assert (tmp_path / "states.svg").read_bytes().lstrip().startswith(b"<?xml")


def test_plot_leaves_the_matplotlib_backend_alone():
    # Importing brisknn.plot and drawing must not switch the backend the user chose.
    before = matplotlib.get_backend()
    plot.activations()
    assert matplotlib.get_backend() == before
