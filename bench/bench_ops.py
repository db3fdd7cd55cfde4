"""brisknn.ops against the same math in NumPy (the seed's baseline): matmul, activations and
losses forward and backward, and one Adam training step of a 784-128-10 MLP.

    python bench/bench_ops.py [--threads N] [--repeats R] [--activations mish,celu,...]

Prints Markdown tables of medians; 'speedup' is NumPy time / brisknn time (> 1: brisknn faster).
"""
import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import brisknn  # noqa: E402
from brisknn import ops  # noqa: E402
from _timing import compare, fmt_time, print_table  # noqa: E402

EPS = 1e-7

NUMPY_ACT = {
    "relu": (lambda x: np.maximum(0, x), lambda dy, y: dy * (y > 0)),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.2 * x), lambda dy, y: np.where(y > 0, dy, 0.2 * dy)),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
            lambda dy, y: np.where(y > 0, dy, dy * (y + 1))),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), lambda dy, y: dy * y * (1 - y)),
    "tanh": (np.tanh, lambda dy, y: dy * (1 - y * y)),
    "softplus": (lambda x: np.logaddexp(x, 0), lambda dy, y: -dy * np.expm1(-y)),
    "softmax": (lambda x: (lambda e: e / e.sum(-1, keepdims=True))(np.exp(x - x.max(-1, keepdims=True))),
                lambda dy, y: y * (dy - (dy * y).sum(-1, keepdims=True))),
    "linear": (lambda x: x.copy(), lambda dy, y: dy.copy()),
    "relu6": (lambda x: np.clip(x, 0, 6), lambda dy, y: dy * ((y > 0) & (y < 6))),
    "softsign": (lambda x: x / (1 + np.abs(x)),
                 lambda dy, y: (lambda s: dy * s * s)(1 - np.abs(y))),
    "hard_sigmoid": (lambda x: np.clip(x + 3, 0, 6) / 6,
                     lambda dy, y: dy * (((y > 0) & (y < 1)) / 6)),
    "exponential": (np.exp, lambda dy, y: dy * y),
    "selu": (lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(
                 np.minimum(x, 0))),
             lambda dy, y: dy * np.where(y > 0, 1.0507009873554805, y + 1.7580993408473766)),
    "silu": (lambda x: x / (1 + np.exp(-x)),
             lambda dy, x: (lambda s: dy * s * (1 + x * (1 - s)))(1 / (1 + np.exp(-x)))),
    # Keras 3's further activations, by their Keras formulas.
    "mish": (lambda x: x * np.tanh(np.logaddexp(x, 0)),
             lambda dy, x: (lambda t: dy * (t + x * (1 - t * t) / (1 + np.exp(-x))))(
                 np.tanh(np.logaddexp(x, 0)))),
    "hard_silu": (lambda x: x * (np.clip(x + 3, 0, 6) / 6),
                  lambda dy, x: dy * np.where(x < -3, 0, np.where(x > 3, 1, (2 * x + 3) / 6))),
    "log_softmax": (lambda x: (lambda z: z - np.log(np.exp(z).sum(-1, keepdims=True)))(
                        x - x.max(-1, keepdims=True)),
                    lambda dy, y: dy - np.exp(y) * dy.sum(-1, keepdims=True)),
    "celu": (lambda x: np.maximum(x, 0) + np.expm1(np.minimum(x, 0)),
             lambda dy, y: np.where(y > 0, dy, dy * (y + 1))),
    "hard_tanh": (lambda x: np.clip(x, -1, 1), lambda dy, y: np.where(np.abs(y) < 1, dy, 0)),
    "log_sigmoid": (lambda x: -np.logaddexp(-x, 0), lambda dy, y: -dy * np.expm1(y)),
    "tanh_shrink": (lambda x: x - np.tanh(x), lambda dy, x: dy * np.tanh(x) ** 2),
    "squareplus": (lambda x: (x + np.sqrt(x * x + 4)) / 2, lambda dy, y: dy / (1 + 1 / (y * y))),
    "sparse_plus": (lambda x: np.where(x <= -1, 0, np.where(x < 1, 0.25 * (x + 1) ** 2, x)),
                    lambda dy, y: dy * np.sqrt(np.minimum(y, 1))),
    "gelu_approximate": (
        lambda x: 0.5 * x * (1 + np.tanh(0.7978846 * (x + 0.044715 * x * x * x))),
        lambda dy, x: (lambda t: dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * 0.7978846 * (
            1 + 0.134145 * x * x)))(np.tanh(0.7978846 * (x + 0.044715 * x * x * x)))),
}
# Their backward takes the forward's input x rather than its output.
FROM_INPUT = ("silu", "mish", "hard_silu", "tanh_shrink", "gelu_approximate")


def np_loss(name, t, p):
    if name == "mean_squared_error":
        return np.mean((t - p) ** 2), 2 * (p - t) / p.size
    if name == "binary_crossentropy":
        q = np.clip(p, EPS, 1 - EPS)
        loss = -np.mean(t * np.log(q) + (1 - t) * np.log(1 - q))
        return loss, (q - t) / (q * (1 - q)) / p.size
    if name == "categorical_crossentropy":  # Keras renormalises by the row sum s first
        s = p.sum(-1, keepdims=True)
        q = np.clip(p / s, EPS, 1 - EPS)
        g = (t.sum(-1, keepdims=True) - t / q) / s
        return -np.sum(t * np.log(q)) / len(p), g / len(p)
    # sparse, with Keras' renormalisation by the row sum, as for the dense labels above
    rows = np.arange(len(p))
    s = p.sum(-1, keepdims=True)
    q = np.clip(p[rows, t] / s[:, 0], EPS, 1 - EPS)
    g = np.broadcast_to(1 / s, p.shape).copy()
    g[rows, t] -= 1 / p[rows, t]
    return -np.mean(np.log(q)), g / len(p)


def bench_matmul(repeats):
    rows = []
    for n in (256, 512, 1024, 2048):
        a = np.random.rand(n, n).astype(np.float32)
        b = np.random.rand(n, n).astype(np.float32)
        t = compare({"numpy": lambda: a @ b, "brisknn": lambda: ops.matmul(a, b)},
                    repeats=repeats if n < 2048 else max(5, repeats // 3))
        flops = 2 * n ** 3
        rows.append({"n": n, "numpy": f"{fmt_time(t['numpy'])} ({flops / t['numpy'] / 1e9:.0f} GF/s)",
                     "brisknn": f"{fmt_time(t['brisknn'])} ({flops / t['brisknn'] / 1e9:.0f} GF/s)",
                     "brisknn / numpy time": f"{t['brisknn'] / t['numpy']:.2f}"})
    print_table("matmul float32", rows, ["n", "numpy", "brisknn", "brisknn / numpy time"])


def bench_activations(repeats, shape=(1024, 1024), names=None):
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    dy = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    rows = []
    for name in names or NUMPY_ACT:
        np_fwd, np_bwd = NUMPY_ACT[name]
        y = x if name in FROM_INPUT else np_fwd(x)
        fwd = compare({"numpy": lambda: np_fwd(x),
                       "brisknn": lambda: ops.activation(x, name)}, repeats=repeats)
        bwd = compare({"numpy": lambda: np_bwd(dy, y),
                       "brisknn": lambda: ops.activation_backward(dy, y, name)}, repeats=repeats)
        rows.append({"activation": name, "numpy fwd": fmt_time(fwd["numpy"]),
                     "brisknn fwd": fmt_time(fwd["brisknn"]),
                     "fwd speedup": f"{fwd['numpy'] / fwd['brisknn']:.1f}x",
                     "numpy bwd": fmt_time(bwd["numpy"]), "brisknn bwd": fmt_time(bwd["brisknn"]),
                     "bwd speedup": f"{bwd['numpy'] / bwd['brisknn']:.1f}x"})
    print_table(f"activations, float32 {shape}", rows, list(rows[0]))


def bench_losses(repeats, batch=8192, classes=10):
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(batch, classes)).astype(np.float32)
    probs = NUMPY_ACT["softmax"][0](logits)
    labels = rng.integers(0, classes, batch)
    onehot = np.eye(classes, dtype=np.float32)[labels]
    binary_t = rng.integers(0, 2, (batch, classes)).astype(np.float32)
    cases = {"mean_squared_error": (onehot, probs), "binary_crossentropy": (binary_t, probs),
             "categorical_crossentropy": (onehot, probs),
             "sparse_categorical_crossentropy": (labels, probs)}
    rows = []
    for name, (t, p) in cases.items():
        # forward + backward together, as a training step needs both
        times = compare({"numpy": lambda: np_loss(name, t, p),
                         "brisknn": lambda: (ops.loss(t, p, name), ops.loss_backward(t, p, name))},
                        repeats=repeats)
        rows.append({"loss": name, "numpy": fmt_time(times["numpy"]),
                     "brisknn": fmt_time(times["brisknn"]),
                     "speedup": f"{times['numpy'] / times['brisknn']:.1f}x"})
    print_table(f"losses forward + backward, float32 ({batch}, {classes})", rows, list(rows[0]))


class NumpyMLP:
    """The same 784-128-10 network and Adam step written in NumPy (the seed's style)."""

    def __init__(self, weights):
        self.w = [w.copy() for w in weights]
        self.m = [np.zeros_like(w) for w in self.w]
        self.v = [np.zeros_like(w) for w in self.w]
        self.t = 0

    def step(self, x, y, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
        w1, b1_, w2, b2_ = self.w
        h = np.maximum(0, x @ w1 + b1_)
        z = h @ w2 + b2_
        e = np.exp(z - z.max(1, keepdims=True))
        p = e / e.sum(1, keepdims=True)
        n = len(x)
        loss = -np.mean(np.log(np.clip(p[np.arange(n), y], EPS, 1)))
        dz = p.copy()
        dz[np.arange(n), y] -= 1
        dz /= n
        dh = (dz @ w2.T) * (h > 0)
        grads = [x.T @ dh, dh.sum(0), h.T @ dz, dz.sum(0)]
        self.t += 1
        alpha = lr * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        for w, g, m, v in zip(self.w, grads, self.m, self.v):
            m += (g - m) * (1 - b1)
            v += (g * g - v) * (1 - b2)
            w -= alpha * m / (np.sqrt(v) + eps)
        return loss


def bench_mlp(repeats, batch=128):
    # glibc serves allocations above its mmap threshold (128 KB at start) with mmap/munmap and
    # fresh page faults, and raises the threshold once a larger block is freed. The NumPy step's
    # 400 KB temporaries so take 1.5 ms in a fresh process and 1.0 ms in any program that has
    # freed a big array (loading a data set does): free one first, for NumPy's faster figure.
    # (brisknn's step allocates only small arrays and is the same either way.)
    big = np.ones(1 << 20)  # 8 MB
    del big
    rng = np.random.default_rng(3)
    x = rng.random((batch, 784), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    model = brisknn.Sequential([brisknn.layers.Dense(128, activation="relu", input_shape=(784,)),
                                brisknn.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    baseline = NumpyMLP(model.get_weights())
    times = compare({"numpy": lambda: baseline.step(x, y),
                     "brisknn": lambda: model.train_on_batch(x, y)}, repeats=repeats)
    print_table(f"one Adam training step, MLP 784-128-10, batch {batch}, float32", [{
        "numpy": fmt_time(times["numpy"]), "brisknn train_on_batch": fmt_time(times["brisknn"]),
        "speedup": f"{times['numpy'] / times['brisknn']:.1f}x"}],
        ["numpy", "brisknn train_on_batch", "speedup"])


def bench_import():
    # As installed (pip compiles the bytecode): with PYTHONDONTWRITEBYTECODE set, as on this
    # machine, a source tree would be compiled again by every process (~110 ms for brisknn).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", "import brisknn; brisknn.Sequential"], env=env,
                   check=True)  # writes the bytecode if it is missing

    def run(stmt):
        out = []
        for _ in range(7):
            r = subprocess.run([sys.executable, "-c",
                                f"import time; t = time.perf_counter(); {stmt}; "
                                "print(time.perf_counter() - t)"],
                               capture_output=True, text=True, check=True, env=env)
            out.append(float(r.stdout))
        return np.median(out)

    def whole(stmt):
        import time
        out = []
        for _ in range(7):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", stmt], check=True, env=env)
            out.append(time.perf_counter() - t)
        return np.median(out)

    pkg = os.path.dirname(brisknn.__file__)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(pkg) for f in fs
               if "__pycache__" not in d)
    rows = [{"what": stmt, "import alone": fmt_time(run(stmt)),
             "fresh process incl. interpreter": fmt_time(whole(stmt))}
            for stmt in ("import numpy", "import brisknn", "import brisknn; brisknn.Sequential")]
    print_table("import time (median of 7 fresh processes)", rows, list(rows[0]))
    print(f"\ninstalled package size: {size / 1e6:.2f} MB ({pkg})")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--activations", default=None,
                        help="comma-separated names: time only these activations")
    args = parser.parse_args()
    if args.threads:
        brisknn.set_num_threads(args.threads)
    info = brisknn.build_info()
    print(f"brisknn {info['version']} ({info['compiler']}, SIMD {','.join(info['simd'][:3])}, "
          f"{info['num_threads']} threads); numpy {np.__version__}")
    if args.activations:
        bench_activations(args.repeats, names=args.activations.split(","))
        return
    bench_matmul(args.repeats)
    bench_activations(args.repeats)
    bench_losses(args.repeats)
    bench_mlp(args.repeats)
    bench_import()


if __name__ == "__main__":
    main()
