"""The seed's slide-15 example: an LSTM classifies IMDB movie reviews, exactly as written there
for Keras.

    python -m brisknn.examples.imdb [--epochs 5] [--figure imdb_history.png] [--train-samples N]

Reads IMDB from BRISKNN_DATA or ~/.brisknn/datasets (downloading it when absent), keeps the
10,000 most frequent words, pads or cuts every review to 200 ids, trains
Embedding(10000, 128) -> LSTM(64, dropout 0.2, recurrent dropout 0.2) -> Dense(1, sigmoid)
with Adam and binary cross-entropy (batch 32, validation_split 0.2), prints the test accuracy
and the seconds per epoch, and saves the training-history figure.
"""
from brisknn import examples
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
    parser = examples.parser(__doc__, "imdb_history.png")
    parser.add_argument("--train-samples", type=int, default=None,
                        help="train on the first N training reviews only (a quick run)")
    args = parser.parse_args(argv)
    examples.seed(args.seed)
    (x_train, y_train), test = load_data()
    if args.train_samples:
        x_train, y_train = x_train[:args.train_samples], y_train[:args.train_samples]
    return examples.train_and_report(build_model(), (x_train, y_train), test, args,
                                     batch_size=32)


if __name__ == "__main__":
    main()
