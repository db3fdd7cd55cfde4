"""IMDB movie-review sentiment, as keras.datasets.imdb, read without unpickling anything.

`load_data` follows keras/src/datasets/imdb.py step for step (same shuffles, start/OOV
characters, maxlen filter and vocabulary cut); it runs on flat NumPy arrays instead of
per-word Python loops, which is what makes it fast.
"""
import io
import itertools
import json

import numpy as np

from brisknn.datasets import _cache, _npy

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
SUBDIR = "imdb"
# Keras' files (its word-index hash is an MD5) and the rebuilt ones in the shared data folder.
FILE_HASHES = {
    "imdb.npz": {"69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
                 "939a03b5182a7fdf8ccdc2d04a0007d608581224d8fb48af4ddcda975b0130e6"},
    "imdb_word_index.json": {"bfafd718b763782e994055a2d397834f",
                             "e98eaf6f8b75062b94fbb779fe560731cecc8d3df19cf074f7a873073b0c5925"},
}


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113,
              start_char=1, oov_char=2, index_from=3):
    """Loads IMDB: `(x_train, y_train), (x_test, y_test)`; x are 1-D object arrays of lists of
    word ids, y are the 0/1 labels.

    Arguments as in Keras. `path`: a file name relative to the cache folder ($BRISKNN_DATA or
    ~/.brisknn/datasets, its `imdb/` subfolder or its top), a directory, or a file path.
    """
    (x_train, y_train), (x_test, y_test) = _read(path)
    rng = np.random.RandomState(seed)
    x_train, y_train = _shuffled(x_train, y_train, rng)
    x_test, y_test = _shuffled(x_test, y_test, rng)   # the same generator, drawn on (Keras)

    n_train = len(x_train)
    flat, lengths = _flatten(np.concatenate([x_train, x_test]), path)
    labels = np.concatenate([y_train, y_test])
    flat = flat + index_from
    if start_char is not None:
        flat, lengths = _prepend(flat, lengths, start_char)

    if maxlen:
        keep = lengths < maxlen                           # Keras keeps len < maxlen, strictly
        if not keep[:n_train].any() or not keep[n_train:].any():
            raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, "
                             "no sequence was kept. Increase maxlen.")
        flat, lengths = flat[np.repeat(keep, lengths)], lengths[keep]
        labels, n_train = labels[keep], int(keep[:n_train].sum())

    if not num_words:
        # Keras' max(max(x) ...): the largest id becomes OOV too, as it does in Keras.
        num_words = int(flat.max()) if flat.size else 0
    in_vocabulary = (flat >= skip_top) & (flat < num_words)
    if oov_char is not None:
        flat = np.where(in_vocabulary, flat, oov_char)
    else:
        flat, lengths = _drop(flat, lengths, in_vocabulary)

    x_train, x_test = _split_lists(flat, lengths, n_train)
    return (x_train, labels[:n_train]), (x_test, labels[n_train:])


def get_word_index(path="imdb_word_index.json"):
    """The dict word -> rank (1 = most frequent) that IMDB's word ids refer to."""
    local = _cache.get_file(path, "imdb_word_index.json", SUBDIR,
                            ORIGIN + "imdb_word_index.json", FILE_HASHES)
    raw = _cache.read_verified(local, FILE_HASHES)
    try:
        index = json.loads(raw.decode("utf8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{local}: not a valid JSON word index: {e}") from e
    if not isinstance(index, dict):
        raise ValueError(f"{local}: expected a JSON object word -> rank, got {type(index).__name__}")
    return index


def _read(path):
    local = _cache.get_file(path, "imdb.npz", SUBDIR, ORIGIN + "imdb.npz", FILE_HASHES)
    raw = _cache.read_verified(local, FILE_HASHES)
    arrays = _npy.load_npz(io.BytesIO(raw), local, ("x_train", "y_train", "x_test", "y_test"),
                           object_keys=("x_train", "x_test"))
    for split in ("train", "test"):
        x, y = arrays["x_" + split], arrays["y_" + split]
        if x.ndim != 1 or y.shape != x.shape or y.dtype.kind not in "iu":
            raise ValueError(f"{local}: x_{split} {x.shape} and integer y_{split} {y.shape} "
                             f"({y.dtype}) must be 1-D of the same length")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _shuffled(x, y, rng):
    indices = np.arange(len(x))
    rng.shuffle(indices)
    return x[indices], y[indices]


def _flatten(sequences, source):
    """All word ids end to end (int64) and each sequence's length."""
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    try:
        flat = np.fromiter(itertools.chain.from_iterable(sequences), dtype=np.int64,
                           count=int(lengths.sum()))
    except OverflowError as e:
        raise ValueError(f"{source}: a word id does not fit in int64") from e
    return flat, lengths


def _prepend(flat, lengths, value):
    """Each sequence with `value` put in front."""
    longer = lengths + 1
    starts = np.cumsum(longer) - longer
    out = np.empty(flat.size + lengths.size, dtype=np.int64)
    is_start = np.zeros(out.size, dtype=bool)
    is_start[starts] = True
    out[is_start] = value
    out[~is_start] = flat
    return out, lengths + 1


def _drop(flat, lengths, keep):
    """Only the ids where `keep` holds, sequence boundaries preserved."""
    owner = np.repeat(np.arange(lengths.size), lengths)
    return flat[keep], np.bincount(owner[keep], minlength=lengths.size).astype(np.int64)


def _split_lists(flat, lengths, n_train):
    """(train, test) 1-D object arrays of Python lists of ints, cut at `n_train` sequences."""
    ends = np.cumsum(lengths).tolist()
    # One tolist per sequence: the ints are made in place, not copied out of one huge list.
    lists = [flat[start:end].tolist() for start, end in zip([0] + ends[:-1], ends)]
    return _object_array(lists[:n_train]), _object_array(lists[n_train:])


def _object_array(lists):
    # np.array(lists, dtype=object) would make a 2-D array when all lengths agree.
    return np.fromiter(lists, dtype=object, count=len(lists))
