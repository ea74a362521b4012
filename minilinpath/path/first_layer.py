"""The first-layer trick, one fast path for the linear path and the planes.

A model that starts with a linear layer (dense, X W; or convolutional, conv(X, W)) has a first layer whose
linear part is linear in the weights. Along a line and on a plane the weights are combinations of a few fixed
arrays, so the first layer's linear part is the same combination of a few products::

    line:   W(alpha) = (1 - alpha) W0 + alpha W1      X W(alpha) = (1 - alpha) X W0 + alpha X W1
    plane:  W(a, b)  = W_o + a D_1 + b D_2            X W(a, b)  = X W_o + a X D_1 + b X D_2

For each chunk of examples the products (X W0, X W1; or X W_o, X D_1, X D_2) are computed once, the
expensive part, and combined at every point of the grid; only the rest of the network runs per point.

What the line (:mod:`.linear`) and the plane (:mod:`.plane`) share is here:

- :func:`sweep_chunk_size`: how many examples one pass takes (the model's own evaluation chunk);
- :class:`FirstLayer`: the first layer's weights inside a few flat vectors, and their products with one chunk;
- :class:`ProductChunks`: the products of every chunk of a data set, kept from one grid row to the next
  while they fit a byte budget;
- :func:`evaluate_from_first_output`: one point's (NLL sum, error count) from the first layer's output.

How the products become the first layer's output at one point is the line's and the plane's own (the line
adds the bias at both ends first and mixes the two outputs; the plane mixes the three linear parts and adds
the bias at the point): each keeps its order of operations, so each gives the numbers it always gave.

The model needs the :class:`~minilinpath.contract.FirstLayerSweep` ability (and, for a Monte Carlo sweep,
:class:`~minilinpath.contract.DropoutMasks`; :class:`~minilinpath.contract.PairedFirstLinear` is used when
present).
"""
from __future__ import annotations

from ..contract import EvaluationChunks, PairedFirstLinear

DEFAULT_CHUNK = 10_000  # examples per pass for a model that does not say (no evaluation_chunk)


def sweep_chunk_size(model, dtype) -> int:
    """Examples per pass: the model's own ``evaluation_chunk(dtype)`` (the chunks of ``model.loss``, within the
    memory budget), or :data:`DEFAULT_CHUNK` for a model without one."""
    if isinstance(model, EvaluationChunks):
        return int(model.evaluation_chunk(dtype))
    return DEFAULT_CHUNK


class FirstLayer:
    """The first layer's weights inside a few flat vectors (e.g. a line's two ends, or a plane's origin and
    directions), and their products with a chunk of data.

    Whether the model computes two products in one pass (:class:`~minilinpath.contract.PairedFirstLinear`,
    the conv net: one convolution with both kernel sets stacked, a single im2col of X) is asked once, here.
    """

    def __init__(self, model, thetas):
        name = model.first_layer_weights
        self.model = model
        self.weights = tuple(model.layout.unflatten(theta)[name] for theta in thetas)   # views, e.g. (W0, W1)
        self.paired = len(self.weights) == 2 and isinstance(model, PairedFirstLinear)

    def products(self, X, masks=None) -> tuple:
        """The first layer's linear part on one chunk X for each weight array: ``(X W for W in weights)``.

        With ``masks`` (a Monte Carlo dropout sweep) X is first dropped as the first layer sees it
        (``model.drop_input``)."""
        if masks is not None:
            X = self.model.drop_input(X, masks)
        if self.paired:
            return self.model.first_linear_pair(X, *self.weights)
        return tuple(self.model.first_linear(X, W) for W in self.weights)


def evaluate_from_first_output(model, theta, first_output, y, masks=None) -> tuple:
    """``(sum of NLL, number of errors)`` over one chunk at ``theta``, given the first layer's output there
    (bias included): the rest of the network only. ``first_output`` may be overwritten."""
    return model.evaluate_from_first_output(theta, first_output, y, masks)


class ProductChunks:
    """The first-layer products (:class:`FirstLayer`) of every chunk of one data set ``(X, y)``.

    :meth:`chunks` yields ``(products, y_chunk)`` chunk by chunk. The products are kept for the next call
    (the next grid row) as long as all of them fit in ``cache_bytes``; once one does not, nothing more is
    kept and every call computes them again (the same bytes either way).
    """

    def __init__(self, first: FirstLayer, batch, chunk_size: int, cache_bytes: int):
        self.first, self.batch, self.chunk = first, batch, chunk_size
        self.cache_bytes, self.cache, self.keep = cache_bytes, {}, True

    def chunks(self):
        X, y = self.batch
        for start in range(0, X.shape[0], self.chunk):
            if start in self.cache:
                yield self.cache[start]
                continue
            item = (self.first.products(X[start:start + self.chunk]), y[start:start + self.chunk])
            self._maybe_keep(start, item)
            yield item

    def _maybe_keep(self, start: int, item) -> None:
        """Keep ``item`` for the next call if everything kept so far and it fit in the budget; else keep nothing."""
        if not self.keep:
            return
        used = sum(int(p.nbytes) for (products, _) in self.cache.values() for p in products)
        if used + sum(int(p.nbytes) for p in item[0]) <= self.cache_bytes:
            self.cache[start] = item
        else:
            self.keep, self.cache = False, {}
