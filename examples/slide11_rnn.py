"""Slide 11: the hidden states of a SimpleRNN over 5 time steps.

A brisknn SimpleRNN(4, return_sequences=True) reads a sequence of 5 random 3-vectors; its output
is the hidden state after each step, h_t = tanh(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias),
which is checked against that formula in NumPy with the layer's own weights (get_weights returns
them in Keras' order: kernel (3, 4), recurrent_kernel (4, 4), bias (4,)). The slide scales its
random weights by 0.01, which leaves every state near 0; the layer's Keras initializers (Glorot
uniform, orthogonal) give states worth plotting.

    python examples/slide11_rnn.py [--out DIR] [--seed N]
"""
import argparse
import os

import numpy as np

from brisknn import plot, utils
from brisknn.layers import Input
from brisknn.models import Sequential


def hidden_states_reference(inputs, kernel, recurrent_kernel, bias):
    """The slide's loop, in Keras' row-vector layout."""
    h = np.zeros(kernel.shape[1])
    states = []
    for x in inputs:
        h = np.tanh(x @ kernel + h @ recurrent_kernel + bias)
        states.append(h)
    return np.array(states)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the figure (default: here)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    utils.set_random_seed(args.seed)
    from brisknn.layers import SimpleRNN  # the recurrent layers live in their own module

    inputs = np.random.default_rng(args.seed).standard_normal((1, 5, 3)).astype(np.float32)
    model = Sequential([Input(shape=(5, 3)), SimpleRNN(4, return_sequences=True, name="rnn")])
    states = model.predict(inputs, verbose=0)[0]  # (steps, units)
    expected = hidden_states_reference(inputs[0], *model.get_layer("rnn").get_weights())
    difference = float(np.abs(states - expected).max())
    print("Hidden states (one row per time step):")
    print(np.array2string(states, precision=4, suppress_small=True))
    print(f"Max difference from the NumPy recurrence: {difference:.1e}")

    os.makedirs(args.out, exist_ok=True)
    figure = os.path.join(args.out, "slide11_rnn.png")
    plot.hidden_states(states, path=figure)
    print(f"Saved {figure}")
    return states, expected


if __name__ == "__main__":
    main()
