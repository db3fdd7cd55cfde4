"""Runnable examples: `python -m brisknn.examples.mnist` (slide 14)."""
