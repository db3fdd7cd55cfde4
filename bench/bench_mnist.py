"""The slide-14 model's training epoch (48,000 samples, batch 128, Adam): brisknn vs PyTorch CPU
(if installed, same model, init and threads) vs a NumPy im2col baseline, with peak memory.

    python bench/bench_mnist.py [--threads N] [--epochs E] [--numpy-batches B]

Each library runs in its own process (their thread pools spin after work and slow each other),
on real MNIST when BRISKNN_DATA points at it, else on random data of the same shape. The NumPy
baseline is timed on B batches and scaled to the epoch. Peak memory is the process's max RSS.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

SAMPLES, BATCH = 48_000, 128


def load_data():
    try:
        from brisknn.datasets import mnist
        (x, y), _ = mnist.load_data()
        source = "MNIST"
    except (OSError, ValueError):
        rng = np.random.default_rng(0)
        x, y, source = rng.integers(0, 256, (60_000, 28, 28), dtype=np.uint8), \
            rng.integers(0, 10, 60_000), "random data"
    x = x[:SAMPLES].reshape(-1, 28, 28, 1).astype(np.float32) / 255
    return x, y[:SAMPLES].astype(np.int64), source


def run_brisknn(epochs):
    import brisknn
    from brisknn.examples.mnist import build_model
    x, y, source = load_data()
    model = build_model()
    model.fit(x[:BATCH * 4], y[:BATCH * 4], batch_size=BATCH, verbose=0)  # warm-up
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
        times.append(time.perf_counter() - start)
    return {"epoch_s": float(np.median(times)), "source": source,
            "threads": brisknn.get_num_threads()}


def run_torch(epochs):
    import torch
    x, y, source = load_data()
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(32 * 13 * 13, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    for layer in model:  # Keras' initialisation: glorot uniform kernels, zero biases
        if hasattr(layer, "weight"):
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    yt = torch.from_numpy(y)

    def epoch(n):
        perm = torch.randperm(n)
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    epoch(BATCH * 4)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        epoch(SAMPLES)
        times.append(time.perf_counter() - start)
    return {"epoch_s": float(np.median(times)), "source": source,
            "threads": torch.get_num_threads(), "version": torch.__version__}


def run_numpy(batches):
    from bench_conv import numpy_conv_backward, numpy_conv_forward, numpy_pool_backward, \
        numpy_pool_forward
    from bench_ops import NumpyMLP
    x, y, source = load_data()
    rng = np.random.default_rng(0)

    def glorot(shape, fan_in, fan_out):
        limit = np.sqrt(6 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape).astype(np.float32)

    kernel, bias = glorot((3, 3, 1, 32), 9, 288), np.zeros(32, np.float32)
    head = NumpyMLP([glorot((5408, 128), 5408, 128), np.zeros(128, np.float32),
                     glorot((128, 10), 128, 10), np.zeros(10, np.float32)])
    m, v, t = [np.zeros_like(kernel), np.zeros_like(bias)], [np.zeros_like(kernel),
                                                              np.zeros_like(bias)], 0

    def step(xb, yb):
        nonlocal t
        h, saved = numpy_conv_forward(xb, kernel, bias, "valid")
        p, mask = numpy_pool_forward(h)
        flat = p.reshape(len(xb), -1)
        head.step(flat, yb)  # updates the dense head; recompute its input gradient below
        w1, b1, w2, b2 = head.w
        hid = np.maximum(0, flat @ w1 + b1)
        z = hid @ w2 + b2
        e = np.exp(z - z.max(1, keepdims=True))
        dz = e / e.sum(1, keepdims=True)
        dz[np.arange(len(xb)), yb] -= 1
        dflat = ((dz / len(xb)) @ w2.T * (hid > 0)) @ w1.T
        dh = numpy_pool_backward(dflat.reshape(p.shape), mask, h.shape)
        _, dk, db = numpy_conv_backward(dh, h, saved, kernel, "valid", False)
        t += 1
        alpha = 1e-3 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        for w, g, mi, vi in zip((kernel, bias), (dk, db), m, v):
            mi += (g - mi) * 0.1
            vi += (g * g - vi) * 0.001
            w -= alpha * mi / (np.sqrt(vi) + 1e-7)

    step(x[:BATCH], y[:BATCH])
    start = time.perf_counter()
    for b in range(batches):
        step(x[b * BATCH:(b + 1) * BATCH], y[b * BATCH:(b + 1) * BATCH])
    per_batch = (time.perf_counter() - start) / batches
    return {"epoch_s": per_batch * (SAMPLES // BATCH + 1), "source": source,
            "threads": "BLAS default", "extrapolated_from_batches": batches}


def child(library, args):
    result = {"brisknn": lambda: run_brisknn(args.epochs), "torch": lambda: run_torch(args.epochs),
              "numpy": lambda: run_numpy(args.numpy_batches)}[library]()
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed (median)")
    parser.add_argument("--numpy-batches", type=int, default=20)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child == "brisknn":
            import brisknn
            brisknn.set_num_threads(args.threads)
        elif args.child == "torch":
            import torch
            torch.set_num_threads(args.threads)
            # Denormals flushed, as brisknn and TensorFlow do: unflushed, tiny gradients
            # (vanishing through 200 LSTM steps, say) slow torch down up to 6x.
            torch.set_flush_denormal(True)
        return child(args.child, args)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    results = {}
    for library in ("brisknn", "torch", "numpy"):
        proc = subprocess.run([sys.executable, __file__, "--child", library,
                               "--threads", str(args.threads), "--epochs", str(args.epochs),
                               "--numpy-batches", str(args.numpy_batches)],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            if library == "torch" and "No module named 'torch'" in proc.stderr:
                continue
            raise SystemExit(f"{library} failed:\n{proc.stderr}")
        results[library] = json.loads(proc.stdout.strip().splitlines()[-1])
    base = results["brisknn"]["epoch_s"]
    print(f"\n### slide-14 model, one training epoch ({SAMPLES} samples of "
          f"{results['brisknn']['source']}, batch {BATCH}, {args.threads} threads)\n")
    print("| library | epoch | samples/s | time ratio (brisknn / other) | peak RSS |")
    print("|---|---|---|---|---|")
    for library, r in results.items():
        name = library + (f" {r['version']}" if "version" in r else "") + \
            (f" (from {r['extrapolated_from_batches']} batches)" if library == "numpy" else "")
        print(f"| {name} | {r['epoch_s']:.2f} s | {SAMPLES / r['epoch_s']:,.0f} | "
              f"{base / r['epoch_s']:.2f} | {r['peak_rss_mb']:.0f} MB |")


if __name__ == "__main__":
    main()
