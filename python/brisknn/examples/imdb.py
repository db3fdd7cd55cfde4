"""The seed's slide-15 example: an LSTM classifies IMDB movie reviews, exactly as written there
for Keras.

    python -m brisknn.examples.imdb [--epochs 5] [--figure imdb_history.png] [--train-samples N]

Reads IMDB from BRISKNN_DATA or ~/.brisknn/datasets (downloading it when absent), keeps the
10,000 most frequent words, pads or cuts every review to 200 ids, trains
Embedding(10000, 128) -> LSTM(64, dropout 0.2, recurrent dropout 0.2) -> Dense(1, sigmoid)
with Adam and binary cross-entropy (batch 32, validation_split 0.2), prints the test accuracy
and the seconds per epoch, and saves the training-history figure.
"""
import argparse
import time

from brisknn.datasets import imdb
from brisknn.layers import LSTM, Dense, Embedding
from brisknn.models import Sequential
from brisknn.preprocessing.sequence import pad_sequences

MAX_FEATURES = 10000
MAXLEN = 200


def load_data(max_features=MAX_FEATURES, maxlen=MAXLEN):
    """((x_train, y_train), (x_test, y_test)) with x padded to (samples, maxlen) int32 ids."""
    (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=max_features)
    x_train = pad_sequences(x_train, maxlen=maxlen)
    x_test = pad_sequences(x_test, maxlen=maxlen)
    return (x_train, y_train), (x_test, y_test)


def build_model(recurrent_dropout=0.2):
    model = Sequential([
        Embedding(MAX_FEATURES, 128),
        LSTM(64, dropout=0.2, recurrent_dropout=recurrent_dropout),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--verbose", type=int, default=2)
    parser.add_argument("--figure", default="imdb_history.png")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--train-samples", type=int, default=None,
                        help="train on the first N training reviews only (a quick run)")
    args = parser.parse_args(argv)
    if args.seed is not None:
        from brisknn import utils
        utils.set_random_seed(args.seed)

    (x_train, y_train), (x_test, y_test) = load_data()
    if args.train_samples:
        x_train, y_train = x_train[:args.train_samples], y_train[:args.train_samples]

    model = build_model()
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=32,
                        validation_split=0.2, verbose=args.verbose)
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
