"""The model contract, written down: what an object must have for the path, plane and curvature tools.

Every analysis in :mod:`minilinpath.path` treats a model as a pure function
of one flat parameter vector theta. A model of your own works with all of
them if it keeps this contract (see ``docs/own_model.py`` for one written
from scratch):

- ``layout``: a :class:`minilinpath.params.Layout`, the table name -> (offset,
  shape) of theta (``layout.size`` parameters; ``layout.check(theta)`` raises
  for a vector of the wrong length or dtype);
- ``loss(theta, batch) -> float``: the mean objective on ``batch``, deterministic;
- ``loss_and_grad(theta, batch, rng=None) -> (float, grad)``: the same mean
  and its gradient, a flat array like theta (needed by the curvature tools and
  by training);
- optionally ``error_rate(theta, batch) -> float`` (classifiers): the fraction
  of misclassified examples, drawn beside J when present.

:class:`Model` is this contract as a :class:`typing.Protocol` (for type
checkers and ``isinstance``). :func:`check_model` is what the tools call up
front: it names, in one line, everything that is missing or of the wrong kind,
instead of an ``AttributeError`` from deep inside a sweep.

Optional abilities
------------------
Beyond those names a model may offer more, and the tools use it when it does.
Each ability is a :class:`typing.Protocol` below (runtime-checkable: a model
has the ability when it has every name the protocol lists; nothing needs to
inherit from it). A tool asks ``isinstance(model, Ability)`` once, where it
decides how to compute, never ``hasattr`` at each use:

- :class:`ErrorRate` (``error_rate``): the error curves beside J (the line, the
  plane, the curves);
- :class:`EvaluatesInOnePass` (``evaluate`` -> (J, error)): one pass instead of
  two (the line's plain sweep, the curves, the trainer's validation);
- :class:`ChecksBatch` (``check_batch``): the fast sweeps refuse a bad batch
  with the model's own message before computing (they never call ``loss``);
- :class:`EvaluationChunks` (``evaluation_chunk``): the default chunk of
  examples of the line and the plane;
- :class:`FirstLayerSweep` (``first_layer_weights``, ``first_linear``,
  ``first_bias``, ``evaluate_from_first_output``, ``error_rate``): the
  first-layer trick of the line and the plane
  (:mod:`minilinpath.path.first_layer`);
- :class:`PairedFirstLinear` (``first_linear_pair``): the line's two products
  of a chunk in one pass;
- :class:`DropoutMasks` (``uses_dropout``, ``draw_masks``, ``drop_input``):
  the line's Monte Carlo dropout sweep (``mc_samples``);
- :class:`LineChunkSweep` (``evaluate_line_chunk``): the model's own loop over
  alpha for one chunk of the line;
- :class:`LineParameters` (``line_parameters``, ``line_parameter_bytes``,
  ``eval_bytes_per_example``, and ``evaluate_line_chunk(..., on_line=)``): the
  line's later layers built once per sweep instead of once per chunk;
- :class:`FixedEvaluationBytes` (``eval_fixed_bytes``): what the line leaves
  out of the memory budget before building those;
- :class:`Constrained` (``constrain``) and :class:`ScaledLearningRates`
  (``lr_scales``): the trainer and the curves' training;
- :class:`ExactHessian` (``hessian_vector_product``): the curvature tools;
- :class:`RunningStatistics` (``statistics``, ``fresh_statistics``,
  ``update_statistics``, ``loss_grad_and_statistics``, ``statistics_of``,
  ``with_statistics``, ``interpolate_statistics``): evaluation depends on state
  beside theta (batch normalization's running means and variances); the
  trainer keeps and saves that state, the line chooses it at every alpha.

A model without an ability gets the general route (e.g. ``model.loss`` at
every point instead of the first-layer trick): the same numbers to rounding,
only slower. Having an ability means keeping its whole signature: a model
with :class:`LineParameters` is handed ``evaluate_line_chunk(...,
on_line=...)``, and one whose ``evaluate_line_chunk`` takes no ``on_line``
gets Python's TypeError naming it.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .params import Layout


class ContractError(TypeError):
    """An object does not keep the model contract (the message names what is missing)."""


@runtime_checkable
class Model(Protocol):
    """What :func:`~minilinpath.path.linear_path`, the planes and the curvature tools need of a model."""

    layout: Layout

    def loss(self, theta, batch) -> float:
        """Mean objective on ``batch`` at the flat parameters ``theta`` (deterministic)."""
        ...

    def loss_and_grad(self, theta, batch, rng=None):
        """``(mean objective, flat gradient like theta)``."""
        ...


@runtime_checkable
class ErrorRate(Protocol):
    """The error rate beside J (classifiers): the line, the plane and the curves then give error curves too."""

    def error_rate(self, theta, batch) -> float:
        """Fraction of misclassified examples in ``batch``."""
        ...


@runtime_checkable
class Classifier(Model, ErrorRate, Protocol):
    """A model that also reports its error rate (then J and the error are drawn together)."""


# ------------------------------------------------------------ optional abilities, declared once
# A tool that can use more than the three names above asks with ``isinstance(model, Ability)`` (each is a
# runtime-checkable Protocol: the object has every name listed), never with hasattr/getattr of its own.


@runtime_checkable
class EvaluatesInOnePass(Protocol):
    """Loss and error rate in one pass over the data (the trainer's validation, the plain sweep)."""

    def evaluate(self, theta, batch) -> tuple:
        """``(mean objective, error rate)`` on ``batch``."""
        ...


@runtime_checkable
class Constrained(Protocol):
    """A constraint applied to theta after every update (the MLPs' max column norms)."""

    def constrain(self, theta) -> None:
        """Project theta onto the allowed set, in place."""
        ...


@runtime_checkable
class ScaledLearningRates(Protocol):
    """Per-parameter multipliers of the learning rate (pylearn2's W_lr_scale / b_lr_scale)."""

    def lr_scales(self, xp, dtype):
        """A flat array like theta of learning-rate multipliers, or None for all ones."""
        ...


@runtime_checkable
class ExactHessian(Protocol):
    """An exact Hessian-vector product (the curvature tools use it instead of central differences)."""

    def hessian_vector_product(self, theta, batch, v):
        """H(theta) v, a flat array like theta, for the deterministic objective on ``batch``."""
        ...


@runtime_checkable
class RunningStatistics(Protocol):
    """Evaluation needs state that is not in theta: batch normalization's means and variances per layer.

    The statistics are a dict of arrays (``{"h0.mean": ..., "h0.var": ...}``). The trainer starts from
    :meth:`fresh_statistics`, folds each minibatch's statistics in (:meth:`update_statistics`) and saves them
    beside theta in the run folder; the linear path evaluates theta(alpha) with statistics it chooses
    (recomputed at alpha with :meth:`statistics_of`, or the ends' interpolated).
    """

    statistics: object   # what evaluation uses now: a dict, or None for each evaluated set's own

    def fresh_statistics(self, xp, dtype) -> dict:
        """The statistics before training."""
        ...

    def update_statistics(self, running: dict, batch: dict) -> None:
        """Fold one minibatch's statistics into the running ones, in place."""
        ...

    def loss_grad_and_statistics(self, theta, batch, rng=None, out=None) -> tuple:
        """``(loss, grad, statistics of this batch)``: one training step's objective, gradient and statistics."""
        ...

    def statistics_of(self, theta, X) -> dict:
        """The statistics of the whole of X as one batch at theta."""
        ...

    def with_statistics(self, statistics):
        """A copy of the model that evaluates with ``statistics``."""
        ...

    def interpolate_statistics(self, s0: dict, s1: dict, alpha: float) -> dict:
        """(1 - alpha) s0 + alpha s1, entry by entry."""
        ...


@runtime_checkable
class ChecksBatch(Protocol):
    """The model's own batch check, which the fast sweeps run first (they never call ``loss``, which would)."""

    def check_batch(self, theta, X, y=None) -> None:
        """Raise ValueError or TypeError, naming the problem, unless theta and ``(X, y)`` fit the model."""
        ...


@runtime_checkable
class EvaluationChunks(Protocol):
    """How many examples one evaluation pass may take: the default chunk of the line's and the plane's sweeps."""

    def evaluation_chunk(self, dtype) -> int:
        """Examples per pass for parameters of ``dtype``, within the evaluation memory budget."""
        ...


@runtime_checkable
class FirstLayerSweep(ErrorRate, Protocol):
    """The first-layer trick of the line and the plane (:mod:`minilinpath.path.first_layer`).

    The model starts with a layer whose linear part is linear in its weights (X W, or conv(X, W)), so the
    sweeps compute that part once per chunk for a few weight arrays, combine the products at every point,
    and run only the rest of the network there.
    """

    first_layer_weights: str   # the layout name of the first layer's weights, e.g. "h0.W"

    def first_linear(self, X, W):
        """The first layer's linear part on X with weights W (no bias), in the model's evaluation layout."""
        ...

    def first_bias(self, theta, z_linear):
        """The first layer's output from its linear part: z_linear + b, b read from theta."""
        ...

    def evaluate_from_first_output(self, theta, z0, y, masks=None) -> tuple:
        """``(sum of NLL, number of errors)`` over a chunk whose first layer's output z0 is given (z0 may be
        overwritten); ``masks``: dropout masks of the later layers, or None for the deterministic network."""
        ...


@runtime_checkable
class PairedFirstLinear(Protocol):
    """Both ends' first-layer products in one pass (the conv net: one convolution with both kernel sets)."""

    def first_linear_pair(self, X, W0, W1) -> tuple:
        """``(first_linear(X, W0), first_linear(X, W1))``."""
        ...


@runtime_checkable
class DropoutMasks(Protocol):
    """Dropout masks the line may draw and reuse at every alpha (``linear_path(..., mc_samples=k)``)."""

    uses_dropout: bool   # False: the model has no dropout, and a Monte Carlo sweep is refused

    def draw_masks(self, rng, n_examples, dtype):
        """The masks of every layer that drops, for ``n_examples`` examples, drawn from ``rng``."""
        ...

    def drop_input(self, X, masks=None):
        """The input as the first layer sees it under ``masks`` (X itself when the input does not drop)."""
        ...


@runtime_checkable
class LineChunkSweep(Protocol):
    """The model's own loop over alpha for one chunk of the line's deterministic fast sweep."""

    def evaluate_line_chunk(self, theta0, theta1, Z0, Z1, alphas, y) -> tuple:
        """``(NLL sums, error counts)``, one per alpha, over a chunk whose first-layer outputs at the two ends
        (bias included) are Z0 and Z1."""
        ...


@runtime_checkable
class LineParameters(LineChunkSweep, Protocol):
    """The layers after the first at every alpha, built once per sweep and handed to every chunk.

    Having this ability means :meth:`evaluate_line_chunk` takes the keyword ``on_line`` (what
    :meth:`line_parameters` built); the sweep passes it when :meth:`line_parameter_bytes` fit in what the
    memory budget leaves beside one chunk (``eval_bytes_per_example`` times the chunk, plus
    :class:`FixedEvaluationBytes`).
    """

    def evaluate_line_chunk(self, theta0, theta1, Z0, Z1, alphas, y, on_line=None) -> tuple:
        """As :meth:`LineChunkSweep.evaluate_line_chunk`, the later layers taken from ``on_line`` when given."""
        ...

    def line_parameters(self, theta0, theta1, alphas):
        """Every layer after the first at each alpha."""
        ...

    def line_parameter_bytes(self, n_alphas: int, dtype) -> int:
        """Bytes :meth:`line_parameters` keeps for ``n_alphas`` alphas."""
        ...

    def eval_bytes_per_example(self, dtype) -> int:
        """Bytes of temporaries one example of an evaluation pass takes."""
        ...


@runtime_checkable
class FixedEvaluationBytes(Protocol):
    """Evaluation temporaries that do not grow with the chunk (the conv net's im2col blocks)."""

    eval_fixed_bytes: int


def fixed_evaluation_bytes(model) -> int:
    """``model.eval_fixed_bytes`` when the model declares it (:class:`FixedEvaluationBytes`), else 0."""
    return int(model.eval_fixed_bytes) if isinstance(model, FixedEvaluationBytes) else 0


def model_name(model) -> str:
    """The label a result records for ``model``: its ``name`` when it has one (the package's models and
    presets do), else its class name."""
    return getattr(model, "name", type(model).__name__)  # a label only: any object may be analysed


def checked_loss(value, model, method: str = "loss"):
    """``value``, unchanged, when it is what ``model.<method>`` must return: one real number (a Python or NumPy
    number, or a 0-d array of one, as CuPy's sums are); else :class:`ContractError` naming the type returned
    (a string, a list, an array of many values would otherwise fail deep inside NumPy, or not at all)."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return value
    dtype, ndim = getattr(value, "dtype", None), getattr(value, "ndim", None)
    if ndim == 0 and getattr(dtype, "kind", None) in ("i", "u", "f"):
        return value
    shown = f"{type(value).__name__}" + (f" of shape {value.shape} and dtype {dtype}" if ndim is not None else "")
    raise ContractError(f"{type(model).__name__}.{method} returned a {shown} ({_short(value)}); it must return one "
                        "real number, the mean objective on the batch (see minilinpath.contract).")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_model(model, where: str, needs=("loss",)) -> None:
    """Raise :class:`ContractError` (one line) unless ``model`` has ``layout`` and every method in ``needs``.

    ``where`` names the tool that asks (it starts the message), e.g.
    ``check_model(model, "linear_path")`` or
    ``check_model(model, "hessian_eigenvalues", needs=("loss_and_grad",))``.
    """
    problems = []
    layout = getattr(model, "layout", None)
    if layout is None:
        problems.append("`layout` (a minilinpath.params.Layout of the flat parameters) is missing or None")
    elif not isinstance(layout, Layout):
        problems.append(f"`layout` is a {type(layout).__name__}, not a minilinpath.params.Layout "
                        "(build one with Layout([(name, shape), ...]))")
    for name in needs:
        if not callable(getattr(model, name, None)):
            problems.append(f"`{name}` is missing or not callable")
    if problems:
        raise ContractError(f"{where}: {type(model).__name__} does not keep the model contract: "
                            f"{'; '.join(problems)} (see minilinpath.contract).")
