"""LSTM and GRU forward + backward (all weight gradients and dx) at the IMDB model's shapes,
brisknn against PyTorch's nn.LSTM / nn.GRU on the same thread count.

    python bench/bench_recurrent.py [--threads 2] [--repeats 7] [--batch 32] [--steps 200]

brisknn runs its Keras layers (forward with training=True, then backward), with and without
Keras' dropout=0.2, recurrent_dropout=0.2 (one mask per gate, fixed over the sequence).
PyTorch has no recurrent dropout: its row applies input dropout only (F.dropout on x), as an
nn.LSTM model of IMDB would. Prints medians; 'torch / brisknn' > 1 means brisknn is faster.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import brisknn  # noqa: E402
from brisknn import layers  # noqa: E402
from _timing import compare, fmt_time, print_table  # noqa: E402


def brisknn_step(layer_cls, x, units, **kwargs):
    layer = layer_cls(units, **kwargs)
    layer(x[:1])  # builds the weights
    dy = np.random.default_rng(1).normal(size=(x.shape[0], units)).astype(np.float32)

    def step():
        layer.forward(x, training=True)
        layer.backward(dy, need_dx=True)
    return step


def torch_step(module_name, x, units, dropout):
    import torch
    module = getattr(torch.nn, module_name)(x.shape[2], units, batch_first=True)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--features", type=int, default=128)
    parser.add_argument("--units", type=int, default=64)
    args = parser.parse_args()
    brisknn.set_num_threads(args.threads)
    try:
        import torch
        torch.set_num_threads(args.threads)
        have_torch = True
    except ImportError:
        have_torch = False
    x = np.random.default_rng(0).normal(size=(args.batch, args.steps, args.features))
    x = x.astype(np.float32)
    rows = []
    for name in ("LSTM", "GRU"):
        cls = getattr(layers, name)
        candidates = {
            "brisknn": brisknn_step(cls, x, args.units),
            "brisknn dropout": brisknn_step(cls, x, args.units, dropout=0.2,
                                            recurrent_dropout=0.2, seed=0),
        }
        if have_torch:
            candidates["torch"] = torch_step(name, x, args.units, 0.0)
            candidates["torch dropout"] = torch_step(name, x, args.units, 0.2)
        times = compare(candidates, repeats=args.repeats, min_time=0.2)
        row = {"layer": name,
               "brisknn": fmt_time(times["brisknn"]),
               "brisknn (dropout 0.2, rec 0.2)": fmt_time(times["brisknn dropout"])}
        if have_torch:
            row.update({
                "torch": fmt_time(times["torch"]),
                "torch (input dropout 0.2)": fmt_time(times["torch dropout"]),
                "torch / brisknn": f"{times['torch'] / times['brisknn']:.1f}x",
                "torch (dropout) / brisknn (dropout)":
                    f"{times['torch dropout'] / times['brisknn dropout']:.1f}x"})
        rows.append(row)
    print_table(f"forward + backward, float32, batch {args.batch}, {args.steps} steps, "
                f"{args.features} -> {args.units}, {args.threads} threads"
                + ("" if have_torch else " (torch not installed)"), rows, list(rows[0]))


if __name__ == "__main__":
    main()
