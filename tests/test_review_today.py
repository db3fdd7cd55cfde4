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
