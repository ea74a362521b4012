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
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

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
class Classifier(Model, Protocol):
    """A model that also reports its error rate (then J and the error are drawn together)."""

    def error_rate(self, theta, batch) -> float:
        """Fraction of misclassified examples in ``batch``."""
        ...


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
