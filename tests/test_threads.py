"""minilinpath.threads: element-wise passes split over threads by blocks of examples, with the same numbers."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from minilinpath import threads
from minilinpath import models
from minilinpath.layers import (affine_forward, conv_backward, conv_forward, lstm_backward, lstm_forward,
                                max_pool_backward, max_pool_eval, max_pool_forward, maxout_backward, maxout_eval,
                                maxout_forward, softmax_cross_entropy)
from minilinpath.models import ConvMaxout, ConvSpec
from minilinpath.optim import momentum_step
from minilinpath.path import linear_path


@pytest.fixture
def many_threads(monkeypatch):
    """Four workers, and blocks as small as one row, so that even tiny arrays are split."""
    monkeypatch.setenv("MINILINPATH_THREADS", "4")
    monkeypatch.setattr(threads, "MIN_BLOCK_BYTES", 1)


@pytest.fixture
def one_thread(monkeypatch):
    monkeypatch.setenv("MINILINPATH_THREADS", "1")


def test_even_blocks_cover_the_rows_once():
    assert threads.even_blocks(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert threads.even_blocks(2, 4) == [(0, 1), (1, 2)]
    with pytest.raises(ValueError, match="parts"):
        threads.even_blocks(5, 0)
    assert threads.rows_per_block(1000, 4096) == 4 and threads.rows_per_block(10**9, 4096) == 1


def test_blocks_run_on_several_threads_and_cover_every_row(many_threads):
    seen, names = np.zeros(103, int), set()
    lock = threading.Lock()

    def fn(lo, hi):
        with lock:
            seen[lo:hi] += 1
            names.add(threading.current_thread().name)

    threads.for_row_blocks(fn, 103, 1)
    assert (seen == 1).all()
    assert threading.current_thread().name in names and len(names) >= 2   # this thread took a block too


def test_a_block_that_fails_raises_here_after_the_others_ended(many_threads):
    done = []

    def fn(lo, hi):
        if lo == 0:
            raise RuntimeError("block 0 failed")
        done.append((lo, hi))

    with pytest.raises(RuntimeError, match="block 0 failed"):
        threads.for_row_blocks(fn, 40, 1)
    assert sorted(done) == [(10, 20), (20, 30), (30, 40)]


def test_a_call_from_inside_a_block_runs_there(many_threads):
    inner = []
    threads.for_row_blocks(lambda lo, hi: threads.for_row_blocks(lambda a, b: inner.append((lo + a, lo + b)),
                                                                 hi - lo, 1), 8, 1)
    assert sorted(inner) == [(0, 2), (2, 4), (4, 6), (6, 8)]      # each outer block once, whole: no nested pool


def test_gpu_arrays_are_one_call(many_threads):
    class FakeCupy:
        __name__ = "cupy"
    calls = []
    threads.for_row_blocks(lambda lo, hi: calls.append((lo, hi)), 50, 1, FakeCupy())
    assert calls == [(0, 50)]


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", "1_0", ",2"])
def test_a_bad_thread_count_is_refused_by_name(monkeypatch, value):
    monkeypatch.setenv("MINILINPATH_THREADS", value)
    with pytest.raises(ValueError, match="MINILINPATH_THREADS"):
        threads.worker_count()


def test_the_thread_count_follows_the_blas_limits(monkeypatch):
    monkeypatch.delenv("MINILINPATH_THREADS", raising=False)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.worker_count() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3,2")                  # OpenMP's per-level list: the outer level
    assert threads.worker_count() == 3
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")               # OpenBLAS's own variable wins, as in OpenBLAS
    assert threads.worker_count() == 1
    monkeypatch.setenv("MINILINPATH_THREADS", "3")
    assert threads.worker_count() == 3


def run_python(code, **env):
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("OPENBLAS_THREAD_TIMEOUT", "MINILINPATH_THREADS", "OMP_NUM_THREADS",
                                "OPENBLAS_NUM_THREADS")}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment,
                          timeout=120, check=True).stdout.split()


def test_importing_minilinpath_first_shortens_openblas_spin_and_turns_the_pool_on():
    code = "import minilinpath, os; from minilinpath import threads; " \
           "cpus = len(os.sched_getaffinity(0)) if threads._numpy_uses_openblas() else 1; " \
           "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'), threads.worker_count() == cpus)"
    assert run_python(code) == ["18", "True"]
    assert run_python(code, OPENBLAS_THREAD_TIMEOUT="20")[0] == "20"        # a user's own setting is kept


def test_a_long_spin_set_by_the_user_keeps_the_pool_off():
    code = "import minilinpath, os; from minilinpath import threads; " \
           "print(threads.worker_count(), len(os.sched_getaffinity(0)) if threads._numpy_uses_openblas() else 1)"
    assert run_python(code, OPENBLAS_THREAD_TIMEOUT="28")[0] == "1"
    count, expected = run_python(code, OPENBLAS_THREAD_TIMEOUT="16")              # a short spin of the user's own
    assert count == expected


def test_a_thread_that_outlives_the_script_still_computes():
    # once the interpreter shuts down no new work can go to the pool: the blocks run in the calling thread
    code = """
import threading, time, minilinpath, numpy as np
from minilinpath import threads
from minilinpath.layers import softmax_cross_entropy
threads.MIN_BLOCK_BYTES = 1
def late():
    time.sleep(0.5)
    print(float(softmax_cross_entropy(np.zeros((8, 4)), np.zeros(8, int))[0]))
threading.Thread(target=late).start()
"""
    assert run_python(code, MINILINPATH_THREADS="2") == [repr(float(np.log(4)))]


def test_numpy_imported_first_keeps_the_long_spin_and_one_thread():
    code = "import numpy, minilinpath, os; from minilinpath import threads; " \
           "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'), threads.worker_count())"
    assert run_python(code) == ["None", "1"]
    assert run_python(code, MINILINPATH_THREADS="2") == ["None", "2"]        # asked for: on anyway


def test_a_forked_child_starts_its_own_pool():
    code = """
import minilinpath, os, multiprocessing as mp
os.environ['MINILINPATH_THREADS'] = '2'
from minilinpath import threads
threads.MIN_BLOCK_BYTES = 1
def total():
    seen = []
    threads.for_row_blocks(lambda lo, hi: seen.append(hi - lo), 10, 1)
    return sum(seen)
total()                                   # the parent's pool exists now
with mp.get_context('fork').Pool(1) as pool:
    print(total(), pool.apply(total))
"""
    assert run_python(code) == ["10", "10"]


def test_the_softmax_of_strided_logits_gives_the_same_bits(monkeypatch):
    # a row's max and sum over strided (F-ordered) memory may add in another order when the rows are split
    rng = np.random.default_rng(0)
    monkeypatch.setattr(threads, "MIN_BLOCK_BYTES", 1)
    for n in (2, 3, 7) * 5:
        logits, y = np.asfortranarray(rng.standard_normal((n, 40))), rng.integers(0, 40, n)
        monkeypatch.setenv("MINILINPATH_THREADS", "1")
        alone = softmax_cross_entropy(logits, y)
        monkeypatch.setenv("MINILINPATH_THREADS", "4")
        for a, b in zip(alone, softmax_cross_entropy(logits, y)):
            assert np.array_equal(a, b)


def layer_results(rng):
    """Every threaded layer's outputs on one set of inputs (float64, odd sizes)."""
    z = rng.standard_normal((7, 6, 9, 8))
    out, maxout_cache = maxout_forward(z, 2)
    dz = maxout_backward(rng.standard_normal(out.shape), maxout_cache)
    pooled, pool_cache = max_pool_forward(np.round(z, 1), 3, 2)          # rounded: ties
    dx_pool = max_pool_backward(rng.standard_normal(pooled.shape), pool_cache)
    x, W, b = rng.standard_normal((7, 3, 10, 9)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    conv, conv_cache = conv_forward(x, W, b, 1, 1, algorithm="im2col")
    dx, dW, db = conv_backward(rng.standard_normal(conv.shape), conv_cache)
    logits, y = rng.standard_normal((9, 5)) * 3, rng.integers(0, 5, 9)
    loss, dlogits = softmax_cross_entropy(logits, y)
    affine, _ = affine_forward(rng.standard_normal((9, 4)), rng.standard_normal((4, 6)), rng.standard_normal(6))
    Wx, Wh, bl = rng.standard_normal((3, 8)), rng.standard_normal((2, 8)), rng.standard_normal(8)
    _, _, lstm_cache = lstm_forward(rng.standard_normal((4, 5, 3)), np.zeros((4, 2)), np.zeros((4, 2)), Wx, Wh, bl)
    lstm_grads = lstm_backward(rng.standard_normal((4, 5, 2)), lstm_cache)
    theta, velocity, grad = (rng.standard_normal(37) for _ in range(3))
    momentum_step(theta, velocity, grad, 0.013, 0.7)
    return [out, maxout_cache.first, dz, maxout_eval(z, 3), pooled, pool_cache.winner, dx_pool,
            max_pool_eval(z, 2, 2), conv, dx, dW, db, loss, dlogits, affine, *lstm_grads, theta, velocity, grad,
            *sweeps(rng)]


def sweeps(rng):
    """The fast sweeps of an MLP (maxout, pieces first) and of a conv net, both J and error along the line."""
    mlp = models.get("mnist_pi", n_in=6, hidden=(5, 4), pieces=3)
    convnet = ConvMaxout(input_shape=(1, 7, 7), conv=(ConvSpec(2, 2, 3, 1, 3, 2),), dense=(3,), dense_pieces=2,
                         init_range=0.5)
    curves = []
    for model, d in ((mlp, 6), (convnet, 49)):
        X, y = rng.standard_normal((13, d)), rng.integers(0, 10 if model is mlp else 10, 13)
        result = linear_path(model, model.init(1, dtype=np.float64), model.init(2, dtype=np.float64), (X, y),
                             np.linspace(-0.5, 1.5, 5))
        curves += [np.asarray(v) for _, v in sorted(result.arrays().items())]
    return curves


def test_the_layers_give_the_same_bits_on_one_thread_and_on_four(monkeypatch):
    monkeypatch.setenv("MINILINPATH_THREADS", "1")
    alone = layer_results(np.random.default_rng(0))
    monkeypatch.setenv("MINILINPATH_THREADS", "4")
    monkeypatch.setattr(threads, "MIN_BLOCK_BYTES", 1)
    split = layer_results(np.random.default_rng(0))
    for a, b in zip(alone, split):
        assert np.asarray(a).dtype == np.asarray(b).dtype and np.array_equal(a, b)
