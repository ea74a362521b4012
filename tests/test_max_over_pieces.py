"""One function takes the maximum over a unit's pieces (layers.maxout.max_over_pieces), and every maxout in the
package goes through it: training, evaluation, the MLP's and the conv net's linear-path sweeps."""
import functools
import sys

import numpy as np
import pytest

import minilinpath.layers.maxout as maxout_module
import minilinpath.models.convnet_eval as convnet_eval
import minilinpath.models.mlp_eval as mlp_eval
from minilinpath import models
from minilinpath.layers import maxout_eval, maxout_forward
from minilinpath.layers.maxout import max_over_pieces

UINT = {4: np.uint32, 8: np.uint64}


def argmax_maximum(pieces):
    """The textbook maximum: the value of the first piece that attains it (written out here, by argmax)."""
    stacked = np.stack(pieces)                                            # (k, ...)
    return np.take_along_axis(stacked, stacked.argmax(axis=0)[None], axis=0)[0]


def same_bits(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and \
        np.array_equal(np.ascontiguousarray(a).view(UINT[a.itemsize]), np.ascontiguousarray(b).view(UINT[b.itemsize]))


def tied_pieces(k, shape, dtype, seed):
    """k pieces drawn from a few values, so most maxima are ties, with +0 and -0 among them (and tied to each
    other: they compare equal)."""
    rng = np.random.default_rng(seed)
    values = np.array([-1.5, -0.0, 0.0, 0.5, 2.0], dtype=dtype)
    return [values[rng.integers(0, len(values), shape)] for _ in range(k)]


def piece_0_into_out(pieces, out):
    """A generator as the sweeps write them: piece 0 computed straight into ``out``, the others given."""
    out[...] = pieces[0]
    yield out
    yield from pieces[1:]


FORMS = {
    "list": lambda pieces, out: pieces,
    "(k, ...) array": lambda pieces, out: np.stack(pieces),
    "generator": lambda pieces, out: (p for p in pieces),
    "generator, piece 0 written into out": piece_0_into_out,
}


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_over_pieces_equals_the_argmax_maximum_on_ties_and_signed_zeros(form, k, dtype):
    pieces = tied_pieces(k, (13, 7), dtype, seed=k)
    out = np.full((13, 7), np.nan, dtype=dtype)
    got = max_over_pieces(FORMS[form](pieces, out), out)
    assert got is out
    np.testing.assert_array_equal(out, argmax_maximum(pieces))         # == : a tie of +0 and -0 is a tie
    # the bits: k - 1 maxima in piece order, the maximum so far first (which fixes the sign of a tied zero)
    assert same_bits(out, functools.reduce(np.maximum, pieces))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_over_pieces_leaves_its_pieces_and_takes_nan_like_argmax(dtype):
    pieces = tied_pieces(4, (6, 5), dtype, seed=9)
    pieces[2][1, 1] = np.nan                                             # a NaN piece: the maximum is NaN
    before = [p.copy() for p in pieces]
    out = np.empty((6, 5), dtype=dtype)
    max_over_pieces(pieces, out)
    np.testing.assert_array_equal(out, argmax_maximum(pieces))          # NaN where argmax finds NaN
    assert np.isnan(out[1, 1]) and np.isnan(out).sum() == 1
    assert all(same_bits(p, q) for p, q in zip(pieces, before))


def test_one_piece_is_copied_and_a_piece_that_is_out_is_left_in_place():
    piece = np.arange(6.0).reshape(2, 3)
    out = np.zeros((2, 3))
    assert max_over_pieces([piece], out) is out and np.array_equal(out, piece) and out is not piece
    assert max_over_pieces(iter([out]), out) is out and np.array_equal(out, piece)


# ------------------------------------------------------------------ every maximum over pieces goes through it
SITES = {  # (module, function) that calls max_over_pieces: the seven places that each wrote the maximum out
    ("maxout", "maxout_forward.<locals>.examples"),
    ("maxout", "maxout_eval.<locals>.examples"),
    ("mlp_eval", "_activate_eval.<locals>.examples"),
    ("mlp_eval", "_maxout_of_pieces_plus_bias.<locals>.examples"),
    ("mlp_eval", "_first_hidden_on_line.<locals>.examples"),
    ("mlp_eval", "_first_hidden_at"),
    ("convnet_eval", "evaluate_line_chunk.<locals>.first_layer"),
}


def test_every_maxout_in_the_package_takes_its_maximum_with_max_over_pieces(monkeypatch):
    """Training (maxout_forward on dense and conv pre-activations), evaluation (maxout_eval, the MLP's
    pieces-first forward_eval) and both sweeps (the MLP's at alpha = 0.5 and 1, the conv net's): every one calls
    max_over_pieces, and the numbers are unchanged by the spy."""
    calls = set()

    def spy(pieces, out):
        caller = sys._getframe(1).f_code
        calls.add((caller.co_filename.rsplit("/", 1)[-1][:-3], caller.co_qualname))
        return max_over_pieces(pieces, out)

    for module in (maxout_module, mlp_eval, convnet_eval):
        monkeypatch.setattr(module, "max_over_pieces", spy)
    rng = np.random.default_rng(0)
    maxout_forward(rng.standard_normal((5, 12)), 3)
    maxout_forward(rng.standard_normal((5, 6, 4, 4)), 2)
    maxout_eval(rng.standard_normal((5, 12)), 3)

    mlp = models.MLP(n_in=8, hidden=(5, 4), activation="maxout", pieces=3, n_classes=3, init_ranges=(0.5,) * 3)
    X, y = rng.standard_normal((9, 8)), rng.integers(0, 3, 9)
    theta0, theta1 = mlp.init(0, dtype=np.float64), mlp.init(1, dtype=np.float64)
    mlp.forward_eval(theta0, X)
    Z0, Z1 = (mlp.first_bias(t, mlp.first_linear(X, mlp.unflatten(t)["h0.W"])) for t in (theta0, theta1))
    mlp.evaluate_line_chunk(theta0, theta1, Z0, Z1, [0.5, 1.0], y)

    conv = models.get("cifar10_maxout_quick", input_shape=(1, 10, 10), n_classes=3)
    Xc = rng.standard_normal((4, 100))
    c0, c1 = conv.init(0, dtype=np.float64), conv.init(1, dtype=np.float64)
    Zc0, Zc1 = (conv.first_bias(t, conv.first_linear(Xc, conv.unflatten(t)["h0.W"])) for t in (c0, c1))
    conv.evaluate_line_chunk(c0, c1, Zc0, Zc1, [0.5], rng.integers(0, 3, 4))
    assert calls == SITES
