"""Slide 7: MSE against cross-entropy for targets [0, 1, 1, 0], computed with brisknn's losses.

Each loss is evaluated for a constant prediction p in [0, 1]. As in Keras, the cross-entropy
clips probabilities to [1e-7, 1 - 1e-7], so it stays finite at p = 0 and p = 1 (the slide's
NumPy version divides by zero there).

    python examples/slide07_loss_functions.py [--out DIR]
"""
import argparse
import os

import numpy as np

from brisknn import losses, plot


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the figure (default: here)")
    args = parser.parse_args(argv)

    y_true = np.array([[0, 1, 1, 0]], dtype=np.float32)
    mse, bce = losses.MeanSquaredError(), losses.BinaryCrossentropy()
    results = {}
    for p in (0.0, 0.25, 0.5, 0.75, 1.0):
        y_pred = np.full_like(y_true, p)
        results[p] = (mse(y_true, y_pred), bce(y_true, y_pred))
        print(f"p = {p:.2f}: MSE {results[p][0]:.4f}, cross-entropy {results[p][1]:.4f}")
    print("Both are smallest at p = 0.5, where the cross-entropy is ln 2 = 0.6931.")

    os.makedirs(args.out, exist_ok=True)
    figure = os.path.join(args.out, "slide07_loss_functions.png")
    plot.losses(y_true[0], np.linspace(0, 1, 100), names=("mse", "binary_crossentropy"),
                path=figure)
    print(f"Saved {figure}")
    return results


if __name__ == "__main__":
    main()
