"""Slide 4: the chain rule on h(x, y, z) = exp(x^2 + y^2) * sin(z).

The slide asks sympy for the partial derivatives. Here they are written out by the chain rule
(f = exp(u) with u = x^2 + y^2, g = sin z, h = f * g):

    dh/dx = 2*x*exp(x**2 + y**2)*sin(z)
    dh/dy = 2*y*exp(x**2 + y**2)*sin(z)
    dh/dz = exp(x**2 + y**2)*cos(z)

and checked against central finite differences in plain Python, which know nothing of the
formulas: the same check brisknn's tests run on every backward pass.

    python examples/slide04_chain_rule.py [--out DIR]
"""
import argparse
import math
import os

FORMULAS = {"x": "2*x*exp(x**2 + y**2)*sin(z)", "y": "2*y*exp(x**2 + y**2)*sin(z)",
            "z": "exp(x**2 + y**2)*cos(z)"}


def h(x, y, z):
    return math.exp(x ** 2 + y ** 2) * math.sin(z)


def chain_rule(x, y, z):
    """(dh/dx, dh/dy, dh/dz): df/du = exp(u), du/dx = 2x, du/dy = 2y; dg/dz = cos z."""
    f, g = math.exp(x ** 2 + y ** 2), math.sin(z)
    return 2 * x * f * g, 2 * y * f * g, f * math.cos(z)


def central_differences(fn, point, eps=1e-6):
    grads = []
    for i in range(len(point)):
        up, down = list(point), list(point)
        up[i] += eps
        down[i] -= eps
        grads.append((fn(*up) - fn(*down)) / (2 * eps))
    return tuple(grads)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the figure (default: here)")
    args = parser.parse_args(argv)

    point = (0.5, -0.3, 1.2)
    analytic = chain_rule(*point)
    numeric = central_differences(h, point)
    print(f"At (x, y, z) = {point}:")
    worst = 0.0
    for name, a, n in zip("xyz", analytic, numeric):
        error = abs(a - n) / max(abs(a), 1e-12)
        worst = max(worst, error)
        print(f"  \u2202h/\u2202{name} = {FORMULAS[name]:<30} = {a:.8f}   "
              f"central differences: {n:.8f}   relative error {error:.1e}")
    print(f"Largest relative error: {worst:.1e}")

    import matplotlib.pyplot as plt
    from brisknn import plot
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    grid = [-1.5 + 3 * i / 60 for i in range(61)]
    for i, (axis, name) in enumerate(zip(axes, "xyz")):
        points = [tuple(v if j == i else point[j] for j in range(3)) for v in grid]
        axis.plot(grid, [chain_rule(*p)[i] for p in points], label="chain rule")
        axis.plot(grid[::4], [central_differences(h, p)[i] for p in points[::4]], "o",
                  label="central differences")
        axis.set_title(f"\u2202h/\u2202{name} = {FORMULAS[name]}", fontsize=9)
        axis.set_xlabel(name)
        axis.legend()
        axis.grid(True)
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    figure = os.path.join(args.out, "slide04_chain_rule.png")
    plot.save(fig, figure)
    print(f"Saved {figure}")
    return analytic, numeric


if __name__ == "__main__":
    main()
