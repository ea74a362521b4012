# %% [markdown]
# # Lesson 6 — mean-field inference as a recurrent network, and its backward pass
#
# The paper's Figure 7 is the multi-prediction deep Boltzmann machine (MP-DBM), the one model whose linear path
# showed a secondary minimum. It is trained *through its inference*: for each example a random mask hides half
# of the pixels (and, half of the time, the label); mean-field inference fills them in with a fixed number of
# sweeps; the cost measures how well the filled-in values predict the hidden ones. Unrolled, the sweeps are a
# recurrent network whose weights are shared across steps, each $W$ used upward *and*, transposed, downward.
# The forward sweeps written out one update per line are `mean_field_inference` and `mean_field_step` in
# `minilinpath/layers/reference.py`; the model (`MPDBM.infer`) runs the same updates from a schedule, so that
# its backward pass (the one you write here) can walk the list in reverse.
#
# **Settings** (the first code cell, yours to edit): `DATA_DIR` names the folder that holds
# `t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz`, MNIST's test set (`None`: synthetic digits, said so;
# the lesson reads nothing outside the checkout but this folder); `USE_SOLUTIONS = True` runs the whole lesson with
# the reference answers from `lessons/solutions/`; `SMALL = True` picks the quickest settings. Until an exercise
# passes, Run All stops at its check with one message. As a script: `python
# lessons/lesson06_mean_field_as_a_network.py [DATA_DIR] [--solutions] [--small]`; a folder given there wins over
# `DATA_DIR`, which wins over the variable `MINILINPATH_DATA_DIR`. The solutions (small settings) are on when the
# cell, `--solutions` (`--small`) or `MINILINPATH_SOLUTIONS=1` (`MINILINPATH_LESSON_SMALL=1`) says so.

# %%
DATA_DIR = None        # e.g. "~/data/mnist": the folder with the two t10k-...-ubyte.gz files; None: synthetic
USE_SOLUTIONS = False  # True: every exercise uses its reference answer (lessons/solutions/)
SMALL = False          # True: the quickest settings (the ones the tests run)

# %%
import numpy as np

from checks import mpdbm_final_grads, onehot
from lessontools import Course, minima

from minilinpath.models import MPDBM
from minilinpath.optim import MomentumAdjustor
from minilinpath.path import linear_path, summarize
from minilinpath.train import Recipe, train

course = Course("lesson06_mean_field_as_a_network", data_dir=DATA_DIR, solutions=USE_SOLUTIONS, small=SMALL)

# %% [markdown]
# ## 1. Train a small MP-DBM briefly
#
# So that the inference below has something to say. Variables: pixels $v$, hidden layers $h_0, h_1$, label
# $y$; parameters `v.b`, `h0.W` $(784, H_0)$, `h0.b`, `h1.W` $(H_0, H_1)$, `h1.b`, `c.W` $(H_1, 10)$, `c.b`.
#
# The recipe is the paper's (learning rate 15.1, momentum 0.5 rising to 0.73 from the second epoch), cut short.
# The classifier learns last: the label is one target against 784 pixels and its share of the cost is weighted
# $1/784$, so the model first learns to fill in pixels, and the label error falls only after a few hundred
# updates. Hence all 8,000 training digits (80 updates per pass) and ten passes: about 17% validation error on
# MNIST in the full settings (chance is 90%), about 35% in the small ones. The paper's model, trained for hundreds
# of passes over 50,000 digits with 14 mean-field iterations and thousands of units, reaches about 8.5%.

# %%
n_train, hidden, epochs, iterations = (4000, (50, 50), 4, 3) if course.small else (8000, (100, 100), 10, 5)
train_set, valid_set = course.digits(n_train, 500 if course.small else 1000)
model = MPDBM(n_visible=784, hidden=hidden, n_classes=10, iterations=iterations,
              pixel_means=train_set[0].mean(axis=0))
recipe = Recipe(batch_size=100, learning_rate=15.146493, momentum=0.5,
                momentum_schedule=MomentumAdjustor(1, 2, 0.732716), max_epochs=epochs, patience=None)
result = train(model, train_set, valid_set, recipe, course.run_folder(), seed=0, progress=False, log=None)
errors = ", ".join(f"{h['valid_error']:.0%}" for h in result.history)
print(f"  {model}\n  validation classification error, epoch by epoch from the initial point: {errors}")

# %% [markdown]
# ## 2. Inference, sweep by sweep
#
# Each update replaces one layer by the sigmoid (softmax for $y$) of its total input from its neighbours;
# a clamped (observed) variable keeps its data value:
#
# $$h_0 \leftarrow \sigma(vW_0 + h_1W_1^\top + b_0),\quad h_1 \leftarrow \sigma(h_0W_1 + yW_c^\top + b_1),\quad
#   y \leftarrow m_y\operatorname{softmax}(h_1W_c + b_c) + (1-m_y)\,\text{onehot},\quad
#   v \leftarrow m_v\,\sigma(h_0W_0^\top + b_v) + (1-m_v)\,x.$$
#
# The first pass goes bottom-up with doubled weights ($h_0 = \sigma(2vW_0 + b_0)$, $h_1 = \sigma(2h_0W_1 + b_1)$,
# then $y$). Watch half of the pixels being filled in:

# %%
X, labels = valid_set[0][:50], valid_set[1][:50]
hidden_pixels = (np.random.default_rng(0).random(X.shape) < 0.5).astype(X.dtype)
for k in range(1, iterations + 1):
    probe = MPDBM(n_visible=784, hidden=hidden, n_classes=10, iterations=k)
    state, _ = probe.infer(result.theta_last, X, np.zeros((50, 10), X.dtype), hidden_pixels, np.ones(50, X.dtype))
    print(f"  after {k} sweep(s): mean |filled-in pixel - true pixel| = "
          f"{np.abs(state['v'] - X)[hidden_pixels == 1].mean():.4f}")

# %% [markdown]
# ## 3. The backward pass through the unrolled inference
#
# `model.infer(theta, X, onehot, m_v, m_y)` returns the final state and a list of **records**, one per update
# in the order they ran: `(op, inputs, pre, act)` where `op.target` is the layer written, `op.terms` a tuple of
# `(source, weight name, transposed, scale)`, `op.bias` the bias name, `op.act` "sigmoid" or "softmax";
# `inputs` the source values used; `pre` the pre-activation
# $z = b + \sum_k s_k\, u_k W_k$ (or $u_k W_k^\top$); `act` the activation of $z$.
#
# The cost depends on the *last* pre-activations of $v$ and $y$; `mpdbm_final_grads` gives
# $\partial J/\partial z$ there, keyed by record index. Walk the records backwards, keeping
# $\delta[\ell] = \partial J/\partial(\text{current value of layer } \ell)$:
#
# 1. an update overwrote its target: take ($\texttt{pop}$) $\delta[\text{target}]$, since the value *before*
#    the update is a different variable whose gradient starts at zero;
# 2. a clamped variable is $m\odot\text{act} + (1-m)\odot\text{data}$: only $m\odot\delta$ reaches act;
# 3. through the non-linearity: $\sigma' = a(1-a)$; softmax: $\partial z = a\odot(\delta - \langle\delta, a\rangle)$;
#    add any final-cost gradient for this record;
# 4. for each term $z \mathrel{+}= s\,uW$: $dW \mathrel{+}= s\,u^\top\partial z$ and
#    $\delta[u] \mathrel{+}= s\,\partial z\,W^\top$; for $z \mathrel{+}= s\,uW^\top$:
#    $dW \mathrel{+}= s\,\partial z^\top u$ and $\delta[u] \mathrel{+}= s\,\partial z\,W$; the bias gets
#    $\sum_n \partial z_n$.

# %%
@course.exercise
def mean_field_backward(model, theta, records, masks, d_final):
    """Gradient of the multi-prediction cost with respect to theta, by hand through the unrolled inference.

    model: an MPDBM; theta: flat float64 (P,); records: from model.infer; masks: (m_v (N, V), m_y (N,));
    d_final: {record index: dJ/dz (N, width)} for the final v and y updates. Returns a flat (P,) array;
    model.unflatten(grad) gives writable named views into it.
    """
    # TODO: the walk described above
    raise NotImplementedError("mean_field_backward")


# %%
course.check(mean_field_backward);

# %% [markdown]
# Your gradient on the trained model itself, against the library's (float64):

# %%
theta64 = result.theta_last.astype(np.float64)
Xs, ys = train_set[0][:20].astype(np.float64), train_set[1][:20]
masks = model.draw_masks(np.random.default_rng(1), 20, np.float64)
_, records = model.infer(theta64, Xs, onehot(ys, 10), *masks)
J, d_final = mpdbm_final_grads(model, records, Xs, ys, masks)
mine = mean_field_backward(model, theta64, records, masks, d_final)
library = model.loss_and_grad(theta64, (Xs, ys), masks=masks)[1]
print(f"  J = {J:.4f}; largest difference from the library's gradient: {np.abs(mine - library).max():.1e}")

# %% [markdown]
# ## 4. The linear path from init to solution

# %%
path = linear_path(model, result.theta_init, result.theta_last, train_set,
                   np.linspace(0, 1.5, 4 if course.small else 9), valid_set, progress=False)
metrics = summarize(path.alphas, path.J_train)
for a, Jt, err in zip(path.alphas, path.J_train, path.error_valid):
    print(f"    alpha {a:4.2f}   J {Jt:.4f}   validation error {err:6.2%}")
print(f"  monotone on [0, 1]: {metrics['monotone']}, local minima at alpha = {minima(metrics)}")

# %%
course.show_path(path, "lesson06_path.png", "multi-prediction J",
                 title="The MP-DBM's J along the line from its initial point to the trained one");

# %% [markdown]
# ## Questions to think about
#
# 1. The paper's MP-DBM line has a secondary minimum of high error. The objective here is the output of an
#    iterative procedure started from large, sparse weights. Which step of your backward pass would blow up or
#    vanish if the sweeps did not converge?
# 2. Each weight matrix is used in several updates, upward and transposed. On the line, $W(\alpha)$ changes in
#    all of them at once: why does that make $J(\alpha)$ a less simple function than a feed-forward network's?
# 3. Could you reuse the first-layer trick of lesson 3 here? Which products are affine in $\alpha$?
