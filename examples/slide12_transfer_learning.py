"""Slide 12: transfer learning with a saved, reloaded and frozen base model.

The slide's "pre-trained model" is sin(x), and the new task y = 2 sin(x) + 0.5 is learnt as
w * pretrained(x) + b. Here that is done the Keras way:
  1. a small base network is trained on the first task (noisy samples of sin x on [0, 10]),
  2. saved with model.save and loaded back with brisknn.models.load_model,
  3. frozen (trainable = False) and put in a new Sequential under a new Dense(1) head, so the
     head computes exactly w * base(x) + b,
  4. the new model is fitted on the related task: only the head's 2 weights learn (w -> 2,
     b -> 0.5); the base's weights stay as loaded, and summary() counts them as non-trainable.

    python examples/slide12_transfer_learning.py [--out DIR] [--seed N]
"""
import argparse
import os

import numpy as np

from brisknn import optimizers, plot, utils
from brisknn.layers import Dense, Input
from brisknn.models import Sequential


def build_base():
    model = Sequential([Input(shape=(1,)),
                        Dense(32, activation="tanh", name="base_hidden_1"),
                        Dense(32, activation="tanh", name="base_hidden_2"),
                        Dense(1, name="base_output")], name="pretrained")
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="mse")
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the figure and the saved model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=300)
    args = parser.parse_args(argv)
    utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    from brisknn.models import load_model
    os.makedirs(args.out, exist_ok=True)

    # 1. The first task: sin x.
    x = np.linspace(0, 10, 200).reshape(-1, 1).astype(np.float32)
    y_base = (np.sin(x) + 0.1 * rng.standard_normal(x.shape)).astype(np.float32)
    base = build_base()
    base.fit(x, y_base, epochs=args.epochs, batch_size=32, verbose=0)
    print(f"Base model trained on sin(x): mse {base.evaluate(x, np.sin(x), verbose=0):.4f}")

    # 2. Save and load it back.
    saved = os.path.join(args.out, "slide12_base_model.keras")
    base.save(saved)
    pretrained = load_model(saved)
    same = np.allclose(pretrained.predict(x, verbose=0), base.predict(x, verbose=0))
    print(f"Saved to {saved} and loaded back: same predictions {same}")

    # 3. Freeze it under a new head.
    pretrained.trainable = False
    frozen_weights = pretrained.get_weights()
    model = Sequential([pretrained, Dense(1, name="head")], name="transfer")
    model.compile(optimizer=optimizers.Adam(learning_rate=0.05), loss="mse")

    # 4. The related task: y = 2 sin x + 0.5.
    y = (2 * np.sin(x) + 0.5 + 0.2 * rng.standard_normal(x.shape)).astype(np.float32)
    history = model.fit(x, y, epochs=args.epochs // 2, batch_size=32, verbose=0)
    model.summary()
    unchanged = all(np.array_equal(a, b) for a, b in zip(frozen_weights,
                                                         pretrained.get_weights()))
    w, b = (float(v.ravel()[0]) for v in model.get_layer("head").get_weights())
    trainable = sum(v.value.size for v in model.trainable_weights)
    print(f"Head learnt y = {w:.3f} * pretrained(x) + {b:.3f}  (the data: 2 sin x + 0.5)")
    print(f"Base weights unchanged by the new training: {unchanged}")
    print(f"Trainable params: {trainable}, non-trainable params: "
          f"{model.count_params() - trainable}")

    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    left.plot(x, y, "b.", label="True data")
    left.plot(x, pretrained.predict(x, verbose=0), "g-", label="Pre-trained model")
    left.plot(x, model.predict(x, verbose=0), "r-", label="Transfer learned model")
    left.legend()
    left.set_title("Transfer Learning Results")
    right.plot(history.history["loss"])
    right.set_title("Loss over epochs")
    right.set_xlabel("Epoch")
    right.set_ylabel("Loss")
    fig.tight_layout()
    figure = os.path.join(args.out, "slide12_transfer_learning.png")
    plot.save(fig, figure)
    print(f"Saved {figure}")
    return {"w": w, "b": b, "unchanged": unchanged, "trainable": trainable,
            "non_trainable": model.count_params() - trainable, "same_after_load": same}


if __name__ == "__main__":
    main()
