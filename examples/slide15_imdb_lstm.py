"""Slide 15: IMDB sentiment with an LSTM, run by brisknn.examples.imdb (takes several minutes).

Embedding(10000, 128) -> LSTM(64, dropout=0.2, recurrent_dropout=0.2) -> Dense(1, sigmoid) on
reviews padded to 200 words, Adam, 5 epochs of batch 32 with validation_split=0.2, exactly as the
slide writes it for Keras; prints the test accuracy and saves the training history
(brisknn.plot.history). IMDB is read from BRISKNN_DATA or ~/.brisknn/datasets, and downloaded
there when absent.

    python examples/slide15_imdb_lstm.py [--out DIR] [--epochs 5] [--seed N] [--train-samples N ...]

Every option but --out is passed on to brisknn.examples.imdb.
"""
from brisknn import examples


def main(argv=None):
    from brisknn.examples import imdb
    return examples.run_for_slide(imdb.main, "slide15_imdb_lstm.png", argv)


if __name__ == "__main__":
    main()
