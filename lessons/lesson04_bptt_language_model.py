# %% [markdown]
# # Lesson 4 — the LSTM's gate derivatives and backpropagation through time
#
# The paper's Figure 8 walks the linear path of an LSTM language model. Here you derive and write the LSTM's
# backward pass, one step and then a whole sequence, check both, train a small language model on text and walk
# its line. Once your answers pass, read `lstm_step_backward` and `lstm_backward` in
# `minilinpath/layers/reference.py`: the same derivation as plain code (a loop over the steps), which the
# library's faster `layers/recurrent.py` is tested equal to.
#
# **Settings** (the first code cell, yours to edit): `DATA_DIR` names the folder that holds `ptb.valid.txt`, the
# Penn Treebank validation text (`None`: synthetic text, said so; the lesson reads nothing outside the checkout but
# this folder); `USE_SOLUTIONS = True` runs the whole lesson with the reference answers from `lessons/solutions/`;
# `SMALL = True` picks the quickest settings. Until an exercise passes, Run All stops at its check with one message.
# As a script: `python lessons/lesson04_bptt_language_model.py [DATA_DIR] [--solutions] [--small]`; a folder given
# there wins over `DATA_DIR`, which wins over the variable `MINILINPATH_DATA_DIR`. The solutions (small settings)
# are on when the cell, `--solutions` (`--small`) or `MINILINPATH_SOLUTIONS=1` (`MINILINPATH_LESSON_SMALL=1`) says
# so.

# %%
DATA_DIR = None        # e.g. "~/data/ptb": the folder with ptb.valid.txt; None: synthetic text
USE_SOLUTIONS = False  # True: every exercise uses its reference answer (lessons/solutions/)
SMALL = False          # True: the quickest settings (the ones the tests run)

# %%
import numpy as np

from lessontools import Course

from minilinpath.data import ptb
from minilinpath.models import LSTMLanguageModel
from minilinpath.path import linear_path, summarize
from minilinpath.train_lm import LMRecipe, train_language_model

course = Course("lesson04_bptt_language_model", data_dir=DATA_DIR, solutions=USE_SOLUTIONS, small=SMALL)

# %% [markdown]
# ## 1. One step
#
# For input $x$ $(N\times D)$ and state $h, c$ $(N\times H)$, with $a = xW_x + hW_h + b$ $(N\times 4H)$ split
# into four blocks in the order [input, forget, candidate, output]:
#
# $$i = \sigma(a_i),\; f = \sigma(a_f),\; g = \tanh(a_g),\; o = \sigma(a_o),\qquad
#   c' = f\odot c + i\odot g,\qquad h' = o\odot\tanh(c').$$
#
# Given $\partial L/\partial h'$ and $\partial L/\partial c'$ (the cell state also reaches the loss directly,
# through the next step), first collect everything that reaches $c'$:
# $\;\delta c = \frac{\partial L}{\partial c'} + \frac{\partial L}{\partial h'}\odot o\odot(1-\tanh^2 c')$. Then
#
# $$\frac{\partial L}{\partial a_i} = \delta c\odot g\odot i(1-i),\quad
#   \frac{\partial L}{\partial a_f} = \delta c\odot c\odot f(1-f),\quad
#   \frac{\partial L}{\partial a_g} = \delta c\odot i\odot(1-g^2),\quad
#   \frac{\partial L}{\partial a_o} = \frac{\partial L}{\partial h'}\odot\tanh(c')\odot o(1-o),$$
#
# $\partial L/\partial c = \delta c\odot f$, and $a$ is affine: $dx = da\,W_x^\top$, $dh = da\,W_h^\top$,
# $dW_x = x^\top da$, $dW_h = h^\top da$, $db = \sum_n da_n$.
#
# The forward step is `minilinpath.layers.lstm_step_forward(x, h, c, Wx, Wh, b) -> (h', c', cache)`; the cache
# has the fields `x`, `h_prev`, `c_prev`, `gates` ($N\times 4H$: $i, f, g, o$ after their non-linearities),
# `tanh_c` ($\tanh c'$), `Wx` and `Wh`.

# %%
@course.exercise
def lstm_step_backward(dh, dc, cache):
    """dh = dL/dh', dc = dL/dc' (N, H); cache from lstm_step_forward.
    Returns (dx (N, D), dh_prev (N, H), dc_prev (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,))."""
    # TODO: delta c, then the four blocks of da, then the affine part
    raise NotImplementedError("lstm_step_backward")


# %%
course.check(lstm_step_backward);

# %% [markdown]
# ## 2. Backpropagation through time
#
# A sequence applies the same weights at every step $t = 0, \dots, T-1$. The loss reaches $h_t$ directly
# ($\partial L/\partial h_t$ from the layer above, `dhs[:, t]`) and through step $t+1$; so walk the steps
# backwards, carrying $dh$ and $dc$ from step $t+1$ into step $t$. Because the weights are shared, their
# gradient is the **sum** over steps of each step's contribution.

# %%
@course.exercise
def bptt(dhs, caches):
    """dhs (N, T, H): dL/dh_t from above; caches: the T step caches, in order.
    Returns (dxs (N, T, D), dh0 (N, H), dc0 (N, H), dWx, dWh, db) using your lstm_step_backward."""
    # TODO
    raise NotImplementedError("bptt")


# %%
course.check(bptt);

# %% [markdown]
# ## 3. A language model and its linear path
#
# The model reads a word, predicts the next one, and $J$ is the mean negative log-likelihood per word
# (perplexity $e^J$). Training uses truncated BPTT on windows of 20 words, the state carried from window to
# window; the linear path evaluates $J$ over the whole held-out stream at each $\alpha$.
#
# **The baseline to beat.** A unigram model ignores the context and predicts every word with its frequency in the
# training text. An LSTM starts far worse than that (at $\alpha = 0$ every word is about equally likely) and
# must first learn those frequencies, through its output bias, before the context can help. It needs enough
# words and updates for that: on the Penn Treebank text the small settings (one pass over all 66,000 training
# words, one layer of 32 units, about 170 updates) beat the unigram model, the full ones (four passes, two
# layers of 48 units) clearly. With fewer words (30,000 words, three passes, two layers of 48 units) the model
# stays *worse* than counting words (held-out perplexity 463 against 437): no failure of backpropagation, too
# little text seen.

# %%
hidden, layers, epochs = (32, 1, 1) if course.small else (48, 2, 4)
train_ids, valid_ids, vocab = course.text()
train_data, valid_data = ptb.batchify(train_ids, 20), ptb.batchify(valid_ids, 20)
model = LSTMLanguageModel(vocab_size=vocab, hidden=hidden, layers=layers, steps=20, init_range=0.1)
recipe = LMRecipe(batch_size=20, learning_rate=1.0, decay=2.0, max_epoch=min(epochs, 2), max_max_epoch=epochs)
result = train_language_model(model, train_data, valid_data, recipe, course.run_folder(), seed=0, progress=False,
                              log=None)
perplexity = result.history[-1]["valid_perplexity"]
unigram = ptb.unigram_perplexity(train_ids, valid_ids, vocab)
print(f"  {len(train_ids):,} words to train on, {epochs} pass(es); held-out perplexity {perplexity:.1f}, "
      f"a unigram model's {unigram:.1f}: "
      + ("the context helps." if perplexity < unigram else
         "not better than counting words yet: train on more words, or longer (SMALL = False)."))

n_alphas = 4 if course.small else 7
first_words = train_data[:, :400]  # the line's training J on the first 8,000 training words (a quarter of the time)
path = linear_path(model, result.theta_init, result.theta_last, ptb.stream_pairs(first_words),
                   np.linspace(0, 1.5, n_alphas), ptb.stream_pairs(valid_data), progress=False)
metrics = summarize(path.alphas, path.J_train)
print(f"  along the line: monotone on [0, 1]: {metrics['monotone']}, largest bump {metrics['largest_bump']:.3g}")
for a, J in zip(path.alphas, path.J_valid):
    print(f"    alpha {a:4.2f}   held-out J {J:6.3f}   perplexity {np.exp(J):8.1f}")

# %%
course.show_path(path, "lesson04_path.png", "J (nats per word)", "held out",
                 "The language model's J along the line from its initial point to the trained one");
path.save(course.out / "lesson04_path.npz", overwrite=True);

# %% [markdown]
# ## Questions to think about
#
# 1. The paper found the LSTM's line as simple as the feed-forward networks': no barrier. Yet recurrent nets are
#    known for exploding and vanishing gradients. Which of your derivatives multiply across time steps, and how
#    does the forget gate change that?
# 2. Gradient clipping (`max_grad_norm`) changes the path SGD takes but not $J$. Would it change the linear path?
# 3. At $\alpha = 0$ every word is about equally likely: what perplexity do you expect there, for this
#    vocabulary?
