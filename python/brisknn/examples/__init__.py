"""Runnable examples: `python -m brisknn.examples.mnist` (slide 14) and
`python -m brisknn.examples.imdb` (slide 15)."""
import argparse
import time


def parser(doc, figure):
    """The options both examples take."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--verbose", type=int, default=2)
    p.add_argument("--figure", default=figure)
    p.add_argument("--seed", type=int, default=None)
    return p


def run_for_slide(main, figure_name, argv=None):
    """The examples/slideNN scripts' entry: `--out DIR` names the figure's folder; --epochs and
    --seed are forwarded, and so is every other option (--verbose, --train-samples, ...)."""
    import os
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--out", default=".")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=None)
    args, rest = p.parse_known_args(argv)
    os.makedirs(args.out, exist_ok=True)
    forwarded = ["--epochs", str(args.epochs), "--figure", os.path.join(args.out, figure_name)]
    if args.seed is not None:
        forwarded += ["--seed", str(args.seed)]
    return main(forwarded + rest)


def seed(value):
    if value is not None:
        from brisknn import utils
        utils.set_random_seed(value)


def train_and_report(model, train, test, args, batch_size):
    """The slides' tail: fit with validation_split=0.2, print the test accuracy and the time per
    epoch, save the history figure. Returns the test accuracy."""
    start = time.perf_counter()
    history = model.fit(*train, epochs=args.epochs, batch_size=batch_size, validation_split=0.2,
                        verbose=args.verbose)
    seconds = time.perf_counter() - start
    test_loss, test_accuracy = model.evaluate(*test, verbose=0)
    print(f"Training: {seconds:.1f} s ({seconds / max(args.epochs, 1):.1f} s per epoch)")
    print(f"Test accuracy: {test_accuracy:.4f}")
    try:
        from brisknn import plot
        plot.history(history, path=args.figure)
        print(f"Saved the training history to {args.figure}")
    except ImportError as error:
        print(f"Not saving the figure: {error}")
    return test_accuracy
