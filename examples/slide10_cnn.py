"""Slide 10: convolution as edge detection, with brisknn.ops.convolve2d and a Conv2D layer.

First the slide: an 8x8 random image convolved with the 3x3 edge-detection kernel in 'valid'
mode by brisknn.ops.convolve2d, which gives what scipy.signal.convolve2d gives (checked against
scipy when it is installed, and against a plain NumPy loop always). Then the same kernel, with
Sobel and blur kernels, is loaded into a Conv2D layer with set_weights and run on an image of a
square: its feature maps show the edges. (Conv2D, as in Keras, computes a cross-correlation: the
kernel is not flipped, so the loaded kernels are the flipped convolution kernels.)

    python examples/slide10_cnn.py [--out DIR] [--seed N]
"""
import argparse
import os

import numpy as np

from brisknn import ops, plot
from brisknn.layers import Conv2D, Input
from brisknn.models import Sequential

EDGE = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float64)
KERNELS = {"edges": EDGE,
           "Sobel x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64),
           "Sobel y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64),
           "blur": np.full((3, 3), 1 / 9)}


def convolve_valid_reference(image, kernel):
    """'valid' convolution with a plain loop: flip the kernel, slide it, multiply and sum."""
    k_h, k_w = kernel.shape
    flipped = kernel[::-1, ::-1]
    out = np.empty((image.shape[0] - k_h + 1, image.shape[1] - k_w + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i:i + k_h, j:j + k_w] * flipped)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the figures (default: here)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)

    # The slide: brisknn.ops.convolve2d in place of scipy.signal.convolve2d.
    image = rng.random((8, 8))
    conv_result = ops.convolve2d(image, EDGE, mode="valid")
    reference = convolve_valid_reference(image, EDGE)
    print(f"convolve2d(8x8 image, 3x3 kernel, 'valid') -> shape {conv_result.shape}; "
          f"max difference from the NumPy loop {np.abs(conv_result - reference).max():.1e}")
    try:
        from scipy import signal
    except ImportError:
        print("scipy is not installed: skipping the comparison with scipy.signal.convolve2d")
    else:
        same = np.allclose(conv_result, signal.convolve2d(image, EDGE, mode="valid"))
        print(f"Matches scipy.signal.convolve2d: {same}")
    figure = os.path.join(args.out, "slide10_cnn.png")
    plot.feature_maps([image, EDGE, conv_result], path=figure,
                      titles=["Original Image", "Edge Detection Kernel", "Convolution Result"])
    print(f"Saved {figure}")

    # A Conv2D layer holding the four kernels, on a 16x16 image of a bright square.
    square = np.zeros((1, 16, 16, 1), dtype=np.float32)
    square[0, 4:12, 4:12, 0] = 1.0
    kernel = np.stack([k[::-1, ::-1] for k in KERNELS.values()], axis=-1)[:, :, None, :]
    model = Sequential([Input(shape=(16, 16, 1)), Conv2D(4, (3, 3), name="conv")])
    model.set_weights([kernel, np.zeros(4)])
    maps = model.predict(square, verbose=0)
    layer_vs_ops = np.abs(maps[0, :, :, 0] - ops.convolve2d(square[0, :, :, 0], EDGE,
                                                            mode="valid")).max()
    print(f"Conv2D feature maps: shape {maps.shape}; the 'edges' map differs from "
          f"ops.convolve2d by {layer_vs_ops:.1e}")
    maps_figure = os.path.join(args.out, "slide10_feature_maps.png")
    plot.feature_maps([square[0, :, :, 0]] + [maps[0, :, :, i] for i in range(4)],
                      titles=["input"] + [f"Conv2D: {name}" for name in KERNELS],
                      path=maps_figure)
    print(f"Saved {maps_figure}")
    return conv_result, maps


if __name__ == "__main__":
    main()
