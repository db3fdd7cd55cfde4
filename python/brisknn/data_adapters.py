"""Data that is not a pair of arrays, for fit, evaluate and predict (Keras 3's data adapters and
EpochIterator, keras/src/trainers/): a Python generator or iterator of batches, a PyDataset
(keras.utils.PyDataset, alias Sequence), and arrays read `steps_per_epoch` batches at a time.

An EpochIterator hands out one epoch of raw batches at a time; the model checks each batch with
the same _prepare_x/_prepare_y as arrays and trains it through the same _train_step."""
import itertools
import types
import warnings

import numpy as np


class PyDataset:
    """Keras' base class for a dataset of batches written in Python (keras.utils.PyDataset, also
    keras.utils.Sequence): implement `__len__` (the number of batches) and `__getitem__(index)`
    returning one batch, `(x, y)` or `(x, y, sample_weight)` (`x` alone or `(x,)` for predict);
    `on_epoch_begin()`/`on_epoch_end()` are called around each epoch (after each pass of
    evaluate and predict too). Overriding the `num_batches` property to return None makes the
    dataset infinite (indices 0, 1, 2, ... until `steps_per_epoch`).

    `workers`, `use_multiprocessing` and `max_queue_size` are accepted and kept as Keras does,
    but brisknn reads every batch in the calling thread, one after another: there is no worker
    pool and no queue (the kernels already use the machine's cores)."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        warn = False
        for name, default in (("_workers", 1), ("_use_multiprocessing", False),
                              ("_max_queue_size", 10)):
            if not hasattr(self, name):
                setattr(self, name, default)
                warn = True
        if warn:  # Keras' warning, word for word
            warnings.warn("Your `PyDataset` class should call `super().__init__(**kwargs)` in "
                          "its constructor. `**kwargs` can include `workers`, "
                          "`use_multiprocessing`, `max_queue_size`. Do not pass these arguments "
                          "to `fit()`, as they will be ignored.", stacklevel=3)

    @property
    def workers(self):
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        """The batch at position `index`."""
        raise NotImplementedError

    @property
    def num_batches(self):
        """The number of batches, or None for an infinite dataset (Keras: len(self))."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError("You need to implement the `num_batches` property:\n\n"
                                  "@property\ndef num_batches(self):\n  return ...")

    def on_epoch_begin(self):
        """Called at the beginning of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""


Sequence = PyDataset  # Keras keeps the Keras 2 name as an alias


def is_batch_source(x):
    """True for data that yields batches (a PyDataset, a generator or any other iterator)
    rather than being one array."""
    if isinstance(x, PyDataset):
        return True
    if isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)):
        return False
    return isinstance(x, types.GeneratorType) or (hasattr(x, "__next__") and
                                                   hasattr(x, "__iter__"))


def _kind(x):
    return "PyDataset" if isinstance(x, PyDataset) else "Python generator"


def refuse_arguments(method, x, y=None, batch_size=None, sample_weight=None,
                     class_weight=None, validation_split=None):
    """Keras' errors for arguments that a generator or PyDataset carries itself."""
    kind = _kind(x)
    for given, name, what in ((y, "y", "the targets"),
                              (sample_weight, "sample_weights", "the sample weights")):
        if given is not None:  # keras/src/trainers/data_adapters/__init__.py's message
            raise ValueError(f"{method}: When providing `x` as a {kind}, `{name}` should not be "
                             f"passed. Instead, {what} should be included as part of the {kind}.")
    if batch_size is not None:  # tf.keras' message (Keras 3 ignores it)
        raise ValueError(f"{method}: The `batch_size` argument must not be specified for the "
                         f"given input type. Received input: {x!r}, batch_size: {batch_size}")
    if class_weight is not None and kind != "PyDataset":
        raise ValueError(f"{method}: Argument `class_weight` is not supported for Python "
                         f"generator inputs. Received: class_weight={class_weight}")
    if validation_split:
        raise ValueError(f"{method}: Argument `validation_split` is only supported for tensors "
                         "or NumPy arrays. Found incompatible type in the input: "
                         f"[{type(x)}]")


def check_steps(steps, name, method):
    if steps is None:
        return None
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{method}: {name} must be a positive integer or None, got {steps!r}")
    return int(steps)


def unpack_batch(batch, method, x_alone=False):
    """(x, y, sample_weight) of one batch, as Keras' unpack_x_y_sample_weight; y and
    sample_weight may be None. x_alone (predict): a batch that is not a tuple is x itself."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        if x_alone:
            return batch, None, None
        raise ValueError(f"{method}: each batch must be a tuple, either (inputs, targets) or "
                         f"(inputs, targets, sample_weights). Received: {_short(batch)}")
    if not 1 <= len(batch) <= 3:
        raise ValueError(f"{method}: Data is expected to be in format `x`, `(x,)`, `(x, y)`, or "
                         f"`(x, y, sample_weight)`, found a tuple of {len(batch)} elements: "
                         f"{_short(batch)}")
    return batch + (None,) * (3 - len(batch))


def _short(value):
    text = repr(value)
    return text if len(text) <= 100 else text[:100] + "..."


def interrupted_warning():
    # Keras 3's EpochIterator._interrupted_warning, word for word.
    warnings.warn("Your input ran out of data; interrupting training. Make sure that your "
                  "dataset or generator can generate at least `steps_per_epoch * epochs` "
                  "batches. You may need to use the `.repeat()` function when building your "
                  "dataset.", stacklevel=4)


# -- adapters: where a pass of batches comes from --------------------------------------------
class _GeneratorAdapter:
    prepared = False

    def __init__(self, iterator):
        self._iterator = iterator
        self._peeked = []
        self.num_batches = None  # unknown until the generator runs out

    def peek(self):
        if not self._peeked:
            self._peeked.append(next(self._iterator))
        return self._peeked[0]

    def iterator(self, rng):
        # One-shot: every pass continues the same generator (after a peeked batch).
        peeked, self._peeked = self._peeked, []
        return itertools.chain(peeked, self._iterator) if peeked else self._iterator

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass


class _PyDatasetAdapter:
    prepared = False

    def __init__(self, dataset, shuffle):
        self.dataset = dataset
        dataset._warn_if_super_not_called()
        self.num_batches = dataset.num_batches
        if self.num_batches is None and shuffle:
            warnings.warn("`shuffle=True` was passed, but will be ignored since the data `x` "
                          "was provided as an infinite PyDataset. The PyDataset is expected to "
                          "already be shuffled.", stacklevel=4)
        self.shuffle = shuffle and self.num_batches is not None

    def peek(self):
        if self.num_batches == 0:
            raise StopIteration
        return self.dataset[0]

    def iterator(self, rng):
        if self.num_batches is None:
            indices = itertools.count()
        elif self.shuffle:  # Keras 3 shuffles the order of the batches (with Python's random)
            indices = rng.permutation(self.num_batches).tolist()
        else:
            indices = range(self.num_batches)
        return (self.dataset[i] for i in indices)

    def on_epoch_begin(self):
        self.dataset.on_epoch_begin()

    def on_epoch_end(self):
        self.dataset.on_epoch_end()


class _ArrayAdapter:
    """Prepared arrays cut into batches of batch_size (the last one shorter), in the order of a
    permutation drawn when each pass starts if shuffle."""
    prepared = True

    def __init__(self, x, y, sample_weight, batch_size, shuffle):
        self.arrays = (x, y, sample_weight)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.num_batches = -(-x.shape[0] // batch_size)

    def iterator(self, rng):
        x, y, sw = self.arrays
        n, size = x.shape[0], self.batch_size
        order = rng.permutation(n) if self.shuffle else None
        for lo in range(0, n, size):
            rows = slice(lo, min(n, lo + size)) if order is None else order[lo:lo + size]
            yield x[rows], y[rows], None if sw is None else sw[rows]

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass


def adapter(x, shuffle=False):
    if isinstance(x, PyDataset):
        return _PyDatasetAdapter(x, shuffle)
    if shuffle:  # Keras warns so for every generator given to fit with its default shuffle=True
        warnings.warn("`shuffle=True` was passed, but will be ignored since the data `x` was "
                      "provided as a generator. The generator is expected to yield "
                      "already-shuffled data.", stacklevel=4)
    return _GeneratorAdapter(x)


def array_adapter(x, y, sample_weight, batch_size, shuffle):
    return _ArrayAdapter(x, y, sample_weight, batch_size, shuffle)


class EpochIterator:
    """Keras 3's EpochIterator: one epoch of batches at a time.

    Without `steps`, an epoch is one pass of the data: a PyDataset's or the arrays' batches, or
    a generator read until it runs out (its length is then known: a later epoch that gets no
    batch at all warns and ends training). With `steps`, an epoch is that many batches and the
    next epoch continues the same pass; a pass of known length that ends inside an epoch
    ends that epoch early with Keras' warning and the next epoch starts a new pass; a generator
    that runs out warns and sets `ran_out` (the caller stops training)."""

    def __init__(self, adapter, steps=None):
        self.adapter = adapter
        self.steps = steps
        self.num_batches = adapter.num_batches  # of a pass; learned for a generator
        self.prepared = adapter.prepared
        self.ran_out = False
        self._iterator = None
        self._seen = 0  # batches of the current pass handed out

    @property
    def epoch_steps(self):
        """The progress bar's target: steps, else the batches of a pass (None: unknown)."""
        return self.steps or self.num_batches

    def reset(self):
        """The next epoch starts a new pass (Keras resets its evaluation iterator at each
        evaluate: validation_steps batches from the start of a PyDataset or arrays; a generator
        simply continues)."""
        self._iterator = None

    def peek(self):
        """A batch to build the model with, before the first epoch (None if there is none)."""
        try:
            return self.adapter.peek()
        except StopIteration:
            return None

    def epoch(self, rng=None):
        """Yields (step, batch) for one epoch."""
        self.adapter.on_epoch_begin()
        limit = self.steps or self.num_batches  # None: until the generator runs out
        if self._iterator is None or self.steps is None:
            self._iterator, self._seen = self.adapter.iterator(rng), 0
        step = 0
        while limit is None or step < limit:
            if self.num_batches is not None and self._seen >= self.num_batches:
                if self.steps:
                    interrupted_warning()
                break
            try:
                batch = next(self._iterator)
            except StopIteration:
                self._iterator = None
                if self.num_batches is None and step:
                    self.num_batches = self._seen  # how Keras learns a generator's length
                if self.steps or not step:
                    interrupted_warning()
                    self.ran_out = True
                break
            self._seen += 1
            yield step, batch
            step += 1
        if self.num_batches is not None and self._seen >= self.num_batches:
            self._iterator = None  # the next epoch starts a new pass
        self.adapter.on_epoch_end()
