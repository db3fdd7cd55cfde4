"""Adversarial review of the day's additions (data adapters, optimizers, depthwise/grouped
convolutions, activity regularizers): each test pins a bug found from the public API."""
import numpy as np

from brisknn import layers, regularizers


def test_embedding_config_keeps_its_activity_regularizer():
    # Keras 3's Embedding.get_config serializes activity_regularizer; it was always None.
    layer = layers.Embedding(5, 2, activity_regularizer=regularizers.L2(0.5), name="e1")
    config = layer.get_config()
    assert config["activity_regularizer"] == {"class_name": "L2", "config": {"l2": 0.5}}
    clone = layers.Embedding.from_config(config)
    assert clone.get_config()["activity_regularizer"] == config["activity_regularizer"]
    assert layers.Embedding(5, 2, name="e2").get_config()["activity_regularizer"] is None


def test_activity_regularizer_set_after_a_step_counts_in_train_on_batch():
    # The prepared Dense step was kept when a layer gained an activity regularizer after the
    # first step, so train_on_batch left its penalty out (evaluate counted it).
    from brisknn import Input, Sequential
    x = np.ones((4, 2), np.float32)
    y = np.zeros((4, 3), np.float32)
    model = Sequential([Input((2,)), layers.Dense(3, kernel_initializer="ones")])
    model.compile("sgd", "mse")
    model.optimizer.learning_rate = 0.0
    assert model.train_on_batch(x, y) == 4.0
    model.layers[0].activity_regularizer = regularizers.L2(0.1)
    # mse 4 + 0.1 * sum(2^2 over 12 outputs), Keras 3 not dividing by the batch
    assert np.isclose(model.train_on_batch(x, y), 8.8)
    assert np.isclose(model.evaluate(x, y, verbose=0), 8.8)
    model.layers[0].activity_regularizer = None
    assert model.train_on_batch(x, y) == 4.0


def test_losses_hold_the_activity_penalty_of_the_last_call():
    # Keras 3: after a call, layer.losses (and the model's) holds the activity regularizer's
    # penalty of that call, before the weights' penalties; it was left out.
    from brisknn import Input, Sequential
    x = np.ones((4, 2), np.float32)
    layer = layers.Dense(3, kernel_initializer="ones", activity_regularizer=regularizers.L2(0.1),
                         kernel_regularizer=regularizers.L1(0.5), name="act_dense")
    assert layer.losses == []  # not built, not called
    layer(x)
    assert np.allclose(layer.losses, [0.1 * 48.0, 0.5 * 6.0])
    layer(x[:1])
    assert np.allclose(layer.losses, [0.1 * 12.0, 0.5 * 6.0])
    model = Sequential([Input((2,)), layers.Dense(3, kernel_initializer="ones",
                                                  activity_regularizer=regularizers.L2(0.1))])
    assert model.losses == []
    model(x)
    assert np.allclose(model.losses, [4.8])
    model.compile("sgd", "mse")
    # the penalty is counted once in the loss: mse 4 + 4.8
    assert np.isclose(model.evaluate(x, np.zeros((4, 3)), verbose=0), 8.8)
    assert np.isclose(model.test_on_batch(x, np.zeros((4, 3))), 8.8)


def test_compute_and_variable_dtype_name_the_layer_dtype():
    # Keras 3's layer.compute_dtype / variable_dtype: the dtype's name; the global floatx
    # before a layer without its own dtype is built.
    from brisknn import backend
    assert layers.Dense(2, dtype="float64").compute_dtype == "float64"
    assert layers.Dense(2, dtype="float64").variable_dtype == "float64"
    layer = layers.Dense(2)
    assert layer.compute_dtype == backend.floatx() == layer.variable_dtype
    layer.build((None, 3))
    assert layer.compute_dtype == "float32"


def test_verbose_2_on_a_generator_counts_its_steps(capsys):
    # Keras 3: the epoch line of a generator of unknown length ends with the steps seen
    # ("3/3 - 0s - ..."); verbose=2 skipped the count and printed "0/0".
    from brisknn import Input, Sequential
    x = np.ones((10, 3), np.float32)
    y = np.zeros(10, np.int64)

    def batches():
        for i in range(0, 10, 4):
            yield x[i:i + 4], y[i:i + 4]

    model = Sequential([Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    capsys.readouterr()
    model.fit(batches(), verbose=2, shuffle=False)
    assert capsys.readouterr().out.startswith("3/3 - ")
    model.evaluate(batches(), verbose=2)
    assert capsys.readouterr().out.startswith("3/3 - ")
