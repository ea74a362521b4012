"""What the line evaluates for a network with batch normalization, and the outputs along the line.

A batch-normalized network is not a function of theta alone: evaluation also needs each BN layer's mean and
variance (:class:`~minilinpath.contract.RunningStatistics`). At theta(alpha) = (1 - alpha) theta0 + alpha theta1
there are two natural choices (Lucas et al. 2021 discuss this choice):

``"recompute"`` (the default)
    the statistics of theta(alpha) itself, computed at every alpha on a set of training inputs (the whole
    training set given to the line unless ``statistics_data`` names others): the network theta(alpha) as it
    would be evaluated after re-estimating its statistics, as one does after averaging or editing weights.
    At alpha = 0 and 1 these are the ends' own training-set statistics.
``"interpolate"``
    the two ends' statistics interpolated like the weights, mean(alpha) = (1 - alpha) mean_0 + alpha mean_1 and
    var(alpha) likewise: the state beside theta carried along the line as theta is. The ends' statistics are
    ``end_statistics = (s0, s1)`` when given (e.g. the trained run's running averages for s1), else both
    recomputed on the same training inputs.

Both evaluate the network in evaluation mode with the chosen statistics, on the training and the validation
set alike (no statistics are taken from the validation set). A model without running statistics ignores all
this. :func:`output_path` samples the outputs (softmax probabilities or logits) along the line, for the Gauss
length (:func:`~minilinpath.path.metrics.gauss_length`).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..contract import EvaluatesInOnePass, RunningStatistics, check_model
from ..progress import progress_bar

STATISTICS_CHOICES = ("recompute", "interpolate")
OUTPUTS = ("softmax", "logits")


def check_statistics_choice(model, statistics: str, statistics_data, end_statistics) -> None:
    """Refuse a statistics choice the model or the arguments cannot have (ValueError, one line)."""
    if statistics not in STATISTICS_CHOICES:
        raise ValueError(f"statistics must be one of {', '.join(STATISTICS_CHOICES)}, got {statistics!r}.")
    stateful = isinstance(model, RunningStatistics)
    if not stateful and (statistics_data is not None or end_statistics is not None or statistics != "recompute"):
        raise ValueError("statistics, statistics_data and end_statistics are for models with running statistics "
                         "(batch normalization); this model has none: leave them out.")
    if end_statistics is not None and (statistics != "interpolate" or len(end_statistics) != 2):
        raise ValueError("end_statistics = (s0, s1) goes with statistics='interpolate'.")


class StatisticsOnLine:
    """The statistics a model with running statistics is evaluated with at each alpha (module docstring)."""

    def __init__(self, model, theta0, theta1, data, choice: str, end_statistics=None):
        self.model, self.data, self.choice = model, data, choice
        if choice == "interpolate":
            self.ends = end_statistics or (model.statistics_of(theta0, data), model.statistics_of(theta1, data))

    def model_at(self, theta, alpha: float):
        """The model evaluating theta = theta(alpha) with the statistics the choice gives there."""
        if self.choice == "recompute":
            return self.model.with_statistics(self.model.statistics_of(theta, self.data))
        return self.model.with_statistics(self.model.interpolate_statistics(*self.ends, alpha))


def sweep_with_statistics(model, theta0, theta1, sets, alphas, on_line: StatisticsOnLine, progress: bool) -> dict:
    """``{"J_train": ..., "error_train": ..., "J_valid": ...}``: every set evaluated at every alpha with the
    statistics ``on_line`` gives (computed once per alpha, used for every set)."""
    curves = {f"{kind}_{split}": [] for split, _ in sets for kind in ("J", "error")}
    for a in progress_bar(alphas, desc="linear path (batch norm)", enabled=progress, unit="alpha"):
        a = float(a)
        theta = (1.0 - a) * theta0 + a * theta1
        at = on_line.model_at(theta, a)
        for split, batch in sets:
            loss, error = at.evaluate(theta, batch) if isinstance(at, EvaluatesInOnePass) else \
                (at.loss(theta, batch), at.error_rate(theta, batch))
            curves[f"J_{split}"].append(loss)
            curves[f"error_{split}"].append(error)
    return {k: np.array(v) for k, v in curves.items()}


def output_path(model, theta0, theta1, X, alphas, output: str = "softmax", statistics: str = "recompute",
                statistics_data=None, end_statistics=None):
    """The outputs (K, N, C), float64 on the host, of the model at theta(alpha) for each of the K alphas on the
    inputs X: ``"softmax"`` probabilities or ``"logits"``. The model needs ``forward_eval(theta, X)`` (the
    package's classifiers); a model with running statistics is evaluated as ``statistics`` says (module
    docstring; ``statistics_data``: the inputs they are computed on, default X)."""
    check_model(model, "output_path", needs=("forward_eval",))
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}.")
    check_statistics_choice(model, statistics, statistics_data, end_statistics)
    on_line = None
    if isinstance(model, RunningStatistics):
        on_line = StatisticsOnLine(model, theta0, theta1, X if statistics_data is None else statistics_data,
                                   statistics, end_statistics)
    rows = []
    for a in alphas:
        a = float(a)
        theta = (1.0 - a) * theta0 + a * theta1
        at = model if on_line is None else on_line.model_at(theta, a)
        z = np.asarray(backend.to_numpy(at.forward_eval(theta, X)), dtype=np.float64)   # (N, C) logits
        if output == "softmax":
            z = np.exp(z - z.max(axis=1, keepdims=True))
            z /= z.sum(axis=1, keepdims=True)
        rows.append(z)
    return np.stack(rows)
