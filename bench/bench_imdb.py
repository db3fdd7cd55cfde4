"""Training throughput of the slide-15 IMDB model: Embedding(10000, 128) -> LSTM(64, dropout 0.2,
recurrent dropout 0.2 or 0) -> Dense(1, sigmoid), binary cross-entropy, Adam, batch 32, reviews
padded to 200 ids. brisknn vs a NumPy baseline (a Python loop over time steps, forward and BPTT)
vs PyTorch CPU (if installed; input dropout only, torch's LSTM has no recurrent dropout).

    python bench/bench_imdb.py [--threads 2] [--rounds 3] [--warmup 3] [--batches 10] [--check]

Each library runs in its own processes (thread pools spin after work and slow each other), a few
rounds of them interleaved so that other load on the machine hits all alike, on the same fixed
subset of real IMDB (the first reviews of Keras' shuffled training set, when BRISKNN_DATA points
at it; random ids of the same shape otherwise). Each step is timed on its own after the warm-up
steps; we report the median over all rounds. The NumPy baseline's gradients are checked
against central finite differences (float64) before it is timed; --check runs only that check.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

VOCAB, MAXLEN, EMBED, UNITS, BATCH = 10000, 200, 128, 64, 32
DROPOUT = 0.2


# -- data ----------------------------------------------------------------------------------------
def load_subset(samples):
    try:
        from brisknn.examples.imdb import load_data
    except ImportError:  # the example needs LSTM; the loader alone does not
        load_data = None
    try:
        if load_data is not None:
            (x, y), _ = load_data()
        else:
            from brisknn.datasets import imdb
            from brisknn.preprocessing.sequence import pad_sequences
            (x, y), _ = imdb.load_data(num_words=VOCAB)
            x = pad_sequences(x, maxlen=MAXLEN)
        source = "IMDB"
    except (OSError, ValueError):
        rng = np.random.default_rng(0)
        x, y = rng.integers(1, VOCAB, (samples, MAXLEN)), rng.integers(0, 2, samples)
        source = "random ids"
    return (np.ascontiguousarray(x[:samples], dtype=np.int32),
            np.ascontiguousarray(y[:samples], dtype=np.float32), source)


def time_steps(step, x, y, warmup):
    """Seconds of each training step after `warmup` untimed ones, one batch per step."""
    times = []
    for b in range(x.shape[0] // BATCH):
        xb, yb = x[b * BATCH:(b + 1) * BATCH], y[b * BATCH:(b + 1) * BATCH]
        start = time.perf_counter()
        step(xb, yb)
        if b >= warmup:
            times.append(time.perf_counter() - start)
    return times


# -- the NumPy baseline --------------------------------------------------------------------------
def _sigmoid(z):
    return 0.5 * np.tanh(0.5 * z) + 0.5  # no overflow warning for large |z|, same value


class NumpyIMDBModel:
    """The slide-15 model and its Adam step in NumPy, with Keras' LSTM: gates i, f, c, o in that
    order; kernel (input, 4 units), recurrent_kernel (units, 4 units), bias with the forget gate
    at 1; one input-dropout mask (batch, features) and one recurrent-dropout mask (batch, units)
    on h(t-1), both kept over all time steps. Arrays are time-major so each step's slice is
    contiguous. The input projection x @ kernel, and in BPTT the weight gradients, are one GEMM
    over all steps; only the recurrence runs step by step (what a NumPy programmer would write).
    """

    def __init__(self, vocab, embed, units, rng, dtype=np.float32):
        def glorot(fan_in, fan_out):
            limit = np.sqrt(6 / (fan_in + fan_out))
            return rng.uniform(-limit, limit, (fan_in, fan_out))

        q, r = np.linalg.qr(rng.standard_normal((4 * units, units)))
        bias = np.zeros(4 * units)
        bias[units:2 * units] = 1.0
        self.params = {"table": rng.uniform(-0.05, 0.05, (vocab, embed)),
                       "kernel": glorot(embed, 4 * units), "recurrent": (q * np.sign(np.diag(r))).T,
                       "bias": bias, "dense": glorot(units, 1), "dense_bias": np.zeros(1)}
        self.params = {k: v.astype(dtype) for k, v in self.params.items()}
        self.moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in self.params.items()}
        self.units, self.t = units, 0

    def loss_and_grads(self, ids, y, in_mask=None, rec_mask=None):
        """Mean binary cross-entropy and the gradient of every parameter."""
        p, u = self.params, self.units
        batch, steps = ids.shape
        time_ids = np.ascontiguousarray(ids.T).reshape(-1)  # (steps * batch,)
        x = p["table"][time_ids]
        if in_mask is not None:
            x = (x.reshape(steps, batch, -1) * in_mask).reshape(steps * batch, -1)
        xw = (x @ p["kernel"] + p["bias"]).reshape(steps, batch, 4 * u)
        dtype = x.dtype
        h_in = np.empty((steps, batch, u), dtype)      # h(t-1) after recurrent dropout
        cells = np.zeros((steps + 1, batch, u), dtype)  # cells[t] is c(t-1)
        gates = np.empty((steps, batch, 4 * u), dtype)  # i, f, g, o after their activations
        tanh_c = np.empty((steps, batch, u), dtype)
        h = np.zeros((batch, u), dtype)
        for t in range(steps):
            h_in[t] = h if rec_mask is None else h * rec_mask
            z = xw[t] + h_in[t] @ p["recurrent"]
            a = gates[t]
            a[:] = _sigmoid(z)
            a[:, 2 * u:3 * u] = np.tanh(z[:, 2 * u:3 * u])
            cells[t + 1] = a[:, u:2 * u] * cells[t] + a[:, :u] * a[:, 2 * u:3 * u]
            tanh_c[t] = np.tanh(cells[t + 1])
            h = a[:, 3 * u:] * tanh_c[t]
        logit = h @ p["dense"] + p["dense_bias"]
        yy = y.reshape(-1, 1).astype(dtype)
        loss = float(np.mean(np.maximum(logit, 0) - logit * yy + np.log1p(np.exp(-np.abs(logit)))))

        grads = {}
        dlogit = (_sigmoid(logit) - yy) / batch
        grads["dense"], grads["dense_bias"] = h.T @ dlogit, dlogit.sum(0)
        dh = dlogit @ p["dense"].T
        dc = np.zeros((batch, u), dtype)
        dz = np.empty((steps, batch, 4 * u), dtype)
        recurrent_t = np.ascontiguousarray(p["recurrent"].T)
        for t in range(steps - 1, -1, -1):
            a, d = gates[t], dz[t]
            i, f, g, o = a[:, :u], a[:, u:2 * u], a[:, 2 * u:3 * u], a[:, 3 * u:]
            dc += dh * o * (1 - tanh_c[t] ** 2)
            d[:, 3 * u:] = dh * tanh_c[t] * o * (1 - o)
            d[:, :u] = dc * g * i * (1 - i)
            d[:, u:2 * u] = dc * cells[t] * f * (1 - f)
            d[:, 2 * u:3 * u] = dc * i * (1 - g * g)
            dc *= f
            dh = d @ recurrent_t
            if rec_mask is not None:
                dh *= rec_mask
        dz2 = dz.reshape(steps * batch, 4 * u)
        grads["recurrent"] = h_in.reshape(steps * batch, u).T @ dz2
        grads["kernel"] = x.T @ dz2
        grads["bias"] = dz2.sum(0)
        dx = dz2 @ p["kernel"].T
        if in_mask is not None:
            dx = (dx.reshape(steps, batch, -1) * in_mask).reshape(steps * batch, -1)
        grads["table"] = _scatter_add_rows(time_ids, dx, p["table"].shape)
        return loss, grads

    def step(self, ids, y, rng, dropout, recurrent_dropout, lr=1e-3, b1=0.9, b2=0.999,
             eps=1e-7):
        """One Adam step (Keras' update rule) with fresh dropout masks."""
        dtype = self.params["table"].dtype
        in_mask = _dropout_mask(rng, (ids.shape[0], self.params["table"].shape[1]), dropout,
                                dtype)
        rec_mask = _dropout_mask(rng, (ids.shape[0], self.units), recurrent_dropout, dtype)
        loss, grads = self.loss_and_grads(ids, y, in_mask, rec_mask)
        self.t += 1
        alpha = lr * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        for name, w in self.params.items():
            g, (m, v) = grads[name], self.moments[name]
            m += (g - m) * (1 - b1)
            v += (g * g - v) * (1 - b2)
            w -= alpha * m / (np.sqrt(v) + eps)
        return loss


def _dropout_mask(rng, shape, rate, dtype):
    if not rate:
        return None
    return ((rng.random(shape) >= rate) / (1 - rate)).astype(dtype)


def _scatter_add_rows(ids, rows, shape):
    # np.add.at is ~20x slower: sort the ids once and sum each id's run with reduceat.
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    grad = np.zeros(shape, rows.dtype)
    grad[sorted_ids[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return grad


def check_numpy_gradients():
    """The baseline's BPTT against central differences in float64, dropout masks fixed.
    Returns the largest relative error; raises if any gradient is off."""
    rng = np.random.default_rng(0)
    model = NumpyIMDBModel(vocab=7, embed=4, units=3, rng=rng, dtype=np.float64)
    for w in model.params.values():  # away from the initial zeros, so every term matters
        w += rng.normal(scale=0.3, size=w.shape)
    ids = rng.integers(0, 7, (3, 5))
    ids[0, :2] = 0
    y = np.array([1.0, 0.0, 1.0])
    in_mask = _dropout_mask(rng, (3, 4), 0.3, np.float64)
    rec_mask = _dropout_mask(rng, (3, 3), 0.3, np.float64)
    _, grads = model.loss_and_grads(ids, y, in_mask, rec_mask)
    worst, eps = 0.0, 1e-6
    for name, w in model.params.items():
        numeric = np.zeros_like(w)
        for i in np.ndindex(w.shape):
            old = w[i]
            w[i] = old + eps
            up = model.loss_and_grads(ids, y, in_mask, rec_mask)[0]
            w[i] = old - eps
            down = model.loss_and_grads(ids, y, in_mask, rec_mask)[0]
            w[i] = old
            numeric[i] = (up - down) / (2 * eps)
        err = np.max(np.abs(grads[name] - numeric)) / max(np.max(np.abs(numeric)), 1e-8)
        if not err < 1e-6:
            raise AssertionError(f"NumPy LSTM baseline: gradient of {name} is off by {err:.2e} "
                                 f"(relative) against finite differences")
        worst = max(worst, err)
    return worst


# -- one process per library ---------------------------------------------------------------------
def run_numpy(x, y, recurrent_dropout, warmup):
    worst = check_numpy_gradients()
    rng = np.random.default_rng(0)
    model = NumpyIMDBModel(VOCAB, EMBED, UNITS, rng)
    times = time_steps(lambda xb, yb: model.step(xb, yb, rng, DROPOUT, recurrent_dropout),
                       x, y, warmup)
    return {"times": times, "threads": "BLAS", "gradient_check_rel_error": worst}


def run_brisknn(x, y, recurrent_dropout, warmup):
    import brisknn
    from brisknn.examples.imdb import build_model
    model = build_model(recurrent_dropout=recurrent_dropout)
    times = time_steps(model.train_on_batch, x, y, warmup)
    return {"times": times, "threads": brisknn.get_num_threads()}


def run_torch(x, y, recurrent_dropout, warmup):
    import torch
    if recurrent_dropout:
        raise ValueError("torch.nn.LSTM has no recurrent dropout")
    torch.manual_seed(0)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(VOCAB, EMBED)
            torch.nn.init.uniform_(self.embedding.weight, -0.05, 0.05)  # Keras' 'uniform'
            self.dropout = torch.nn.Dropout(DROPOUT)
            self.lstm = torch.nn.LSTM(EMBED, UNITS, batch_first=True)
            self.dense = torch.nn.Linear(UNITS, 1)

        def forward(self, ids):
            _, (h, _) = self.lstm(self.dropout(self.embedding(ids)))
            return self.dense(h[-1])[:, 0]

    model = Model()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step(xb, yb):
        opt.zero_grad()
        loss = loss_fn(model(torch.from_numpy(xb).long()), torch.from_numpy(yb))
        loss.backward()
        opt.step()

    times = time_steps(step, x, y, warmup)
    return {"times": times, "threads": torch.get_num_threads(), "version": torch.__version__}


def child(args):
    library, recurrent_dropout = args.child, args.recurrent_dropout
    if library == "data":  # here, not in the parent: children would inherit its peak RSS
        x, y, source = load_subset(args.samples)
        np.save(os.path.join(args.data, "x.npy"), x)
        np.save(os.path.join(args.data, "y.npy"), y)
        print(json.dumps({"source": source}))
        return
    if library == "brisknn":
        import brisknn
        brisknn.set_num_threads(args.threads)
    elif library == "torch":
        import torch
        torch.set_num_threads(args.threads)
        # Denormals flushed, as brisknn and TensorFlow do: unflushed, tiny gradients
        # (vanishing through 200 LSTM steps, say) slow torch down up to 6x.
        torch.set_flush_denormal(True)
    x, y = np.load(os.path.join(args.data, "x.npy")), np.load(os.path.join(args.data, "y.npy"))
    run = {"brisknn": run_brisknn, "numpy": run_numpy, "torch": run_torch}[library]
    result = run(x, y, recurrent_dropout, args.warmup)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_child(library, recurrent_dropout, data_dir, args, env):
    proc = subprocess.run([sys.executable, __file__, "--child", library, "--data", data_dir,
                           "--recurrent-dropout", str(recurrent_dropout),
                           "--threads", str(args.threads), "--warmup", str(args.warmup),
                           "--samples", str(BATCH * (args.warmup + args.batches))],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit status {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--batches", type=int, default=10, help="timed steps (median)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="processes per library and setting, interleaved")
    parser.add_argument("--libraries", default="brisknn,numpy,torch")
    parser.add_argument("--check", action="store_true",
                        help="only check the NumPy baseline's gradients")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--recurrent-dropout", type=float, default=0.2, help=argparse.SUPPRESS)
    parser.add_argument("--samples", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    if args.check:
        print(f"NumPy LSTM baseline: gradients match finite differences (worst relative error "
              f"{check_numpy_gradients():.1e})")
        return
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    libraries = [lib.strip() for lib in args.libraries.split(",") if lib.strip()]
    results = {}
    runs = [(library, rd) for rd in (DROPOUT, 0.0) for library in libraries
            # torch's LSTM cannot drop recurrent connections
            if not (library == "torch" and rd)]
    with tempfile.TemporaryDirectory() as data_dir:
        data = run_child("data", 0.0, data_dir, args, env)
        if "error" in data:
            raise SystemExit(f"loading the data failed: {data['error']}")
        # Rounds of one process per run, interleaved, so that load from other work on the
        # machine falls on every library alike; the median is over all rounds' steps.
        for _ in range(args.rounds):
            for library, rd in runs:
                result = run_child(library, rd, data_dir, args, env)
                if library == "numpy" and "error" in result:
                    raise SystemExit(f"the NumPy baseline failed: {result['error']}")
                merged = results.setdefault((library, rd), result)
                if merged is not result and "times" in result:
                    merged["times"] += result["times"]
                    merged["peak_rss_mb"] = max(merged["peak_rss_mb"], result["peak_rss_mb"])
    print_results(results, args, data["source"])


def print_results(results, args, source):
    print(f"\n### slide-15 IMDB model, training steps ({args.rounds} processes x {args.batches} "
          f"timed steps after {args.warmup} warm-up, batch {BATCH}, {MAXLEN} time steps, "
          f"{source}, {args.threads} threads)\n")
    print("| library | recurrent dropout | step (median) | samples/s | speed vs brisknn | "
          "peak RSS |")
    print("|---|---|---|---|---|---|")
    for (library, rd), r in results.items():
        name = library + (f" {r['version']}" if "version" in r else "")
        if "error" in r:
            print(f"| {name} | {rd} | not run: {r['error']} | | | |")
            continue
        step = float(np.median(r["times"]))
        base = results.get(("brisknn", rd), {})
        ratio = (f"{float(np.median(base['times'])) / step:.2f}x" if "times" in base else "n/a")
        print(f"| {name} | {rd} | {step * 1e3:.1f} ms | {BATCH / step:,.0f} | {ratio} | "
              f"{r['peak_rss_mb']:.0f} MB |")
    print("\nspeed vs brisknn: the other library's samples/s over brisknn's at the same "
          "recurrent dropout (torch: input dropout only, compared with brisknn at 0).")
    numpy_runs = [r for (lib, _), r in results.items() if lib == "numpy" and "times" in r]
    if numpy_runs:
        print(f"NumPy baseline gradients checked against finite differences: worst relative "
              f"error {numpy_runs[0]['gradient_check_rel_error']:.1e}.")


if __name__ == "__main__":
    main()
