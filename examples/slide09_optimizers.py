"""Slide 9: SGD, SGD with momentum and Adam on f(x, y) = x^2 + y^2 from (3, 3).

The slide's code does not run as written (`params.()`, a lambda handed to plt.contour, and its
momentum and Adam forget their state between steps). What it means: each optimizer minimises
x^2 + y^2 for 50 steps from (3, 3) with learning rate 0.1, and the paths are drawn over the
contours. Here the optimizers are brisknn's (Keras' update rules, their state kept inside the
optimizer), stepping a Variable with the gradient (2x, 2y).

    python examples/slide09_optimizers.py [--out DIR]
"""
import argparse
import os

import numpy as np

from brisknn import optimizers, plot
from brisknn.backend import Variable


def f(x, y):
    return x ** 2 + y ** 2


def optimize(optimizer, init_params, iterations):
    params = Variable(np.array(init_params, dtype=np.float64), "params")
    path = [params.numpy()]
    for _ in range(iterations):
        gradient = 2 * params.value
        optimizer.apply_gradients([(gradient, params)])
        path.append(params.numpy())
    return np.array(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the figure (default: here)")
    parser.add_argument("--iterations", type=int, default=50)
    args = parser.parse_args(argv)

    candidates = {"SGD": optimizers.SGD(learning_rate=0.1),
                  "Momentum": optimizers.SGD(learning_rate=0.1, momentum=0.9),
                  "Adam": optimizers.Adam(learning_rate=0.1)}
    paths = {name: optimize(opt, [3.0, 3.0], args.iterations) for name, opt in candidates.items()}
    for name, path in paths.items():
        x, y = path[-1]
        print(f"{name:<8} after {len(path) - 1} steps: ({x:+.4f}, {y:+.4f}), "
              f"f = {f(x, y):.2e}")

    os.makedirs(args.out, exist_ok=True)
    figure = os.path.join(args.out, "slide09_optimizers.png")
    plot.optimizer_paths(paths, f=f, path=figure)
    print(f"Saved {figure}")
    return paths


if __name__ == "__main__":
    main()
