"""Slide 5: gradient descent on f(x) = x^2 + 5 sin(x) with brisknn's SGD optimizer.

x is a brisknn Variable; each step hands the gradient f'(x) = 2x + 5 cos(x) to
SGD(learning_rate=0.1).apply_gradients, as one would in Keras. From x = 3, 50 steps reach the
minimum near x = -1.11.

    python examples/slide05_gradient_descent.py [--out DIR]
"""
import argparse
import os

import numpy as np

from brisknn import optimizers
from brisknn.backend import Variable


def f(x):
    return x ** 2 + 5 * np.sin(x)


def df(x):
    return 2 * x + 5 * np.cos(x)


def gradient_descent(start, learning_rate, num_iterations):
    x = Variable(np.array([start], dtype=np.float64), "x")
    optimizer = optimizers.SGD(learning_rate=learning_rate)
    x_history = [float(x.value[0])]
    for _ in range(num_iterations):
        optimizer.apply_gradients([(df(x.value), x)])
        x_history.append(float(x.value[0]))
    return x_history[-1], x_history


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the figure (default: here)")
    args = parser.parse_args(argv)

    x_min, x_history = gradient_descent(start=3.0, learning_rate=0.1, num_iterations=50)
    print(f"Minimum found at x = {x_min:.2f} (f(x) = {f(x_min):.4f}, f'(x) = {df(x_min):.1e})")

    import matplotlib.pyplot as plt
    from brisknn import plot
    x = np.linspace(-5, 5, 100)
    fig, ax = plt.subplots(figsize=(10, 6))
    ax.plot(x, f(x), "b-", label="f(x)")
    ax.plot(x_history, [f(v) for v in x_history], "ro-", label="Gradient descent path")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.legend()
    ax.set_title("Gradient Descent Optimization (brisknn SGD, learning rate 0.1)")
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    figure = os.path.join(args.out, "slide05_gradient_descent.png")
    plot.save(fig, figure)
    print(f"Saved {figure}")
    return x_min


if __name__ == "__main__":
    main()
