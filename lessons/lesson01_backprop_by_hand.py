# %% [markdown]
# # Lesson 1 — backpropagation by hand, checked, then trained on digits
#
# Every network in Goodfellow, Vinyals & Saxe (2015) is built from a handful of layers. Here you write the
# backward pass of each one, check it against central differences, compose them into a network's gradient, and
# train that network. Nothing in minilinpath uses automatic differentiation: what you write below is what
# `minilinpath/layers/reference.py` does, the plain textbook version of every layer, which you can read beside
# your own answer once it passes. The layers the library trains with (`minilinpath/layers/affine.py`,
# `maxout.py`, ...) compute the same functions faster (threads, reused buffers, other memory layouts); each one's
# docstring names its reference, and `tests/test_reference.py` checks every one equal to it, with ties and with
# several threads.
#
# **How to work.** Each exercise is a function that raises `NotImplementedError`. Write its body, then run the
# cell after it: it compares your answer with central differences (float64) and with minilinpath's own
# implementation, and prints `PASS` or what is wrong.
#
# **Settings** (the first code cell, yours to edit): `DATA_DIR` names the folder that holds
# `t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz`, MNIST's test set (`None`: synthetic digits, said so;
# the lesson reads nothing outside the checkout but this folder); `USE_SOLUTIONS = True` runs the whole lesson with
# the reference answers from `lessons/solutions/`; `SMALL = True` picks the quickest settings. Until an exercise
# passes, Run All stops at its check with one message. As a script: `python lessons/lesson01_backprop_by_hand.py
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
from minilinpath.train import Recipe, train

course = Course("lesson01_backprop_by_hand", data_dir=DATA_DIR, solutions=USE_SOLUTIONS, small=SMALL)

# %% [markdown]
# ## 1. The affine layer
#
# $\text{out} = xW + b$ with $x \in \mathbb{R}^{N\times D}$, $W \in \mathbb{R}^{D\times M}$, $b \in \mathbb{R}^M$.
# Given the upstream gradient $G = \partial L/\partial\,\text{out}$ (shape $N\times M$), the chain rule on
# $\text{out}_{nm} = \sum_d x_{nd}W_{dm} + b_m$ gives
#
# $$\frac{\partial L}{\partial x_{nd}} = \sum_m G_{nm} W_{dm},\qquad
#   \frac{\partial L}{\partial W_{dm}} = \sum_n x_{nd} G_{nm},\qquad
#   \frac{\partial L}{\partial b_m} = \sum_n G_{nm},$$
#
# that is $dx = G W^\top$, $dW = x^\top G$, $db = \sum_n G_{n\cdot}$. A gradient always has the shape of the
# thing it is the gradient of: that alone catches most transposition mistakes.

# %%
@course.exercise
def affine_backward(dout, x, W):
    """Backward pass of out = x W + b.

    dout: (N, M) upstream gradient; x: (N, D) input; W: (D, M) weights.
    Returns (dx (N, D), dW (D, M), db (M,)).
    """
    # TODO: three lines, one per gradient
    raise NotImplementedError("affine_backward")


# %%
course.check(affine_backward);

# %% [markdown]
# ## 2. Non-linearities
#
# **ReLU**, $r(x) = \max(x, 0)$: $r'(x) = 1$ for $x > 0$ and $0$ for $x < 0$. At $x = 0$ the function has a
# kink; minilinpath (like pylearn2) uses $r'(0) = 0$, so $dx = G \odot [x > 0]$.
#
# **Sigmoid**, $s = \sigma(x) = 1/(1 + e^{-x})$: $\sigma'(x) = \sigma(x)(1 - \sigma(x))$, so the backward pass
# needs only the *output*: $dx = G \odot s \odot (1 - s)$.
#
# **Maxout** with $k$ pieces: unit $j$ outputs $h_{nj} = \max_p z_{n, jk+p}$. The maximum is one of its
# arguments, so $\partial h_{nj}/\partial z_{n, jk+p}$ is 1 for the winning piece and 0 for the others. When
# several pieces tie, the function has a kink there and we must pick *one* of them: minilinpath sends the
# gradient to the first (lowest index), like `argmax` does. Sending it to every tied piece would count it $k$
# times.
#
# **Dropout** in pylearn2's parameterisation: $\text{out} = x \odot m \cdot s$ with a 0/1 mask $m$ (each entry
# 1 with the *include* probability) and a *scale* $s$ (2 with include 0.5; 1 for the maxout nets' inputs).
# It is linear in $x$: $dx = G \odot m \cdot s$.

# %%
@course.exercise
def relu_backward(dout, x):
    """dout, x: (N, D) -> dx (N, D), with ReLU'(0) = 0."""
    # TODO
    raise NotImplementedError("relu_backward")


@course.exercise
def sigmoid_backward(dout, s):
    """dout (N, D); s = sigmoid(x) (N, D), the forward pass's *output* -> dx (N, D)."""
    # TODO
    raise NotImplementedError("sigmoid_backward")


@course.exercise
def maxout_backward(dout, z, k):
    """dout (N, U); z (N, U*k) pre-activations, unit j owning columns j*k .. j*k+k-1 -> dz (N, U*k).

    Only the first piece attaining each maximum receives dout[n, j]; every other entry of dz is 0.
    """
    # TODO: reshape z to (N, U, k); argmax gives the first winner
    raise NotImplementedError("maxout_backward")


@course.exercise
def dropout_backward(dout, mask, scale):
    """dout, mask (0/1): (N, D); scale: float -> dx (N, D) for out = x * mask * scale."""
    # TODO
    raise NotImplementedError("dropout_backward")


# %%
course.check(relu_backward)
course.check(sigmoid_backward)
course.check(maxout_backward)
course.check(dropout_backward);

# %% [markdown]
# ## 3. Softmax cross-entropy
#
# For logits $z_n \in \mathbb{R}^C$ and labels $y_n$,
# $L = -\frac{1}{N}\sum_n \log \operatorname{softmax}(z_n)_{y_n}$ with
# $\log\operatorname{softmax}(z)_c = z_c - \log\sum_{c'} e^{z_{c'}}$. Differentiating,
#
# $$\frac{\partial L}{\partial z_{nc}} = \frac{1}{N}\left(\operatorname{softmax}(z_n)_c - [c = y_n]\right).$$
#
# Numerically, $e^{z}$ overflows for $z \gtrsim 710$; subtracting each row's maximum first changes nothing
# mathematically ($\log\operatorname{softmax}$ is invariant to adding a constant to a row) and keeps every
# exponent $\le 0$.

# %%
@course.exercise
def softmax_cross_entropy(logits, y):
    """logits (N, C) floats, y (N,) integer labels -> (loss: float, dlogits (N, C)); loss is the batch mean."""
    # TODO: stable log-softmax, the mean NLL, and its gradient
    raise NotImplementedError("softmax_cross_entropy")


# %%
course.check(softmax_cross_entropy);

# %% [markdown]
# ## 4. Composing: the network's gradient
#
# A two-hidden-layer ReLU network with minilinpath's parameter names:
#
# $$z_0 = XW_{h0} + b_{h0},\; h_0 = r(z_0),\quad z_1 = h_0W_{h1} + b_{h1},\; h_1 = r(z_1),\quad
#   \text{logits} = h_1 W_y + b_y,\quad L = \text{CE}(\text{logits}, y).$$
#
# Backpropagation runs the same chain backwards, each layer's backward pass turning the gradient of its output
# into the gradients of its input and its parameters. Use *your* functions from above.

# %%
@course.exercise
def mlp_loss_and_grad(params, X, y):
    """params: {"h0.W" (D, H0), "h0.b" (H0,), "h1.W" (H0, H1), "h1.b" (H1,), "y.W" (H1, C), "y.b" (C,)};
    X (N, D), y (N,) -> (loss, grads) with grads a dict of the same names and shapes as params."""
    # TODO: forward (keep z0, h0, z1, h1), softmax_cross_entropy, then backward with your functions
    raise NotImplementedError("mlp_loss_and_grad")


# %%
course.check(mlp_loss_and_grad);

# %% [markdown]
# ## 5. Training on digits
#
# Your gradient is, number for number, what `minilinpath.models.MLP` computes (the check above compared them),
# so we can hand training to the library: SGD with momentum on the flat parameter vector $\theta$, here with
# dropout as in the paper's ReLU network (`mnist_valid.yaml`: inputs kept with probability 0.8, hidden units
# with 0.5 and scaled by 2).

# %%
n_train, hidden, epochs, rate = (3000, 64, 3, 0.2) if course.small else (8000, 400, 6, 0.1)
train_set, valid_set = course.digits(n_train, 2000)
model = MLP(n_in=784, hidden=(hidden, hidden), activation="relu", n_classes=10, init_ranges=(0.1, 0.1, 0.1),
            input_include=0.8, input_scale=1.0, hidden_include=0.5, hidden_scale=2.0)
print(f"  {model}; theta is one flat vector, its layout names the pieces:")
print("  " + repr(model.layout).replace("\n", "\n  "))
recipe = Recipe(batch_size=100, learning_rate=rate, momentum=0.5, max_epochs=epochs, patience=None)
result = train(model, train_set, valid_set, recipe, course.run_folder("relu-dropout"), seed=0, progress=False,
               log=None)
for entry in result.history:
    print(f"  epoch {entry['epoch']}: validation error {entry['valid_error']:.2%}")
print(f"  best validation error {result.best_valid_error:.2%} (chance: 90%)")

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(5, 3))
ax.plot([e["epoch"] for e in result.history], [e["valid_error"] for e in result.history], "o-")
ax.set_xlabel("epoch")
ax.set_ylabel("validation error")
ax.set_title("Your network learning the digits")
course.show(fig, "lesson01_training.png");

# %% [markdown]
# ## Questions to think about
#
# 1. The paper's objective $J(\theta)$ is the training loss you just differentiated. Training followed
#    $-\nabla J$ step by step; the paper instead evaluates $J$ on the *straight line* from $\theta_0$ to the
#    final $\theta$. Why might that line tell us something the training curve above does not?
# 2. With dropout, the function being minimised changes at every step (new masks). Which $J$ should a linear
#    path evaluate: the masked training objective, or the deterministic network? (Lesson 3 and the library use
#    the deterministic one; the paper's Figure 2 does the same.)
# 3. Maxout and ReLU are piecewise linear: along a straight line in $\theta$ the network's output is piecewise
#    *polynomial* in $\alpha$. What could that mean for how smooth the paper's curves look?
