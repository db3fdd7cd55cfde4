"""The seed slideshow's examples (examples/slideNN_*.py): each fast one runs headless, writes its
figure and prints its result. Slides 14 and 15 train on MNIST and IMDB for minutes; for them only
the hand-over to brisknn.examples is checked here."""
import math
import os
import runpy
import subprocess
import sys
import types
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")  # this test process only
import matplotlib.pyplot as plt  # noqa: E402

import brisknn  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def run_example(name, tmp_path, capsys, *args):
    """Runs examples/<name>.py's main with --out tmp_path; returns (result, printed text)."""
    namespace = runpy.run_path(str(EXAMPLES / f"{name}.py"))
    result = namespace["main"](["--out", str(tmp_path), *args])
    return result, capsys.readouterr().out


def assert_png(path):
    assert path.read_bytes()[:8] == PNG, f"{path} is not a PNG"


def test_there_is_one_example_per_slide():
    names = sorted(p.name for p in EXAMPLES.glob("slide*.py"))
    assert [n[:7] for n in names] == [f"slide{i:02d}" for i in range(1, 16)]


def test_slide01_network_diagram(tmp_path, capsys):
    sizes, out = run_example("slide01_network", tmp_path, capsys)
    assert sizes == [3, 4, 2]
    assert "layer sizes: 3-4-2" in out
    assert_png(tmp_path / "slide01_network.png")


def test_slide02_activations(tmp_path, capsys):
    values, out = run_example("slide02_activations", tmp_path, capsys)
    np.testing.assert_allclose(values["sigmoid"], 1 / (1 + np.exp([2.0, 0.0, -2.0])), rtol=1e-6)
    np.testing.assert_allclose(values["relu"], [0, 0, 2])
    assert "sigmoid     0.1192   0.5000   0.8808" in out
    assert_png(tmp_path / "slide02_activations.png")


def test_slide03_forward_propagation_matches_the_slide_formula(tmp_path, capsys):
    (output, expected), out = run_example("slide03_forward_propagation", tmp_path, capsys)
    assert output.shape == (1, 2)
    np.testing.assert_allclose(output, expected, rtol=1e-5)
    assert "Match: True" in out
    assert_png(tmp_path / "slide03_forward_propagation.png")


def test_slide04_chain_rule_agrees_with_central_differences(tmp_path, capsys):
    (analytic, numeric), out = run_example("slide04_chain_rule", tmp_path, capsys)
    x, y, z = 0.5, -0.3, 1.2
    f = math.exp(x * x + y * y)
    assert analytic == pytest.approx((2 * x * f * math.sin(z), 2 * y * f * math.sin(z),
                                      f * math.cos(z)), rel=1e-12)
    assert numeric == pytest.approx(analytic, rel=1e-7)
    assert "2*x*exp(x**2 + y**2)*sin(z)" in out and "exp(x**2 + y**2)*cos(z)" in out
    assert_png(tmp_path / "slide04_chain_rule.png")


def test_slide05_gradient_descent_reaches_the_minimum(tmp_path, capsys):
    x_min, out = run_example("slide05_gradient_descent", tmp_path, capsys)
    assert 2 * x_min + 5 * math.cos(x_min) == pytest.approx(0, abs=1e-6)  # f'(x) = 0
    assert "Minimum found at x = -1.11" in out
    assert_png(tmp_path / "slide05_gradient_descent.png")


def test_slide06_backpropagation_learns_xor(tmp_path, capsys):
    output, out = run_example("slide06_backpropagation", tmp_path, capsys)
    assert output.round().ravel().tolist() == [0, 1, 1, 0]
    assert np.abs(output.ravel() - [0, 1, 1, 0]).max() < 0.1
    assert "Rounded: [0, 1, 1, 0]" in out
    assert_png(tmp_path / "slide06_backpropagation.png")


def test_slide07_loss_functions(tmp_path, capsys):
    results, out = run_example("slide07_loss_functions", tmp_path, capsys)
    assert results[0.5][0] == pytest.approx(0.25)
    assert results[0.5][1] == pytest.approx(math.log(2), rel=1e-6)
    assert all(math.isfinite(v) for pair in results.values() for v in pair)
    assert "p = 0.50: MSE 0.2500, cross-entropy 0.6931" in out
    assert_png(tmp_path / "slide07_loss_functions.png")


def test_slide08_regularization_shrinks_the_weights(tmp_path, capsys):
    kernels, out = run_example("slide08_regularization", tmp_path, capsys)
    plain, l1, l2 = kernels["none"], kernels["L1(0.1)"], kernels["L2(0.1)"]
    assert np.abs(l1).sum() < np.abs(plain).sum()
    assert np.square(l2).sum() < np.square(plain).sum()
    assert (np.abs(l1) < 0.01).sum() > (np.abs(plain) < 0.01).sum()  # L1 zeroes weights
    assert "Loss curve, L2" in out
    assert_png(tmp_path / "slide08_regularization.png")
    assert_png(tmp_path / "slide08_weights.png")


def test_slide09_optimizers_descend_from_3_3(tmp_path, capsys):
    paths, out = run_example("slide09_optimizers", tmp_path, capsys)
    assert list(paths) == ["SGD", "Momentum", "Adam"]
    for path in paths.values():
        assert path.shape == (51, 2)
        np.testing.assert_array_equal(path[0], [3, 3])
        assert np.square(path[-1]).sum() < 0.1
    # Plain SGD with learning rate 0.1 on x^2 multiplies x by 0.8 each step.
    np.testing.assert_allclose(paths["SGD"][-1], 3 * 0.8 ** 50, rtol=1e-9)
    assert "SGD      after 50 steps" in out
    assert_png(tmp_path / "slide09_optimizers.png")


def test_slide10_convolution_matches_scipy_and_conv2d(tmp_path, capsys):
    from scipy import signal
    (conv_result, maps), out = run_example("slide10_cnn", tmp_path, capsys)
    assert conv_result.shape == (6, 6)
    assert "Matches scipy.signal.convolve2d: True" in out
    square = np.zeros((16, 16))
    square[4:12, 4:12] = 1
    edge = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
    np.testing.assert_allclose(maps[0, :, :, 0], signal.convolve2d(square, edge, "valid"),
                               atol=1e-5)
    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_allclose(maps[0, :, :, 1], signal.convolve2d(square, sobel_x, "valid"),
                               atol=1e-5)
    assert_png(tmp_path / "slide10_cnn.png")
    assert_png(tmp_path / "slide10_feature_maps.png")


def test_slide11_rnn_hidden_states_follow_the_recurrence(tmp_path, capsys):
    (states, expected), out = run_example("slide11_rnn", tmp_path, capsys)
    assert states.shape == (5, 4)
    np.testing.assert_allclose(states, expected, atol=1e-5)
    assert np.abs(states).max() > 0.1  # Keras' initializers: not the slide's near-zero states
    assert "Max difference from the NumPy recurrence" in out
    assert_png(tmp_path / "slide11_rnn.png")


def test_slide12_transfer_learning_trains_only_the_new_head(tmp_path, capsys):
    result, out = run_example("slide12_transfer_learning", tmp_path, capsys)
    assert result["same_after_load"] and result["unchanged"]
    assert result["trainable"] == 2
    assert result["non_trainable"] == (1 * 32 + 32) + (32 * 32 + 32) + (32 + 1)
    assert abs(result["w"] - 2) < 0.2 and abs(result["b"] - 0.5) < 0.25
    assert "Trainable params: 2" in out and "Non-trainable params: 1,153" in out
    assert (tmp_path / "slide12_base_model.keras").is_file()
    assert_png(tmp_path / "slide12_transfer_learning.png")


def test_slide13_gan_generates_the_target_distribution(tmp_path, capsys):
    (mean, std), out = run_example("slide13_gan", tmp_path, capsys)
    assert abs(mean - 4) < 0.75
    assert 0.75 < std < 2.5
    assert f"Generated mean {mean:.2f}" in out
    assert_png(tmp_path / "slide13_gan.png")


@pytest.mark.parametrize("slide, module", [("slide14_mnist_cnn", "mnist"),
                                           ("slide15_imdb_lstm", "imdb")])
def test_slides_14_and_15_hand_over_to_brisknn_examples(slide, module, tmp_path, monkeypatch):
    # The real runs take minutes and need the data sets; check what they would be asked.
    calls = []
    fake = types.ModuleType(f"brisknn.examples.{module}")
    fake.main = lambda argv: calls.append(argv) or 0.98
    import brisknn.examples
    monkeypatch.setitem(sys.modules, f"brisknn.examples.{module}", fake)
    monkeypatch.setattr(brisknn.examples, module, fake, raising=False)
    namespace = runpy.run_path(str(EXAMPLES / f"{slide}.py"))
    out_dir = tmp_path / "figures"
    argv = ["--out", str(out_dir), "--epochs", "1", "--seed", "3", "--verbose", "0"]
    assert namespace["main"](argv) == 0.98
    assert calls == [["--epochs", "1", "--figure", str(out_dir / f"{slide}.png"),
                      "--seed", "3", "--verbose", "0"]]  # other options pass through
    assert out_dir.is_dir()
    assert "minute" in namespace["__doc__"].splitlines()[0]


def test_an_example_runs_as_a_script_headless(tmp_path):
    # The child finds this brisknn whether it is installed or on a relative PYTHONPATH.
    package_root = str(Path(brisknn.__file__).resolve().parent.parent)
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]))
    env.pop("DISPLAY", None)
    done = subprocess.run([sys.executable, str(EXAMPLES / "slide05_gradient_descent.py"),
                           "--out", str(tmp_path)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Minimum found at x = -1.11" in done.stdout
    assert_png(tmp_path / "slide05_gradient_descent.png")
