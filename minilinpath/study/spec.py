"""What a study runs: a grid of settings times seeds, read from the command line, a JSON/TOML file or Python.

A study in the spirit of Lucas, Bae, Zhang, Fort, Zemel & Grosse (2021), "Analyzing Monotonic Linear
Interpolation in Neural Network Loss Landscapes": train many networks, each under one combination of
settings and one seed, and ask of each one whether J falls monotonically along the straight line from its
initial point to its solution.

Every *axis* is a list of values; the study runs every combination (the Cartesian product) with every seed::

    activation     "relu", "sigmoid", "tanh", "maxout"  (maxout: the mnist_pi network, 5 pieces per unit;
                   the others: the paper's ReLU network of mnist_valid.yaml with that activation)
    width          units per hidden layer (default: the preset's width, quick- or paper-sized by profile)
    depth          number of hidden layers (default 2, as the paper's networks)
    learning_rate  constant SGD step size (default 0.1, the starting rate of mnist_pi.yaml)
    momentum       constant momentum (default 0.5, the starting momentum of the paper's recipes)
    init_scale     multiplies every layer's init range: weights U(-s r, s r) (default 1, the paper's r)
    dropout        probability of dropping a hidden unit's output in training (default 0; inputs are kept)
    adversarial    train on the FGSM objective (Goodfellow, Shlens & Szegedy 2015) instead of the NLL
    optimizer      "sgd" (momentum SGD, the default), "adam" or "rmsprop" (by hand, :mod:`minilinpath.optim`);
                   the adaptive ones default to learning rate 0.001 (Kingma & Ba's) and ignore the momentum
    batchnorm      batch normalization before each nonlinearity (default false; not with dropout or
                   adversarial training); its line is evaluated with statistics recomputed at every alpha
    dataset        mnist, mnist-test, fashion-mnist, cifar10 or npz:PATH

Besides the axes: ``seeds`` (how many, counting up from ``first_seed``), ``epochs`` (every run trains
exactly this many), ``alphas`` (points of the line on [0, 1], both ends included), ``profile`` (``quick``:
the first 10,000 / 2,000 examples and quick-sized networks; ``paper`` or ``paper-capped``, the same here: all
of them and the paper's widths) and ``data_dir``.

:func:`expand` turns a spec into one :class:`RunSettings` per run, with every default made concrete, so the
table names the actual width, learning rate and momentum of every run.
"""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..checks import is_whole_number

ACTIVATIONS = ("relu", "sigmoid", "tanh", "maxout")
DEFAULT_LEARNING_RATE, DEFAULT_MOMENTUM = 0.1, 0.5  # one default for every network, so they compare
MAX_RUNS = 100_000  # more runs than a study could train: surely a mistake in the spec
# upper bounds of the settings that size a run's work, checked before anything starts (README, "Limits")
UPPER = {"width": 8_192, "depth": 16, "epochs": 10_000, "alphas": 10_001}  # (seeds: MAX_RUNS runs in all)
PROFILES = ("quick", "paper-capped", "paper")  # paper-capped is paper here: every run trains exactly `epochs`
# the axes, in the order a table sorts and prints them
AXES = ("dataset", "activation", "width", "depth", "learning_rate", "momentum", "init_scale", "dropout",
        "adversarial", "optimizer", "batchnorm")
OPTIMIZERS = ("sgd", "adam", "rmsprop")
DEFAULT_ADAPTIVE_LEARNING_RATE = 0.001  # Adam's and RMSProp's default (Kingma & Ba 2015)


class SpecError(ValueError):
    """A study spec that cannot run: one line saying which setting is wrong and what would work."""


@dataclass(frozen=True)
class RunSettings:
    """One run of a study: a point of the grid and a seed, every value concrete."""
    dataset: str
    activation: str
    width: int
    depth: int
    learning_rate: float
    momentum: float
    init_scale: float
    dropout: float
    adversarial: bool
    seed: int
    optimizer: str = "sgd"
    batchnorm: bool = False

    def sort_key(self) -> tuple:
        return tuple(getattr(self, name) for name in AXES) + (self.seed,)

    def label(self) -> str:
        """A short readable name, e.g. ``relu w400x2 lr0.1 mom0.5 init3 seed1``."""
        parts = [self.dataset, f"{self.activation}{'-adv' if self.adversarial else ''}",
                 f"w{self.width}x{self.depth}", f"lr{self.learning_rate:g}", f"mom{self.momentum:g}",
                 f"init{self.init_scale:g}"]
        if self.dropout:
            parts.append(f"drop{self.dropout:g}")
        if self.optimizer != "sgd":
            parts.append(self.optimizer)
        if self.batchnorm:
            parts.append("bn")
        return " ".join(parts + [f"seed{self.seed}"])


@dataclass
class StudySpec:
    """A study: lists of values per axis (``None`` in a list = the preset's default) and the run settings."""
    activation: list = field(default_factory=lambda: ["relu"])
    width: list = field(default_factory=lambda: [None])
    depth: list = field(default_factory=lambda: [2])
    learning_rate: list = field(default_factory=lambda: [None])
    momentum: list = field(default_factory=lambda: [None])
    init_scale: list = field(default_factory=lambda: [1.0])
    dropout: list = field(default_factory=lambda: [0.0])
    adversarial: list = field(default_factory=lambda: [False])
    dataset: list = field(default_factory=lambda: ["mnist"])
    optimizer: list = field(default_factory=lambda: ["sgd"])
    batchnorm: list = field(default_factory=lambda: [False])
    seeds: int = 1
    first_seed: int = 0
    epochs: int = 10
    alphas: int = 51
    profile: str = "quick"
    data_dir: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict, where: str = "the spec") -> "StudySpec":
        """A spec from a dict such as a JSON/TOML file holds; an axis may be one value or a list."""
        if not isinstance(values, dict):
            raise SpecError(f"{where} must be a table of settings (e.g. {{\"activation\": [\"relu\"]}}), "
                            f"got {type(values).__name__}.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SpecError(f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}.")
        spec = cls(**{k: (list(v) if isinstance(v, (list, tuple)) else [v]) if k in AXES else v
                      for k, v in values.items()})
        spec.check()
        return spec

    def check(self) -> None:
        """Raise SpecError (one line) for any value a run could not use; runs nothing."""
        for axis in AXES:
            values = getattr(self, axis)
            if not isinstance(values, list):  # StudySpec(dataset="mnist") in Python (from_dict makes the list)
                example = list(values) if isinstance(values, tuple) else [values]
                raise SpecError(f"{axis}: give a list of values, e.g. {axis}={example!r}, got {values!r}.")
            if not values:
                raise SpecError(f"{axis}: give at least one value.")
        _each(self.activation, "activation", lambda v: v in ACTIVATIONS, f"one of {', '.join(ACTIVATIONS)}")
        _each(self.width, "width", lambda v: v is None or _whole(v, 1), "a whole number >= 1")
        _each(self.depth, "depth", lambda v: _whole(v, 1), "a whole number >= 1")
        _each(self.learning_rate, "learning_rate", lambda v: v is None or _number(v) and v > 0, "a number > 0")
        _each(self.momentum, "momentum", lambda v: v is None or _number(v) and 0 <= v < 1, "a number in [0, 1)")
        _each(self.init_scale, "init_scale", lambda v: _number(v) and v > 0, "a number > 0")
        _each(self.dropout, "dropout", lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)")
        _each(self.adversarial, "adversarial", lambda v: isinstance(v, bool), "true or false")
        _each(self.dataset, "dataset", lambda v: isinstance(v, str) and v != "", "a data set name")
        _each(self.optimizer, "optimizer", lambda v: v in OPTIMIZERS, f"one of {', '.join(OPTIMIZERS)}")
        _each(self.batchnorm, "batchnorm", lambda v: isinstance(v, bool), "true or false")
        if True in self.batchnorm and (any(self.dropout) or True in self.adversarial):
            raise SpecError("batchnorm = true runs without dropout and adversarial training; give dropout [0] and "
                            "adversarial [false] with it, or run those in another study.")
        for name, lowest in (("seeds", 1), ("first_seed", 0), ("epochs", 1), ("alphas", 3)):
            if not _whole(getattr(self, name), lowest):
                raise SpecError(f"{name} must be a whole number >= {lowest}, got {getattr(self, name)!r}.")
        # a whole 3.0 (a TOML or JSON file may hold one) is stored as the int 3: the same runs, folders and table
        self.width = [None if v is None else int(v) for v in self.width]
        self.depth = [int(v) for v in self.depth]
        for name in ("seeds", "first_seed", "epochs", "alphas"):
            setattr(self, name, int(getattr(self, name)))
        _check_upper_bounds(self)
        if self.profile not in PROFILES:
            raise SpecError(f"profile must be one of {', '.join(PROFILES)}, got {self.profile!r}.")
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            raise SpecError(f"data_dir must be a folder name, got {self.data_dir!r}.")
        for axis in AXES:  # a repeated value would run the same runs twice
            values = getattr(self, axis)
            if len(set(values)) != len(values):  # (1 and 1.0 are the same value)
                raise SpecError(f"{axis}: the values {values} repeat one; give each once.")


def _check_upper_bounds(spec: StudySpec) -> None:
    """SpecError (one line) for a setting above its bound in :data:`UPPER` (a typo such as alphas = 100000000
    would fill the memory before the first run ended)."""
    for name, highest in UPPER.items():
        values = getattr(spec, name)
        for v in values if isinstance(values, list) else [values]:
            if v is not None and v > highest:
                raise SpecError(f"{name} = {v:,} is more than {highest:,}, the most a study takes; give a smaller "
                                "value.")


def _whole(v, lowest: int) -> bool:
    """The package's one whole-number rule (:func:`minilinpath.checks.is_whole_number`: 3 and 3.0, not 2.5 or
    True), at least ``lowest``."""
    return is_whole_number(v) and v >= lowest


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _each(values, axis: str, ok, what: str) -> None:
    for v in values:
        if not ok(v):
            raise SpecError(f"{axis}: {v!r} is not {what}.")


def read_spec(path) -> StudySpec:
    """A spec from a ``.json`` or ``.toml`` file (the keys of :class:`StudySpec`)."""
    path = Path(path).expanduser()
    if path.suffix not in (".json", ".toml"):
        raise SpecError(f"{path}: a study spec is a .json or .toml file.")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read the study spec {path}: {exc.strerror or exc}.") from None
    if path.suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            raise SpecError(f"{path}: reading TOML needs Python 3.11 or later; write the spec as JSON.") from None
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"{path} is not valid TOML ({exc}).") from None
    else:
        try:
            values = json.loads(text)
        except ValueError as exc:
            raise SpecError(f"{path} is not valid JSON ({exc}).") from None
    return StudySpec.from_dict(values, where=str(path))


def preset_for(activation: str) -> str:
    """The paper's network a run starts from: mnist_pi for maxout, the ReLU network (relu) for the others."""
    return "mnist_pi" if activation == "maxout" else "relu"


def expand(spec: StudySpec) -> list:
    """One :class:`RunSettings` per run (every combination of the axes, every seed), sorted, defaults filled in."""
    from .. import models

    spec.check()
    n_runs = math.prod(len(getattr(spec, axis)) for axis in AXES) * spec.seeds
    if n_runs > MAX_RUNS:  # counted before anything is made: a typo such as seeds = 1000000000 would hang here
        raise SpecError(f"the study has {n_runs} runs (every combination of the values times {spec.seeds} seeds), "
                        f"more than {MAX_RUNS}; give fewer values or seeds (or split it into several studies).")
    runs = []
    for combo in itertools.product(*(getattr(spec, axis) for axis in AXES)):
        values = dict(zip(AXES, combo))
        preset = preset_for(values["activation"])
        if values["width"] is None:
            sizes = models.QUICK_SIZES[preset] if spec.profile == "quick" else models.PRESETS[preset]["hidden"]
            values["width"] = int(sizes[0])
        default_lr = DEFAULT_LEARNING_RATE if values["optimizer"] == "sgd" else DEFAULT_ADAPTIVE_LEARNING_RATE
        values["learning_rate"] = float(default_lr if values["learning_rate"] is None else values["learning_rate"])
        values["momentum"] = float(DEFAULT_MOMENTUM if values["momentum"] is None else values["momentum"])
        values["init_scale"], values["dropout"] = float(values["init_scale"]), float(values["dropout"])
        for seed in range(spec.first_seed, spec.first_seed + spec.seeds):
            runs.append(RunSettings(**values, seed=seed))
    if len(set(runs)) != len(runs):  # e.g. width [null, 400] where the preset's width is 400
        raise SpecError("two entries of the spec name the same runs (a default equals a value given); "
                        "give each value once.")
    return sorted(runs, key=RunSettings.sort_key)
