"""Slide 1: the 3-4-2 network of the introduction, drawn from a brisknn model.

Builds the slide's network (3 inputs, a hidden layer of 4, 2 outputs) as a Sequential and draws
it with brisknn.plot.model, which reads the sizes from the model's layers.

    python examples/slide01_network.py [--out DIR]
"""
import argparse
import os

from brisknn import plot, utils
from brisknn.layers import Dense, Input
from brisknn.models import Sequential


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the figure (default: here)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    utils.set_random_seed(args.seed)

    model = Sequential([Input(shape=(3,)), Dense(4, name="hidden"), Dense(2, name="output")],
                       name="simple_network")
    model.summary()
    # The slide's W1 (3, 4) and W2 (4, 2) are the two Dense kernels.
    W1, b1, W2, b2 = model.get_weights()
    sizes = [model.input_shape[-1]] + [layer.units for layer in model.layers]
    print(f"W1 {W1.shape}, W2 {W2.shape}; layer sizes: {'-'.join(map(str, sizes))}")

    os.makedirs(args.out, exist_ok=True)
    figure = os.path.join(args.out, "slide01_network.png")
    plot.model(model, path=figure, title="Simple Neural Network Architecture (3-4-2)")
    print(f"Saved {figure}")
    return sizes


if __name__ == "__main__":
    main()
