"""DepthwiseConv2D, SeparableConv2D and grouped Conv2D speed: brisknn vs a plain NumPy
depthwise convolution (a multiply-add of shifted views per tap) and vs the full Conv2D of the
same output.

    python bench/bench_conv_more.py [--threads N] [--repeats R]

Each number is the median wall time of R interleaved runs (after a warm-up) in milliseconds,
float32, 3x3 kernels, padding 'same'. "fwd" is the forward pass; "fwd+bwd" adds the backward
pass (input and weight gradients).
"""
import argparse
import statistics
import time

import numpy as np

import brisknn
from brisknn import layers


def numpy_depthwise(x, kernel, bias):
    n, h, w, c = x.shape
    kh, kw, _, m = kernel.shape
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    y = np.zeros((n, h, w, c, m), x.dtype)
    for i in range(kh):
        for j in range(kw):
            y += xp[:, i:i + h, j:j + w, :, None] * kernel[i, j]
    return y.reshape(n, h, w, c * m) + bias


def numpy_depthwise_backward(dy, x, kernel):
    n, h, w, c = x.shape
    kh, kw, _, m = kernel.shape
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    dxp, dkernel = np.zeros_like(xp), np.empty_like(kernel)
    g = dy.reshape(n, h, w, c, m)
    for i in range(kh):
        for j in range(kw):
            dkernel[i, j] = np.einsum("nhwc,nhwcm->cm", xp[:, i:i + h, j:j + w], g)
            dxp[:, i:i + h, j:j + w] += (g * kernel[i, j]).sum(-1)
    return dxp[:, kh // 2:kh // 2 + h, kw // 2:kw // 2 + w], dkernel, dy.sum((0, 1, 2))


def run(shape, multiplier, repeats):
    n, h, c = shape
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, h, h, c)).astype(np.float32)
    out = c * multiplier
    depthwise = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=multiplier)
    full = layers.Conv2D(out, 3, padding="same")
    grouped = layers.Conv2D(out, 3, padding="same", groups=max(1, c // 4))  # 4 channels a group
    separable = layers.SeparableConv2D(out, 3, padding="same")
    for layer in (depthwise, full, grouped, separable):
        layer(x)
    kernel, bias = depthwise.get_weights()
    dy = rng.normal(size=(n, h, h, out)).astype(np.float32)

    def both(layer):
        return lambda: (layer.forward(x, training=True), layer.backward(dy))

    fns = {"depthwise fwd": lambda: depthwise.forward(x),
           "numpy depthwise fwd": lambda: numpy_depthwise(x, kernel, bias),
           "depthwise fwd+bwd": both(depthwise),
           "numpy depthwise fwd+bwd": lambda: (numpy_depthwise(x, kernel, bias),
                                               numpy_depthwise_backward(dy, x, kernel)),
           "separable fwd+bwd": both(separable),
           f"grouped (groups={max(1, c // 4)}) fwd+bwd": both(grouped),
           "full Conv2D fwd+bwd": both(full)}
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    print(f"x {(n, h, h, c)}, depth_multiplier {multiplier}:")
    for name, t in times.items():
        print(f"  {name:32s} {1e3 * statistics.median(t):8.2f} ms")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=brisknn.get_num_threads())
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    brisknn.set_num_threads(args.threads)
    for shape, multiplier in (((32, 32, 32), 1), ((32, 16, 128), 1), ((16, 32, 16), 2)):
        run(shape, multiplier, args.repeats)


if __name__ == "__main__":
    main()
