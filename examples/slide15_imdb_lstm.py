"""Slide 15: IMDB sentiment with an LSTM, run by brisknn.examples.imdb (takes several minutes).

Embedding(10000, 128) -> LSTM(64, dropout=0.2, recurrent_dropout=0.2) -> Dense(1, sigmoid) on
reviews padded to 200 words, Adam, 5 epochs of batch 32 with validation_split=0.2, exactly as the
slide writes it for Keras; prints the test accuracy and saves the training history
(brisknn.plot.history). IMDB is read from BRISKNN_DATA or ~/.brisknn/datasets, and downloaded
there when absent.

    python examples/slide15_imdb_lstm.py [--out DIR] [--epochs 5] [--seed N] [--train-samples N ...]

Other options are passed on to brisknn.examples.imdb.
"""
import argparse
import os


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the figure (default: here)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=None)
    args, rest = parser.parse_known_args(argv)  # the rest goes to brisknn.examples.imdb
    from brisknn.examples import imdb  # needs the Embedding and LSTM layers
    os.makedirs(args.out, exist_ok=True)
    figure = os.path.join(args.out, "slide15_imdb_lstm.png")
    forwarded = ["--epochs", str(args.epochs), "--figure", figure]
    if args.seed is not None:
        forwarded += ["--seed", str(args.seed)]
    return imdb.main(forwarded + rest)


if __name__ == "__main__":
    main()
