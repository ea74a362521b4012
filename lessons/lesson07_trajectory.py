# %% [markdown]
# # Lesson 7 — where the SGD trajectory goes (Appendix B), and what random walks look like
#
# The linear path from $\theta_i$ to $\theta_f$ is monotone for the networks the paper tried. Did SGD travel
# along that line? Appendix B projects the trajectory $\theta_0, \dots, \theta_T$ onto it: with
# $u = (\theta_f - \theta_i)/\lVert\theta_f - \theta_i\rVert$,
#
# $$\text{coord}_t = (\theta_t - \theta_i)\cdot u,\qquad
#   \text{residual}_t = \lVert \theta_t - \theta_i - \text{coord}_t\, u\rVert .$$
#
# The coordinate says how far along the line $\theta_t$ has come, the residual how far from it it strays.
#
# **Settings** (the first code cell, yours to edit): `DATA_DIR` names the folder that holds
# `t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz`, MNIST's test set (`None`: synthetic digits, said so;
# the lesson reads nothing outside the checkout but this folder); `USE_SOLUTIONS = True` runs the whole lesson with
# the reference answers from `lessons/solutions/`; `SMALL = True` picks the quickest settings. Until an exercise
# passes, Run All stops at its check with one message. As a script: `python lessons/lesson07_trajectory.py
# [DATA_DIR] [--solutions] [--small]`; a folder given there wins over `DATA_DIR`, which wins over the variable
# `MINILINPATH_DATA_DIR`. The solutions (small settings) are on when the cell, `--solutions` (`--small`) or
# `MINILINPATH_SOLUTIONS=1` (`MINILINPATH_LESSON_SMALL=1`) says so.

# %%
DATA_DIR = None        # e.g. "~/data/mnist": the folder with the two t10k-...-ubyte.gz files; None: synthetic
USE_SOLUTIONS = False  # True: every exercise uses its reference answer (lessons/solutions/)
SMALL = False          # True: the quickest settings (the ones the tests run)

# %%
import numpy as np

from lessontools import Course

from minilinpath.models import MLP
from minilinpath.path import random_walk
from minilinpath.train import Recipe, train

course = Course("lesson07_trajectory", data_dir=DATA_DIR, solutions=USE_SOLUTIONS, small=SMALL)

# %% [markdown]
# ## 1. The projection

# %%
@course.exercise
def project(trajectory, theta_i, theta_f):
    """trajectory (T, P); theta_i, theta_f (P,) -> (coord (T,), residual (T,)) as defined above, in float64."""
    # TODO: two or three lines of linear algebra
    raise NotImplementedError("project")


# %%
course.check(project);

# %% [markdown]
# ## 2. A real trajectory
#
# The trainer records $\theta$ after every epoch (`result.trajectory().rows()`, one row per epoch, the first
# one the initial point).

# %%
n_train, hidden, epochs = (1000, 32, 4) if course.small else (8000, 200, 15)
train_set, valid_set = course.digits(n_train, 1000)
model = MLP(n_in=784, hidden=(hidden, hidden), activation="relu", n_classes=10, init_ranges=(0.05, 0.05, 0.05))
recipe = Recipe(batch_size=100, learning_rate=0.1, momentum=0.5, max_epochs=epochs, patience=None)
result = train(model, train_set, valid_set, recipe, course.run_folder(), seed=0, progress=False, log=None)
trajectory = np.asarray(result.trajectory().rows(), np.float64)
coord, residual = project(trajectory, trajectory[0], trajectory[-1])
for t in range(len(coord)):
    print(f"  epoch {t:2d}: along the line {coord[t]:7.3f} of {coord[-1]:.3f}, away from it {residual[t]:6.3f}")

# %% [markdown]
# ## 3. Random walks in high dimension (Figure 11)
#
# Is a large residual a sign of a winding path? Compare with a Gaussian random walk
# $\theta_t = \theta_{t-1} + \varepsilon_t$, $\varepsilon_t \sim \mathcal N(0, I_d)$, projected on the line from
# its start to its end $\theta_T$. Write $\theta_t = \tfrac{t}{T}\theta_T + B_t$: the bridge $B_t$ is
# independent of $\theta_T$ with covariance $\tfrac{t(T-t)}{T} I_d$. The line's direction $u$ is a function of
# $\theta_T$ alone, so the residual is $B_t$ with its component along $u$ removed, and
#
# $$\mathbb E\,\text{residual}_t^2 = \text{?}$$
#
# Work it out (how many of the $d$ directions are left?) and return $\sqrt{\mathbb E\,\text{residual}_t^2}$.

# %%
@course.exercise
def expected_residual(t, T, dim):
    """sqrt(E residual_t^2) for a Gaussian random walk of T steps in dim dimensions, 0 <= t <= T (a float)."""
    # TODO
    raise NotImplementedError("expected_residual")


# %%
course.check(expected_residual);

# %% [markdown]
# Simulated walks against your formula, relative to the length of the line $\lVert\theta_T\rVert \approx \sqrt{dT}$:
# the walk's largest distance from its own line is about $\sqrt{(d-1)/(4d)}\,\lVert\theta_T\rVert$, half the
# line's length, whatever the dimension. A residual comparable to the distance travelled is what *any* noisy
# path shows, so the measured residual of SGD must be read against this baseline.

# %%
T = 200 if course.small else 1000
dims = (2, 10, 100, 1000) if course.small else (2, 10, 100, 1000, 100_000)
walks = {}
for d in dims:
    points = np.array(list(random_walk(d, T, seed=d)))
    walks[d] = project(points, points[0], points[-1])
    mid = T // 2
    print(f"  d = {d:6d}: residual at t = T/2 is {walks[d][1][mid] / np.linalg.norm(points[-1]):.2f} of the line's "
          f"length; your formula predicts {expected_residual(mid, T, d) / np.sqrt(d * T):.2f}")

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
axes[0].plot(coord, residual, "o-")
axes[0].set_title("the SGD trajectory of this lesson")
for d, (c, r) in walks.items():
    axes[1].plot(c / c[-1], r / c[-1], label=f"d = {d}")
axes[1].set_title("random walks (scaled by the line's length)")
for ax in axes:
    ax.set_xlabel("coordinate along the line")
    ax.set_ylabel("distance from the line")
axes[1].legend()
course.show(fig, "lesson07_trajectory.png");

# %% [markdown]
# ## Questions to think about
#
# 1. The paper finds SGD trajectories far from the straight line even though the line itself is free of
#    barriers. Compared with the random-walk baseline, is SGD's path unusually winding?
# 2. In high dimension the random walk's shape in the (coordinate, residual) plane hardly depends on $d$: why?
# 3. If SGD does not follow the line, why does it not meet any obstacle that the line avoids? What would a
#    plot of $J$ *along the trajectory* (instead of the line) show?
