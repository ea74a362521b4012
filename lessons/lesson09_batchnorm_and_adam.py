# %% [markdown]
# # Lesson 9 — batch normalization and Adam by hand, and a line through a BN network
#
# Goodfellow, Vinyals & Saxe (2015) found the loss falling monotonically along the straight line from the
# initial parameters to the solution, for every network they tried: plain SGD, no normalization. Lucas, Bae,
# Zhang, Fort, Zemel & Grosse (2021) report where that stops: networks with *batch normalization* and networks
# trained with *adaptive optimizers* such as Adam often give lines that rise before they fall. Here you write
# the two pieces yourself: batch normalization's backward pass (the classic exercise: every input reaches every
# output through the batch mean and variance) and Adam's update. Then you train a small BN network with Adam
# and walk the line, with the one choice a BN network forces on you: which means and variances does the network
# at θ(α) use?
#
# **How to work.** As in the other lessons: write each exercise's body, run the check cell after it (central
# differences in float64 and minilinpath's own code), read `PASS` or what is wrong.
#
# **Settings** (the first code cell, yours to edit): `DATA_DIR` names the folder that holds
# `t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz`, MNIST's test set (`None`: synthetic digits, said so;
# the lesson reads nothing outside the checkout but this folder); `USE_SOLUTIONS = True` runs the whole lesson with
# the reference answers from `lessons/solutions/`; `SMALL = True` picks the quickest settings. Until an exercise
# passes, Run All stops at its check with one message. As a script: `python lessons/lesson09_batchnorm_and_adam.py
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
from minilinpath.optim import Adam
from minilinpath.path import gauss_length as library_gauss_length
from minilinpath.path import linear_path, output_path, summarize
from minilinpath.train import Recipe, train

course = Course("lesson09_batchnorm_and_adam", data_dir=DATA_DIR, solutions=USE_SOLUTIONS, small=SMALL)

# %% [markdown]
# ## 1. Batch normalization's backward pass
#
# For a minibatch $x \in \mathbb{R}^{N\times D}$, per column (we drop the column index):
#
# $$\mu = \frac1N\sum_n x_n,\quad \sigma^2 = \frac1N\sum_n (x_n-\mu)^2,\quad
#   \hat x_n = \frac{x_n-\mu}{\sqrt{\sigma^2+\epsilon}},\quad \text{out}_n = \gamma\hat x_n + \beta.$$
#
# With $G = \partial L/\partial\,\text{out}$: $\partial L/\partial\beta = \sum_n G_n$ and
# $\partial L/\partial\gamma = \sum_n G_n\hat x_n$. For $x$, write $g_n = \gamma G_n$ (the gradient reaching
# $\hat x_n$) and $s = (\sigma^2+\epsilon)^{-1/2}$. Changing one $x_m$ moves $\hat x_n$ directly (only for
# $n = m$), through $\mu$ (every $n$) and through $\sigma^2$ (every $n$):
#
# $$\frac{\partial \hat x_n}{\partial x_m} = s\Big([n=m] - \frac1N\Big) - \frac{s}{N}\,\hat x_n \hat x_m .$$
#
# (The variance term: $\partial\sigma^2/\partial x_m = \frac2N(x_m-\mu)$, and $\partial s/\partial\sigma^2 =
# -\frac12 s^3$.) Summing against $g$:
#
# $$\frac{\partial L}{\partial x_m} = \frac{s}{N}\Big(N g_m - \sum_n g_n - \hat x_m\sum_n g_n\hat x_n\Big).$$
#
# Two checks on this result: a constant added to every $x_n$ changes nothing (the gradient sums to zero over
# the batch), and neither does scaling the batch (the gradient is orthogonal to $\hat x$).

# %%
@course.exercise
def batchnorm_backward(dout, x, gamma, eps):
    """Backward pass of training-mode batch normalization (the batch's own mean and variance).

    dout, x: (N, D); gamma: (D,); eps: float. Returns (dx (N, D), dgamma (D,), dbeta (D,)).
    """
    # TODO: recompute mu, var, x_hat from x; then the three gradients above
    raise NotImplementedError("batchnorm_backward")


# %%
course.check(batchnorm_backward);

# %% [markdown]
# ## 2. Adam's update
#
# Kingma & Ba (2015). Per parameter, with the $t$-th gradient $g$ ($t = 1, 2, \dots$):
#
# $$m \leftarrow \beta_1 m + (1-\beta_1) g,\qquad v \leftarrow \beta_2 v + (1-\beta_2) g^2,$$
# $$\hat m = \frac{m}{1-\beta_1^t},\quad \hat v = \frac{v}{1-\beta_2^t},\qquad
#   \theta \leftarrow \theta - \text{lr}\,\frac{\hat m}{\sqrt{\hat v}+\epsilon}.$$
#
# $m$ and $v$ start at 0, so early on they are biased towards 0; the divisions undo that. At $t = 1$,
# $\hat m/\sqrt{\hat v} = g/|g|$: every parameter moves by about lr, whatever the size of its gradient. That
# per-parameter scaling is what makes Adam's path through parameter space differ from SGD's.

# %%
@course.exercise
def adam_step(theta, m, v, g, t, lr, beta1, beta2, eps):
    """One Adam update (the t-th, t >= 1). All arrays (P,). Returns the new (theta, m, v)."""
    # TODO: four lines
    raise NotImplementedError("adam_step")


# %%
course.check(adam_step);

# %% [markdown]
# ## 3. The Gauss length
#
# Lucas et al. relate monotonicity to how far the network's *function* moves along the line, not only its
# parameters. Sample the outputs $f(x_n;\theta(\alpha))$ (softmax probabilities here) at
# $\alpha_0 < \dots < \alpha_K$; the Gauss length is the mean over inputs of the length of each output's path,
#
# $$G = \frac1N\sum_n\sum_k \big\|f(x_n;\theta(\alpha_{k+1})) - f(x_n;\theta(\alpha_k))\big\|_2 .$$

# %%
@course.exercise
def gauss_length(outputs):
    """outputs: (K, N, C), the N inputs' outputs at K increasing alphas -> the mean path length (float)."""
    # TODO: the steps between consecutive alphas, their norms, summed over k, averaged over n
    raise NotImplementedError("gauss_length")


# %%
course.check(gauss_length);

# %% [markdown]
# ## 4. A line through a BN network trained with Adam
#
# `MLP(..., batchnorm=True)` puts your layer before each nonlinearity; γ and β are part of θ. The running
# means and variances are *not*: they are state, kept by the trainer beside θ in the run folder. So what is
# $J(\theta(\alpha))$? minilinpath offers both answers Lucas et al. discuss:
#
# - `statistics="recompute"` (the default): at every α, the statistics of θ(α) itself on the training inputs;
# - `statistics="interpolate"`: the two ends' statistics interpolated like the weights.

# %%
n_train, hidden, epochs = (2000, 64, 4) if course.small else (8000, 200, 8)
train_set, valid_set = course.digits(n_train, 1000)
model = MLP(n_in=784, hidden=(hidden, hidden), activation="relu", n_classes=10, init_ranges=(0.05, 0.05, 0.05),
            batchnorm=True)
recipe = Recipe(batch_size=100, learning_rate=0.001, momentum=0.5, max_epochs=epochs, patience=None,
                optimizer=Adam())
result = train(model, train_set, valid_set, recipe, course.run_folder("bn-adam"), seed=0, progress=False, log=None)
print(f"  {model}: validation error {result.history[-1]['valid_error']:.2%} after {epochs} epochs")
alphas = np.linspace(0, 1, 21)
path = linear_path(model, result.theta_init, result.theta_last, train_set, alphas, valid_set, progress=False)
ends = (model.statistics_of(result.theta_init, train_set[0]), result.statistics)   # the run's running averages
carried = linear_path(model, result.theta_init, result.theta_last, train_set, alphas, valid_set,
                      statistics="interpolate", end_statistics=ends, progress=False)
for name, p in (("recomputed", path), ("interpolated", carried)):
    m = summarize(p.alphas, p.J_train)
    print(f"  statistics {name}: monotone {m['monotone']}, largest bump {m['largest_bump']:.3g}")
outputs = output_path(model, result.theta_init, result.theta_last, valid_set[0][:500], alphas,
                      statistics_data=train_set[0])
mine = gauss_length(outputs)
print(f"  Gauss length of the softmax outputs: {mine:.3f} (minilinpath: {library_gauss_length(alphas, outputs):.3f})")

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(path.alphas, path.J_train, label="statistics recomputed at α")
ax.plot(carried.alphas, carried.J_train, "--", label="ends' statistics interpolated")
ax.set_xlabel("α")
ax.set_ylabel("training J")
ax.set_title("A BN network trained with Adam: J along the line")
ax.legend(fontsize=8)
course.show(fig, "lesson09_line.png");

# %% [markdown]
# ## Questions to think about
#
# 1. At α = 1 the two curves need not meet: the recomputed statistics are those of the whole training set at
#    θ_T, the interpolated ones end at the running averages training kept. Which one is "the trained network"?
# 2. Batch normalization makes the function of each layer invariant to scaling its incoming weights. What does
#    that do to the meaning of ‖θ_T − θ_0‖, and to the straight line between two points that differ by such
#    a scaling?
# 3. `minilinpath study --optimizer sgd adam --batchnorm no yes` measures how often the line is monotone in each
#    of the four cells (README, "Beyond the line"). Before running it: which cell do you expect to be least
#    monotone, and why?
