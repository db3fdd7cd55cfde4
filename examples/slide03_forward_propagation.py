"""Slide 3: forward propagation through Dense(4, relu) -> Dense(2, sigmoid).

The slide computes sigmoid(relu(X @ W1) @ W2) with NumPy. Here the same weights are given to a
brisknn Sequential with set_weights (the slide has no biases, hence use_bias=False), and its
prediction is checked against the slide's formula.

    python examples/slide03_forward_propagation.py [--out DIR] [--seed N]
"""
import argparse
import os

import numpy as np

from brisknn import plot
from brisknn.layers import Dense, Input
from brisknn.models import Sequential


def forward_propagation(X, W1, W2):
    """The slide's NumPy version."""
    A1 = np.maximum(0, np.dot(X, W1))  # ReLU
    return 1 / (1 + np.exp(-np.dot(A1, W2)))  # sigmoid


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the figure (default: here)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    X = np.array([[0.1, 0.2, 0.3]])
    W1 = rng.standard_normal((3, 4))
    W2 = rng.standard_normal((4, 2))

    model = Sequential([Input(shape=(3,)),
                        Dense(4, activation="relu", use_bias=False, name="hidden"),
                        Dense(2, activation="sigmoid", use_bias=False, name="output")])
    model.set_weights([W1, W2])
    output = model.predict(X, verbose=0)
    expected = forward_propagation(X, W1, W2)
    matches = bool(np.allclose(output, expected, rtol=1e-5, atol=1e-6))
    print("Network output:", output)
    print("Slide's NumPy formula:", expected)
    print(f"Match: {matches} (max difference {np.abs(output - expected).max():.2e})")

    os.makedirs(args.out, exist_ok=True)
    figure = os.path.join(args.out, "slide03_forward_propagation.png")
    values = ", ".join(f"{v:.3f}" for v in output[0])
    plot.model(model, path=figure, title=f"X = {X[0].tolist()}  ->  output [{values}]")
    print(f"Saved {figure}")
    return output, expected


if __name__ == "__main__":
    main()
