# %% [markdown]
# # Lesson 3 — the linear path experiment on a real network
#
# Train a ReLU network on digits, then evaluate the objective on the straight line
# $\theta(\alpha) = (1-\alpha)\theta_i + \alpha\theta_f$ between its initial parameters and its solution, on the
# *whole* training set at every $\alpha$. That is the experiment of Goodfellow, Vinyals & Saxe (2015). You
# write the sweep itself, with the trick that makes it cheap.
#
# **Settings** (the first code cell, yours to edit): `DATA_DIR` names the folder that holds
# `t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz`, MNIST's test set (`None`: synthetic digits, said so;
# the lesson reads nothing outside the checkout but this folder); `USE_SOLUTIONS = True` runs the whole lesson with
# the reference answers from `lessons/solutions/`; `SMALL = True` picks the quickest settings. Until an exercise
# passes, Run All stops at its check with one message. As a script: `python lessons/lesson03_linear_path_mnist.py
# [DATA_DIR] [--solutions] [--small]`; a folder given there wins over `DATA_DIR`, which wins over the variable
# `MINILINPATH_DATA_DIR`. The solutions (small settings) are on when the cell, `--solutions` (`--small`) or
# `MINILINPATH_SOLUTIONS=1` (`MINILINPATH_LESSON_SMALL=1`) says so.

# %%
DATA_DIR = None        # e.g. "~/data/mnist": the folder with the two t10k-...-ubyte.gz files; None: synthetic
USE_SOLUTIONS = False  # True: every exercise uses its reference answer (lessons/solutions/)
SMALL = False          # True: the quickest settings (the ones the tests run)

# %%
import time

import numpy as np

from lessontools import Course, minima

from minilinpath.models import MLP
from minilinpath.path import barrier_height, interpolate, linear_path, random_point, summarize
from minilinpath.train import Recipe, train

course = Course("lesson03_linear_path_mnist", data_dir=DATA_DIR, solutions=USE_SOLUTIONS, small=SMALL)

# %% [markdown]
# ## 1. The sweep and the first-layer trick
#
# Evaluating $J(\theta(\alpha))$ at $A$ values of $\alpha$ costs $A$ forward passes, and in the first layer of
# an MNIST network the product $XW$ ($N\times 784$ times $784\times H$) is most of the work. But the first
# layer's pre-activation is affine in $\alpha$:
#
# $$X W(\alpha) + b(\alpha) = (1-\alpha)\,(XW_0 + b_0) + \alpha\,(XW_1 + b_1),$$
#
# so two products, computed once, serve every $\alpha$. Later layers see $h(\alpha)$, which is *not* affine
# in $\alpha$ (the ReLU is in between), so they use the interpolated weights themselves. Write the sweep for a
# ReLU `MLP` without dropout: `model.unflatten(theta)` gives the named views (`h0.W`, `h0.b`, ..., `y.W`,
# `y.b`), `model.layer_names` their order, and $J$ is the mean softmax cross-entropy.

# %%
@course.exercise
def fast_sweep(model, theta0, theta1, X, y, alphas):
    """J(theta(alpha)) for each alpha, theta(alpha) = (1 - alpha) theta0 + alpha theta1.

    model: a minilinpath MLP with ReLU hidden layers and no dropout; theta0, theta1: flat (P,) vectors;
    X (N, D), y (N,) integer labels; alphas (A,). Returns an array (A,) of mean cross-entropies, using the
    first-layer products X W0 and X W1 once for all alphas.
    """
    # TODO
    raise NotImplementedError("fast_sweep")


# %%
course.check(fast_sweep);

# %% [markdown]
# ## 2. Train two networks (two seeds)

# %%
n_train, hidden, epochs, rate = (2000, 64, 3, 0.3) if course.small else (8000, 200, 10, 0.1)
train_set, valid_set = course.digits(n_train, 2000)
model = MLP(n_in=784, hidden=(hidden, hidden), activation="relu", n_classes=10, init_ranges=(0.05, 0.05, 0.05))
recipe = Recipe(batch_size=100, learning_rate=rate, momentum=0.5, max_epochs=epochs, patience=None)
runs = [train(model, train_set, valid_set, recipe, course.run_folder(f"seed{s}"), seed=s, progress=False, log=None)
        for s in (0, 1)]
for s, r in enumerate(runs):
    print(f"  seed {s}: best validation error {r.best_valid_error:.2%} at epoch {r.best_epoch}")

# %% [markdown]
# Your sweep against the plain one (a full forward pass at every $\alpha$), on the training set, with the
# fine sweep a figure wants: $A = 101$ values of $\alpha$. Count the multiply-adds per example: the plain sweep
# does $A\,(784H + H^2 + 10H)$, yours $2\cdot 784H + A\,(H^2 + 10H)$; their ratio is the speed-up to expect
# (the element-wise work, ReLU and softmax, is the same in both and eats some of it). The trick pays when the
# first layer is wide against the rest (784 inputs against $H$ units) and $A$ is large; with $A = 2$ it saves
# nothing. One trap: a NumPy `float64` scalar times a `float32` array is `float64`, twice the work; keep
# $\alpha$ a Python `float` (`for a in map(float, alphas)`) and float32 stays float32.

# %%
def best_time(sweep, repeats=2):
    """The fastest of ``repeats`` runs of ``sweep()`` in seconds (the machine may be busy), and its result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        values = sweep()
        times.append(time.perf_counter() - start)
    return min(times), values


alphas = np.linspace(0, 1.5, 101)
X, y = train_set
theta_i, theta_f = runs[0].theta_init, runs[0].theta_best
fast_s, mine = best_time(lambda: fast_sweep(model, theta_i, theta_f, X, y, alphas))
plain_s, plain = best_time(lambda: np.array([model.loss(interpolate(theta_i, theta_f, a), train_set)
                                             for a in alphas]))
A, H = len(alphas), hidden
expected = A * (784 * H + H * H + 10 * H) / (2 * 784 * H + A * (H * H + 10 * H))
speedup = plain_s / fast_s
print(f"  {A} values of alpha, {len(y):,} examples, H = {H}: largest difference {np.abs(mine - plain).max():.1e} "
      f"(float32)\n  plain {plain_s:.2f} s, yours {fast_s:.2f} s: {speedup:.1f}x faster "
      f"(the multiply-adds predict {expected:.1f}x)")

# %% [markdown]
# ## 3. Three lines, and how to read them
#
# `minilinpath.path.linear_path` does the same sweep (on training and validation sets, with error rates) and
# `summarize` applies the metrics defined in `minilinpath.path.metrics`: is $J$ monotone on $[0, 1]$, the
# largest bump (the biggest rise after a fall), the local minima on the sampled curve.

# %%
def describe(name, result):
    m = summarize(result.alphas, result.J_train)
    print(f"  {name}: monotone on [0, 1]: {m['monotone']}, largest bump {m['largest_bump']:.3g}, "
          f"local minima at alpha = {minima(m)}")
    return m


init_path = linear_path(model, theta_i, theta_f, train_set, np.linspace(0, 1.5, 16 if course.small else 31),
                        valid_set, progress=False)
init_metrics = describe("init -> solution", init_path)
between = linear_path(model, runs[0].theta_best, runs[1].theta_best, train_set, np.linspace(-0.2, 1.2, 15),
                      valid_set, progress=False)
describe("solution -> solution", between)
barrier, where = barrier_height(between.alphas, between.J_train, "mean")
print(f"  barrier: {barrier:.3g} above the mean of the two ends, at alpha = {where:.2f}")
from_random = linear_path(model, random_point(model, seed=3), runs[0].theta_best, train_set, np.linspace(0, 1, 11),
                          progress=False)
random_metrics = describe("random point -> solution", from_random)

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 3, figsize=(14, 4))
for ax, r, title in zip(axes, (init_path, between, from_random),
                        ("init -> solution", "solution -> solution", "random point -> solution")):
    ax.plot(r.alphas, r.J_train, label="train")
    if r.J_valid is not None:
        ax.plot(r.alphas, r.J_valid, "--", label="validation")
    ax.set_title(title)
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel("J")
    ax.legend()
axes[2].set_yscale("log")
axes[2].set_ylabel("J (log scale)")
course.show(fig, "lesson03_paths.png");

# %% [markdown]
# ## Questions to think about
#
# 1. The init → solution curve is flat near $\alpha = 0$ and then falls with no bump, as the paper finds for
#    every feed-forward network it tried. Does that mean training went in a straight line? (Lesson 7.)
# 2. Beyond $\alpha = 1$ the validation curve rises before the training curve does. What does that say about
#    the direction $\theta_f - \theta_i$?
# 3. The two solutions are separated by a barrier, yet both were found from nearby starts. Permuting the hidden
#    units of one network gives a third solution with exactly the same $J$: how does that explain the barrier?
# 4. Your speed-up grows with the number of $\alpha$ values and with the first layer's share of the work. Where
#    would the same trick fail (think of dropout masks, or convolutions)?
