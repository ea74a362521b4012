"""The README's Python blocks run as pasted; the model contract is checked up front with one-line errors;
the user model of docs/own_model.py goes through the line, a plane and the curvature tools; the console script."""
import importlib.util
import re

import numpy as np
import pytest

from minilinpath import models
from minilinpath.contract import Classifier, ContractError, Model, check_model
from minilinpath.path import HessianOperator, evaluate_plane, linear_path, plane_through

from .conftest import ROOT

SKIP = "<!-- readme-test: skip"


def readme_blocks():
    text = (ROOT / "README.md").read_text()
    blocks = []
    for match in re.finditer(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)```", text, re.S):
        blocks.append((match.group("before").startswith(SKIP), match.group("code"),
                       text[:match.start()].count("\n") + 2))
    return blocks


def test_readme_has_python_blocks_and_skips_only_marked_ones():
    blocks = readme_blocks()
    assert len([b for b in blocks if not b[0]]) >= 2
    assert all("load_dataset(\"mnist\")" in code for skipped, code, _ in blocks if skipped)


@pytest.mark.parametrize("index", range(len(readme_blocks())))
def test_readme_python_block_runs_as_pasted(index, tmp_path, monkeypatch):
    skipped, code, line = readme_blocks()[index]
    if skipped:
        pytest.skip(f"README block at line {line} is marked to skip (it downloads data / trains for hours)")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__readme__"})


class NoLayout:
    layout = None

    def loss(self, theta, batch):
        return 0.0


class NoLoss:
    def __init__(self):
        self.layout = models.get("deep_linear").layout


@pytest.mark.parametrize("call", [
    lambda m: linear_path(m, np.zeros(2), np.ones(2), (np.ones((1, 1)), np.ones((1, 1))), [0.0, 1.0]),
    lambda m: evaluate_plane(m, plane_through(np.zeros(2), np.ones(2), np.array([1.0, -1.0])),
                             (np.ones((1, 1)), np.ones((1, 1))), [0.0], [0.0]),
    lambda m: HessianOperator(m, np.zeros(2), (np.ones((1, 1)), np.ones((1, 1)))),
], ids=["linear_path", "evaluate_plane", "HessianOperator"])
def test_a_broken_user_model_is_a_one_line_error_naming_what_is_missing(call):
    with pytest.raises(ContractError) as info:
        call(NoLayout())
    message = str(info.value)
    assert "\n" not in message and "`layout`" in message and "NoLayout" in message
    with pytest.raises(ContractError, match="`loss`"):
        call(NoLoss())


def test_every_model_keeps_the_contract():
    for name in ("mnist_pi_quick", "relu_quick", "deep_linear", "ptb_small_quick", "mpdbm_quick",
                 "cifar10_maxout_quick"):
        model = models.get(name)
        assert isinstance(model, Model), name
        check_model(model, "test", needs=("loss", "loss_and_grad"))
    assert isinstance(models.get("relu_quick"), Classifier) and not isinstance(models.get("deep_linear"), Classifier)
    with pytest.raises(ContractError, match="not a minilinpath.params.Layout"):
        check_model(type("Odd", (), {"layout": [("w", (2,))], "loss": lambda *a: 0.0})(), "test")


def test_own_model_example_goes_through_line_plane_and_curvature():
    spec = importlib.util.spec_from_file_location("own_model", ROOT / "docs" / "own_model.py")
    own = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(own)
    line, surface, curvature, top, bottom, _ = own.main(steps=150, grid=7)
    assert line.J_train[np.argmin(np.abs(line.alphas - 1.0))] < 0.5 * line.J_train[np.argmin(np.abs(line.alphas))]
    assert surface.J_train.shape == (7, 7) and np.isfinite(surface.J_train).all()
    assert top.values[0] > 0 and curvature.shape == (3,)
    # its hand-written gradient, checked like every model of the library (float64, central differences)
    from minilinpath.gradcheck import directional_check
    model, batch = own.TwoLayerTanh(2, 5, 3), own.make_data(3, 20)
    theta = model.init(4)
    checks = directional_check(lambda t: model.loss(t, batch), model.loss_and_grad(theta, batch)[1], theta,
                               np.random.default_rng(0), n_directions=4, h=1e-5)
    assert max(c[2] for c in checks) < 1e-8


def test_console_script_dispatches(capsys):
    from minilinpath.cli import main
    assert main([]) == 0 and "curvature" in capsys.readouterr().out
    assert main(["fig99"]) == 2 and "unknown command" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["plane", "--help"])
    assert info.value.code == 0 and "minilinpath plane" in capsys.readouterr().out
    assert main(["curvature", "--points", "a,b", "--out", "/nonexistent/x"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
