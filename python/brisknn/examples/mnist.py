"""The seed's slide-14 example: a small CNN on MNIST, exactly as written there for Keras.

    python -m brisknn.examples.mnist [--epochs 5] [--figure mnist_history.png]

Reads MNIST from BRISKNN_DATA or ~/.brisknn/datasets (downloading it when absent), trains
Conv2D(32, 3x3, relu) -> MaxPooling2D(2x2) -> Flatten -> Dense(128, relu) -> Dense(10, softmax)
with Adam for 5 epochs (batch 128, validation_split 0.2), prints the test accuracy and saves the
training-history figure.
"""
from brisknn import examples
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
    args = examples.parser(__doc__, "mnist_history.png").parse_args(argv)
    examples.seed(args.seed)
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train = x_train.reshape(x_train.shape[0], 28, 28, 1).astype("float32") / 255
    x_test = x_test.reshape(x_test.shape[0], 28, 28, 1).astype("float32") / 255
    return examples.train_and_report(build_model(), (x_train, y_train), (x_test, y_test), args,
                                     batch_size=128)


if __name__ == "__main__":
    main()
