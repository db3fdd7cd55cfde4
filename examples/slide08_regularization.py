"""Slide 8: L1 and L2 regularization, on the slide's loss curves and on a fitted model.

First the slide's figure: the loss of the one-weight model y = w * x on noisy data from
y = 2x + 1, alone and with the L1 and L2 penalties (brisknn.regularizers) added. Then a small
linear model with 20 inputs, of which only 3 matter, fitted three times with brisknn: without a
penalty, with kernel_regularizer=regularizers.L1(0.1) and with regularizers.L2(0.1). The
penalties shrink the weights; L1 pushes the useless ones to (almost) exactly zero.

    python examples/slide08_regularization.py [--out DIR] [--seed N]
"""
import argparse
import os

import numpy as np

from brisknn import losses, optimizers, plot, regularizers, utils
from brisknn.layers import Dense, Input
from brisknn.models import Sequential


def fit_linear(x, y, regularizer, epochs=300):
    model = Sequential([Input(shape=(x.shape[1],)),
                        Dense(1, kernel_regularizer=regularizer, name="linear")])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.05), loss="mse")
    model.fit(x, y, epochs=epochs, batch_size=len(x), verbose=0)
    return model.get_weights()[0].ravel()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the figures (default: here)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)

    # The slide's loss curves.
    X = np.linspace(0, 10, 100).reshape(-1, 1)
    y = 2 * X + 1 + rng.standard_normal((100, 1)) * 2
    weights = np.linspace(-10, 10, 100)
    fine = np.linspace(-10, 10, 20001)  # to locate each curve's minimum to 0.001
    mse = losses.mean_squared_error(np.broadcast_to(y.T, (fine.size, 100)), np.outer(fine, X))
    for name, penalty in (("no regularization", 0), ("L1", regularizers.L1(0.1)),
                          ("L2", regularizers.L2(0.1))):
        total = mse + (np.array([penalty(w) for w in fine]) if penalty else 0)
        print(f"Loss curve, {name:<17}: smallest at w = {fine[np.argmin(total)]:.3f}")
    curves = os.path.join(args.out, "slide08_regularization.png")
    plot.regularized_loss(X, y, weights, l1=0.1, l2=0.1, path=curves)
    print(f"Saved {curves}")

    # A fitted model: 20 inputs, only the first 3 matter.
    x = rng.standard_normal((40, 20)).astype(np.float32)
    true_w = np.zeros(20, dtype=np.float32)
    true_w[:3] = (3.0, -2.0, 1.5)
    target = x @ true_w + 0.5 * rng.standard_normal(40).astype(np.float32)
    kernels = {"none": fit_linear(x, target, None),
               "L1(0.1)": fit_linear(x, target, regularizers.L1(0.1)),
               "L2(0.1)": fit_linear(x, target, regularizers.L2(0.1))}
    for name, w in kernels.items():
        print(f"Fitted with {name:<8}: sum|w| = {np.abs(w).sum():.3f}, sum w^2 = "
              f"{np.square(w).sum():.3f}, |w| < 0.01 for {int((np.abs(w) < 0.01).sum())} of 20, "
              "first three [" + ", ".join(f"{v:.2f}" for v in w[:3]) + "]")

    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(12, 5))
    index = np.arange(20)
    for k, (name, w) in enumerate(kernels.items()):
        ax.bar(index + (k - 1) * 0.27, w, width=0.27, label=f"kernel_regularizer={name}")
    ax.plot(index, true_w, "k_", markersize=14, label="true weight")
    ax.set_xticks(index)
    ax.set_xlabel("Input")
    ax.set_ylabel("Fitted weight")
    ax.set_title("Dense(1) fitted without and with L1 / L2 regularization")
    ax.legend()
    fig.tight_layout()
    bars = os.path.join(args.out, "slide08_weights.png")
    plot.save(fig, bars)
    print(f"Saved {bars}")
    return kernels


if __name__ == "__main__":
    main()
