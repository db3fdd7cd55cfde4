"""Slide 14: the MNIST CNN, run by brisknn.examples.mnist (takes about 1 minute on 2 idle cores).

Conv2D(32, 3x3, relu) -> MaxPooling2D(2x2) -> Flatten -> Dense(128, relu) -> Dense(10, softmax),
Adam, 5 epochs of batch 128 with validation_split=0.2, exactly as the slide writes it for Keras;
prints the test accuracy (about 0.98) and saves the training history (brisknn.plot.history).
MNIST is read from BRISKNN_DATA or ~/.brisknn/datasets, and downloaded there when absent.

    python examples/slide14_mnist_cnn.py [--out DIR] [--epochs 5] [--seed N] [--verbose 2 ...]

Every option but --out is passed on to brisknn.examples.mnist.
"""
from brisknn import examples


def main(argv=None):
    from brisknn.examples import mnist
    return examples.run_for_slide(mnist.main, "slide14_mnist_cnn.png", argv)


if __name__ == "__main__":
    main()
