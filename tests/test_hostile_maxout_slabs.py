"""Hostile checks of two changes.

1. maxout_forward copies a dense layer's k adjacent pieces into k contiguous (N, U) slabs (one array for all
   blocks of examples) before the maximum and the first-winner masks. The claim: the same bits as the
   strided-view version it replaced, for every dtype, tie pattern, special value, thread count and memory
   layout. The reference is the package's plain one, minilinpath.layers.reference.maxout_forward: k - 1
   element-wise maxima of the pieces in order (which fixes which NaN, and which sign of zero, comes out) and
   the first winner by argmax (the lowest piece equal to the maximum; none when the maximum is NaN).
2. linear_path passes ``on_line=`` to the ``evaluate_line_chunk`` of a model with the ``LineParameters``
   ability (minilinpath.contract): having it means taking that keyword, so no signature is read. The claim:
   every variant that takes ``on_line`` by keyword gives the plain MLP's curves bit for bit; one that does not
   (an older signature, ``*args``, a functools.wraps wrapper) breaks the contract and gets Python's TypeError
   naming ``on_line``; a model without evaluate_line_chunk gets the generic loop. (Before the contract the sweep
   read signatures, through functools.wraps too, and withheld ``on_line`` from those variants.)
   maxout_backward of an empty batch was mended on the way.
"""
import functools

import numpy as np
import pytest

import minilinpath.models.mlp as mlp_module
from minilinpath import threads
from minilinpath.contract import LineParameters
from minilinpath.layers import maxout_backward, maxout_forward, reference
from minilinpath.layers.maxout import MaxoutCache
from minilinpath.models import MLP, get as get_model
from minilinpath.optim import momentum_step
from minilinpath.path.linear import linear_path

UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


# ------------------------------------------------------------------ the package's plain reference
def reference_maximum(z, k):
    """out[n, j] = max_p z[n, j*k + p] by minilinpath.layers.reference.maxout_forward (piece 0, then np.maximum
    with each later piece: the order fixes which NaN, and which sign of zero, comes out), in z's dtype (its
    byte order too, as maxout_forward keeps it)."""
    return reference.maxout_forward(z, k)[0].astype(z.dtype)


def reference_first_winner(z, k):
    """(k, N, U) bool, as maxout_forward's cache: piece p of unit j is the first (lowest) piece equal to the
    maximum, argmax's piece; none when the maximum is NaN (the reference's one-hot, pieces moved first)."""
    return np.moveaxis(reference.maxout_forward(z, k)[1].won, 2, 0)


def same_bits(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    if a.dtype == bool:
        return np.array_equal(a, b)
    return np.array_equal(a.view(UINT[a.dtype.itemsize]), b.view(UINT[a.dtype.itemsize]))


def special_values(dtype):
    """Both zeros, both infinities, NaNs with different signs and payloads, subnormals, extremes, 1 and -1."""
    info = np.finfo(dtype)
    uint = UINT[np.dtype(dtype).itemsize]
    quiet = np.array([np.nan], dtype=dtype).view(uint)[0]
    sign = uint(1) << uint(8 * np.dtype(dtype).itemsize - 1)
    nans = np.array([quiet | uint(1), quiet | uint(2) | sign], dtype=uint).view(dtype)
    assert np.isnan(nans).all() and nans.view(uint)[0] != nans.view(uint)[1]
    plain = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, info.smallest_subnormal,
                      -info.smallest_subnormal, info.max, -info.max], dtype=dtype)
    return np.concatenate([plain, nans])


def draw_z(rng, dtype, n, width, kind):
    if kind == "special":
        values = special_values(dtype)
        return values[rng.integers(0, len(values), (n, width))]
    if kind == "zeros":                          # only +0.0 and -0.0: every unit a tie, the sign decided by order
        return np.where(rng.random((n, width)) < 0.5, dtype(0.0), dtype(-0.0)).astype(dtype)
    return np.round(rng.standard_normal((n, width))).astype(dtype)     # integers: many ties


def layouts(z):
    """The same numbers in other memory layouts: Fortran order, a transposed copy's transpose, a strided view
    into a larger array at an offset, read-only, big-endian."""
    yield "C", z
    yield "F", np.asfortranarray(z)
    yield "transposed", np.ascontiguousarray(z.T).T
    n, w = z.shape
    big = np.full((2 * n + 3, 3 * w + 2), 7, dtype=z.dtype)
    big[3::2, 2::3][:n, :w] = z
    yield "strided view", big[3::2, 2::3][:n, :w]
    frozen = z.copy()
    frozen.flags.writeable = False
    yield "read-only", frozen
    yield "byte-swapped", z.astype(z.dtype.newbyteorder())


def check_against_references(z, k, rng):
    z_before = z.copy()
    out, cache = maxout_forward(z, k)
    assert same_bits(z, z_before), "maxout_forward changed its input"
    assert same_bits(out, reference_maximum(z, k))
    assert same_bits(cache.first, reference_first_winner(z, k))
    dout = rng.standard_normal(out.shape).astype(z.dtype)
    dz = maxout_backward(dout, cache)
    # dout at the winner, dout * 0 elsewhere (-0.0 where dout < 0, as the old code gave)
    expected = reference.maxout_backward(dout, reference.maxout_forward(z, k)[1]).astype(dout.dtype)
    assert same_bits(dz, expected)


# ------------------------------------------------------------------ 1. maxout_forward's slabs
@pytest.mark.parametrize("workers", ["1", "3"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dense_maxout_bits_in_every_layout(workers, dtype, monkeypatch):
    """Small shapes (N = 0 and 1, k = 1, k = the width) split into blocks as small as one row: output,
    first-winner masks and backward equal the references bit for bit, and the input is left as it was."""
    monkeypatch.setenv("MINILINPATH_THREADS", workers)
    monkeypatch.setattr(threads, "MIN_BLOCK_BYTES", 1)
    rng = np.random.default_rng(11)
    for n, units, k in [(0, 3, 2), (1, 5, 5), (1, 1, 1), (7, 4, 1), (3, 1, 6), (13, 6, 3), (9, 2, 8)]:
        for kind in ("special", "zeros", "round"):
            z = draw_z(rng, dtype, n, units * k, kind)
            for name, view in layouts(z):
                try:
                    check_against_references(view, k, rng)
                except AssertionError as error:
                    raise AssertionError(f"N={n} U={units} k={k} {kind} {name}: {error}") from None


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dense_maxout_bits_when_split_over_threads(dtype, monkeypatch):
    """N large enough that the default block size splits it between threads (checked: the forward pass runs in
    at least two blocks, each sliced out of the one slab array, at the same time), with special values."""
    monkeypatch.setenv("MINILINPATH_THREADS", "3")
    rng = np.random.default_rng(12)
    units, k = 6, 4
    n = 2 * threads.rows_per_block(units * k * np.dtype(dtype).itemsize) + 5
    z = draw_z(rng, dtype, n, units * k, "special")
    blocks = []
    real = threads.for_row_blocks

    def recording(fn, n_rows, min_block_rows, xp=None):
        return real(lambda lo, hi: blocks.append((lo, hi)) or fn(lo, hi), n_rows, min_block_rows, xp)

    monkeypatch.setattr(threads, "for_row_blocks", recording)
    out, cache = maxout_forward(z, k)
    forward_blocks = sorted(blocks)
    assert len(forward_blocks) >= 2 and forward_blocks[0][0] == 0 and forward_blocks[-1][1] == n
    assert same_bits(out, reference_maximum(z, k))
    grouped = z.reshape(n, units, k)
    winner = np.where(np.isnan(grouped).any(axis=2), -1, np.argmax(grouped, axis=2))
    for p in range(k):   # argmax picks the first maximum; a unit whose maximum is NaN has no winner
        np.testing.assert_array_equal(cache.first[p], winner == p)


def test_nan_takes_the_first_nan_and_routes_no_gradient():
    """The behaviour the strided version had, written down: the first NaN of a unit (sign and payload) is its
    output, no piece of that unit wins, so its gradient is zero; +inf beats everything else."""
    quiet = np.array([0x7FF8000000000001, 0xFFF8000000000002], dtype=np.uint64).view(np.float64)
    z = np.array([[1.0, quiet[0], 2.0, quiet[1]],
                  [quiet[1], 5.0, quiet[0], 9.0],
                  [-np.inf, np.inf, np.inf, -0.0],
                  [-0.0, 0.0, -0.0, 0.0]])
    out, cache = maxout_forward(z, 4)
    assert list(out[:2, 0].view(np.uint64)) == [0x7FF8000000000001, 0xFFF8000000000002]
    assert out[2, 0] == np.inf and out[3, 0] == 0.0     # which zero: np.maximum's choice (the layout test)
    np.testing.assert_array_equal(cache.first[:, :, 0].T, [[False] * 4, [False] * 4, [False, True, False, False],
                                                           [True, False, False, False]])
    np.testing.assert_array_equal(maxout_backward(np.ones((4, 1)), cache),
                                  [[0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0]])


def test_maxout_backward_of_no_examples():
    """dz.reshape(0, -1) could not infer the width of an empty batch (a ValueError before the fix)."""
    out, cache = maxout_forward(np.zeros((0, 6)), 3)
    assert out.shape == (0, 2) and cache.first.shape == (3, 0, 2)
    assert maxout_backward(np.zeros((0, 2)), cache).shape == (0, 6)


def _reference_maxout_forward(z, k):
    """The package reference's maxout with maxout_forward's cache type (for maxout_backward), for the training
    test."""
    return reference_maximum(z, k), MaxoutCache(reference_first_winner(z, k))


def _train(model, dtype, steps, rng_seed=5):
    rng = np.random.default_rng(rng_seed)
    X = rng.random((steps * 40, model.n_in)).astype(dtype)
    X[X < 0.6] = 0                                  # zero rows and columns: every piece of a unit tied at init
    X[::7] = 0
    y = rng.integers(0, 10, X.shape[0])
    theta = model.init(3, dtype=dtype)
    velocity = np.zeros_like(theta)
    for s in range(steps):
        rows = slice(40 * s, 40 * (s + 1))
        _, grad = model.loss_and_grad(theta, (X[rows], y[rows]), np.random.default_rng([rng_seed, s]))
        momentum_step(theta, velocity, grad, 0.5, 0.5)
        model.constrain(theta)
    return theta


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxout_mlp_training_ends_with_the_reference_bits(workers, dtype, monkeypatch):
    """mnist_pi's network (quick width, dropout, max column norms) and a small k = 3 MLP: a few steps of
    loss_and_grad + momentum_step + constrain give the same theta bits with the slab maxout as with the
    package's reference maxout. A batch of 40 is far below MIN_BLOCK_BYTES, so with "2" workers the block
    size is lowered until maxout_forward really runs in two blocks (counted), and with "1" it runs in one."""
    monkeypatch.setenv("MINILINPATH_THREADS", workers)
    monkeypatch.setattr(threads, "MIN_BLOCK_BYTES", 1024)   # (40, 16 * 3) float32: 7.5 KB, several 1 KB blocks
    blocks_per_call, blocks_in_maxout = [], []
    real = threads.for_row_blocks

    def counting(fn, n_rows, min_block_rows, xp=None):
        blocks = []
        real(lambda lo, hi: blocks.append((lo, hi)) or fn(lo, hi), n_rows, min_block_rows, xp)
        blocks_per_call.append(len(blocks))

    def slab_maxout_counted(z, k):
        before = len(blocks_per_call)
        result = maxout_forward(z, k)
        blocks_in_maxout.extend(blocks_per_call[before:])
        return result

    monkeypatch.setattr(threads, "for_row_blocks", counting)
    builders = [lambda: get_model("mnist_pi_quick"),
                lambda: MLP(n_in=784, hidden=(16, 12), activation="maxout", pieces=3, n_classes=10,
                            init_ranges=(0.05,) * 3, max_col_norms=(0.3, 0.3, 0.3))]
    for build in builders:
        thetas = []
        for forward in (slab_maxout_counted, _reference_maxout_forward):
            monkeypatch.setattr(mlp_module, "maxout_forward", forward)
            thetas.append(_train(build(), dtype, steps=3))
        assert blocks_in_maxout and set(blocks_in_maxout) == {int(workers)}, blocks_in_maxout
        blocks_in_maxout.clear()
        assert same_bits(thetas[0], thetas[1])
        assert not same_bits(thetas[0], build().init(3, dtype=dtype))      # training did move theta


# ------------------------------------------------------------------ 2. on_line only for a signature that takes it
SMALL = dict(n_in=12, n_classes=4, init_ranges=(0.5,) * 3, hidden=(7, 5), activation="maxout", pieces=3)


def _old_signature():
    """A fresh function with evaluate_line_chunk's signature from before on_line (fresh: wraps mutates it)."""
    def evaluate_line_chunk(self, theta0, theta1, Z0, Z1, alphas, y):
        return MLP.evaluate_line_chunk(self, theta0, theta1, Z0, Z1, alphas, y)
    return evaluate_line_chunk


class _CallsWithKeyword:
    def __init__(self, mlp):
        self.mlp = mlp

    def __call__(self, *args, on_line=None):
        return MLP.evaluate_line_chunk(self.mlp, *args, on_line=on_line)


class _CallsOldSignature:
    def __init__(self, mlp):
        self.mlp = mlp

    def __call__(self, theta0, theta1, Z0, Z1, alphas, y):
        return MLP.evaluate_line_chunk(self.mlp, theta0, theta1, Z0, Z1, alphas, y)


def _subclass(method):
    return type("Sub", (MLP,), {"evaluate_line_chunk": method})(**SMALL)


def _instance_with(make):
    model = MLP(**SMALL)
    model.evaluate_line_chunk = make(model)
    return model


def _only_args_forwarded_with_wraps():
    @functools.wraps(MLP.evaluate_line_chunk)
    def evaluate_line_chunk(self, *args):      # says (via __wrapped__) it takes on_line; it does not
        return MLP.evaluate_line_chunk(self, *args)
    return evaluate_line_chunk


class _HidesEvaluateLineChunk:
    """A wrapper exposing line_parameters but not evaluate_line_chunk (the sweep's generic loop serves it)."""

    def __init__(self, mlp):
        self._mlp = mlp

    def __getattr__(self, name):
        if name == "evaluate_line_chunk":
            raise AttributeError(name)
        return getattr(self._mlp, name)


KEEP_THE_CONTRACT = {      # evaluate_line_chunk takes on_line by keyword (or the model has no evaluate_line_chunk)
    "**kwargs": lambda: _subclass(lambda self, *args, **kwargs: MLP.evaluate_line_chunk(self, *args, **kwargs)),
    "keyword-only required": lambda: _subclass(lambda self, a, b, c, d, e, f, *, on_line:
                                               MLP.evaluate_line_chunk(self, a, b, c, d, e, f, on_line=on_line)),
    "partial of MLP's": lambda: _instance_with(lambda m: functools.partial(MLP.evaluate_line_chunk, m)),
    "bound method of another MLP": lambda: _instance_with(lambda m: MLP(**SMALL).evaluate_line_chunk),
    "callable object, keyword": lambda: _instance_with(_CallsWithKeyword),
    "wrapper without evaluate_line_chunk": lambda: _HidesEvaluateLineChunk(MLP(**SMALL)),
}

BREAK_THE_CONTRACT = {     # line_parameters (inherited), but an evaluate_line_chunk that refuses on_line=
    "positional-only": lambda: _subclass(lambda self, a, b, c, d, e, f, on_line=None, /:
                                         MLP.evaluate_line_chunk(self, a, b, c, d, e, f, on_line)),
    "*args": lambda: _subclass(lambda self, *args: MLP.evaluate_line_chunk(self, *args)),
    "renamed, positional": lambda: _subclass(lambda self, a, b, c, d, e, f, layers=None:
                                             MLP.evaluate_line_chunk(self, a, b, c, d, e, f, layers)),
    "older six arguments": lambda: _subclass(_old_signature()),
    "partialmethod of the older": lambda: _subclass(functools.partialmethod(_old_signature())),
    "staticmethod": lambda: _subclass(staticmethod(lambda *args: MLP.evaluate_line_chunk(MLP(**SMALL), *args))),
    "partial of the older": lambda: _instance_with(lambda m: functools.partial(_old_signature(), m)),
    "bound older method of another": lambda: _instance_with(lambda m: _subclass(_old_signature()).evaluate_line_chunk),
    "callable object, older": lambda: _instance_with(_CallsOldSignature),
    "wraps(*args) over MLP's": lambda: _subclass(_only_args_forwarded_with_wraps()),
    "older signature given MLP's docstring by wraps":
        lambda: _subclass(functools.wraps(MLP.evaluate_line_chunk)(_old_signature())),
}


def _line_problem():
    """A small maxout MLP's line: two chunks (61 examples, chunk_size 40), alphas outside [0, 1]."""
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((61, 12)).astype(np.float32), rng.integers(0, 4, 61)
    plain = MLP(**SMALL)
    theta0, theta1 = plain.init(1), (3 * plain.init(2)).astype(np.float32)
    return plain, (X, y), theta0, theta1, np.linspace(-0.5, 1.5, 5)


@pytest.mark.parametrize("name", list(KEEP_THE_CONTRACT))
def test_linear_path_curves_whatever_the_signature(name):
    """Every variant that keeps the contract sweeps the same line as the plain MLP with the same curves bit for bit
    (the wrapper without evaluate_line_chunk, through the generic loop: to rounding), and raises nothing."""
    plain, batch, theta0, theta1, alphas = _line_problem()
    expected = linear_path(plain, theta0, theta1, batch, alphas, chunk_size=40, progress=False)
    model = KEEP_THE_CONTRACT[name]()
    got = linear_path(model, theta0, theta1, batch, alphas, chunk_size=40, progress=False)
    exact = not isinstance(model, _HidesEvaluateLineChunk)
    for curve in ("J_train", "error_train"):
        if exact:
            np.testing.assert_array_equal(getattr(got, curve), getattr(expected, curve), err_msg=curve)
        else:
            np.testing.assert_allclose(getattr(got, curve), getattr(expected, curve), rtol=1e-6, err_msg=curve)


@pytest.mark.parametrize("name", list(BREAK_THE_CONTRACT))
def test_an_evaluate_line_chunk_without_on_line_beside_line_parameters_is_a_type_error_naming_it(name):
    """The LineParameters ability means evaluate_line_chunk takes on_line: the sweep reads no signature, so a model
    that inherits line_parameters but refuses the keyword gets Python's TypeError, which names on_line."""
    _, batch, theta0, theta1, alphas = _line_problem()
    model = BREAK_THE_CONTRACT[name]()
    assert isinstance(model, LineParameters)
    with pytest.raises(TypeError, match="on_line"):
        linear_path(model, theta0, theta1, batch, alphas, chunk_size=40, progress=False)