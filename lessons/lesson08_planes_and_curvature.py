# %% [markdown]
# # Lesson 8 — beyond the line: planes through parameter space, and the curvature of the flat start
#
# The paper looks at $J$ along one straight line. Readers who want more usually reach for two further tools:
# a **picture of a plane** (contours of $J$ on a 2-D slice of parameter space, with the training trajectory drawn
# on it) and the **curvature** (the Hessian $H = \nabla^2 J$, through its eigenvalues). This lesson builds both
# from their definitions and asks two questions of them:
#
# 1. When does a 2-D picture mislead? Almost no point of an SGD trajectory lies in the plane that is drawn.
# 2. What is the "flat start" of the paper's curves, where $J(\alpha)$ hardly moves for small $\alpha$? Is the
#    initial point near a saddle, as it is in the deep linear model of lesson 2?
#
# You write the plane's basis and coordinates, and a Hessian-vector product; minilinpath does the rest.
#
# **Settings** (the first code cell, yours to edit): `DATA_DIR` names the folder that holds
# `t10k-images-idx3-ubyte.gz` and `t10k-labels-idx1-ubyte.gz`, MNIST's test set (`None`: synthetic digits, said so;
# the lesson reads nothing outside the checkout but this folder); `USE_SOLUTIONS = True` runs the whole lesson with
# the reference answers from `lessons/solutions/`; `SMALL = True` picks the quickest settings. Until an exercise
# passes, Run All stops at its check with one message. As a script: `python lessons/lesson08_planes_and_curvature.py
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

import analytic
from minilinpath.models import MLP, DeepLinear
from minilinpath.path import (evaluate_plane, grid_around, hessian_eigenvalues, line_curvature, linear_path,
                              plane_through, trajectory_on_plane)
from minilinpath.models.mlp_hvp import mlp_hvp
from minilinpath.train import Recipe, train

course = Course("lesson08_planes_and_curvature", data_dir=DATA_DIR, solutions=USE_SOLUTIONS, small=SMALL)

# %% [markdown]
# ## 1. A plane through three points
#
# A plane through parameter space is an origin and two directions,
#
# $$\theta(a, b) = \theta_o + a\, d_1 + b\, d_2 .$$
#
# Through three points $\theta_a, \theta_b, \theta_c$ (say the initial point, the solution and a second
# solution) take $\theta_o = \theta_a$ and make the directions **orthonormal** by Gram–Schmidt:
#
# $$d_1 = \frac{\theta_b - \theta_a}{\lVert\theta_b - \theta_a\rVert},\qquad
#   w = (\theta_c - \theta_a) - \big((\theta_c - \theta_a)\cdot d_1\big)\, d_1,\qquad
#   d_2 = \frac{w}{\lVert w\rVert}.$$
#
# Then $(a, b)$ are true Euclidean coordinates: lengths and angles in the picture are lengths and angles in
# parameter space, and the three points sit at $(0, 0)$, $(\lVert\theta_b-\theta_a\rVert, 0)$ and
# $\big((\theta_c-\theta_a)\cdot d_1,\ \lVert w\rVert\big)$. With $d_2 = (\theta_c - \theta_a)/\lVert\cdot\rVert$
# instead (no orthogonalisation) the axes would be oblique and every distance read off the picture wrong.

# %%
@course.exercise
def plane_basis(theta_a, theta_b, theta_c):
    """theta_a, theta_b, theta_c: flat (P,) vectors -> (d1, d2), two orthonormal (P,) float64 vectors spanning
    the plane through the three points, d1 along theta_b - theta_a and d2 towards theta_c (Gram-Schmidt)."""
    # TODO: four lines
    raise NotImplementedError("plane_basis")


# %%
course.check(plane_basis);

# %% [markdown]
# A point $\theta$ (a trajectory's epoch, say) is almost never *in* the plane. Its closest point in the plane,
# the orthogonal projection, has coordinates that minimise $\lVert\theta - \theta_o - a d_1 - b d_2\rVert$; with an
# orthonormal basis they are two dot products, and what is left over is the **residual**:
#
# $$a = d_1\cdot(\theta - \theta_o),\qquad b = d_2\cdot(\theta - \theta_o),\qquad
#   r = \lVert \theta - \theta_o - a\,d_1 - b\,d_2 \rVert,\qquad
#   \lVert\theta - \theta_o\rVert^2 = a^2 + b^2 + r^2 .$$
#
# A contour picture shows, at $(a, b)$, the value $J(\theta_o + a d_1 + b d_2)$ of the *projection*, not $J(\theta)$.

# %%
@course.exercise
def plane_coordinates(theta, origin, d1, d2):
    """theta, origin, d1, d2: flat (P,) vectors, d1 and d2 orthonormal -> (a, b, residual), three floats: the
    coordinates of theta's projection on the plane origin + a d1 + b d2, and its Euclidean distance from it."""
    # TODO
    raise NotImplementedError("plane_coordinates")


# %%
course.check(plane_coordinates);

# %% [markdown]
# ## 2. Hessian-vector products from gradients
#
# The Hessian of a network with $P$ parameters has $P^2$ entries: for the small network below ($P = 26{,}506$
# with `--small`) that is 5.6 GB in float64. Lanczos, the method that finds its extreme eigenvalues, needs only
# products $Hv$. Expand the gradient $g = \nabla J$ along a unit vector $u$:
#
# $$g(\theta \pm h u) = g(\theta) \pm h\, H u + \tfrac{h^2}{2}\, \nabla^3 J[u, u] \pm O(h^3),$$
#
# so in the difference the even terms cancel:
#
# $$H u = \frac{g(\theta + h u) - g(\theta - h u)}{2h} + O(h^2), \qquad
#   H v = \lVert v\rVert\, H u \quad \text{with } u = \frac{v}{\lVert v\rVert}.$$
#
# Stepping along the *unit* vector makes $h$ a length in parameter space whatever the size of $v$. The error has
# two parts: $O(h^2)$ from the third derivative, and rounding, about $\epsilon_{\text{mach}} \lVert g\rVert / h$
# (two nearly equal gradients subtracted and divided by $2h$). In float64 ($\epsilon \approx 10^{-16}$) they balance
# near $h \approx \epsilon^{1/3} \approx 10^{-5}$. The check runs your product on deep linear regression, whose
# Hessian `analytic.deep_linear_hessian` gives in closed form.

# %%
@course.exercise
def hvp_central(grad, theta, v, h):
    """grad: a function theta -> the flat gradient g(theta) (P,); theta, v: (P,) float64; h > 0 a step length.
    Returns H(theta) v (P,) by the central difference above (step h along u = v / ||v||, times ||v||)."""
    # TODO: three lines
    raise NotImplementedError("hvp_central")


# %%
course.check(hvp_central);

# %% [markdown]
# How the error depends on $h$, on a depth-3 linear network ($y = x W_1 W_2 W_3$, 20 examples), against the closed
# form: it falls like $h^2$ until rounding takes over.

# %%
rng = np.random.default_rng(21)
deep = DeepLinear((4, 5, 3, 2))
theta_dl = 0.6 * rng.standard_normal(deep.size)
batch_dl = (rng.standard_normal((20, 4)), rng.standard_normal((20, 2)))
H_dl = analytic.deep_linear_hessian(deep.weights(theta_dl), X=batch_dl[0], Y=batch_dl[1])
v_dl = rng.standard_normal(deep.size)
steps = np.logspace(-8, -1, 8)
errors_dl = []
for h in steps:
    Hv = hvp_central(lambda t: deep.loss_and_grad(t, batch_dl)[1], theta_dl, v_dl, h)
    errors_dl.append(np.linalg.norm(Hv - H_dl @ v_dl) / np.linalg.norm(H_dl @ v_dl))
    print(f"  h = {h:.0e}: relative error {errors_dl[-1]:.1e}")

# %% [markdown]
# The same product shows the saddle of lesson 2. For $J(w_1, w_2) = (1 - w_1 w_2)^2$ the Hessian at the origin is
# $\begin{pmatrix} 0 & -2 \\ -2 & 0 \end{pmatrix}$, eigenvalues $\pm 2$: the gradient is zero, $J$ curves up along
# $w_1 = w_2$ and down along $w_1 = -w_2$. A small initialisation starts *next to* this point.

# %%
toy = DeepLinear((1, 1, 1))
toy_batch = (np.ones((1, 1)), np.ones((1, 1)))
H_toy = np.stack([hvp_central(lambda t: toy.loss_and_grad(t, toy_batch)[1], np.zeros(2), e, 1e-4)
                  for e in np.eye(2)], axis=1)
print("  H at the origin of the toy problem, column by column from your product:\n", np.round(H_toy, 8))
print("  its eigenvalues:", np.round(np.linalg.eigvalsh(H_toy), 8),
      "; closed form:", np.linalg.eigvalsh(analytic.toy_hessian(0.0, 0.0)))

# %% [markdown]
# ## 3. Two small networks and a trajectory
#
# A ReLU network like lesson 7's (784–100–100–10, or 784–32–32–10 with `--small`; weights $U(\pm 0.05)$; the
# digits of lessons 3 and 7), trained twice: seed 0 gives the initial point $\theta_i$, the trajectory (one point
# per epoch) and the solution $\theta_f$ (the last point); seed 1 gives a second solution $\theta_f'$ from
# another initial point.

# %%
n_train, hidden, epochs, batch_size, rate = (1000, 32, 6, 50, 0.3) if course.small else (8000, 100, 8, 100, 0.1)
train_set, valid_set = course.digits(n_train, 1000)
model = MLP(n_in=784, hidden=(hidden, hidden), activation="relu", n_classes=10, init_ranges=(0.05, 0.05, 0.05))
recipe = Recipe(batch_size=batch_size, learning_rate=rate, momentum=0.5, max_epochs=epochs, patience=None)
runs = [train(model, train_set, valid_set, recipe, course.run_folder(f"seed{s}"), seed=s, progress=False, log=None)
        for s in (0, 1)]
trajectory = np.asarray(runs[0].trajectory().rows(), np.float64)
theta_i, theta_f = trajectory[0], trajectory[-1]
theta_f2 = np.asarray(runs[1].theta_last, np.float64)
batch = (train_set[0].astype(np.float64), train_set[1])  # J in float64 throughout this lesson
errors = [h["valid_error"] for h in runs[0].history]
print(f"  {model.size:,} parameters; seed 0 validation error by epoch: " + ", ".join(f"{e:.0%}" for e in errors))
print(f"  J(theta_i) = {model.loss(theta_i, batch):.4f}, J(theta_f) = {model.loss(theta_f, batch):.4f}, "
      f"J(theta_f') = {model.loss(theta_f2, batch):.4f}")

# %% [markdown]
# ## 4. Where differences of gradients stop working: kinks
#
# A ReLU network's $J$ is smooth only between the surfaces where some pre-activation $z_{nj}$ (example $n$,
# unit $j$) changes sign; across such a surface the gradient *jumps*. If the segment from $\theta - hu$ to
# $\theta + hu$ crosses one, the central difference picks up $\text{jump}/(2h)$, which grows as $h$ shrinks. Maxout
# has the same kinks where the winning piece of a unit changes. minilinpath's `mlp_hvp` computes $Hv$ exactly
# (Pearlmutter's forward-over-reverse pass, written by hand): the Hessian of the smooth piece that $\theta$ lies
# on, with no step at all. Your product against it, counting the kinks each segment crosses:

# %%
def kink_pattern(model, theta, X):
    """Which linear piece every hidden unit of every example is on: the sign of z for ReLU, the winning piece
    for maxout. A kink lies between two parameter vectors where this pattern differs."""
    params, h, pattern = model.unflatten(theta), X, []
    for name in model.layer_names[:-1]:
        z = h @ params[f"{name}.W"] + params[f"{name}.b"]
        if model.activation == "maxout":
            pieces = z.reshape(len(X), -1, model.pieces)
            pattern.append(pieces.argmax(axis=2))
            h = pieces.max(axis=2)
        else:
            pattern.append(z > 0)
            h = np.maximum(z, 0)
    return np.concatenate([p.reshape(len(X), -1) for p in pattern], axis=1)


maxout = MLP(n_in=784, hidden=(hidden, hidden), activation="maxout", pieces=2, n_classes=10,
             init_ranges=(0.005, 0.005, 0.005))  # the quick maxout network's tiny initialisation
cases = {"ReLU at theta_i": (model, theta_i), "maxout at its init": (maxout, maxout.init(0, dtype=np.float64))}
kink_steps = np.logspace(-8, -2, 7)
kink_errors = {}
for label, (net, theta) in cases.items():
    v = np.random.default_rng(23).standard_normal(net.size)
    exact = mlp_hvp(net, theta, batch, v)
    kink_errors[label] = []
    print(f"  {label} ({len(batch[1]):,} examples):")
    for h in kink_steps:
        approx = hvp_central(lambda t: net.loss_and_grad(t, batch)[1], theta, v, h)
        unit = v / np.linalg.norm(v)
        crossed = int((kink_pattern(net, theta + h * unit, batch[0]) != kink_pattern(net, theta - h * unit,
                                                                                     batch[0])).sum())
        kink_errors[label].append(np.linalg.norm(approx - exact) / np.linalg.norm(exact))
        print(f"    h = {h:.0e}: {crossed:5d} kinks crossed, relative error {kink_errors[label][-1]:.1e}")

# %% [markdown]
# While the segment crosses no kink, the difference agrees with the exact product as well as on the deep linear
# model; from the first crossing on it is off by tens to hundreds of times the answer, and no $h$ in between is
# safe to pick blindly. The window of good steps shrinks as the data grow: the number of kink surfaces is the number of
# examples times the number of units. That is why minilinpath uses the exact product for its MLPs, and why the
# second difference of $J$ along a line, over a step $\Delta\alpha$, is a curvature *averaged* over every kink in
# that step.

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(steps, errors_dl, "o-", label="deep linear (closed form)")
for label, errs in kink_errors.items():
    ax.loglog(kink_steps, errs, "s--", label=f"{label} (exact pass)")
ax.set_xlabel("step h")
ax.set_ylabel("relative error of the central difference")
ax.set_title("Hessian-vector products: which step h is safe?")
ax.legend()
course.show(fig, "lesson08_hvp_step.png");

# %% [markdown]
# ## 5. The plane through init, solution and a second solution — and where its picture lies
#
# minilinpath's `plane_through` is your `plane_basis`; `evaluate_plane` computes $J$ on a grid (the first layer's
# product is affine in $(a, b)$, $XW(a,b) = XW_o + a\,XD_1 + b\,XD_2$, so three products serve the whole grid);
# `trajectory_on_plane` does your `plane_coordinates` for every epoch and also evaluates $J$ twice there:
# at the true point $\theta_t$ and at its projection.

# %%
plane = plane_through(theta_i, theta_f, theta_f2, names=("init", "solution", "second solution"))
mine = plane_basis(theta_i, theta_f, theta_f2)
gap = max(np.abs(mine[0] - plane.d1).max(), np.abs(mine[1] - plane.d2).max())
print(f"  your basis against the library's: largest difference {gap:.1e}")
for name, (a, b) in plane.points.items():
    print(f"  {name:16s} at (a, b) = ({a:6.3f}, {b:6.3f})")
a_values, b_values = grid_around(plane, n=13 if course.small else 31)
grid = evaluate_plane(model, plane, batch, a_values, b_values, progress=False)
on_plane = trajectory_on_plane(trajectory, plane, model, batch)
lies = np.abs(on_plane.J_true - on_plane.J_projected)
for t in range(len(trajectory)):
    print(f"  epoch {t:2d}: (a, b) = ({on_plane.a[t]:6.3f}, {on_plane.b[t]:6.3f}), {on_plane.residual[t]:6.3f} off "
          f"the plane;  J true {on_plane.J_true[t]:.4f}, J in the picture {on_plane.J_projected[t]:.4f}")

# %% [markdown]
# The plane contains $\theta_i$ and $\theta_f$, so the trajectory's two ends are drawn where they are and their
# $J$ is right. In between, epoch $t$ is $r_t$ away from the plane, and the contour under its dot is the $J$ of a
# point it never visited. Compare $r_t$ with the distance travelled ($\lVert\theta_f-\theta_i\rVert$, the solution's
# $a$): the trajectory is not a curve *in* this plane, and the picture can show it crossing contours it never
# met, or hide a valley it ran along. Read a contour picture with its residuals beside it.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
A, B = np.meshgrid(a_values, b_values)
filled = axes[0].contourf(A, B, grid.J_train, levels=20, cmap="viridis")
fig.colorbar(filled, ax=axes[0], label="J on the plane")
dots = axes[0].scatter(on_plane.a, on_plane.b, c=on_plane.residual, cmap="Reds", edgecolors="k", zorder=3)
axes[0].plot(on_plane.a, on_plane.b, "w-", lw=1)
fig.colorbar(dots, ax=axes[0], label="distance from the plane")
(a_low, a_high), (b_low, b_high) = axes[0].get_xlim(), axes[0].get_ylim()
for name, (a, b) in plane.points.items():  # each name on the inner side of its point, so that none is cut off
    right, top = a > (a_low + a_high) / 2, b > (b_low + b_high) / 2
    axes[0].annotate(name, (a, b), xytext=(-6 if right else 6, -8 if top else 8), textcoords="offset points",
                     ha="right" if right else "left", va="top" if top else "bottom", color="white")
axes[0].set_aspect("equal")  # a and b are true distances (orthonormal basis)
axes[0].set_xlabel("a")
axes[0].set_ylabel("b")
axes[0].set_title("J on the plane through three points, with the trajectory")
axes[1].plot(on_plane.J_true, "o-", label=r"true $J(\theta_t)$")
axes[1].plot(on_plane.J_projected, "s--", label="J of the projection (the picture)")
axes[1].set_xlabel("epoch")
axes[1].set_ylabel("J")
axes[1].set_title("what the picture shows against the truth")
axes[1].legend()
course.show(fig, "lesson08_plane.png");

# %% [markdown]
# ## 6. Curvature along the line: is the flat start a saddle?
#
# At a few points $\theta(\alpha) = (1-\alpha)\theta_i + \alpha\theta_f$, Lanczos (`hessian_eigenvalues`, SciPy's
# `eigsh` on the exact product) finds the largest eigenvalues $\lambda_{\max}$ and the most negative
# $\lambda_{\min}$. A point with a small gradient and eigenvalues of both signs is near a **saddle**: $J$ curves
# up along some directions and down along others. Along the line itself, with $d = \theta_f - \theta_i$,
#
# $$\frac{d^2 J}{d\alpha^2} = d^\top H(\theta(\alpha))\, d,\qquad
#   \lambda_{\min} \le \frac{d^\top H d}{\lVert d\rVert^2} \le \lambda_{\max}:$$
#
# the line sees one Rayleigh quotient of $H$, somewhere between the two ends of the spectrum.

# %%
n_curv, k, points = (200, 1, (0.0, 0.5)) if course.small else (500, 2, (0.0, 0.1, 0.5, 1.0))
curv_batch = (batch[0][:n_curv], batch[1][:n_curv])
direction = theta_f - theta_i
spectrum = []
for alpha in points:
    theta = (1 - alpha) * theta_i + alpha * theta_f
    top = hessian_eigenvalues(model, theta, curv_batch, k=k, which="LA", tol=1e-2, seed=0).values
    bottom = hessian_eigenvalues(model, theta, curv_batch, k=k, which="SA", tol=1e-2, seed=0).values
    slope = np.linalg.norm(model.loss_and_grad(theta, curv_batch)[1])  # ||g||, the steepness of J there
    along = line_curvature(model, theta_i, theta_f, curv_batch, [alpha], method="hvp")[0] / (direction @ direction)
    spectrum.append((alpha, top, bottom, slope, along))
    print(f"  alpha = {alpha:4.2f}: ||g|| = {slope:.3f}, largest {np.round(top, 4)}, most negative "
          f"{np.round(bottom, 4)}, along the line {along:+.4f}")
alpha0, top0, bottom0, slope0, along0 = spectrum[0]
steepest = max(np.linalg.norm(model.loss_and_grad((1 - a) * theta_i + a * theta_f, curv_batch)[1])
               for a in np.linspace(0, 1, 11))
saddle = bottom0[0] < 0 < top0[0]
print(f"  at alpha = 0: lambda_min / lambda_max = {bottom0[0] / top0[0]:+.2f}, and ||g|| is "
      f"{slope0 / steepest:.0%} of its largest value on the line: "
      + ("eigenvalues of both signs and a small slope, a saddle region." if saddle else "no negative eigenvalue."))

# %% [markdown]
# Why both signs, and of nearly equal size, at a small initialisation? Split $H$ into blocks, one per layer.
# A ReLU network's output is piecewise *linear* in any single layer's weights (the others held fixed), so a
# diagonal block holds only the loss's own curvature seen through that layer: positive semi-definite and, apart
# from the output bias's block, small while the other layers' weights are small. The blocks that couple two
# layers, $\partial^2 J/\partial W_l\,\partial W_m$, also carry a term proportional to the error of the output,
# large at the start. In the toy problem that coupling is all there is at the origin, the off-diagonal $-2$. A
# matrix made of a coupling alone, $\begin{pmatrix} 0 & C \\ C^\top & 0 \end{pmatrix}$, has the eigenvalues
# $\pm\sigma$ for every singular value $\sigma$ of $C$: in pairs, as many down as up. As training grows the
# weights and shrinks the error, the diagonal blocks win and the spectrum tilts to the positive side. Below, $J$
# and $d^2J/d\alpha^2$ along the line beside the eigenvalues: where along the line is $J$ concave?

# %%
alphas = np.linspace(0, 1, 11 if course.small else 21)
path = linear_path(model, theta_i, theta_f, curv_batch, alphas, progress=False)
bend = line_curvature(model, theta_i, theta_f, curv_batch, alphas, method="hvp")
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
axes[0].plot(alphas, path.J_train)
axes[0].set_ylabel("J")
axes[0].set_title("J along the line")
axes[1].plot(alphas, bend)
axes[1].axhline(0, color="gray", lw=0.5)
axes[1].set_ylabel(r"$d^2J/d\alpha^2$")
axes[1].set_title("its curvature along the line")
for i, (alpha, top, bottom, _, along) in enumerate(spectrum):  # label each kind once, for the legend
    axes[2].plot([alpha] * len(top), top, "r^", label="largest" if i == 0 else None)
    axes[2].plot([alpha] * len(bottom), bottom, "bv", label="most negative" if i == 0 else None)
    axes[2].plot(alpha, along, "ko", label=r"along the line, $d^\top H d / \Vert d\Vert^2$" if i == 0 else None)
axes[2].axhline(0, color="gray", lw=0.5)
axes[2].set_ylabel("eigenvalues of H")
axes[2].set_title("the Hessian's extreme eigenvalues")
axes[2].legend(fontsize=8)
for ax in axes:
    ax.set_xlabel(r"$\alpha$")
course.show(fig, "lesson08_curvature.png");

# %% [markdown]
# ## Questions to think about
#
# 1. The paper argues from one line that SGD meets no obstacle. Here the trajectory leaves the plane by
#    $r_t$, and $J$ of its projection differs from $J(\theta_t)$. If a contour picture showed a ridge between
#    init and solution, what would you need to know before believing the trajectory crossed it?
# 2. Appendix B measures the trajectory's distance from the line; the plane through a second solution adds one
#    more direction. Does it explain much of the residual (compare $r_t$ here with lesson 7's distance from the
#    line), and why would you expect it not to in a space of tens of thousands of dimensions?
# 3. At $\alpha = 0$ you found eigenvalues of both signs and a small gradient. The paper (Section 5) explains
#    the flat start of deep linear networks by the saddle at $\theta = 0$. Does the same explanation fit the
#    ReLU network? What would distinguish "near a saddle" from "on a plateau with no negative curvature"?
# 4. The curvature *along the line*, $d^\top H d / \lVert d\rVert^2$, is one number between $\lambda_{\min}$ and
#    $\lambda_{\max}$. Where does it sit at the start? Is the line a direction of escape from the saddle?
# 5. With 60,000 training examples and 2,000 units, how many kink surfaces does a finite-difference step of
#    $10^{-6}$ cross? What does that say about reading curvature off the paper's curves by eye?
