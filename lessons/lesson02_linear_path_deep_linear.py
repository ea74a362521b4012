# %% [markdown]
# # Lesson 2 — the linear path, exactly, on the smallest deep network
#
# The network is $\hat y = w_1 w_2 x$, trained to output 1 at $x = 1$ with squared error:
# $J(w_1, w_2) = (1 - w_1 w_2)^2$. It has two layers and is non-convex (the set of minima $w_1 w_2 = 1$ is a
# hyperbola, and $w = 0$ is a saddle point), yet small enough to solve on paper.
#
# **The technique.** Take the initial parameters $\theta_i$ and a solution $\theta_f$ and walk the straight line
# $\theta(\alpha) = (1-\alpha)\theta_i + \alpha\theta_f$. Each weight is affine in $\alpha$, so
# $p(\alpha) = w_1(\alpha)w_2(\alpha)$ is a quadratic and $J(\alpha) = (1 - p(\alpha))^2$ a polynomial of
# degree 4: the whole curve is known exactly, no sampling needed.
#
# **Settings** (the first code cell, yours to edit; this lesson reads no data): `USE_SOLUTIONS = True` runs the
# whole lesson with the reference answers from `lessons/solutions/`; `SMALL = True` picks the quickest settings.
# Until an exercise passes, Run All stops at its check with one message. As a script: `python
# lessons/lesson02_linear_path_deep_linear.py [--solutions] [--small]`. The solutions (small settings) are on when
# the cell, `--solutions` (`--small`) or `MINILINPATH_SOLUTIONS=1` (`MINILINPATH_LESSON_SMALL=1`) says so.

# %%
USE_SOLUTIONS = False  # True: every exercise uses its reference answer (lessons/solutions/)
SMALL = False          # True: the quickest settings (the ones the tests run)

# %%
import numpy as np

import analytic
from lessontools import Course

from minilinpath import models
from minilinpath.models.deep_linear import toy_problem
from minilinpath.optim import gradient_descent
from minilinpath.path import interpolate

course = Course("lesson02_linear_path_deep_linear", solutions=USE_SOLUTIONS, small=SMALL)

# %% [markdown]
# ## 1. $J(\alpha)$ as a polynomial
#
# With $w_l(\alpha) = w_l^i + \alpha(w_l^f - w_l^i)$, multiply the two degree-1 polynomials and square
# $1 - p$. `numpy.polynomial.Polynomial([c0, c1])` is $c_0 + c_1\alpha$, and products and powers of
# `Polynomial` objects are exact.

# %%
@course.exercise
def path_polynomial(theta_i, theta_f):
    """theta_i, theta_f: arrays (w1, w2) -> numpy.polynomial.Polynomial J(alpha) = (1 - w1(alpha) w2(alpha))^2."""
    # TODO
    raise NotImplementedError("path_polynomial")


# %%
course.check(path_polynomial);

# %% [markdown]
# Now train from a small random start and compare your polynomial with the numerical model at a few $\alpha$.

# %%
model, batch = models.get("deep_linear"), toy_problem()
theta_i = np.random.default_rng(0).normal(0.0, 0.01, size=2)
theta = theta_i.copy()
for _step, theta, _J in gradient_descent(model, theta, batch, 0.1, steps=500):
    pass
theta_f = theta
J = path_polynomial(theta_i, theta_f)
print(f"  init {theta_i.round(4)} -> solution {theta_f.round(4)}, J(solution) = {model.loss(theta_f, batch):.1e}")
for a in (0.0, 0.25, 0.5, 1.0):
    print(f"  alpha {a:4.2f}: your polynomial {J(a):.6f}, the model {model.loss(interpolate(theta_i, theta_f, a), batch):.6f}")
for p in analytic.stationary_points(J, 0.0, 1.5):
    print(f"  stationary point at alpha = {p.alpha:+.4f}: {p.kind}, J = {p.J:.3g}")

# %% [markdown]
# ## 2. Where does the flat region end?
#
# From a small start, $p(\alpha) \approx \alpha^2 w_1^f w_2^f = \alpha^2$, so $J \approx (1 - \alpha^2)^2$ and
# $J'(0) = 0$: the line starts out flat, because $\theta_i$ sits next to the saddle point $w = 0$. This is the
# shape the paper finds for every network it tried: a flat start, then a steady descent, no bumps.
# Say the flat region ends where $J$ has lost a fraction `drop` of its starting value: the smallest
# $\alpha \in (0, 1]$ with $J(\alpha) = (1 - \text{drop})\,J(0)$.

# %%
@course.exercise
def flat_region_end(J, drop=0.01):
    """J: a Polynomial in alpha (decreasing from J(0) near 0) -> the smallest alpha in (0, 1] where
    J(alpha) = (1 - drop) J(0), as a float."""
    # TODO: a root of the polynomial J - (1 - drop) J(0)
    raise NotImplementedError("flat_region_end")


# %%
course.check(flat_region_end)
print(f"  here the flat region ends at alpha = {flat_region_end(J):.3f}; with drop = 10%: {flat_region_end(J, 0.1):.3f}")

# %% [markdown]
# ## 3. The barrier between two solutions
#
# $(2, \tfrac12)$ and $(\tfrac12, 2)$ both have $J = 0$: they lie on the same branch of the hyperbola
# $w_1w_2 = 1$, joined by a curved valley of minima. The straight line between them leaves the valley.
# **Work out by hand** the height of $J$ at the midpoint $\alpha = \tfrac12$ (the top of the barrier here, by
# symmetry) and return it.

# %%
@course.exercise
def barrier_by_hand():
    """The number J(1/2) on the line from (2, 1/2) to (1/2, 2), worked out by hand (a float)."""
    # TODO: return your number
    raise NotImplementedError("barrier_by_hand")


# %%
course.check(barrier_by_hand);

# %% [markdown]
# ## 4. Deeper: $\hat y = w_L \cdots w_1 x$
#
# Now $p(\alpha) = \prod_{l=1}^L w_l(\alpha)$ has degree $L$ and $J$ degree $2L$. From a small start
# $p(\alpha) \approx \alpha^L$: the deeper the network, the flatter the start (it sits at a saddle of order
# $L$). Write the general polynomial and watch the flat region grow with depth.

# %%
@course.exercise
def depth_path_polynomial(theta_i, theta_f):
    """theta_i, theta_f: arrays of L scalar weights -> Polynomial J(alpha) = (1 - prod_l w_l(alpha))^2."""
    # TODO
    raise NotImplementedError("depth_path_polynomial")


# %%
course.check(depth_path_polynomial)
rng = np.random.default_rng(1)
curves = {}
for L in (1, 2, 3, 5, 8):
    start = rng.normal(0.0, 0.01, L)
    end = np.full(L, 1.0)  # a solution: the product is 1
    curves[L] = depth_path_polynomial(start, end)
    print(f"  depth {L}: the flat region (1% drop) ends at alpha = {flat_region_end(curves[L]):.3f}")

# %%
import matplotlib.pyplot as plt

alphas = np.linspace(-0.25, 1.5, 300)
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
axes[0].plot(alphas, J(alphas), label="init -> solution")
axes[0].plot(alphas, path_polynomial(np.array([2.0, 0.5]), np.array([0.5, 2.0]))(alphas),
             label="solution -> solution")
axes[0].set_title(r"$y = w_1 w_2 x$: two lines")
for L, curve in curves.items():
    axes[1].plot(alphas, curve(alphas), label=f"depth {L}")
axes[1].set_title("init -> solution: the flat start grows with depth")
for ax in axes:
    ax.set_xlabel(r"$\alpha$")
    ax.set_ylabel(r"$J(\theta(\alpha))$")
    ax.set_ylim(-0.05, 2)
    ax.legend()
course.show(fig, "lesson02_paths.png");

# %% [markdown]
# ## Questions to think about
#
# 1. The paper says the curves of real networks look like the init → solution curve here: flat, then down,
#    with no local minimum on the way. Which feature of this toy problem produces the flat start, and which
#    produces the single minimum at $\alpha = 1$?
# 2. The barrier between two solutions is not a sign that training is hard: gradient descent never has to cross
#    it. What does it say instead about the set of solutions?
# 3. Depth made the start flatter. Real networks are initialised with small random weights, not at
#    exactly zero: why can the curve still be flat near $\alpha = 0$ (think of symmetric units)?
