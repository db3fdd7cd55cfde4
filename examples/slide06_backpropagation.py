"""Slide 6: backpropagation learns XOR, through brisknn's public API.

The slide's network, layer for layer: 3 inputs (the third is a constant 1 that plays the bias),
a hidden layer of 4 sigmoid units and 1 sigmoid output, no bias terms, weights drawn uniformly
from [0, 1). Its hand-written update adds the gradient of the *summed* squared error with step 1;
Keras' 'mse' is the *mean* over the 4 samples, so SGD(learning_rate=4) on full batches takes the
very same steps. fit runs the 1500 iterations; backward passes are brisknn's kernels.

    python examples/slide06_backpropagation.py [--out DIR] [--seed N]
"""
import argparse
import os

import numpy as np

from brisknn import initializers, optimizers, plot, utils
from brisknn.layers import Dense, Input
from brisknn.models import Sequential

X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float32)
y = np.array([[0], [1], [1], [0]], dtype=np.float32)


def build_model():
    uniform = initializers.RandomUniform(minval=0.0, maxval=1.0)  # the slide's np.random.rand
    model = Sequential([Input(shape=(3,)),
                        Dense(4, activation="sigmoid", use_bias=False,
                              kernel_initializer=uniform, name="layer1"),
                        Dense(1, activation="sigmoid", use_bias=False,
                              kernel_initializer=uniform, name="output")], name="xor")
    model.compile(optimizer=optimizers.SGD(learning_rate=4.0), loss="mse")
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the figure (default: here)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=1500)
    args = parser.parse_args(argv)
    utils.set_random_seed(args.seed)

    model = build_model()
    history = model.fit(X, y, epochs=args.epochs, batch_size=4, shuffle=False, verbose=0)
    output = model.predict(X, verbose=0)
    print("Output after training:")
    print(output)
    print(f"Rounded: {output.round().astype(int).ravel().tolist()} (targets "
          f"{y.astype(int).ravel().tolist()}); final loss {history.history['loss'][-1]:.5f}")

    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.semilogy(history.history["loss"])
    left.set_title("Mean squared error during training")
    left.set_xlabel("Iteration")
    left.set_ylabel("Loss")
    left.grid(True)
    labels = [str(row[:2].astype(int).tolist()) for row in X]
    positions = np.arange(len(X))
    right.bar(positions - 0.2, y.ravel(), width=0.4, label="target")
    right.bar(positions + 0.2, output.ravel(), width=0.4, label="network output")
    right.set_xticks(positions, labels)
    right.set_title("XOR after training")
    right.legend()
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    figure = os.path.join(args.out, "slide06_backpropagation.png")
    plot.save(fig, figure)
    print(f"Saved {figure}")
    return output


if __name__ == "__main__":
    main()
