# %% [markdown]
# # Lesson 5 — convolution's backward pass, by loops and by im2col
#
# The paper's Figure 6 is a convolutional maxout network. A convolution (a cross-correlation, as every deep
# learning library computes it) with stride $s$ and zero padding:
#
# $$\text{out}_{n f i j} = b_f + \sum_{c, p, q} W_{f c p q}\; x^{\text{pad}}_{n,\,c,\,is+p,\,js+q},$$
#
# for $x$ $(N, C, H, W)$, $W$ $(F, C, HH, WW)$, output $(N, F, H', W')$ with $H' = 1 + (H + 2\,\text{pad} - HH)/s$.
#
# The plain version to read beside this lesson is `conv_forward` / `conv_backward` in
# `minilinpath/layers/reference.py` (a loop over output pixels), with `max_pool_forward` / `max_pool_backward`
# (a loop over windows) for the pooling that follows. The library's `layers/conv.py` works block by block with
# the public `im2col` / `col2im` you write below, and is tested equal to the reference.
#
# **Settings** (the first code cell, yours to edit): `DATA_DIR` names the folder that holds
# `t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz`, MNIST's test set (`None`: synthetic digits, said so;
# the lesson reads nothing outside the checkout but this folder); `USE_SOLUTIONS = True` runs the whole lesson with
# the reference answers from `lessons/solutions/`; `SMALL = True` picks the quickest settings. Until an exercise
# passes, Run All stops at its check with one message. As a script: `python lessons/lesson05_convolution.py
# [DATA_DIR] [--solutions] [--small]`; a folder given there wins over `DATA_DIR`, which wins over the variable
# `MINILINPATH_DATA_DIR`. The solutions (small settings) are on when the cell, `--solutions` (`--small`) or
# `MINILINPATH_SOLUTIONS=1` (`MINILINPATH_LESSON_SMALL=1`) says so.

# %%
DATA_DIR = None        # e.g. "~/data/mnist": the folder with the two t10k-...-ubyte.gz files; None: synthetic
USE_SOLUTIONS = False  # True: every exercise uses its reference answer (lessons/solutions/)
SMALL = False          # True: the quickest settings (the ones the tests run)

# %%
import numpy as np

from lessontools import Course, minima

from minilinpath.models import ConvMaxout, ConvSpec
from minilinpath.path import linear_path, summarize
from minilinpath.train import Recipe, train

course = Course("lesson05_convolution", data_dir=DATA_DIR, solutions=USE_SOLUTIONS, small=SMALL)

# %% [markdown]
# ## 1. The backward pass with loops over kernel offsets
#
# The output is linear in $x$ and in $W$, and each $(p, q)$ offset pairs an output position with one input
# pixel. Differentiating,
#
# $$\frac{\partial L}{\partial W_{fcpq}} = \sum_{n,i,j} G_{nfij}\, x^{\text{pad}}_{n,c,is+p,js+q},\qquad
#   \frac{\partial L}{\partial x^{\text{pad}}_{n,c,is+p,js+q}} \mathrel{+}= \sum_f G_{nfij} W_{fcpq},\qquad
#   \frac{\partial L}{\partial b_f} = \sum_{n,i,j} G_{nfij}.$$
#
# Loop over the $HH \cdot WW$ offsets; for each, the pixels $x^{\text{pad}}_{:, :, p::s, q::s}$ (the first
# $H'$ rows and $W'$ columns of that slice) form an $(N, C, H', W')$ block, and `np.einsum` does the sums over
# $n, i, j$ or over $f$. Windows overlap when $s < HH$: the input gradient must **add** up.

# %%
@course.exercise
def conv_backward_loops(dout, x, W, stride, pad):
    """dout (N, F, H', W'), x (N, C, H, W), W (F, C, HH, WW) -> (dx (N, C, H, W), dW (F, C, HH, WW), db (F,))."""
    # TODO: pad x, loop over (p, q), drop the padding from dx at the end
    raise NotImplementedError("conv_backward_loops")


# %%
course.check(conv_backward_loops);

# %% [markdown]
# ## 2. im2col and col2im
#
# The fast way (and minilinpath's): gather every window into one column of a matrix, so the convolution is one
# matrix product $W_{F\times CHW}\cdot\text{cols}$. Our layout: row $(c, p, q)$, i.e. $(c \cdot HH + p)\cdot WW + q$;
# column $(n, i, j)$, i.e. $(n H' + i) W' + j$; entry $x^{\text{pad}}_{n, c, is+p, js+q}$. Then the
# backward pass is $dW = G\,\text{cols}^\top$ and $d\text{cols} = W^\top G$, and `col2im` takes the column
# gradients back to the pixels: it is the *adjoint* of im2col, $\langle \text{im2col}(x), C\rangle =
# \langle x, \text{col2im}(C)\rangle$, adding wherever windows overlap.

# %%
@course.exercise
def im2col(x, HH, WW, stride, pad):
    """x (N, C, H, W) -> cols (C*HH*WW, N*H'*W') with the layout above."""
    # TODO: one slice per (p, q), as in your loops
    raise NotImplementedError("im2col")


@course.exercise
def col2im(cols, x_shape, HH, WW, stride, pad):
    """cols (C*HH*WW, N*H'*W') -> dx of shape x_shape = (N, C, H, W): every entry added back to its pixel."""
    # TODO
    raise NotImplementedError("col2im")


# %%
course.check(im2col)
course.check(col2im);

# %% [markdown]
# With both, the whole layer is three matrix products. Compare it with your loops on a random case:

# %%
rng = np.random.default_rng(0)
x, W = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3))
cols = im2col(x, 3, 3, 2, 1)
out = (W.reshape(4, -1) @ cols).reshape(4, 2, 5, 5).transpose(1, 0, 2, 3)
dout = rng.standard_normal(out.shape)
dout_f = dout.transpose(1, 0, 2, 3).reshape(4, -1)
dW = (dout_f @ cols.T).reshape(W.shape)
dx = col2im(W.reshape(4, -1).T @ dout_f, x.shape, 3, 3, 2, 1)
loops = conv_backward_loops(dout, x, W, 2, 1)
print(f"  im2col vs loops: dx differs by {np.abs(dx - loops[0]).max():.1e}, dW by {np.abs(dW - loops[1]).max():.1e}")

# %% [markdown]
# ## 3. A small convolutional maxout network and its linear path

# %%
# small: 2 epochs of 60 updates (batches of 10); fewer, larger batches leave this net on its plateau near theta = 0
n_train, channels, epochs, rate, batch, n_alphas = (600, 4, 2, 0.1, 10, 4) if course.small else (2000, 8, 3, 0.1, 16, 11)
train_set, valid_set = course.digits(n_train, 300 if course.small else 2000)
model = ConvMaxout(input_shape=(1, 28, 28), conv=(ConvSpec(channels, 2, 5, 2, 3, 2), ConvSpec(2 * channels, 2, 5, 2, 3, 2)),
                   dense=(50,), dense_pieces=3, n_classes=10, init_range=0.05)
recipe = Recipe(batch_size=batch, learning_rate=rate, momentum=0.5, max_epochs=epochs, patience=None)
result = train(model, train_set, valid_set, recipe, course.run_folder(), seed=0, progress=False, log=None)
print(f"  {model}\n  best validation error {result.best_valid_error:.2%}")
path = linear_path(model, result.theta_init, result.theta_best, train_set, np.linspace(0, 1.5, n_alphas),
                   valid_set, progress=False)
metrics = summarize(path.alphas, path.J_train)
print(f"  monotone on [0, 1]: {metrics['monotone']}, largest bump {metrics['largest_bump']:.3g}, "
      f"local minima at alpha = {minima(metrics)}")

# %%
course.show_path(path, "lesson05_path.png",
                 title="The conv maxout network's J along the line from its initial point");

# %% [markdown]
# ## Questions to think about
#
# 1. The paper found a small barrier near $\alpha = 0$ for its convolutional network, unlike the fully connected
#    ones. Max pooling and maxout route gradients to one winner: how could that make the start of the line
#    less smooth?
# 2. Your loops cost $HH\cdot WW$ einsum calls, im2col one big matrix product but $HH\cdot WW$ times the memory
#    of the input. When would you prefer each?
# 3. The first-layer trick of lesson 3 works for a convolution too (it is linear in $W$). Why?
