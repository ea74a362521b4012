"""Trained models for the figures, cached by (model, objective, seed, profile, data set).

Three profiles:

- ``paper``: the presets and recipes exactly as the pylearn2 yaml files
  (docs/CONFIGS.md sections 1-2, 5): early stopping on the 50,000 / 10,000 split,
  the schedules, and, for the maxout network, the second stage on all 60,000
  examples. Hours on a CPU; a GPU is advised.
- ``quick``: the ``*_quick`` presets (same kinds of networks, narrower), on
  the first 10,000 training and 2,000 validation examples (``mnist-test``:
  its 8,000 / 2,000). The MLPs train with the paper's schedules compressed in
  time and early stopping (``train.QUICK_RECIPES``, where the reasons and the
  measurements are), the other networks with the paper's schedules cut at 30
  epochs. Minutes on a 2-core CPU.
- ``paper-capped``: the paper's networks, data split and schedules, but at most
  ``PAPER_CAPPED_EPOCHS`` epochs (stage 2 of the maxout network at most
  ``PAPER_CAPPED_STAGE2_EPOCHS``). Early stopping with the paper's patience of 100
  epochs runs for days on a CPU; this profile is the paper's run cut short, to
  see on a CPU in an hour or two whether a claim appears at the paper's sizes
  and initial scales. Its learning-rate and momentum schedules are the paper's,
  so at the cap the momentum is still rising: it is an early stretch of the
  paper's run, not a shortened schedule.

A trained model is kept in ``<runs>/<data set>/<model>[-adv]-seed<N>-<profile>-<fingerprint>/``
(``<runs>`` is ``--runs-dir``, ``$MINILINPATH_RUNS`` or ``~/.cache/minilinpath/runs``; the fingerprint is
the first 12 hex digits of the SHA-256 of everything the run depends on, the data's *content* included, see
:mod:`minilinpath.runs`). Every figure that needs the same run reuses it; a change in the data, the settings
or the code's options is another folder, so another run; an interrupted training resumes; a figure command
that finds the run being trained by another process waits for it.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import backend, models
from .adversarial import fgsm_objective
from .data import DataError, cache_dir, load_dataset
from .optim import ExponentialDecay
from .runs import fingerprint
from .train import Recipe, describe_run, recipe_for, train
from .train_lm import describe_lm_run, lm_recipe_for, train_language_model

PROFILES = ("quick", "paper-capped", "paper")
PAPER_CAPPED_EPOCHS = 60  # 10-20 minutes per MLP on one idle core of a 2-core CPU (Fashion-MNIST, 50k/10k)
PAPER_CAPPED_STAGE2_EPOCHS = 10
QUICK_SIZES = (10_000, 2_000)  # training and validation examples in the quick profile
# mnist_pi_continued.yaml (docs/CONFIGS.md section 1): stage 2 on all 60,000 examples
STAGE2_RECIPE = Recipe(batch_size=100, learning_rate=0.0615082606673, lr_schedule=ExponentialDecay(1.000004, 1e-6),
                       momentum=0.694376766682, momentum_schedule=None, max_epochs=10_000, patience=None)


def runs_root(runs_dir=None) -> Path:
    if runs_dir is not None:
        return Path(runs_dir).expanduser()
    env = os.environ.get("MINILINPATH_RUNS")
    return Path(env).expanduser() if env else cache_dir() / "runs"


def dataset_key(name: str) -> str:
    """A folder name for a data set; a user's npz file is named by its content's MD5 alone, so the same
    file under another name or in another folder finds the same runs."""
    if name.startswith("npz:"):
        path = Path(name[4:]).expanduser()
        return f"npz-{hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()[:12]}"
    return name


def preset_name(model_name: str, profile: str) -> str:
    """The model preset a profile trains: ``<name>_quick`` for quick, the paper's ``<name>`` otherwise."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}.")
    return model_name + ("_quick" if profile == "quick" else "")


def capped(recipe, profile: str, cap: int | None = None):
    """The recipe itself, or, in the ``paper-capped`` profile, the same recipe stopped after ``cap`` epochs
    (default ``PAPER_CAPPED_EPOCHS``)."""
    cap = PAPER_CAPPED_EPOCHS if cap is None else cap
    return replace(recipe, max_epochs=min(recipe.max_epochs, cap)) if profile == "paper-capped" else recipe


def load_splits(dataset: str, data_dir=None, profile: str = "quick", xp=np):
    """``(train, valid)`` on the device of ``xp``; the quick profile keeps the first 10,000 / 2,000 examples."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}.")
    splits = load_dataset(dataset, data_dir=data_dir)
    train_set, valid_set = splits["train"], splits["valid"]
    if profile == "quick":
        train_set = tuple(a[:QUICK_SIZES[0]] for a in train_set)
        valid_set = tuple(a[:QUICK_SIZES[1]] for a in valid_set)
    device = "gpu" if xp is not np else "cpu"
    return (tuple(backend.to_device(a, device) for a in train_set),
            tuple(backend.to_device(a, device) for a in valid_set))


@dataclass
class Trained:
    """A trained model: where it started, where it ended, and how it got there."""
    model: object
    theta_init: object
    theta_final: object
    history: list
    trajectories: list  # per training stage, in order: its rows (epochs + 1, n_params), memory-mapped
    run_dirs: list

    def trajectory_rows(self):
        """Every recorded theta, stage after stage (streamed from disk)."""
        for i, rows in enumerate(self.trajectories):
            for t in range(1 if i else 0, rows.shape[0]):  # a later stage's row 0 repeats the earlier end
                yield rows[t]


def input_width(model) -> int:
    """The number of input features a classifier preset expects."""
    if hasattr(model, "input_shape"):
        return int(np.prod(model.input_shape))
    return int(getattr(model, "n_in", None) or model.n_visible)


def check_data_fits(model, name: str, train_set, valid_set) -> None:
    """Refuse, before any training, data whose width or labels the model cannot take (one-line DataError)."""
    width = input_width(model)
    for split, (X, y) in (("training", train_set), ("validation", valid_set)):
        if X.ndim != 2 or X.shape[1] != width:
            raise DataError(f"{name}: the {split} inputs have shape {tuple(X.shape)}, but {model.name} takes "
                            f"{width} features per example; give it images of that size.")
        low, high = (backend.to_float(y.min()), backend.to_float(y.max())) if y.size else (0, 0)
        if low < 0 or high >= model.n_classes:
            raise DataError(f"{name}: the {split} labels run from {low:g} to {high:g}, but {model.name} has "
                            f"{model.n_classes} classes (labels 0..{model.n_classes - 1}); renumber them.")


def run_folder_name(stem: str, description: dict) -> str:
    """``<stem>-<first 12 hex digits of the run's fingerprint>``."""
    return f"{stem}-{fingerprint(description)[:12]}"


def trained(model_name: str, seed: int, profile: str, dataset: str, train_set, valid_set, adversarial=False,
            runs_dir=None, progress=True, log=print, retrain=False, **model_overrides) -> Trained:
    """Train (or reuse) ``model_name`` with the recipe of ``profile``; adversarial = the FGSM objective.

    ``model_overrides`` go to the preset (e.g. ``input_shape`` of a conv net for the data set's images).
    ``retrain`` moves an existing run folder aside and trains again.
    """
    preset = preset_name(model_name, profile)
    if model_name == "mpdbm":  # its visible biases start at the logits of the training pixel means
        model_overrides.setdefault("pixel_means", backend.to_numpy(train_set[0].mean(axis=0)))
    model = models.get(preset, **model_overrides)
    check_data_fits(model, dataset, train_set, valid_set)
    recipe = capped(recipe_for(preset), profile)
    objective = fgsm_objective(model) if adversarial else None
    objective_name = "fgsm(epsilon=0.25, mix=0.5)" if adversarial else "nll"
    key = dataset_key(dataset)
    labels = {"dataset": key, "profile": profile}  # where the file lies is not part of it
    description = describe_run(model, recipe, seed, train_set, valid_set, objective_name=objective_name,
                               labels=labels)
    folder = run_folder_name(f"{model_name}{'-adv' if adversarial else ''}-seed{seed}-{profile}", description)
    run_dir = runs_root(runs_dir) / key / folder
    log(f"{preset}{' (adversarial)' if adversarial else ''}, seed {seed}: {run_dir}")
    stage1 = train(model, train_set, valid_set, recipe, run_dir, seed=seed, objective=objective,
                   objective_name=objective_name, progress=progress, log=log, labels=labels, retrain=retrain,
                   description=description)
    result = Trained(model, stage1.theta_init, stage1.theta_best, stage1.history, [stage1.trajectory_rows()], [run_dir])
    if model_name == "mnist_pi" and profile != "quick":
        stage2_recipe = capped(STAGE2_RECIPE, profile, PAPER_CAPPED_STAGE2_EPOCHS)
        result = _second_stage(result, stage1, train_set, valid_set, seed, objective, objective_name, progress, log,
                               labels, stage2_recipe)
    return result


def _second_stage(result, stage1, train_set, valid_set, seed, objective, objective_name, progress, log, labels,
                  recipe=STAGE2_RECIPE):
    """mnist_pi_continued.yaml: from the best stage-1 parameters, train on all 60,000 examples.

    pylearn2 stops this stage (MatchChannel) when the objective on the former
    validation examples falls to the training objective that stage 1 recorded.
    Those examples are training data now, so here the stop is when the epoch's
    training objective falls to stage 1's training objective at its best epoch.
    """
    xp = backend.get_xp(train_set[0])
    everything = tuple(xp.concatenate([a, b]) for a, b in zip(train_set, valid_set))
    target = stage1.history[stage1.best_epoch]["train_objective"] or float("inf")
    stage2 = train(result.model, everything, valid_set, recipe, result.run_dirs[0] / "stage2", seed=seed,
                   objective=objective, objective_name=objective_name, theta_start=stage1.theta_best,
                   stop_when=lambda h: f"matched stage 1's training objective {target:.4f}"
                   if h["train_objective"] is not None and h["train_objective"] <= target else None,
                   progress=progress, log=log, labels={**labels, "stage": 2})
    return replace(result, theta_final=stage2.theta_last, history=result.history + stage2.history[1:],
                   trajectories=result.trajectories + [stage2.trajectory_rows()],
                   run_dirs=result.run_dirs + [stage2.run_dir])



# ---------------------------------------------------------------------------------- language models
LM_QUICK_TOKENS = (100_000, 20_000)  # quick profile on full PTB: the first tokens of train and valid


def load_text_streams(dataset: str, data_dir=None, profile: str = "quick", batch_size: int = 20, xp=np):
    """Batch-major ``(train, valid, vocabulary)`` for ``ptb`` or ``ptb-valid``.

    ``ptb``: Mikolov's files (the quick profile keeps the first 100,000 training
    and 20,000 validation tokens, contiguous); ``ptb-valid``: ``ptb.valid.txt``
    alone, its first 90% of lines to train and the rest to evaluate (a small
    real corpus for machines without the training file).
    """
    from .data import ptb

    if dataset == "ptb":
        corpus = ptb.load_ptb(data_dir)
        train_ids, valid_ids = corpus["train"], corpus["valid"]
        if profile == "quick":
            train_ids, valid_ids = train_ids[:LM_QUICK_TOKENS[0]], valid_ids[:LM_QUICK_TOKENS[1]]
    elif dataset == "ptb-valid":
        corpus = ptb.load_ptb_valid_split(data_dir)
        train_ids, valid_ids = corpus["train"], corpus["valid"]
    else:
        raise ValueError(f"unknown text data set {dataset!r}; choose ptb or ptb-valid.")
    device = "gpu" if xp is not np else "cpu"
    return (backend.to_device(ptb.batchify(train_ids, batch_size), device),
            backend.to_device(ptb.batchify(valid_ids, batch_size), device), corpus["vocabulary"])


def trained_language_model(model_name: str, seed: int, profile: str, dataset: str, train_data, valid_data,
                           vocab_size: int, runs_dir=None, progress=True, log=print, retrain=False) -> Trained:
    """Train (or reuse) a PTB language model; the solution is the last epoch's parameters (as in the paper)."""
    preset = preset_name(model_name, profile)
    model = models.get(preset, vocab_size=vocab_size)
    recipe = lm_recipe_for(preset)
    if profile == "paper-capped":  # the paper's LSTM schedules are 13-55 epochs: the cap only shortens large
        recipe = replace(recipe, max_max_epoch=min(recipe.max_max_epoch, PAPER_CAPPED_EPOCHS))
    labels = {"dataset": dataset_key(dataset), "profile": profile}  # where the file lies is not part of it
    description = describe_lm_run(model, recipe, seed, train_data, valid_data, labels=labels)
    run_dir = runs_root(runs_dir) / dataset / run_folder_name(f"{model_name}-seed{seed}-{profile}", description)
    log(f"{preset}, seed {seed}: {run_dir}")
    result = train_language_model(model, train_data, valid_data, recipe, run_dir, seed=seed,
                                  progress=progress, log=log, labels=labels, retrain=retrain,
                                  description=description)
    return Trained(model, result.theta_init, result.theta_last, result.history, [result.trajectory_rows()], [run_dir])


def image_shape(dataset: str, n_features: int) -> tuple:
    """(C, H, W) of a data set's images: CIFAR-10's 3x32x32, else square grey images (28x28 for MNIST)."""
    if dataset == "cifar10":
        return (3, 32, 32)
    side = int(round(n_features ** 0.5))
    if side * side != n_features:
        raise ValueError(f"cannot lay {n_features} features out as a square image; use CIFAR-10 or square images.")
    return (1, side, side)
