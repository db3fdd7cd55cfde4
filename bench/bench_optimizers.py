"""One optimizer step on a float32 weight: brisknn's fused C++ pass against the same Keras 3 rule
written as NumPy array expressions (what a NumPy training loop would run).

    python bench/bench_optimizers.py [--size N] [--threads N] [--repeats R]

Prints a Markdown table of medians; 'speedup' is NumPy time / brisknn time (> 1: brisknn faster).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import brisknn  # noqa: E402
from brisknn import optimizers  # noqa: E402
from brisknn.backend import Variable  # noqa: E402
from _timing import compare, fmt_time, print_table  # noqa: E402


NAMES = ["sgd", "adam", "adagrad", "adadelta", "adamax", "nadam", "lion", "ftrl"]


def numpy_steps(w, g):
    """{name: step()} updating w in place by Keras 3's rule with its default hyperparameters
    (Nadam's u_product schedule at its first step; the arithmetic per element is the same)."""
    f = np.float32
    s = {k: np.zeros_like(w) for k in ("a", "b")}
    acc = np.full_like(w, 0.1)
    lr, eps = f(0.001), f(1e-7)

    def sgd():
        w[...] -= lr * g

    def adam():
        s["a"][...] += (g - s["a"]) * f(0.1)
        s["b"][...] += (g * g - s["b"]) * f(0.001)
        w[...] -= s["a"] * f(0.003) / (np.sqrt(s["b"]) + eps)

    def adagrad():
        acc[...] += np.square(g)
        w[...] -= lr * g / np.sqrt(acc + eps)

    def adadelta():
        s["a"][...] = f(0.95) * s["a"] + f(0.05) * np.square(g)
        delta = -(np.sqrt(s["b"] + eps) * g / np.sqrt(s["a"] + eps))
        s["b"][...] = f(0.95) * s["b"] + f(0.05) * np.square(delta)
        w[...] += lr * delta

    def adamax():
        s["a"][...] += (g - s["a"]) * f(0.1)
        s["b"][...] = np.maximum(f(0.999) * s["b"], np.abs(g))
        w[...] -= lr * s["a"] / (f(0.1) * (s["b"] + eps))

    def nadam():
        s["a"][...] += (g - s["a"]) * f(0.1)
        s["b"][...] += (np.square(g) - s["b"]) * f(0.001)
        m_hat = f(0.9) * s["a"] / f(0.2) + f(0.5) * g / f(0.6)
        w[...] -= m_hat * lr / (np.sqrt(s["b"] / f(0.001)) + eps)

    def lion():
        w[...] -= lr * np.sign(s["a"] * f(0.9) + g * f(0.1))
        s["a"][...] = s["a"] * f(0.99) + g * f(0.01)

    def ftrl():
        new_acc = acc + np.square(g)
        s["a"][...] += g - (np.sqrt(new_acc) - np.sqrt(acc)) / lr * w
        w[...] = (np.clip(s["a"], 0, 0) - s["a"]) / (np.sqrt(new_acc) / lr)
        acc[...] = new_acc

    return {"sgd": sgd, "adam": adam, "adagrad": adagrad, "adadelta": adadelta,
            "adamax": adamax, "nadam": nadam, "lion": lion, "ftrl": ftrl}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1 << 20)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if args.threads:
        brisknn._core.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows = []
    for name in NAMES:
        # Fresh NumPy weight and slots for each rule.
        numpy_step = numpy_steps(rng.standard_normal(args.size).astype(np.float32),
                                 rng.standard_normal(args.size).astype(np.float32))[name]
        opt = optimizers.get(name)
        var = Variable(rng.standard_normal(args.size).astype(np.float32), "w")
        grad = rng.standard_normal(args.size).astype(np.float32)

        def ours():
            var.grad[...] = grad  # the backward pass would have written it
            opt.apply([var])

        def baseline():
            var.grad[...] = grad
            numpy_step()
        times = compare({"brisknn": ours, "numpy": baseline}, repeats=args.repeats)
        rows.append({"optimizer": name, "brisknn": fmt_time(times["brisknn"]),
                     "numpy": fmt_time(times["numpy"]),
                     "speedup": f"{times['numpy'] / times['brisknn']:.1f}x"})
    print_table(f"One step on {args.size} float32 values "
                f"({brisknn._core.get_num_threads()} threads)", rows,
                ["optimizer", "brisknn", "numpy", "speedup"])


if __name__ == "__main__":
    main()
