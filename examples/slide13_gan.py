"""Slide 13: a GAN that learns the 1-D normal distribution N(4, 1.5).

The slide fixes its generator (2x + 3) and discriminator by hand; here both are small brisknn
networks trained against each other, written as Keras users write a GAN with train_on_batch:
  - the discriminator (1 -> 16 relu -> 1 sigmoid) is compiled on its own,
  - the combined model Sequential([generator, discriminator]) is compiled with the
    discriminator frozen, so training it moves only the generator,
  - each step: the discriminator learns real (label 1) from generated (label 0) samples, then
    the generator learns, through the frozen discriminator, to make it answer 1.
The discriminator's `trainable` is set to True before its own step and back to False before
the combined model's, which Keras 2 and Keras 3 and brisknn all honour. 3000 steps on batches
of 64 take about a second; the generated mean moves from about 0 to 4 and the spread towards
1.5.

    python examples/slide13_gan.py [--out DIR] [--seed N] [--steps N]
"""
import argparse
import os
import time

import numpy as np

from brisknn import optimizers, plot, utils
from brisknn.layers import Dense, Input
from brisknn.models import Sequential

LATENT = 4  # noise inputs of the generator


def generate_real_samples(rng, n):
    return rng.normal(loc=4, scale=1.5, size=(n, 1))


def build_gan(hidden=16, learning_rate=1e-3):
    generator = Sequential([Input(shape=(LATENT,)), Dense(hidden, activation="relu"), Dense(1)],
                           name="generator")
    discriminator = Sequential([Input(shape=(1,)), Dense(hidden, activation="relu"),
                                Dense(1, activation="sigmoid")], name="discriminator")
    discriminator.compile(optimizer=optimizers.Adam(learning_rate, beta_1=0.5),
                          loss="binary_crossentropy", metrics=["accuracy"])
    discriminator.trainable = False
    gan = Sequential([generator, discriminator], name="gan")
    gan.compile(optimizer=optimizers.Adam(learning_rate, beta_1=0.5), loss="binary_crossentropy")
    return generator, discriminator, gan


def train(generator, discriminator, gan, rng, steps, batch_size=64):
    real_label, fake_label = np.ones((batch_size, 1)), np.zeros((batch_size, 1))
    log = []
    for step in range(steps):
        real = generate_real_samples(rng, batch_size)
        fake = generator.predict(rng.normal(0, 1, (batch_size, LATENT)), verbose=0)
        discriminator.trainable = True
        d_loss, d_accuracy = discriminator.train_on_batch(np.concatenate([real, fake]),
                                                          np.concatenate([real_label,
                                                                          fake_label]))
        discriminator.trainable = False
        g_loss = gan.train_on_batch(rng.normal(0, 1, (batch_size, LATENT)), real_label)
        if step % 500 == 0 or step == steps - 1:
            sample = generator.predict(rng.normal(0, 1, (1000, LATENT)), verbose=0)
            log.append((step, d_loss, d_accuracy, g_loss, sample.mean(), sample.std()))
    return log


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the figure (default: here)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args(argv)
    utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    generator, discriminator, gan = build_gan()
    start = time.perf_counter()
    log = train(generator, discriminator, gan, rng, args.steps)
    seconds = time.perf_counter() - start
    for step, d_loss, d_accuracy, g_loss, mean, std in log:
        print(f"step {step:>5}: discriminator loss {d_loss:.3f} (accuracy {d_accuracy:.2f}), "
              f"generator loss {g_loss:.3f}; generated mean {mean:.2f}, std {std:.2f}")

    n_samples = 1000
    real_samples = generate_real_samples(rng, n_samples)
    fake_samples = generator.predict(rng.normal(0, 1, (n_samples, LATENT)), verbose=0)
    real_predictions = discriminator.predict(real_samples, verbose=0)
    fake_predictions = discriminator.predict(fake_samples, verbose=0)
    mean, std = float(fake_samples.mean()), float(fake_samples.std())
    print(f"Trained {args.steps} steps in {seconds:.1f} s")
    print(f"Generated mean {mean:.2f}, std {std:.2f} (real data: mean 4, std 1.5)")
    print(f"Discriminator's mean output: real {real_predictions.mean():.2f}, generated "
          f"{fake_predictions.mean():.2f} (0.5 = cannot tell them apart)")

    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    bins = np.linspace(-2, 10, 50)
    left.hist(real_samples.ravel(), bins=bins, alpha=0.7, label="Real data")
    left.hist(fake_samples.ravel(), bins=bins, alpha=0.7, label="Generated data")
    left.legend()
    left.set_title("Distribution of Real and Generated Samples")
    right.scatter(real_samples, real_predictions, alpha=0.5, label="Real")
    right.scatter(fake_samples, fake_predictions, alpha=0.5, label="Generated")
    grid = np.linspace(-2, 10, 200).reshape(-1, 1)
    right.plot(grid, discriminator.predict(grid, verbose=0), "k-", label="Discriminator")
    right.set_ylim(0, 1)
    right.legend()
    right.set_title("Discriminator Predictions")
    right.set_xlabel("Sample Value")
    right.set_ylabel("Probability of being real")
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    figure = os.path.join(args.out, "slide13_gan.png")
    plot.save(fig, figure)
    print(f"Saved {figure}")
    return mean, std


if __name__ == "__main__":
    main()
