"""Figure 8 end to end on the shared PTB validation text (tiny model, one epoch, three alphas)."""
import json

import numpy as np
import pytest

from minilinpath import backend, experiments, models, train_lm
from minilinpath.figures import fig8

from .conftest import SHARED_DATA

PTB = SHARED_DATA / "ptb"


@pytest.mark.skipif(not (PTB / "ptb.valid.txt").exists(), reason="shared PTB validation text not present")
def test_fig8_on_real_text(tmp_path, monkeypatch):
    monkeypatch.setattr(backend, "_selected", None)
    monkeypatch.setitem(models.LANGUAGE_QUICK, "ptb_medium", dict(hidden=16, steps=10))
    monkeypatch.setattr(experiments, "lm_recipe_for", lambda name: train_lm.LMRecipe(20, 1.0, 2.0, 1, 1, 5.0))
    monkeypatch.setattr(fig8, "alpha_grid", lambda kind: np.array([0.0, 0.5, 1.0]))
    argv = ["--dataset", "ptb-valid", "--data-dir", str(PTB), "--out", str(tmp_path), "--runs-dir", str(tmp_path / "r")]
    assert fig8.main(argv) == 0
    with np.load(tmp_path / "fig8.npz", allow_pickle=False) as f:
        J, theta0 = f["lstm/J_train"], f["lstm/theta0"]
    summary = json.loads((tmp_path / "fig8.json").read_text())["summary"]
    assert J[0] == pytest.approx(np.log(5792), rel=0.02)  # a fresh model predicts about uniformly over 5,792 words
    assert J[-1] < J[0]
    assert summary["perplexity_valid_at_1"] == pytest.approx(summary["training"][-1]["valid_perplexity"], rel=1e-6)
    assert theta0.size == models.get("ptb_medium_quick", vocab_size=5792).size
