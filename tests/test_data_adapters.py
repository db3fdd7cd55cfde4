"""fit/evaluate/predict on generators, iterators and PyDatasets, and steps_per_epoch (Keras 3's
data adapters and EpochIterator): the same batches train to the same bits as arrays."""
import warnings

import numpy as np
import pytest

import brisknn
from brisknn.layers import Dense
from brisknn.utils import PyDataset

N, BATCH = 40, 8  # 5 batches


def _data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 3, n)


def _model(metrics=("accuracy",)):
    brisknn.utils.set_random_seed(3)
    model = brisknn.Sequential([Dense(8, activation="relu", input_shape=(4,)),
                                Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=list(metrics))
    return model


def _batches(x, y, *extra, batch=BATCH, repeat=1):
    """A generator of (x, y, ...) batches in order, `repeat` passes."""
    for _ in range(repeat):
        for lo in range(0, len(x), batch):
            yield (x[lo:lo + batch], y[lo:lo + batch]) + tuple(e[lo:lo + batch] for e in extra)


class Batches(PyDataset):
    """A PyDataset over arrays, counting its epoch hooks and recording the indices read."""

    def __init__(self, x, y, sample_weight=None, batch=BATCH, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.sample_weight, self.batch = x, y, sample_weight, batch
        self.begins = self.ends = 0
        self.read = []

    def __len__(self):
        return -(-len(self.x) // self.batch)

    def __getitem__(self, index):
        self.read.append(index)
        rows = slice(index * self.batch, (index + 1) * self.batch)
        if self.sample_weight is None:
            return self.x[rows], self.y[rows]
        return self.x[rows], self.y[rows], self.sample_weight[rows]

    def on_epoch_begin(self):
        self.begins += 1

    def on_epoch_end(self):
        self.ends += 1


def _same_weights(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))


def _quiet_fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras' shuffle warning for generators
        return model.fit(*args, verbose=0, **kwargs)


def test_generator_trains_bit_for_bit_as_the_same_arrays_and_logs_the_same_history():
    x, y = _data()
    ref = _model()
    h_ref = ref.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0)
    model = _model()
    h = model.fit(_batches(x, y, repeat=3), steps_per_epoch=5, epochs=3, shuffle=False,
                  verbose=0)
    assert _same_weights(model, ref)
    assert h.history == h_ref.history and h.epoch == [0, 1, 2]
    assert h.params == {"verbose": 0, "epochs": 3, "steps": 5}
    # Without steps_per_epoch, one epoch runs until the generator stops.
    once, ref_once = _model(), _model()
    h = once.fit(_batches(x, y), epochs=1, shuffle=False, verbose=0)
    ref_once.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    assert _same_weights(once, ref_once) and h.params["steps"] is None


def test_an_iterator_of_batches_is_taken_like_a_generator():
    x, y = _data()
    ref, model = _model(), _model()
    ref.fit(x, y, batch_size=BATCH, shuffle=False, verbose=0)
    model.fit(iter(list(_batches(x, y))), shuffle=False, verbose=0)
    assert _same_weights(model, ref)


def test_pydataset_trains_bit_for_bit_as_arrays_and_calls_its_epoch_hooks_once_per_epoch():
    x, y = _data()
    ref = _model()
    h_ref = ref.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0)
    data = Batches(x, y, workers=4, use_multiprocessing=True, max_queue_size=3)
    model = _model()
    h = model.fit(data, epochs=3, shuffle=False, verbose=0)
    assert _same_weights(model, ref) and h.history == h_ref.history
    assert (data.begins, data.ends) == (3, 3)
    assert data.read == [0] + [0, 1, 2, 3, 4] * 3  # a first read builds the model, as Keras
    assert (data.workers, data.use_multiprocessing, data.max_queue_size) == (4, True, 3)
    assert data.num_batches == 5 and h.params["steps"] == 5
    assert brisknn.utils.Sequence is PyDataset


def test_pydataset_shuffle_reorders_whole_batches_reproducibly():
    x, y = _data()
    runs = []
    for _ in range(2):
        data = Batches(x, y)
        model = _model()
        model.fit(data, epochs=2, verbose=0)  # shuffle=True: the batch order, as Keras 3
        runs.append((data.read[1:], model.get_weights()))
    order = runs[0][0]
    assert sorted(order[:5]) == sorted(order[5:]) == [0, 1, 2, 3, 4]
    assert order != [0, 1, 2, 3, 4] * 2
    assert runs[1][0] == order
    assert all(np.array_equal(p, q) for p, q in zip(runs[0][1], runs[1][1]))


def test_pydataset_without_super_init_warns_as_keras():
    class Bare(PyDataset):
        def __init__(self):
            self.batches = 1  # no super().__init__()

        def __len__(self):
            return 1

        def __getitem__(self, index):
            return _data(8)

    with pytest.warns(UserWarning, match="should call `super\\(\\).__init__"):
        _model().fit(Bare(), verbose=0)


def test_steps_per_epoch_continues_the_same_generator_across_epochs():
    x, y = _data(n=72)  # 9 batches
    seen = []

    def recording():
        for i, batch in enumerate(_batches(x, y)):
            seen.append(i)
            yield batch

    model, ref = _model(), _model()
    h = _quiet_fit(model, recording(), steps_per_epoch=3, epochs=3)
    ref.fit(x, y, batch_size=BATCH, shuffle=False, verbose=0)  # the same 9 batches, in order
    assert seen == list(range(9)) and h.epoch == [0, 1, 2]
    assert _same_weights(model, ref)


def test_a_generator_that_runs_out_warns_and_ends_training_after_that_epoch():
    x, y = _data()  # 5 batches for 3 epochs of 2
    batch_ends = []
    cb = brisknn.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: batch_ends.append(batch))
    model = _model()
    with pytest.warns(UserWarning, match="Your input ran out of data; interrupting training"):
        h = model.fit(_batches(x, y), steps_per_epoch=2, epochs=3, shuffle=False, verbose=0,
                      callbacks=[cb])
    assert h.epoch == [0, 1, 2] and batch_ends == [0, 1, 0, 1, 0]
    ref = _model()
    ref.fit(x, y, batch_size=BATCH, shuffle=False, verbose=0)
    assert _same_weights(model, ref)
    # The third epoch's loss is its one batch's.
    assert h.history["loss"][2] == pytest.approx(
        ref.evaluate(x[32:], y[32:], verbose=0)[0], abs=0.2)
    model = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = model.fit(_batches(x, y), steps_per_epoch=5, epochs=4, shuffle=False, verbose=0)
    assert h.epoch == [0]  # the second epoch got no batch: nothing is recorded for it


def test_a_generator_without_steps_is_one_epoch_long_and_exhausted_after_it():
    x, y = _data()
    model = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = model.fit(_batches(x, y), epochs=3, shuffle=False, verbose=0)
    assert h.epoch == [0]
    assert model.optimizer.iterations == 5


def test_steps_per_epoch_with_arrays_continues_the_pass_and_ends_an_epoch_at_its_end():
    x, y = _data()  # 5 batches of 8
    model, ref = _model(), _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = model.fit(x, y, batch_size=BATCH, steps_per_epoch=2, epochs=4, shuffle=False,
                      verbose=0)
    # Epochs: batches 0-1, 2-3, then 4 alone (the pass ends: warning), then a new pass 0-1.
    assert h.epoch == [0, 1, 2, 3] and model.optimizer.iterations == 7
    for lo in list(range(0, 40, 8)) + [0, 8]:
        ref.train_on_batch(x[lo:lo + 8], y[lo:lo + 8])
    assert _same_weights(model, ref)


def test_steps_per_epoch_without_batch_size_splits_the_arrays_into_that_many_batches():
    x, y = _data()
    model, ref = _model(), _model()
    model.fit(x, y, steps_per_epoch=4, epochs=2, shuffle=False, verbose=0)
    ref.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    assert _same_weights(model, ref)
    # Shuffled, the same: each pass draws the permutation the array path draws.
    # After validation_split: the training part's samples make the steps (32 / 4 = 8).
    model, ref = _model(), _model()
    h = model.fit(x, y, steps_per_epoch=4, validation_split=0.2, shuffle=False, verbose=0)
    h_ref = ref.fit(x[:32], y[:32], batch_size=8, validation_data=(x[32:], y[32:]),
                    shuffle=False, verbose=0)
    assert _same_weights(model, ref) and h.history == h_ref.history
    model = _model()  # each model's training seed is drawn at its first fit
    model.fit(x, y, steps_per_epoch=4, epochs=2, verbose=0)
    ref = _model()
    ref.fit(x, y, batch_size=10, epochs=2, verbose=0)
    assert _same_weights(model, ref)


def test_more_steps_per_epoch_than_batches_warns_each_epoch_and_keeps_training():
    x, y = _data()
    model = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = model.fit(x, y, batch_size=BATCH, steps_per_epoch=7, epochs=2, verbose=0)
    assert h.epoch == [0, 1] and model.optimizer.iterations == 10
    assert h.params["steps"] == 7


def test_sample_weights_from_three_tuples_train_as_fit_sample_weight():
    x, y = _data()
    w = np.random.default_rng(5).uniform(0.1, 2.0, N).astype(np.float32)
    ref = _model()
    h_ref = ref.fit(x, y, sample_weight=w, batch_size=BATCH, epochs=2, shuffle=False,
                    verbose=0)
    model = _model()
    h = _quiet_fit(model, _batches(x, y, w, repeat=2), steps_per_epoch=5, epochs=2)
    assert _same_weights(model, ref) and h.history == h_ref.history
    data_model = _model()
    data_model.fit(Batches(x, y, w), epochs=2, shuffle=False, verbose=0)
    assert _same_weights(data_model, ref)


def test_class_weight_with_a_pydataset_weighs_each_batch_as_with_arrays():
    x, y = _data()
    class_weight = {0: 0.5, 1: 2.0, 2: 1.0}
    ref, model = _model(), _model()
    ref.fit(x, y, class_weight=class_weight, batch_size=BATCH, shuffle=False, verbose=0)
    model.fit(Batches(x, y), class_weight=class_weight, shuffle=False, verbose=0)
    assert _same_weights(model, ref)
    with pytest.raises(ValueError, match="cannot be specified at the same time"):
        _model().fit(Batches(x, y, np.ones(N)), class_weight=class_weight, verbose=0)


def test_evaluate_on_a_generator_or_pydataset_equals_evaluate_on_arrays():
    x, y = _data()
    model = _model()
    model.fit(x, y, verbose=0)
    expected = model.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True)
    assert model.evaluate(_batches(x, y), verbose=0, return_dict=True) == expected
    assert model.evaluate(Batches(x, y), verbose=0, return_dict=True) == expected
    first_two = model.evaluate(x[:16], y[:16], batch_size=BATCH, verbose=0)
    assert model.evaluate(_batches(x, y), steps=2, verbose=0) == first_two
    w = np.linspace(0.5, 1.5, N).astype(np.float32)
    assert model.evaluate(_batches(x, y, w), verbose=0) == \
        model.evaluate(x, y, sample_weight=w, batch_size=BATCH, verbose=0)
    # An unbuilt model is built from the first batch.
    fresh = _model()
    assert fresh.evaluate(_batches(x, y), verbose=0) == \
        _model().evaluate(x, y, batch_size=BATCH, verbose=0)


def test_evaluate_steps_beyond_a_generator_warns_and_uses_what_came():
    x, y = _data()
    model = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        loss = model.evaluate(_batches(x, y), steps=9, verbose=0)
    assert loss == model.evaluate(x, y, batch_size=BATCH, verbose=0)


def test_predict_takes_x_alone_a_one_tuple_or_pairs_and_uses_only_x():
    x, y = _data()
    model = _model()
    expected = model.predict(x, batch_size=BATCH, verbose=0)
    forms = [(x[lo:lo + BATCH] for lo in range(0, N, BATCH)),
             ((x[lo:lo + BATCH],) for lo in range(0, N, BATCH)),
             _batches(x, y), _batches(x, y, np.ones(N)), Batches(x, y)]
    for form in forms:
        out = model.predict(form, verbose=0)
        assert out.dtype == expected.dtype and np.array_equal(out, expected)
    assert np.array_equal(model.predict(_batches(x, y), steps=2, verbose=0), expected[:16])


def test_validation_data_as_a_generator_or_pydataset_logs_as_arrays_do():
    x, y = _data()
    vx, vy = _data(n=24, seed=1)
    ref = _model()
    h_ref = ref.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
                    validation_data=(vx, vy), validation_batch_size=BATCH)
    val = Batches(vx, vy)
    model = _model()
    h = model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
                  validation_data=val)
    assert h.history == h_ref.history and val.ends == 2
    both = _model()
    h = _quiet_fit(both, _batches(x, y, repeat=2), steps_per_epoch=5, epochs=2,
                   validation_data=_batches(vx, vy, repeat=2), validation_steps=3)
    assert h.history == h_ref.history
    # validation_steps with a PyDataset: its first that many batches at each validation.
    val = Batches(vx, vy)
    _model().fit(x, y, batch_size=BATCH, epochs=2, verbose=0, validation_data=val,
                 validation_steps=2)
    assert val.read == [0, 1, 0, 1]
    # validation_steps with validation arrays: the first that many batches.
    partial = _model()
    h = partial.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
                    validation_data=(vx, vy), validation_steps=2, validation_batch_size=BATCH)
    assert h.history["val_loss"][0] == partial.evaluate(vx[:16], vy[:16], batch_size=BATCH,
                                                        verbose=0)[0]


def test_generator_and_pydataset_inputs_refuse_what_they_must_carry_themselves():
    x, y = _data()
    model = _model()
    with pytest.raises(ValueError, match="`y` should not be passed. Instead, the targets"):
        model.fit(_batches(x, y), y, verbose=0)
    with pytest.raises(ValueError, match="`sample_weights` should not be passed"):
        model.fit(Batches(x, y), sample_weight=np.ones(N), verbose=0)
    with pytest.raises(ValueError, match="`batch_size` argument must not be specified"):
        model.fit(_batches(x, y), batch_size=8, verbose=0)
    with pytest.raises(ValueError, match="`class_weight` is not supported for Python generator"):
        model.fit(_batches(x, y), class_weight={0: 1.0}, verbose=0)
    with pytest.raises(ValueError, match="`validation_split` is only supported for tensors or "
                                         "NumPy arrays"):
        model.fit(_batches(x, y), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="`y` should not be passed"):
        model.evaluate(Batches(x, y), y, verbose=0)
    with pytest.raises(ValueError, match="`batch_size` argument must not be specified"):
        model.predict(_batches(x, y), batch_size=8, verbose=0)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="steps_per_epoch must be a positive integer"):
            model.fit(x, y, steps_per_epoch=bad, verbose=0)
    with pytest.raises(ValueError, match="validation_steps must be a positive integer"):
        model.fit(x, y, validation_data=(x, y), validation_steps=0, verbose=0)


def test_malformed_batches_raise_clear_errors_naming_the_method():
    x, y = _data()
    model = _model()
    with pytest.raises(ValueError, match="fit: each batch must be a tuple"):
        model.fit((x[lo:lo + 8] for lo in range(0, N, 8)), shuffle=False, verbose=0)
    with pytest.raises(ValueError, match="fit: a batch has no targets"):
        model.fit(((x[lo:lo + 8],) for lo in range(0, N, 8)), shuffle=False, verbose=0)
    with pytest.raises(ValueError, match="tuple of 4 elements"):
        model.fit(iter([(x, y, y, y)]), shuffle=False, verbose=0)
    with pytest.raises(ValueError, match="evaluate: x has 8 samples but y has shape \\(7,\\)"):
        model.evaluate(iter([(x[:8], y[:7])]), verbose=0)
    with pytest.raises(TypeError, match="fit: x must be numeric"):
        model.fit(iter([(np.array([["a"] * 4] * 8), y[:8])]), shuffle=False, verbose=0)
    with pytest.raises(ValueError, match="fit: x contains NaN"):
        bad = x[:8].copy()
        bad[3, 1] = np.nan
        model.fit(iter([(x[:8], y[:8]), (bad, y[:8])]), shuffle=False, verbose=0)
    with pytest.raises(ValueError, match="gave no batch"):
        _model().fit(iter([]), shuffle=False, verbose=0)
    with pytest.raises(ValueError, match="predict: the input gave no batch"), \
            pytest.warns(UserWarning, match="ran out of data"):
        model.predict(iter([]), verbose=0)


def test_progress_bar_shows_unknown_until_the_generator_ends_then_the_learned_count(capsys):
    x, y = _data()
    model = _model()
    _quiet_fit(model, _batches(x, y))  # build, so the second fit prints only its own bar
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(_batches(x, y), epochs=1, verbose=1)
    out = capsys.readouterr().out
    assert "      1/Unknown " in out and "/step - accuracy: " in out
    assert out.split("\r")[-1].startswith("5/5 \u2501")
    model.evaluate(Batches(x, y), verbose=2)
    assert capsys.readouterr().out.startswith("5/5 - ")


def test_callbacks_see_each_batch_and_epoch_of_a_generator():
    x, y = _data()
    events = []
    cb = brisknn.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: events.append(("begin", epoch)),
        on_train_batch_end=lambda batch, logs: events.append(("batch", batch, sorted(logs))),
        on_epoch_end=lambda epoch, logs: events.append(("end", epoch, sorted(logs))))
    _quiet_fit(_model(), _batches(x, y, repeat=2), steps_per_epoch=5, epochs=2,
               callbacks=[cb])
    keys = ["accuracy", "loss"]
    expected = []
    for epoch in range(2):
        expected += [("begin", epoch)] + [("batch", b, keys) for b in range(5)] + \
            [("end", epoch, keys)]
    assert events == expected


def test_an_infinite_pydataset_runs_steps_per_epoch_batches():
    x, y = _data()

    class Endless(Batches):
        @property
        def num_batches(self):
            return None

        def __getitem__(self, index):
            return super().__getitem__(index % 5)

    data = Endless(x, y)
    model = _model()
    with pytest.warns(UserWarning, match="infinite PyDataset"):
        h = model.fit(data, steps_per_epoch=3, epochs=2, verbose=0)
    assert data.read == [0] + [0, 1, 2, 3, 4, 0] and h.epoch == [0, 1]
