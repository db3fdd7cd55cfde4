"""Sequence preprocessing, as keras.preprocessing.sequence (keras/src/utils/sequence_utils.py)."""
import numpy as np


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pads (and truncates) a list of sequences into a `(len(sequences), maxlen, ...)` array.

    As Keras: `maxlen` defaults to the longest sequence; `padding` and `truncating` ('pre' or
    'post') say whether values are added or removed at the start or the end; each item may itself
    be an array (all of the first non-empty one's shape); `value` fills the padding.

    >>> pad_sequences([[1], [2, 3], [4, 5, 6]], maxlen=2)
    array([[0, 1],
           [2, 3],
           [5, 6]], dtype=int32)
    """
    # Checked up front (Keras checks per sequence, so it lets bad values through for empty ones).
    if truncating not in ("pre", "post"):
        raise ValueError(f'Truncating type "{truncating}" not understood')
    if padding not in ("pre", "post"):
        raise ValueError(f'Padding type "{padding}" not understood')
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    lengths, sample_shape = _lengths_and_sample_shape(sequences)
    if maxlen is None:
        if not lengths:
            raise ValueError("pad_sequences: cannot infer maxlen from an empty list of "
                             "sequences; pass maxlen")
        maxlen = max(lengths)
    if isinstance(value, str) and np.dtype(dtype).kind not in "OSU":
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: "
                         f"{type(value)}\nYou should set `dtype=object` for variable length "
                         "strings.")

    out = np.full((len(sequences), maxlen) + sample_shape, value, dtype=dtype)
    for index, (sequence, length) in enumerate(zip(sequences, lengths)):
        if not length or not maxlen:
            continue
        kept = sequence[-maxlen:] if truncating == "pre" else sequence[:maxlen]
        kept = np.asarray(kept, dtype=dtype)
        if kept.shape[1:] != sample_shape:
            raise ValueError(f"Shape of sample {kept.shape[1:]} of sequence at position {index} "
                             f"is different from expected shape {sample_shape}")
        if padding == "post":
            out[index, :len(kept)] = kept
        else:
            out[index, -len(kept):] = kept
    return out


def _lengths_and_sample_shape(sequences):
    """Each sequence's length, and the item shape of the first non-empty one (Keras' rule)."""
    lengths, sample_shape = [], None
    for sequence in sequences:
        try:
            lengths.append(len(sequence))
        except TypeError as e:
            raise ValueError("`sequences` must be a list of iterables. "
                             f"Found non-iterable: {sequence}") from e
        if sample_shape is None and lengths[-1]:
            sample_shape = np.asarray(sequence).shape[1:]
    return lengths, sample_shape or ()
