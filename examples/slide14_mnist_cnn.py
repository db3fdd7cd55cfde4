"""Slide 14: the MNIST CNN, run by brisknn.examples.mnist (takes about 1 minute on 2 idle cores).

Conv2D(32, 3x3, relu) -> MaxPooling2D(2x2) -> Flatten -> Dense(128, relu) -> Dense(10, softmax),
Adam, 5 epochs of batch 128 with validation_split=0.2, exactly as the slide writes it for Keras;
prints the test accuracy (about 0.98) and saves the training history (brisknn.plot.history).
MNIST is read from BRISKNN_DATA or ~/.brisknn/datasets, and downloaded there when absent.

    python examples/slide14_mnist_cnn.py [--out DIR] [--epochs 5] [--seed N] [--verbose 2 ...]

Other options are passed on to brisknn.examples.mnist.
"""
import argparse
import os

from brisknn.examples import mnist


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the figure (default: here)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=None)
    args, rest = parser.parse_known_args(argv)  # the rest goes to brisknn.examples.mnist
    os.makedirs(args.out, exist_ok=True)
    figure = os.path.join(args.out, "slide14_mnist_cnn.png")
    forwarded = ["--epochs", str(args.epochs), "--figure", figure]
    if args.seed is not None:
        forwarded += ["--seed", str(args.seed)]
    return mnist.main(forwarded + rest)


if __name__ == "__main__":
    main()
