"""Side-by-side timing: candidates run interleaved, round after round, so load on this shared
machine hits them alike; we report medians.

OpenMP (ours) and OpenBLAS (NumPy's) thread pools spin-wait after their work (OpenBLAS for up to
~0.1 s), taking a core from whoever runs next. So after each candidate's block we pause until
the spinning has stopped, and each block starts with one untimed call that wakes its own pool."""
import time

import numpy as np


SETTLE = 0.15  # seconds: longer than OpenBLAS' default thread timeout (2^28 cycles)


def compare(candidates, repeats=15, min_time=0.05):
    """candidates: {name: zero-argument callable}. Returns {name: median seconds per call}."""
    calls = {}
    for name, fn in candidates.items():  # warm up, and pick a call count per round
        once = []
        for _ in range(5):
            start = time.perf_counter()
            fn()
            once.append(time.perf_counter() - start)
        # The fastest call: a first call can stall for milliseconds while this VM wakes a core.
        calls[name] = max(1, int(min_time / max(min(once), 1e-7)))
    samples = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            n = calls[name]
            fn()
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n)
            time.sleep(SETTLE)
    return {name: float(np.median(s)) for name, s in samples.items()}


def fmt_time(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def print_table(title, rows, columns):
    """rows: list of dicts with the keys in columns."""
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print(f"\n### {title}\n")
    print("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(r[c]).ljust(w) for c, w in zip(columns, widths)) + " |")
