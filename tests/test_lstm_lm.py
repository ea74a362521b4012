"""The LSTM language model: gradient along random directions, state carrying, training, PTB data."""
import hashlib

import numpy as np
import pytest

from minilinpath import models
from minilinpath.data import DataError
from minilinpath.data import ptb
from minilinpath.gradcheck import directional_check
from minilinpath.models import LSTMLanguageModel
from minilinpath.train import RunMismatchError
from minilinpath.train_lm import LMRecipe, clip_global_norm, clipped_sgd_step, lm_recipe_for, train_language_model
from minilinpath.trajfile import TrajectoryFile

from .conftest import SHARED_DATA
from .test_data import _Server  # the 127.0.0.1 file server

PTB_VALID = SHARED_DATA / "ptb" / "ptb.valid.txt"


def small_model(keep=1.0):
    return LSTMLanguageModel(vocab_size=11, hidden=4, layers=2, steps=3, init_range=0.5, keep_prob=keep)


def stream(rng, n=2, length=8, vocab=11):
    data = rng.integers(0, vocab, size=(n, length + 1))
    return data[:, :-1], data[:, 1:]


@pytest.mark.parametrize("keep", [1.0, 0.6])
def test_gradient_along_random_directions(rng, keep):
    model = small_model(keep)
    theta = model.init(0, dtype=np.float64)
    batch = stream(rng, length=5)
    state = [(0.3 * rng.standard_normal((2, 4)), 0.3 * rng.standard_normal((2, 4))) for _ in range(2)]
    masks = model.draw_masks(np.random.default_rng(3), 2, 5, np.float64) if keep < 1 else None
    loss, grad = model.loss_and_grad(theta, batch, masks=masks, state=state)

    def objective(t):
        return model.loss_and_grad(t, batch, masks=masks, state=state)[0]

    for numerical, analytic, err in directional_check(objective, grad, theta, rng, n_directions=6, h=1e-6):
        assert err < 1e-7, (numerical, analytic)


def test_loss_carries_the_state_across_windows(rng):
    model = small_model()
    theta = model.init(1, dtype=np.float64)
    inputs, targets = stream(rng, length=8)  # windows of 3, 3, 2
    total, state = 0.0, None
    for start in (0, 3, 6):
        w = slice(start, start + 3)
        loss, _, state = model.loss_and_grad(theta, (inputs[:, w], targets[:, w]), state=state, return_state=True)
        total += loss * inputs[:, w].size
    assert model.loss(theta, (inputs, targets)) == pytest.approx(total / inputs.size, rel=1e-13)
    fresh = np.mean([model.loss(theta, (inputs[:, w], targets[:, w])) for w in (slice(0, 3),)])
    assert fresh == pytest.approx(model.loss_and_grad(theta, (inputs[:, :3], targets[:, :3]))[0], rel=1e-13)


def test_presets_follow_zaremba():
    small, medium, large = (models.get(n) for n in ("ptb_small", "ptb_medium", "ptb_large"))
    assert (small.hidden, small.steps, small.init_range, small.keep_prob) == (200, 20, 0.1, 1.0)
    assert (medium.hidden, medium.steps, medium.keep_prob) == (650, 35, 0.5)
    assert (large.hidden, large.init_range, large.keep_prob) == (1500, 0.04, 0.35)
    assert small.layout["lstm1.Wx"].shape == (200, 800) and small.layout["y.W"].shape == (200, 10_000)
    r = lm_recipe_for("ptb_small")
    assert [r.lr(e) for e in (1, 4, 5, 6)] == [1.0, 1.0, 0.5, 0.25]
    assert lm_recipe_for("ptb_large").max_grad_norm == 10.0


def test_bad_batches(rng):
    model = small_model()
    theta = model.init(0)
    with pytest.raises(ValueError, match="integer array"):
        model.loss(theta, (np.zeros((2, 3)), np.zeros((2, 3), int)))
    with pytest.raises(ValueError, match="differ in shape"):
        model.loss(theta, (np.zeros((2, 3), int), np.zeros((2, 4), int)))
    with pytest.raises(ValueError, match=r"\[0, 11\)"):
        model.loss(theta, (np.full((2, 3), 11), np.zeros((2, 3), int)))


def test_clip_global_norm():
    g = np.array([3.0, 4.0])
    assert clip_global_norm(g, 1.0) == 5.0 and np.allclose(g, [0.6, 0.8])
    g = np.array([0.3, 0.4])
    clip_global_norm(g, 1.0)
    assert np.allclose(g, [0.3, 0.4])


@pytest.mark.parametrize("scale, lr", [(1.0, 1.0), (1.0, 0.5), (1e-3, 1.0), (1e-3, 0.25)])
def test_clipped_sgd_step_is_the_recipe_written_out(rng, scale, lr):
    # scale 1: the norm (about 20 * 30) is clipped to 5; scale 1e-3: it is not; lr 1 skips its pass
    grad = (rng.standard_normal(1000) * scale).astype(np.float32)
    theta = rng.standard_normal(1000).astype(np.float32)
    g, expected = grad.copy(), theta.copy()
    g *= 20
    norm = float(np.linalg.norm(g))
    if norm > 5.0:
        g *= 5.0 / norm
    g *= lr
    expected -= g
    assert clipped_sgd_step(theta, grad, 20, 5.0, lr) == pytest.approx(norm, rel=1e-6)
    assert np.array_equal(theta, expected)                     # bit for bit
    assert (norm > 5.0) == (scale == 1.0)


def test_training_learns_resumes_and_records(tmp_path, rng):
    # a learnable stream: a repeating pattern
    pattern = np.tile(np.arange(11), 40)
    data = ptb.batchify(pattern, 4)
    model = LSTMLanguageModel(vocab_size=11, hidden=16, layers=1, steps=5, init_range=0.1, keep_prob=0.9)
    recipe = LMRecipe(batch_size=4, learning_rate=1.0, decay=2.0, max_epoch=2, max_max_epoch=4, max_grad_norm=5.0)
    full = train_language_model(model, data, data[:2], recipe, tmp_path / "full", seed=1, progress=False, log=None)
    assert full.history[-1]["valid_perplexity"] < 0.5 * full.history[0]["valid_perplexity"]
    assert TrajectoryFile(tmp_path / "full" / "trajectory").rows().shape == (5, model.size)
    interrupted = LSTMLanguageModel(vocab_size=11, hidden=16, layers=1, steps=5, init_range=0.1, keep_prob=0.9)
    calls = {"n": 0}
    real = interrupted.loss_and_grad

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2 * 21 + 10:  # in the middle of epoch 3 (21 windows per epoch)
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    interrupted.loss_and_grad = flaky
    with pytest.raises(KeyboardInterrupt):
        train_language_model(interrupted, data, data[:2], recipe, tmp_path / "cut", seed=1, progress=False, log=None)
    resumed = train_language_model(model, data, data[:2], recipe, tmp_path / "cut", seed=1, progress=False, log=None)
    np.testing.assert_array_equal(resumed.theta_last, full.theta_last)
    with pytest.raises(RunMismatchError):
        train_language_model(model, data, data[:2], recipe, tmp_path / "full", seed=2, progress=False, log=None)


# ------------------------------------------------------------------ data
def test_tokens_vocabulary_and_stream_layout(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text(" a b a\n c a\n")
    words = ptb.tokens(text)
    assert words == ["a", "b", "a", "<eos>", "c", "a", "<eos>"]
    vocab = ptb.build_vocabulary(words)
    assert vocab == ["a", "<eos>", "b", "c"]  # by count, then alphabetically
    ids = ptb.to_ids(words, vocab)
    data = ptb.batchify(np.arange(10), 3)
    assert data.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert [(x.tolist(), y.tolist()) for x, y in ptb.windows(data, 1)] == [([[0], [3], [6]], [[1], [4], [7]]),
                                                                           ([[1], [4], [7]], [[2], [5], [8]])]
    with pytest.raises(DataError, match="no <unk>"):
        ptb.to_ids(["zzz"], vocab)
    assert ids.tolist() == [0, 2, 0, 1, 3, 0, 1]


def test_unigram_perplexity_of_a_uniform_text():
    ids = np.tile(np.arange(4), 5)
    assert ptb.unigram_perplexity(ids, ids, 4) == pytest.approx(4.0)


@pytest.mark.skipif(not PTB_VALID.exists(), reason="shared PTB validation text not present")
def test_real_ptb_validation_text():
    path = ptb.locate("valid", data_dir=PTB_VALID.parent)
    words = ptb.tokens(path)
    assert len(words) == 73_760 and len(set(words)) == 6_022  # docs/CONFIGS.md section 7c
    split = ptb.load_ptb_valid_split(PTB_VALID.parent)
    assert split["train"].size + split["valid"].size == 73_760
    assert split["vocabulary"][:3] == ["the", "<unk>", "<eos>"]


def test_download_and_checksum_mismatch(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    server = _Server(served)
    try:
        body = b" the cat\n the dog <unk>\n"
        (served / "ptb.valid.txt").write_bytes(body)
        monkeypatch.setattr(ptb, "MIRROR", server.url)
        monkeypatch.setenv("MINILINPATH_DATA", str(tmp_path / "cache"))
        monkeypatch.setitem(ptb.MD5, "valid", hashlib.md5(body).hexdigest())
        assert ptb.locate("valid").read_bytes() == body
        monkeypatch.setitem(ptb.MD5, "test", "0" * 32)
        (served / "ptb.test.txt").write_bytes(b"tampered\n")
        with pytest.raises(DataError, match="checksum mismatch"):
            ptb.locate("test")
        assert not (tmp_path / "cache" / "ptb" / "ptb.test.txt").exists()
    finally:
        server.close()
    bad = tmp_path / "offline"
    bad.mkdir()
    (bad / "ptb.valid.txt").write_text("not the real file\n")
    with pytest.raises(DataError, match="checksum mismatch"):
        ptb.locate("valid", data_dir=bad)
    with pytest.raises(DataError, match="not in"):
        ptb.locate("train", data_dir=bad)


@pytest.mark.gpu
def test_language_model_on_gpu_matches_numpy(cupy, rng):
    model = small_model(0.6)
    theta = model.init(0, dtype=np.float64)
    batch = stream(rng, length=5)
    masks = model.draw_masks(np.random.default_rng(3), 2, 5, np.float64)
    loss, grad = model.loss_and_grad(theta, batch, masks=masks)
    g = cupy.asarray
    loss_g, grad_g = model.loss_and_grad(g(theta), (g(batch[0]), g(batch[1])), masks=[g(m) for m in masks])
    assert loss_g == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(grad_g.get(), grad, rtol=1e-9, atol=1e-12)
    assert model.loss(g(theta), (g(batch[0]), g(batch[1]))) == pytest.approx(model.loss(theta, batch), rel=1e-12)
