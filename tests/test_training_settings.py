"""The trainers read plainly: one checked settings object, one whole-number rule, the model's abilities asked
through the contract, and run fingerprints that do not move.

- Fingerprints are pinned to the hex digests the trainer computed before it was restructured (so a cached run
  made then is still found and reused).
- 3.0 is a whole number everywhere in training (epochs, batch size, patience, schedule epochs, seeds, steps) and
  becomes the int 3 before it reaches a description: a run asked for with 3.0 reuses the run of 3.
- 2.5, NaN, infinity, True and "3" are still refused, in one line naming the argument.
"""
import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest

from minilinpath import checks, optim
from minilinpath.models import MLP, get
from minilinpath.optim import ExponentialDecay, LinearDecayOverEpoch, MomentumAdjustor, gradient_descent
from minilinpath.runs import fingerprint
from minilinpath.train import Recipe, TrainingSettings, TrainState, describe_run, train
from minilinpath.train_lm import LMRecipe, LMTrainingSettings, describe_lm_run, train_language_model

ROOT = Path(__file__).resolve().parents[1]
NAN, INF = float("nan"), float("inf")


def arith(n, d):
    """n examples of d features made by arithmetic alone (no random generator: the same bytes everywhere)."""
    X = ((np.arange(n * d).reshape(n, d) % 7) - 3).astype(np.float32) / 4
    return X, np.arange(n) % 3


def tiny_model():
    return MLP(n_in=4, hidden=(5,), activation="maxout", pieces=2, n_classes=3, init_ranges=(0.1, 0.1),
               max_col_norms=(1.5, 2.0), input_include=0.8, hidden_include=0.5, hidden_scale=2.0)


def recipe(**kw):
    settings = dict(batch_size=8, learning_rate=0.1, lr_schedule=LinearDecayOverEpoch(1, 3, 0.1), momentum=0.5,
                    momentum_schedule=MomentumAdjustor(1, 3, 0.7), max_epochs=3, patience=2)
    return Recipe(**{**settings, **kw})


LM_STREAM = (np.arange(4 * 41) % 20).reshape(4, 41)


# ---------------------------------------------------------------------------- fingerprints do not move
# The hex digests below were computed by the trainer as it was before the settings object (commit 71dfff9).
def test_the_fingerprint_of_a_run_is_the_one_the_earlier_trainer_gave():
    model, train_set, valid_set = tiny_model(), arith(40, 4), arith(20, 4)
    plain = describe_run(model, recipe(), 3, train_set, valid_set, labels={"data": "arith"}, data_seed=4)
    assert fingerprint(plain) == "274f2dba7e86c413dd844e2f4706fd97878106b57908bf5d96370e50d1f15821"
    state = TrainState(np.zeros(model.size, np.float32), np.ones(model.size, np.float32), 1, 5)
    branch = describe_run(model, recipe(), 3, train_set, valid_set, start=state)
    assert fingerprint(branch) == "8d81e0e74eda35d1df0d753f4bf35ba4bff25e8a93a4d18a13f7bf1915aacddf"
    lm = get("ptb_small", vocab_size=20, hidden=4)
    described = describe_lm_run(lm, LMRecipe(4, 1.0, 2.0, 1, 2, 5.0), 1, LM_STREAM, LM_STREAM[:2, :21])
    assert fingerprint(described) == "5d72fc35d519c60fc9e4f789cca65ff45cbff60c6e45a1a20b58c4ddeb068042"


def test_whole_floats_and_numpy_integers_give_the_fingerprint_of_ints():
    model, train_set, valid_set = tiny_model(), arith(40, 4), arith(20, 4)
    floats = recipe(batch_size=8.0, max_epochs=3.0, patience=2.0, lr_schedule=LinearDecayOverEpoch(1.0, 3.0, 0.1),
                    momentum_schedule=MomentumAdjustor(np.int64(1), 3.0, 0.7))
    described = describe_run(model, floats, 3.0, train_set, valid_set, labels={"data": "arith"},
                             data_seed=np.int64(4))
    assert fingerprint(described) == "274f2dba7e86c413dd844e2f4706fd97878106b57908bf5d96370e50d1f15821"
    schedules = described["recipe"]["lr_schedule"], described["recipe"]["momentum_schedule"]
    for value in (described["seed"], described["data_seed"], described["recipe"]["batch_size"],
                  described["recipe"]["max_epochs"], described["recipe"]["patience"],
                  *(s[key] for s in schedules for key in ("start", "saturate"))):
        assert type(value) is int
    lm = get("ptb_small", vocab_size=20, hidden=4)
    described = describe_lm_run(lm, LMRecipe(4.0, 1.0, 2.0, 1.0, 2.0, 5.0), 1.0, LM_STREAM, LM_STREAM[:2, :21])
    assert fingerprint(described) == "5d72fc35d519c60fc9e4f789cca65ff45cbff60c6e45a1a20b58c4ddeb068042"


def test_a_run_asked_for_with_whole_floats_reuses_the_run_of_ints(tmp_path):
    model, train_set, valid_set = tiny_model(), arith(40, 4), arith(20, 4)
    first = train(model, train_set, valid_set, recipe(patience=None), tmp_path / "run", seed=3, data_seed=4,
                  progress=False, log=None)
    files = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    messages = []
    again = train(model, train_set, valid_set,
                  recipe(batch_size=8.0, max_epochs=3.0, patience=None, lr_schedule=LinearDecayOverEpoch(1.0, 3.0, 0.1)),
                  tmp_path / "run", seed=3.0, data_seed=4.0, progress=False, log=messages.append)
    assert messages == [f"{tmp_path / 'run'}: already trained (reached max_epochs=3); reusing it."]
    np.testing.assert_array_equal(again.theta_last, first.theta_last)
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == files


def test_a_language_model_run_asked_for_with_whole_floats_reuses_the_run_of_ints(tmp_path):
    model = get("ptb_small", vocab_size=20, hidden=4)
    ints = LMRecipe(batch_size=4, learning_rate=1.0, decay=2.0, max_epoch=1, max_max_epoch=1, max_grad_norm=5.0)
    first = train_language_model(model, LM_STREAM, LM_STREAM[:2, :21], ints, tmp_path / "lm", seed=1,
                                 progress=False, log=None)
    messages = []
    floats = LMRecipe(batch_size=4.0, learning_rate=1.0, decay=2.0, max_epoch=1.0, max_max_epoch=1.0,
                      max_grad_norm=5.0)
    again = train_language_model(model, LM_STREAM, LM_STREAM[:2, :21], floats, tmp_path / "lm", seed=1.0,
                                 progress=False, log=messages.append)
    assert messages == [f"{tmp_path / 'lm'}: already trained; reusing it."]
    np.testing.assert_array_equal(again.theta_last, first.theta_last)


# ---------------------------------------------------------------------------- one whole-number rule
@pytest.mark.parametrize("make, read", [
    (lambda v: Recipe(batch_size=v), lambda r: r.batch_size),
    (lambda v: Recipe(max_epochs=v), lambda r: r.max_epochs),
    (lambda v: Recipe(patience=v), lambda r: r.patience),
    (lambda v: LMRecipe(batch_size=v), lambda r: r.batch_size),
    (lambda v: LMRecipe(max_epoch=v), lambda r: r.max_epoch),
    (lambda v: LMRecipe(max_max_epoch=v), lambda r: r.max_max_epoch),
    (lambda v: LinearDecayOverEpoch(v, 5, 0.1), lambda s: s.start),
    (lambda v: LinearDecayOverEpoch(1, v, 0.1), lambda s: s.saturate),
    (lambda v: MomentumAdjustor(v, 5, 0.7), lambda s: s.start),
    (lambda v: MomentumAdjustor(1, v, 0.7), lambda s: s.saturate),
])
def test_three_point_zero_is_the_whole_number_three_and_two_and_a_half_is_refused(make, read):
    for whole in (3, 3.0, np.int64(3), np.float64(3.0)):
        value = read(make(whole))
        assert value == 3 and type(value) is int
    for bad in (2.5, NAN, INF, True, "3"):
        with pytest.raises(ValueError, match=r"must be a whole number >= \d, got ") as info:
            make(bad)
        assert "\n" not in str(info.value)


def test_gradient_descent_takes_a_whole_float_number_of_steps():
    model, batch = tiny_model(), arith(20, 4)
    steps = [step for step, _, _ in gradient_descent(model, model.init(0), batch, lr=0.1, steps=3.0)]
    assert steps == [1, 2, 3]  # range(1, 3.0 + 1) was a TypeError once 3.0 passed the check
    with pytest.raises(ValueError, match="^steps must be a whole number >= 0, got 2.5"):
        list(gradient_descent(model, model.init(0), batch, lr=0.1, steps=2.5))


def test_real_number_keeps_values_and_refuses_bools_strings_and_nan():
    positive = (lambda v: 0 < v < math.inf, "a finite number > 0")
    assert checks.real_number(0.25, "rate", *positive) == 0.25
    kept = checks.real_number(np.float32(0.25), "rate", *positive)
    assert kept == 0.25 and type(kept) is float
    assert checks.real_number(2, "rate", *positive) == 2 and type(checks.real_number(2, "rate", *positive)) is int
    for bad in (NAN, INF, -1.0, 0, True, np.bool_(True), "0.1", None):
        with pytest.raises(ValueError, match="^rate must be a finite number > 0, got "):
            checks.real_number(bad, "rate", *positive)


def test_the_old_names_in_optim_follow_the_one_rule():
    assert optim.check_whole("epochs", 3.0, 1) == 3 and type(optim.check_whole("epochs", 3.0, 1)) is int
    with pytest.raises(ValueError, match="^epochs must be a whole number >= 1, got 0"):
        optim.check_whole("epochs", 0, 1)
    assert optim.check_real("lr", np.float64(0.5), lambda v: v > 0, "> 0") == 0.5
    with pytest.raises(ValueError, match="^lr must be > 0, got nan"):
        optim.check_real("lr", NAN, lambda v: v > 0, "> 0")


# ---------------------------------------------------------------------------- the settings object
def test_training_settings_are_checked_once_and_hold_ints():
    model, train_set, valid_set = tiny_model(), arith(40, 4), arith(20, 4)
    settings = TrainingSettings(model=model, train_set=train_set, valid_set=valid_set, recipe=recipe(), run_dir="x",
                                seed=np.int64(2), data_seed=5.0, log=None)
    assert (settings.seed, settings.data_seed, settings.data_order_seed, settings.epoch_offset) == (2, 5, 5, 0)
    assert type(settings.seed) is int and type(settings.data_seed) is int
    assert settings.log("ignored") is None  # log=None: a silent log, callable
    with pytest.raises(AttributeError):
        settings.seed = 3  # frozen: the steps cannot change what was checked
    defaults = TrainingSettings(model=model, train_set=train_set, valid_set=valid_set, recipe=recipe(), run_dir="x")
    assert defaults.data_order_seed == 0 and defaults.describe() == describe_run(model, recipe(), 0, train_set,
                                                                                 valid_set)
    with pytest.raises(ValueError, match="^data_seed must be a whole number >= 0, got 2.5"):
        TrainingSettings(model=model, train_set=train_set, valid_set=valid_set, recipe=recipe(), run_dir="x",
                         data_seed=2.5)


def test_a_start_state_with_whole_float_counters_is_the_state_of_ints(tmp_path):
    model, train_set, valid_set = tiny_model(), arith(40, 4), arith(20, 4)
    theta = model.init(0)
    floats = TrainState(theta, np.zeros_like(theta), 1.0, 5.0)
    settings = TrainingSettings(model=model, train_set=train_set, valid_set=valid_set, recipe=recipe(),
                                run_dir=tmp_path, start=floats)
    assert (settings.start.epoch, settings.start.updates, settings.epoch_offset) == (1, 5, 1)
    assert type(settings.start.epoch) is int and type(settings.start.updates) is int
    for bad in (TrainState(theta, np.zeros_like(theta), 1.5, 5), TrainState(theta, np.zeros_like(theta), 1, True)):
        with pytest.raises(ValueError, match="the start state's (epoch|update count) must be a whole number"):
            TrainingSettings(model=model, train_set=train_set, valid_set=valid_set, recipe=recipe(), run_dir=tmp_path,
                             start=bad)


def test_theta_start_and_a_start_state_together_are_refused_even_with_a_description(tmp_path):
    # Before: only describe_run refused both; a caller that passed its description trained from the state and
    # silently ignored theta_start.
    model, train_set, valid_set = tiny_model(), arith(40, 4), arith(20, 4)
    theta = model.init(0)
    state = TrainState(theta, np.zeros_like(theta), 1, 5)
    description = describe_run(model, recipe(), 0, train_set, valid_set, start=state)
    with pytest.raises(ValueError, match="give theta_start .* or start .*, not both"):
        train(model, train_set, valid_set, recipe(), tmp_path / "run", theta_start=theta + 1, start=state,
              description=description, progress=False, log=None)
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------- abilities through the contract
class Minimal:
    """A model with the contract's names only: no constraint, no learning-rate scales, no one-pass evaluate."""

    def __init__(self, model, lr_scales=None):
        self.inner, self.layout, self.name = model, model.layout, "minimal"
        if lr_scales is not None:
            self.lr_scales = lambda xp, dtype: lr_scales.astype(dtype)

    def settings(self):
        return {"minimal": self.inner.settings()}

    def init(self, seed, xp=np, dtype=np.float32):
        return self.inner.init(seed, xp=xp, dtype=dtype)

    def loss(self, theta, batch):
        return self.inner.loss(theta, batch)

    def error_rate(self, theta, batch):
        return self.inner.error_rate(theta, batch)

    def loss_and_grad(self, theta, batch, rng=None, out=None):
        return self.inner.loss_and_grad(theta, batch)


def test_a_model_without_constraint_scales_or_evaluate_trains(tmp_path):
    # Before: the trainer called model.constrain unconditionally (AttributeError for a model without one).
    inner = MLP(n_in=4, hidden=(5,), activation="relu", n_classes=3)
    model, train_set, valid_set = Minimal(inner), arith(40, 4), arith(20, 4)
    result = train(model, train_set, valid_set, recipe(patience=None, max_epochs=2), tmp_path / "run", seed=1,
                   progress=False, log=None)
    assert len(result.history) == 3
    # without a one-pass evaluate, the history holds error_rate and loss, computed separately
    assert result.history[-1]["valid_error"] == inner.error_rate(result.theta_last, valid_set)
    assert result.history[-1]["valid_nll"] == inner.loss(result.theta_last, valid_set)


def test_learning_rate_scales_the_model_declares_are_applied(tmp_path):
    inner = MLP(n_in=4, hidden=(5,), activation="relu", n_classes=3)
    frozen = np.ones(inner.size)
    frozen[: inner.size // 2] = 0.0  # the first half of theta never moves
    model, train_set, valid_set = Minimal(inner, lr_scales=frozen), arith(40, 4), arith(20, 4)
    result = train(model, train_set, valid_set, recipe(patience=None, max_epochs=2), tmp_path / "run", seed=1,
                   progress=False, log=None)
    half = inner.size // 2
    np.testing.assert_array_equal(result.theta_last[:half], result.theta_init[:half])
    assert not np.array_equal(result.theta_last[half:], result.theta_init[half:])


# ---------------------------------------------------------------------------- the trainers read plainly
@pytest.mark.parametrize("module", ["train.py", "train_lm.py"])
def test_the_trainers_probe_no_model_and_have_no_long_function(module):
    tree = ast.parse((ROOT / "minilinpath" / module).read_text())
    probes = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
              and isinstance(node.func, ast.Name) and node.func.id in ("hasattr", "getattr")]
    assert probes == [], f"{module} probes with hasattr/getattr at lines {probes}; use minilinpath.contract"
    long = {node.name: node.end_lineno - node.lineno + 1 for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 60}
    assert long == {}, f"{module}: functions over 60 lines: {long}"
    assert "inspect" not in {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                             for alias in node.names}


def test_a_recipe_written_to_run_json_reads_back_equal_with_int_epochs(tmp_path):
    model, train_set, valid_set = tiny_model(), arith(40, 4), arith(20, 4)
    asked = recipe(max_epochs=2.0, patience=None, lr_schedule=ExponentialDecay(1.01, 1e-3),
                   momentum_schedule=MomentumAdjustor(1.0, 2.0, 0.7))
    train(model, train_set, valid_set, asked, tmp_path / "run", seed=0, progress=False, log=None)
    text = (tmp_path / "run" / "run.json").read_text()
    saved = json.loads(text)["description"]["recipe"]
    assert saved["max_epochs"] == 2 and '"max_epochs": 2,' in text and '"saturate": 2,' in text
    assert Recipe.from_dict(saved) == asked
    lm = LMTrainingSettings(model=get("ptb_small", vocab_size=20, hidden=4), train_data=LM_STREAM,
                            valid_data=LM_STREAM[:2, :21], recipe=LMRecipe(batch_size=4.0), run_dir="x", seed=2.0)
    assert lm.seed == 2 and type(lm.seed) is int and lm.describe()["recipe"]["batch_size"] == 4
