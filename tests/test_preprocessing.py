"""pad_sequences against Keras' documented outputs and a per-element reference."""
import itertools

import numpy as np
import pytest

from brisknn.preprocessing import sequence
from brisknn.preprocessing.sequence import pad_sequences

SEQUENCES = [[1], [2, 3], [4, 5, 6]]


def reference(sequences, maxlen, padding, truncating, value, dtype="int32"):
    """Element by element: keep the first/last maxlen items, place them at the end/start."""
    out = np.full((len(sequences), maxlen), value, dtype=dtype)
    for row, seq in enumerate(sequences):
        kept = list(seq)
        if len(kept) > maxlen:
            kept = kept[len(kept) - maxlen:] if truncating == "pre" else kept[:maxlen]
        offset = maxlen - len(kept) if padding == "pre" else 0
        for col, item in enumerate(kept):
            out[row, offset + col] = item
    return out


def test_keras_docstring_examples():
    assert pad_sequences(SEQUENCES).tolist() == [[0, 0, 1], [0, 2, 3], [4, 5, 6]]
    assert pad_sequences(SEQUENCES, value=-1).tolist() == [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]
    assert pad_sequences(SEQUENCES, padding="post").tolist() == [[1, 0, 0], [2, 3, 0], [4, 5, 6]]
    assert pad_sequences(SEQUENCES, maxlen=2).tolist() == [[0, 1], [2, 3], [5, 6]]
    assert pad_sequences(SEQUENCES).dtype == np.int32
    assert sequence.pad_sequences is pad_sequences


@pytest.mark.parametrize("padding, truncating, maxlen",
                         list(itertools.product(["pre", "post"], ["pre", "post"], [0, 1, 3, 4, 7])))
def test_padding_and_truncating_both_ways(padding, truncating, maxlen):
    sequences = [[1, 2, 3, 4, 5], [], [6], [7, 8, 9, 10]]
    got = pad_sequences(sequences, maxlen=maxlen, padding=padding, truncating=truncating,
                        value=-9)
    assert got.shape == (4, maxlen) and got.dtype == np.int32
    np.testing.assert_array_equal(got, reference(sequences, maxlen, padding, truncating, -9))


def test_truncation_keeps_the_right_end():
    seq = [[1, 2, 3, 4, 5]]
    assert pad_sequences(seq, maxlen=3, truncating="pre").tolist() == [[3, 4, 5]]
    assert pad_sequences(seq, maxlen=3, truncating="post").tolist() == [[1, 2, 3]]
    assert pad_sequences(seq, maxlen=3, truncating="post", padding="post").tolist() == [[1, 2, 3]]


def test_empty_inputs():
    assert pad_sequences([], maxlen=4).shape == (0, 4)
    with pytest.raises(ValueError, match="cannot infer maxlen from an empty list"):
        pad_sequences([])
    assert pad_sequences([[], []]).shape == (2, 0)
    assert pad_sequences([[], [1, 2]], value=7).tolist() == [[7, 7], [1, 2]]


def test_maxlen_none_uses_longest_and_arrays_are_accepted():
    ragged = [np.array([1, 2]), np.array([3, 4, 5, 6]), np.array([], dtype=int)]
    assert pad_sequences(ragged).tolist() == [[0, 0, 1, 2], [3, 4, 5, 6], [0, 0, 0, 0]]
    assert pad_sequences(np.arange(6).reshape(2, 3), maxlen=4).tolist() == \
        [[0, 0, 1, 2], [0, 3, 4, 5]]


def test_dtypes_and_values():
    floats = [[0.5, 1.5], [2.25]]
    got = pad_sequences(floats, dtype="float32", value=-1.0)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.array([[0.5, 1.5], [-1.0, 2.25]], np.float32))
    # Keras casts with np.asarray(dtype=...): the int32 default truncates floats.
    assert pad_sequences(floats).tolist() == [[0, 1], [0, 2]]
    assert pad_sequences([[1, 2]], maxlen=3, dtype="int64", value=0.0).dtype == np.int64
    strings = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>")
    assert strings.tolist() == [["a", "b"], ["<pad>", "c"]]
    with pytest.raises(ValueError, match="is not compatible with `value`'s type"):
        pad_sequences([[1]], value="x")


def test_sequences_of_vectors_keep_their_item_shape():
    sequences = [np.ones((2, 3)), np.full((1, 3), 2.0), []]
    got = pad_sequences(sequences, maxlen=3, dtype="float32")
    assert got.shape == (3, 3, 3)
    np.testing.assert_array_equal(got[0], [[0, 0, 0], [1, 1, 1], [1, 1, 1]])
    np.testing.assert_array_equal(got[1, 2], [2, 2, 2])
    assert not got[2].any()
    with pytest.raises(ValueError, match=r"Shape of sample \(2,\) of sequence at position 1"):
        pad_sequences([np.ones((2, 3)), np.ones((1, 2))])


def test_bad_arguments_raise_as_keras():
    with pytest.raises(ValueError, match='Padding type "middle" not understood'):
        pad_sequences(SEQUENCES, padding="middle")
    with pytest.raises(ValueError, match='Truncating type "mid" not understood'):
        pad_sequences(SEQUENCES, truncating="mid")
    with pytest.raises(ValueError, match='Padding type "x" not understood'):
        pad_sequences([[]], padding="x")             # checked even when nothing is padded
    with pytest.raises(ValueError, match="`sequences` must be iterable"):
        pad_sequences(iter(SEQUENCES))
    with pytest.raises(ValueError, match="must be a list of iterables. Found non-iterable: 3"):
        pad_sequences([[1], 3])
