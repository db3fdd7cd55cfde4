"""Keras' data preprocessing utilities: `sequence.pad_sequences`."""
from brisknn.preprocessing import sequence
from brisknn.preprocessing.sequence import pad_sequences

__all__ = ["sequence", "pad_sequences"]
