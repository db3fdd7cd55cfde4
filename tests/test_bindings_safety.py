"""What the bindings refuse so that no call from Python can crash or corrupt memory: buffers
that share memory with an output, object arrays copied as raw bytes, sequences whose items die
before the update that uses them, zero-width layers."""
import numpy as np
import pytest

from brisknn import _core, ops


def test_take_rows_refuses_object_arrays_and_an_output_sharing_memory_with_x():
    x = np.array([object() for _ in range(4)], dtype=object)
    with pytest.raises(TypeError, match="numeric"):
        _core.take_rows(x, np.arange(4), np.empty(4, dtype=object))
    a = np.arange(6.0).reshape(3, 2)
    with pytest.raises(ValueError, match="share memory"):
        _core.take_rows(a, np.array([2, 0, 1]), a)


def test_embedding_and_loss_outputs_may_not_share_memory_with_their_inputs():
    table = np.arange(6.0).reshape(3, 2)
    with pytest.raises(ValueError, match="share memory"):
        _core.embedding_forward(np.array([2, 0, 1]), table, table)
    with pytest.raises(ValueError, match="share memory"):
        _core.embedding_backward(np.array([0, 1, 2]), table, table)
    t = np.array([[0.2, 0.3, 0.5]])
    with pytest.raises(ValueError, match="share memory"):
        _core.loss_backward(t, np.array([[1.0, 2.0, 3.0]]), t, "categorical_crossentropy", True,
                            1.0)


def test_update_many_keeps_items_built_on_demand_alive():
    class Params:  # a sequence whose tuples exist only while indexed
        def __len__(self):
            return 1

        def __getitem__(self, i):
            if i:
                raise IndexError
            return (np.ones(1 << 16), np.ones(1 << 16), None, 0.0, 0.0, 1.0)

    assert _core.sgd_update_many(Params(), 0.1, 0.0, False) == 0.0


def test_a_recurrent_layer_of_zero_units_is_refused_or_empty_never_a_crash():
    try:
        out = ops.simple_rnn(np.ones((2, 3, 4)), np.ones((4, 0)), np.ones((0, 0)),
                             bias=np.ones(0))
    except ValueError:
        return
    assert out.size == 0


def test_recurrent_outputs_may_not_share_memory_with_inputs():
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    kernel, recurrent, bias = np.ones((4, 4)) * 0.1, np.eye(4) * 0.5, np.zeros(4)
    ws = np.empty(_core.recurrent_workspace_size("simple_rnn", 2, 3, 4, 4, 0, 0, False))
    with pytest.raises(ValueError, match="share memory"):
        _core.recurrent_forward("simple_rnn", x, kernel, recurrent, bias, None, None, x, None,
                                None, ws, "tanh", "sigmoid", None)
