"""Keras' functional API for chains: Model(inputs, outputs) from layers called on an Input."""
import numpy as np
import pytest

import brisknn
from brisknn import layers
from brisknn.layers import Dense
from brisknn.layers.base import KerasTensor


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype(np.float32), rng.integers(0, 3, n)


def test_a_chain_is_the_sequential_of_its_layers():
    brisknn.utils.set_random_seed(1)
    inputs = brisknn.Input((6,))
    hidden = Dense(8, activation="relu")(inputs)
    assert isinstance(hidden, KerasTensor) and hidden.shape == (None, 8)
    outputs = Dense(3, activation="softmax")(layers.Dropout(0.2)(hidden))
    model = brisknn.Model(inputs=inputs, outputs=outputs, name="chain")
    brisknn.utils.set_random_seed(1)
    same = brisknn.Sequential([brisknn.Input((6,)), Dense(8, activation="relu"),
                               layers.Dropout(0.2), Dense(3, activation="softmax")])
    # Keras' Functional.layers: the InputLayer first (a Sequential's leave it out).
    assert model.name == "chain" and len(model.layers) == 4 and model.input is inputs
    assert model.layers[0] is inputs and len(same.layers) == 3
    assert [w.shape for w in model.get_weights()] == [(6, 8), (8,), (8, 3), (3,)]
    x, y = data()
    histories = []
    for m in (model, same):
        m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        brisknn.utils.set_random_seed(3)  # the same shuffles and dropout masks
        histories.append(m.fit(x, y, epochs=2, batch_size=8, verbose=0).history)
    assert histories[0] == histories[1]
    for a, b in zip(model.get_weights(), same.get_weights()):
        np.testing.assert_array_equal(a, b)
    positional = brisknn.Model(inputs, outputs, "by_position")
    assert positional.name == "by_position" and positional.layers == model.layers


def base_model():
    brisknn.utils.set_random_seed(2)
    return brisknn.Sequential([brisknn.Input((6,)), Dense(8), layers.BatchNormalization(),
                               layers.Dropout(0.5), Dense(4, activation="relu")], name="base")


def test_base_called_with_training_false_stays_in_inference_mode():
    # Keras' transfer-learning recipe: x = base(inputs, training=False) keeps the base's
    # BatchNormalization and Dropout in inference mode even while it is fine-tuned.
    base = base_model()
    inputs = brisknn.Input((6,))
    outputs = Dense(3, activation="softmax")(base(inputs, training=False))
    model = brisknn.Model(inputs, outputs)
    x, y = data()
    bn = base.layers[1]
    moving = [bn.moving_mean.numpy(), bn.moving_variance.numpy()]
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), moving[0])  # no batch statistics
    np.testing.assert_array_equal(bn.moving_variance.numpy(), moving[1])
    # The base learned (it is trainable), in inference mode: its training output is its
    # predict output.
    np.testing.assert_array_equal(base.forward(x, training=False), model.layers[1].forward(
        x, training=model._call_training[base]))
    # Without training=False the base trains in training mode: the moving statistics move.
    free = brisknn.Model(inputs2 := brisknn.Input((6,)), Dense(3)(base(inputs2)))
    free.compile("sgd", "mse")
    free.fit(x, np.zeros((len(x), 3)), epochs=1, batch_size=8, verbose=0)
    assert not np.array_equal(bn.moving_mean.numpy(), moving[0])


def test_a_head_on_base_output_shares_the_base_layers():
    base = base_model()
    head = Dense(2)(base.output)
    model = brisknn.Model(base.input, head)
    assert model.layers[1:-1] == base.layers and model.input is base.input
    assert model.layers[0] is base.input and model.get_layer(index=0) is base.input
    assert base.output.shape == (None, 4) and model.outputs[0].shape == (None, 2)
    x, _ = data()
    before = base.get_weights()
    model.compile("adam", "mse")
    model.fit(x, np.ones((len(x), 2)), epochs=1, verbose=0)
    assert not np.array_equal(base.get_weights()[0], before[0])  # one set of weights


def test_functional_model_round_trips_through_a_file(tmp_path):
    base = base_model()
    inputs = brisknn.Input((6,))
    model = brisknn.Model(inputs, Dense(3)(base(inputs, training=False)))
    model.compile("adam", "mse")
    x, _ = data()
    model.fit(x, np.zeros((len(x), 3)), epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    again = brisknn.models.load_model(path)
    assert {l.name: f for l, f in again._call_training.items()} == {base.name: False}
    clone = brisknn.models.clone_model(model)  # Keras' clone calls each layer as the original
    assert {l.name: f for l, f in clone._call_training.items()} == {base.name: False}
    assert clone.layers[1] in clone._call_training and clone.layers[1] is not base
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_what_is_not_a_chain_is_refused():
    inputs, other = brisknn.Input((3,)), brisknn.Input((3,))
    with pytest.raises(ValueError, match="computed from .* not from the given inputs"):
        brisknn.Model(other, Dense(2)(inputs))
    with pytest.raises(NotImplementedError, match="2 inputs: brisknn's functional models"):
        brisknn.Model([inputs, other], Dense(2)(inputs))
    with pytest.raises(ValueError, match="outputs must be the result of calling layers"):
        brisknn.Model(inputs, inputs)
    shared = Dense(3)
    with pytest.raises(ValueError, match="added twice"):
        brisknn.Model(inputs, shared(shared(inputs)))
    sequence = brisknn.Input((5, 3))
    with pytest.raises(NotImplementedError, match="several outputs"):
        layers.LSTM(2, return_state=True)(sequence)
    # Eager calls are unchanged.
    assert Dense(2)(np.ones((4, 3), np.float32)).shape == (4, 2)


def test_initial_state_in_a_functional_chain_is_refused():
    sequence = brisknn.Input((5, 3))
    with pytest.raises(NotImplementedError, match="initial_state in a functional model"):
        layers.LSTM(2)(sequence, initial_state=[np.zeros((1, 2))] * 2)


def test_model_takes_inputs_and_outputs_by_position_and_the_rest_by_keyword():
    # Keras' guide writes keras.Model(inputs, outputs, name="mnist_model").
    inputs = brisknn.Input((6,))
    outputs = Dense(3)(Dense(4)(inputs))
    model = brisknn.Model(inputs, outputs, name="mnist_model")
    assert model.name == "mnist_model" and len(model.get_weights()) == 4
    frozen = brisknn.Model(inputs, outputs=outputs, name="frozen", trainable=False)
    assert frozen.name == "frozen" and frozen.trainable_weights == []
    assert brisknn.Model(inputs, outputs, "by_position").name == "by_position"
    with pytest.raises(TypeError, match="multiple values for argument 'outputs'"):
        brisknn.Model(inputs, outputs, outputs=outputs)
    # Keras 3's Sequential(layers, trainable, name) order.
    sequential = brisknn.Sequential([Dense(2)], False, "seq")
    assert sequential.name == "seq" and not sequential.trainable


def test_layer_output_extracts_features_as_in_keras_sequential_guide():
    initial_model = brisknn.Sequential([
        brisknn.Input(shape=(14, 14, 3)),
        layers.Conv2D(4, 5, strides=2, activation="relu"),
        layers.Conv2D(4, 3, activation="relu", name="my_intermediate_layer"),
        layers.Conv2D(4, 3, activation="relu")])
    feature_extractor = brisknn.Model(
        inputs=initial_model.inputs,
        outputs=initial_model.get_layer(name="my_intermediate_layer").output)
    x = np.random.default_rng(0).normal(size=(2, 14, 14, 3)).astype(np.float32)
    features = feature_extractor(x)
    assert features.shape == (2, 3, 3, 4)
    first_two = initial_model.layers[1](initial_model.layers[0](x))
    np.testing.assert_array_equal(features, first_two)
    inputs = brisknn.Input((6,))
    hidden = Dense(5)
    assert hidden(inputs) is hidden.output  # a functional call's output
    with pytest.raises(ValueError, match="dense_never has never been called"):
        Dense(2, name="dense_never").output


def test_functional_layers_start_with_the_input_layer_through_summary_files_and_clones(
        tmp_path):
    inputs = brisknn.Input((6,), name="features")
    model = brisknn.Model(inputs, Dense(3, name="head")(Dense(4, name="hidden")(inputs)))
    assert [layer.name for layer in model.layers] == ["features", "hidden", "head"]
    assert model.get_layer("features") is inputs
    # Loops over model.layers meet a built InputLayer without weights, as in Keras.
    assert [layer.count_params() for layer in model.layers] == [0, 28, 15]
    assert inputs.output is inputs and inputs.output_shape == (None, 6)
    lines = []
    model.summary(print_fn=lines.append)
    rows = [line.split() for line in lines[0].splitlines()
            if line.startswith(("features", "hidden", "head"))]
    assert rows == [["features", "(InputLayer)", "(None,", "6)", "0"],
                    ["hidden", "(Dense)", "(None,", "4)", "28"],
                    ["head", "(Dense)", "(None,", "3)", "15"]]
    assert lines[0].startswith('Model: "functional')  # Keras' Functional's default name
    model.compile("adam", "mse")
    model.save(tmp_path / "m.keras")
    for again in (brisknn.models.load_model(tmp_path / "m.keras"),
                  brisknn.models.clone_model(model),
                  brisknn.Model.from_config(model.get_config())):
        assert [layer.name for layer in again.layers] == ["features", "hidden", "head"]
        assert again.input is again.layers[0]
    plain = brisknn.Sequential([brisknn.Input((6,)), Dense(2)])
    assert len(plain.layers) == 1 and len(brisknn.Sequential.from_config(
        plain.get_config()).layers) == 1
