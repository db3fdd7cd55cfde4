"""The seed's slide-14 example: a small CNN on MNIST, exactly as written there for Keras.

    python -m brisknn.examples.mnist [--epochs 5] [--figure mnist_history.png]

Reads MNIST from BRISKNN_DATA or ~/.brisknn/datasets (downloading it when absent), trains
Conv2D(32, 3x3, relu) -> MaxPooling2D(2x2) -> Flatten -> Dense(128, relu) -> Dense(10, softmax)
with Adam for 5 epochs (batch 128, validation_split 0.2), prints the test accuracy and saves the
training-history figure.
"""
import argparse
import time

from brisknn.datasets import mnist
from brisknn.layers import Conv2D, Dense, Flatten, MaxPooling2D
from brisknn.models import Sequential


def build_model():
    model = Sequential([
        Conv2D(32, kernel_size=(3, 3), activation="relu", input_shape=(28, 28, 1)),
        MaxPooling2D(pool_size=(2, 2)),
        Flatten(),
        Dense(128, activation="relu"),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--verbose", type=int, default=2)
    parser.add_argument("--figure", default="mnist_history.png")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if args.seed is not None:
        from brisknn import utils
        utils.set_random_seed(args.seed)

    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train = x_train.reshape(x_train.shape[0], 28, 28, 1).astype("float32") / 255
    x_test = x_test.reshape(x_test.shape[0], 28, 28, 1).astype("float32") / 255

    model = build_model()
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=args.epochs, validation_split=0.2,
                        batch_size=128, verbose=args.verbose)
    seconds = time.perf_counter() - start
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Training: {seconds:.1f} s ({seconds / max(args.epochs, 1):.1f} s per epoch)")
    print(f"Test accuracy: {test_accuracy:.4f}")
    try:
        from brisknn import plot
        plot.history(history, path=args.figure)
        print(f"Saved the training history to {args.figure}")
    except ImportError as error:
        print(f"Not saving the figure: {error}")
    return test_accuracy


if __name__ == "__main__":
    main()
