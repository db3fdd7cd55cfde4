"""LSTM and GRU forward + backward (all weight gradients and dx) at the IMDB model's shapes,
brisknn against PyTorch's nn.LSTM / nn.GRU on the same thread count.

    python bench/bench_recurrent.py [--threads 2] [--repeats 7] [--batch 32] [--steps 200]

brisknn runs its Keras layers (forward with training=True, then backward), without dropout and
with Keras' dropout=0.2, recurrent_dropout=0.2 (one mask per gate, fixed over the sequence).
PyTorch has no recurrent dropout: its second column applies input dropout only (F.dropout on x),
as an nn.LSTM model of IMDB would. Each library runs in its own process (two OpenMP runtimes in
one process slow each other down). Prints medians; 'torch / brisknn' > 1: brisknn is faster.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import compare, fmt_time, print_table  # noqa: E402

LAYERS = ("LSTM", "GRU")


def brisknn_step(name, x, units, **kwargs):
    from brisknn import layers
    layer = getattr(layers, name)(units, **kwargs)
    layer(x[:1])  # builds the weights
    dy = np.random.default_rng(1).normal(size=(x.shape[0], units)).astype(np.float32)

    def step():
        layer.forward(x, training=True)
        layer.backward(dy, need_dx=True)
    return step


def torch_step(name, x, units, dropout):
    import torch
    module = getattr(torch.nn, name)(x.shape[2], units, batch_first=True)
    xt = torch.from_numpy(x).requires_grad_(True)
    dy = torch.from_numpy(np.random.default_rng(1).normal(size=(x.shape[0], units))
                          .astype(np.float32))

    def step():
        for p in module.parameters():
            p.grad = None
        xt.grad = None
        inp = torch.nn.functional.dropout(xt, dropout, training=True) if dropout else xt
        out, _ = module(inp)
        out[:, -1].backward(dy)
    return step


def child(library, args):
    x = np.random.default_rng(0).normal(size=(args.batch, args.steps, args.features))
    x = x.astype(np.float32)
    candidates = {}
    for name in LAYERS:
        if library == "brisknn":
            import brisknn
            brisknn.set_num_threads(args.threads)
            candidates[name] = brisknn_step(name, x, args.units)
            candidates[name + " dropout"] = brisknn_step(name, x, args.units, dropout=0.2,
                                                         recurrent_dropout=0.2, seed=0)
        else:
            import torch
            torch.set_num_threads(args.threads)
            # Denormals flushed, as brisknn and TensorFlow do: unflushed, tiny gradients
            # (vanishing through 200 LSTM steps, say) slow torch down up to 6x.
            torch.set_flush_denormal(True)
            candidates[name] = torch_step(name, x, args.units, 0.0)
            candidates[name + " dropout"] = torch_step(name, x, args.units, 0.2)
    times = compare(candidates, repeats=args.repeats, min_time=0.2)
    if library == "torch":
        import torch
        times["version"] = torch.__version__
    print(json.dumps(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--features", type=int, default=128)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    results = {}
    for library in ("brisknn", "torch"):
        cmd = [sys.executable, __file__, "--child", library] + \
            [f"--{k}={v}" for k, v in vars(args).items() if k != "child"]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            if library == "torch" and "No module named 'torch'" in proc.stderr:
                continue
            raise SystemExit(f"{library} failed:\n{proc.stderr}")
        results[library] = json.loads(proc.stdout.strip().splitlines()[-1])
    ours, torch_t = results["brisknn"], results.get("torch")
    rows = []
    for name in LAYERS:
        row = {"layer": name, "brisknn": fmt_time(ours[name]),
               "brisknn (dropout 0.2, rec. 0.2)": fmt_time(ours[name + " dropout"])}
        if torch_t:
            row.update({
                "torch": fmt_time(torch_t[name]),
                "torch (input dropout 0.2)": fmt_time(torch_t[name + " dropout"]),
                "torch / brisknn": f"{torch_t[name] / ours[name]:.1f}x",
                "torch (dropout) / brisknn (dropout)":
                    f"{torch_t[name + ' dropout'] / ours[name + ' dropout']:.1f}x"})
        rows.append(row)
    version = f"torch {torch_t['version']}" if torch_t else "torch not installed"
    print_table(f"forward + backward, float32, batch {args.batch}, {args.steps} steps, "
                f"{args.features} -> {args.units}, {args.threads} threads ({version})", rows,
                list(rows[0]))


if __name__ == "__main__":
    main()
