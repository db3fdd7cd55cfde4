"""The training step of a Sequential made of Dense layers only, with its Python cut down to two
calls.

An MLP's step is a few kernel calls (784-128-10 at batch 128: ~300 us together); the general
step adds ~60 us of Python between them (a forward and a backward method per layer, masks,
fresh output arrays, the loss helper, the optimizer's argument list), slowed by the caches each
GEMM empties. Here the forward pass, the loss and the backward pass are one C++ call
(_core.DenseChain, which checks the layers' arrays and a batch shape's buffers once) making the
same kernel calls with the same arguments in the same order, so the results are the same bits;
then the optimizer steps with its argument list built once. Nothing it reuses leaves the step:
the model's own output buffer is read by the metrics and dropped.
"""
from brisknn import _core, activations
from brisknn.layers.core import Dense

import numpy as np

_MAX_SHAPES = 4  # batch shapes with buffers kept (fit's full batches, its last, evaluate's)


class DenseStep:
    """Made by `prepare` for a model it can run; valid while `key` is what it was made with."""

    def __init__(self, model, apply):
        last = len(model._layers) - 1
        self.layers = []
        for i, layer in enumerate(model._layers):
            logits = i == last and model._fused is not None
            act = "linear" if logits else layer.activation_name
            self.layers.append((layer.kernel.value, layer.bias.value if layer.use_bias else None,
                                layer.kernel.grad, layer.bias.grad if layer.use_bias else None,
                                act, layer.activation_alpha))
        self.units = [layer.units for layer in model._layers]
        self.loss = model.loss
        self.from_logits = model.loss.from_logits or model._fused is not None
        self.apply = apply
        self.chains = {}

    @staticmethod
    def key(model):
        """What the prepared state depends on beyond the layers and the loss (those change only
        through compile, add and pop, which drop the step). The weights' regularizers are read
        as values: as in Keras 3, `variable.regularizer = L2(...)` (or a new `l2` on the one it
        has) counts from the next step, and the prepared argument list holds their l1 and l2."""
        opt = model.optimizer
        return (model._trainable_seen, id(opt), id(opt._slots), opt._static_config(),
                [None if (reg := v.regularizer) is None else (reg.l1, reg.l2)
                 for v in model._stepped],
                # a layer's activity_regularizer, settable as in Keras 3, rules the step out
                [layer.activity_regularizer is None for layer in model._layers])

    @classmethod
    def prepare(cls, model):
        """A step for `model`, or None if it is not a chain of exact Dense layers whose weights
        are all stepped, with activations the kernels apply, a loss with a C++ kernel, and an
        optimizer step that is one kernel call."""
        layers = model._layers
        if not all(type(layer) is Dense and layer.dtype == model.dtype and
                   layer.activity_regularizer is None for layer in layers) or \
                model._unstepped or model.loss.kernel is None or \
                getattr(model.loss, "ignore_class", None) is not None or \
                model._loss_weight != 1.0:  # a loss in NumPy, a mask, a weight
            return None
        weights = [w for layer in layers for w in layer.weights]
        if len(weights) != len(model._stepped) or any(
                a is not b for a, b in zip(weights, model._stepped)):
            return None
        last = len(layers) - 1
        if any(layer.activation_name in activations.INPUT_DERIVATIVE and
               not (i == last and model._fused is not None) for i, layer in enumerate(layers)):
            return None  # applied in a separate call (see _ActivationMixin)
        apply = model.optimizer._prepared_apply(model._stepped)
        return None if apply is None else cls(model, apply)

    def _chain(self, x):
        """The C++ chain for x's shape (brisknn._core.DenseChain: the layers' arrays and this
        shape's buffers, checked once) and the model's output."""
        entry = self.chains.get(x.shape)
        if entry is None:
            if len(self.chains) >= _MAX_SHAPES:
                self.chains.clear()
            rows = x.shape[0]
            outs = [np.empty((rows, u), dtype=x.dtype) for u in self.units]
            # The gradient with respect to each layer's input; the first layer needs none.
            dxs = [None] + [np.empty_like(out) for out in outs[:-1]]
            per_sample, grad = np.empty(rows, dtype=x.dtype), np.empty_like(outs[-1])
            layers = [(w, b, dw, db, y, dx, act, alpha)
                      for (w, b, dw, db, act, alpha), y, dx in zip(self.layers, outs, dxs)]
            chain = _core.DenseChain(layers, per_sample, grad, self.loss.kernel,
                                     self.from_logits, 1.0 / rows)
            entry = self.chains[x.shape] = (chain, outs[-1])
        return entry

    def ready(self, x, y, dtype):
        """Whether arrays x and y need none of train_on_batch's conversions and pass its
        checks: of the model's dtype, x of a shape a chain was made for (the model accepted
        it), and what that chain takes as it is (DenseChain.accepts; that x is finite, the
        first product tells)."""
        entry = self.chains.get(x.shape) if x.dtype is dtype else None
        return entry is not None and entry[0].accepts(x, y)

    def run(self, x, y, check_x):
        """One step on a 2-D x and prepared y: returns (loss + penalty, the model's output).
        check_x(x) runs when the first product was not finite (it raises if x was not)."""
        chain, out = self._chain(x)
        y = self.loss.smooth(y)
        total = chain.run(x, y, check_x is not None)
        if total is None:
            check_x(x)  # x was finite (an inf in the weights): the step goes on, as Keras'
            total = chain.run(x, y, False)
        return total / x.shape[0] + self.apply(), out
