"""Slide 2: sigmoid, tanh and ReLU, computed by brisknn's activation kernels.

    python examples/slide02_activations.py [--out DIR]
"""
import argparse
import os

import numpy as np

from brisknn import activations, plot

NAMES = ("sigmoid", "tanh", "relu")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the figure (default: here)")
    args = parser.parse_args(argv)

    x = np.array([-2.0, 0.0, 2.0])
    values = {name: getattr(activations, name)(x) for name in NAMES}
    print("x        " + "".join(f"{v:>9.1f}" for v in x))
    for name, y in values.items():
        print(f"{name:<9}" + "".join(f"{v:>9.4f}" for v in y))

    os.makedirs(args.out, exist_ok=True)
    figure = os.path.join(args.out, "slide02_activations.png")
    plot.activations(NAMES, x=np.linspace(-5, 5, 100), path=figure)
    print(f"Saved {figure}")
    return values


if __name__ == "__main__":
    main()
