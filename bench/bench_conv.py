"""Conv2D and MaxPooling2D speed: brisknn vs a NumPy im2col baseline and PyTorch CPU (if installed).

    python bench/bench_conv.py [--threads N] [--repeats R]

Each number is the median wall time of R runs after a warm-up, in milliseconds, for a batch of
128 in float32. "fwd" is the layer's forward pass (with its ReLU, training mode); "fwd+bwd" adds
the backward pass (weight gradients, and the input gradient except for the first layer, which
has none to give). ratio = other / brisknn, so > 1 means brisknn is faster. Each library runs
in its own process with the same thread count (OMP/OpenBLAS/MKL_NUM_THREADS and its own API).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import brisknn
from brisknn import layers

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the comparison is optional
    torch = None


def median_ms(fn, repeats):
    fn()  # warm-up: allocations, workspaces, thread pools
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


# -- NumPy im2col baseline ---------------------------------------------------------------------
def _pads(k, padding):
    # Stride 1 in these cases, so 'same' pads k - 1 in all.
    return (0, 0) if padding == "valid" else ((k - 1) // 2, k - 1 - (k - 1) // 2)


def numpy_conv_forward(x, kernel, bias, padding):
    kh, kw, c, f = kernel.shape
    xp = np.pad(x, ((0, 0), _pads(kh, padding), _pads(kw, padding), (0, 0)))
    windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))  # (n, oh, ow, c, kh, kw)
    n, oh, ow = windows.shape[:3]
    col = windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, kh * kw * c)
    y = np.maximum(col @ kernel.reshape(-1, f) + bias, 0)
    return y.reshape(n, oh, ow, f), (col, xp.shape, x.shape)


def numpy_conv_backward(dy, y, saved, kernel, padding, need_dx):
    col, padded_shape, x_shape = saved
    kh, kw, c, f = kernel.shape
    dz = (dy * (y > 0)).reshape(-1, f)
    dkernel = (col.T @ dz).reshape(kernel.shape)
    dbias = dz.sum(axis=0)
    if not need_dx:
        return None, dkernel, dbias
    n, oh, ow = dy.shape[:3]
    dcol = (dz @ kernel.reshape(-1, f).T).reshape(n, oh, ow, kh, kw, c)
    dxp = np.zeros(padded_shape, dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, i:i + oh, j:j + ow] += dcol[:, :, :, i, j]
    top, left = _pads(kh, padding)[0], _pads(kw, padding)[0]
    return dxp[:, top:top + x_shape[1], left:left + x_shape[2]], dkernel, dbias


def numpy_pool_forward(x):
    n, h, w, c = x.shape
    win = x[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c)
    y = win.max(axis=(2, 4))
    return y, win == y[:, :, None, :, None]


def numpy_pool_backward(dy, mask, shape):
    dx = np.zeros(shape, dtype=dy.dtype)
    n, oh, _, ow, _, c = mask.shape
    dx[:, :oh * 2, :ow * 2] = (mask * dy[:, :, None, :, None]).reshape(n, oh * 2, ow * 2, c)
    return dx


# -- the cases: each library runs in its own process, so that one's OpenMP/BLAS thread pool ------
# -- (spinning after its parallel regions) never slows another's ---------------------------------
CONV_CASES = [  # name, input shape, filters, padding, need_dx (the first layer has no dx)
    ("conv 128x28x28x1->32 3x3 valid", (128, 28, 28, 1), 32, "valid", False),
    ("conv 128x14x14x32->64 3x3 same", (128, 14, 14, 32), 64, "same", True),
]
POOL_CASE = "maxpool 2x2 128x26x26x32"
BN_CASE = "batchnorm train 128x26x26x32"


def conv_data(shape, filters):
    rng = np.random.default_rng(0)
    x = rng.random(shape, dtype=np.float32)
    layer = layers.Conv2D(filters, 3, padding="same", activation="relu")
    layer(x[:1])  # Glorot-initialised weights shared by every library
    kernel, bias = layer.get_weights()
    bias[:] = rng.normal(size=filters) * 0.1
    return x, kernel, bias, rng


def conv_funcs(library, shape, filters, padding, need_dx):
    x, kernel, bias, rng = conv_data(shape, filters)
    if library == "brisknn":
        layer = layers.Conv2D(filters, 3, padding=padding, activation="relu")
        layer(x[:1])
        layer.set_weights([kernel, bias])
        dy = rng.normal(size=layer(x).shape).astype(np.float32)

        def both():
            layer.forward(x, training=True)
            layer.backward(dy, need_dx=need_dx)
        return lambda: layer.forward(x, training=True), both
    if library == "numpy":
        dy = rng.normal(size=numpy_conv_forward(x, kernel, bias, padding)[0].shape)
        dy = dy.astype(np.float32)

        def both():
            out, saved = numpy_conv_forward(x, kernel, bias, padding)
            numpy_conv_backward(dy, out, saved, kernel, padding, need_dx)
        return lambda: numpy_conv_forward(x, kernel, bias, padding), both
    tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(need_dx)
    tw = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()).requires_grad_(True)
    tb = torch.from_numpy(bias.copy()).requires_grad_(True)
    with torch.no_grad():
        tdy = torch.randn(F.conv2d(tx, tw, tb, padding=padding).shape)

    def fwd():
        with torch.no_grad():
            F.relu(F.conv2d(tx, tw, tb, padding=padding))

    def both():
        F.relu(F.conv2d(tx, tw, tb, padding=padding)).backward(tdy)
    return fwd, both


def pool_funcs(library):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(128, 26, 26, 32)).astype(np.float32)
    dy = rng.normal(size=(128, 13, 13, 32)).astype(np.float32)
    if library == "brisknn":
        layer = layers.MaxPooling2D((2, 2))

        def both():
            layer.forward(x, training=True)
            layer.backward(dy)
        return lambda: layer.forward(x, training=True), both
    if library == "numpy":
        def both():
            _, mask = numpy_pool_forward(x)
            numpy_pool_backward(dy, mask, x.shape)
        return lambda: numpy_pool_forward(x), both
    tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
    tdy = torch.from_numpy(dy.transpose(0, 3, 1, 2).copy())

    def fwd():
        with torch.no_grad():
            F.max_pool2d(tx, 2)
    return fwd, lambda: F.max_pool2d(tx, 2).backward(tdy)


def batch_norm_funcs(library):
    """Training mode: batch statistics, moving averages, gradients of x, gamma and beta."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(128, 26, 26, 32)).astype(np.float32)
    dy = rng.normal(size=x.shape).astype(np.float32)
    if library == "brisknn":
        layer = layers.BatchNormalization()
        layer.build(x.shape)

        def both():
            layer.forward(x, training=True)
            layer.backward(dy)
        return lambda: layer.forward(x, training=True), both
    if library == "numpy":  # the formulas of brisknn's former NumPy layer
        gamma, beta = np.ones(32, np.float32), np.zeros(32, np.float32)

        def fwd():
            mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
            inv = 1 / np.sqrt(var + np.float32(1e-3))
            x_hat = (x - mean) * inv
            return x_hat * gamma + beta, x_hat, inv

        def both():
            _, x_hat, inv = fwd()
            (dy * x_hat).sum(axis=(0, 1, 2)), dy.sum(axis=(0, 1, 2))
            dx_hat = dy * gamma
            return (dx_hat - dx_hat.mean(axis=(0, 1, 2)) -
                    x_hat * (dx_hat * x_hat).mean(axis=(0, 1, 2))) * inv
        return fwd, both
    tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
    tdy = torch.from_numpy(dy.transpose(0, 3, 1, 2).copy())
    bn = torch.nn.BatchNorm2d(32, eps=1e-3, momentum=0.01).train()

    def fwd():
        with torch.no_grad():
            bn(tx)
    return fwd, lambda: bn(tx).backward(tdy)


def measure(library, threads, repeats):
    """{case: ms} for one library, in this process."""
    brisknn.set_num_threads(threads)
    if library == "torch":
        torch.set_num_threads(threads)
        # Denormals flushed, as brisknn and TensorFlow do: unflushed, tiny gradients
        # (vanishing through 200 LSTM steps, say) slow torch down up to 6x.
        torch.set_flush_denormal(True)
    results = {}
    cases = [(name, conv_funcs(library, *args)) for name, *args in CONV_CASES]
    for name, (fwd, both) in cases + [(POOL_CASE, pool_funcs(library)),
                                      (BN_CASE, batch_norm_funcs(library))]:
        results[f"{name} fwd"] = median_ms(fwd, repeats)
        results[f"{name} fwd+bwd"] = median_ms(both, repeats)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=brisknn.get_num_threads())
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", choices=["brisknn", "numpy", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        print(json.dumps(measure(args.only, args.threads, args.repeats)))
        return
    libraries = ["brisknn", "numpy"] + (["torch"] if torch is not None else [])
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    results = {}
    for lib in libraries:
        out = subprocess.run([sys.executable, __file__, "--only", lib, "--threads",
                              str(args.threads), "--repeats", str(args.repeats)],
                             env=env, check=True, capture_output=True, text=True).stdout
        results[lib] = json.loads(out.strip().splitlines()[-1])
    torch_note = f"torch {torch.__version__}" if torch is not None else "torch not installed"
    print(f"threads={args.threads}, repeats={args.repeats}, float32, median ms; {torch_note}")
    print(f"{'case':<40} {'brisknn':>9} {'numpy':>9} {'ratio':>7} {'torch':>9} {'ratio':>7}")
    for case, ours in results["brisknn"].items():
        base = results["numpy"][case]
        other = results.get("torch", {}).get(case)
        torch_cols = f"{other:9.2f} {other / ours:7.2f}" if other else f"{'-':>9} {'-':>7}"
        print(f"{case:<40} {ours:9.2f} {base:9.2f} {base / ours:7.2f} {torch_cols}")


if __name__ == "__main__":
    main()
