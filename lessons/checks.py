"""The exercise checks of the course, one function per exercise, found by the exercise's name in :data:`CHECKS`.

Every check builds a small float64 case from a fixed seed, calls the student's function, and compares its
answer with (1) central differences through minilinpath's forward pass (``minilinpath.gradcheck``) and (2)
minilinpath's own backward pass, with a tolerance chosen per case (central differences with h = 1e-6 in float64
agree to about 1e-9 here; two exact implementations to about 1e-13). It returns a
:class:`lessontools.Verdict`; lessons call them through ``course.check(fn)``.
"""
from __future__ import annotations

import numpy as np

import analytic
from lessontools import Checker, rel
from minilinpath import layers
from minilinpath.gradcheck import directional_check, numerical_vjp
from minilinpath.layers import conv as conv_layer
from minilinpath.models import DeepLinear, MLP, MPDBM
from minilinpath.path import HessianOperator, interpolate, plane_through, project_trajectory

NUM = 1e-7     # against central differences (float64, h = 1e-6)
EXACT = 1e-10  # against minilinpath's own implementation


def _against(chk, label, mine, numerical, library, tol=NUM, n=None, hint=None):
    """``mine`` against central differences, and (if those agree) against minilinpath's implementation."""
    if chk.close(label, mine, numerical, tol, n, hint) and library is not None:
        chk.close(f"{label} vs minilinpath", mine, library, EXACT, n, hint)


def _tuple(result, count, name):
    if not isinstance(result, (tuple, list)) or len(result) != count:
        raise TypeError(f"{name} must return a tuple of {count} arrays, got {type(result).__name__}")
    return result


# ------------------------------------------------------------------------------------------------ lesson 1
def check_affine_backward(fn):
    chk, rng = Checker("affine_backward"), np.random.default_rng(0)
    x, W, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((4, 3))
    dx, dW, db = _tuple(fn(dout, x, W), 3, "affine_backward")
    library = layers.affine_backward(dout, layers.affine_forward(x, W, b)[1])
    for label, mine, k, lib in (("dx", dx, 0, library[0]), ("dW", dW, 1, library[1]), ("db", db, 2, library[2])):
        args = [x, W, b]

        def f(a, k=k):
            return layers.affine_forward(*(args[:k] + [a] + args[k + 1:]))[0]
        _against(chk, label, mine, numerical_vjp(f, args[k].copy(), dout), lib,
                 hint={"dx": "dx = dout W^T", "dW": "dW = x^T dout", "db": "sum dout over the batch axis 0"}[label])
    return chk.verdict()


def check_relu_backward(fn):
    chk, rng = Checker("relu_backward"), np.random.default_rng(1)
    r = rng.standard_normal((4, 6))
    x = np.sign(r) * (0.1 + np.abs(r))  # away from the kink: central differences are exact there
    dout = rng.standard_normal(x.shape)
    _against(chk, "dx", fn(dout, x), numerical_vjp(lambda a: layers.relu_forward(a)[0], x.copy(), dout),
             layers.relu_backward(dout, x > 0))
    x0 = x.copy()
    x0[:, ::2] = 0.0  # at the kink the convention decides: ReLU'(0) = 0 in minilinpath (and pylearn2)
    chk.close("dx at x = 0", fn(dout, x0), layers.relu_backward(dout, x0 > 0), EXACT,
              hint="ReLU'(0) = 0 here: pass the gradient only where x > 0 (not x >= 0).")
    return chk.verdict()


def check_sigmoid_backward(fn):
    chk, rng = Checker("sigmoid_backward"), np.random.default_rng(2)
    x = 3 * rng.standard_normal((4, 6))
    dout = rng.standard_normal(x.shape)
    s = layers.sigmoid(x)
    _against(chk, "dx", fn(dout, s), numerical_vjp(lambda a: layers.sigmoid_forward(a)[0], x.copy(), dout),
             layers.sigmoid_backward(dout, s),
             hint="the argument is the output s = sigmoid(x), and sigmoid'(x) = s (1 - s).")
    return chk.verdict()


def check_maxout_backward(fn):
    chk, rng = Checker("maxout_backward"), np.random.default_rng(3)
    N, U, k = 3, 4, 3
    z = rng.standard_normal((N, U * k))
    dout = rng.standard_normal((N, U))
    _against(chk, "dz", fn(dout, z, k), numerical_vjp(lambda a: layers.maxout_forward(a, k)[0], z.copy(), dout),
             layers.maxout_backward(dout, layers.maxout_forward(z, k)[1]),
             hint="unit j of example n owns the columns j*k ... j*k+k-1; only the largest receives dout[n, j].")
    ties = rng.integers(0, 2, (N, U * k)).astype(np.float64)  # many exact ties
    ties[0, :k] = 1.0                                         # unit 0 of example 0: all k pieces tied
    mine = fn(dout, ties, k)
    want = layers.maxout_backward(dout, layers.maxout_forward(ties, k)[1])
    if not chk.close("dz with ties", mine, want, EXACT):
        receivers = (np.asarray(mine).reshape(N, U, k) != 0).sum(axis=2)
        if receivers.max() > 1:
            chk.note("with tied pieces your gradient goes to several of them: the maximum is one function value, "
                     "so send dout only to the first piece that attains it (the lowest index, like argmax).")
        else:
            chk.note("with ties, the gradient must go to the *first* piece that attains the maximum.")
    return chk.verdict()


def check_dropout_backward(fn):
    chk, rng = Checker("dropout_backward"), np.random.default_rng(4)
    x = rng.standard_normal((5, 6))
    dout = rng.standard_normal(x.shape)
    for include, scale in ((0.5, 2.0), (0.8, 1.0)):
        mask = layers.draw_mask(rng, x.shape, include, np.float64)
        f = (lambda a, m=mask, p=include, s=scale: layers.dropout_forward(a, p, s, mask=m)[0])
        lib = layers.dropout_backward(dout, layers.dropout_forward(x, include, scale, mask=mask)[1])
        _against(chk, f"dx (include {include}, scale {scale})", fn(dout, mask, scale),
                 numerical_vjp(f, x.copy(), dout), lib,
                 hint="out = x * mask * scale, so dx = dout * mask * scale (the scale too).")
    return chk.verdict()


def check_softmax_cross_entropy(fn):
    chk, rng = Checker("softmax_cross_entropy"), np.random.default_rng(5)
    N, C = 6, 4
    logits, y = rng.standard_normal((N, C)), rng.integers(0, C, N)
    loss, dlogits = _tuple(fn(logits, y), 2, "softmax_cross_entropy")
    want_loss, want_d = layers.softmax_cross_entropy(logits, y)
    chk.close("loss", np.asarray(loss, np.float64), want_loss, EXACT, n=N,
              hint="loss = -(1/N) sum_n log softmax(z_n)[y_n].")
    numerical = numerical_vjp(lambda a: np.asarray(layers.softmax_cross_entropy(a, y, with_grad=False)[0]),
                              logits.copy(), np.array(1.0))
    _against(chk, "dlogits", dlogits, numerical, want_d, n=N, hint="dlogits = (softmax(z) - onehot(y)) / N.")
    big = 1000.0 * logits  # exp(1000) overflows: a stable version subtracts each row's maximum first
    with np.errstate(all="ignore"):  # an unstable answer overflows: report it, do not warn
        loss_big, d_big = _tuple(fn(big, y), 2, "softmax_cross_entropy")
    want_big = layers.softmax_cross_entropy(big, y)
    chk.close("loss for logits of size 1000", np.asarray(loss_big, np.float64), want_big[0], EXACT,
              hint="subtract each row's maximum before exp (log-sum-exp), so nothing overflows.")
    chk.close("dlogits for logits of size 1000", d_big, want_big[1], EXACT)
    return chk.verdict()


def small_relu_mlp():
    """The network of the composition exercise: 6 -> 5 -> 4 ReLU units -> 3 classes, float64."""
    return MLP(n_in=6, hidden=(5, 4), activation="relu", n_classes=3, init_ranges=(1.0, 1.0, 1.0))


def check_mlp_loss_and_grad(fn):
    chk, rng = Checker("mlp_loss_and_grad"), np.random.default_rng(6)
    model = small_relu_mlp()
    theta = model.init(0, dtype=np.float64) + 0.1 * rng.standard_normal(model.size)  # biases not zero
    X, y = rng.standard_normal((7, 6)), rng.integers(0, 3, 7)
    params = {k: v.copy() for k, v in model.unflatten(theta).items()}
    loss, grads = _tuple(fn(params, X, y), 2, "mlp_loss_and_grad")
    want_loss, want_grad = model.loss_and_grad(theta, (X, y))
    chk.close("loss", np.asarray(loss, np.float64), want_loss, EXACT, n=7)
    want = model.unflatten(want_grad)
    missing = sorted(set(want) - set(grads))
    if missing:
        chk.note(f"grads has no entry for {', '.join(missing)}: return one gradient per parameter name.")
        return chk.verdict()
    for name in model.layout.names:
        chk.close(f"d{name}", grads[name], want[name], EXACT, n=7,
                  hint=f"go backwards: softmax loss -> y -> h1 -> h0; {name} gets x_layer^T dz_layer.")
    if not chk.problems:  # the whole flat gradient against central differences along random directions
        flat = np.concatenate([np.asarray(grads[name], np.float64).ravel() for name in model.layout.names])
        checks = directional_check(lambda t: model.loss(t, (X, y)), flat, theta, np.random.default_rng(7), 3)
        chk.errors["directional"] = max(c[2] for c in checks)
        if chk.errors["directional"] > NUM:
            chk.note("the flat gradient disagrees with central differences along random directions.")
    return chk.verdict()


# ------------------------------------------------------------------------------------------------ lesson 2
PAIRS = [([0.01, -0.02], [1.3, 0.77]), ([2.0, 0.5], [0.5, 2.0]), ([-1.0, 0.3], [0.9, 1.2])]


def check_path_polynomial(fn):
    chk, alphas = Checker("path_polynomial"), np.linspace(-1, 2, 13)
    for i, (a, b) in enumerate(PAIRS):
        chk.close(f"J(alpha), pair {i}", np.asarray(fn(np.array(a), np.array(b))(alphas), np.float64),
                  analytic.scalar_path_polynomial(a, b)(alphas), EXACT,
                  hint="w_l(alpha) = (1 - alpha) w_l^i + alpha w_l^f, p = w1(alpha) w2(alpha), J = (1 - p)^2.")
    return chk.verdict()


def flat_end_reference(J, drop):
    """Smallest alpha in (0, 1] with J(alpha) = (1 - drop) J(0): where J has fallen by ``drop`` of its start."""
    roots = (J - (1 - drop) * J(0.0)).roots()
    real = sorted(r.real for r in roots if abs(r.imag) < 1e-9 and 0 < r.real <= 1 + 1e-12)
    return real[0]


def check_flat_region_end(fn):
    chk = Checker("flat_region_end")
    for scale, drop in ((0.01, 0.01), (0.1, 0.01), (0.01, 0.1)):
        J = analytic.scalar_path_polynomial([scale, -scale], [1.0, 1.0])
        chk.close(f"init size {scale}, drop {drop}", np.float64(fn(J, drop)), flat_end_reference(J, drop), 1e-9,
                  hint="solve J(alpha) = (1 - drop) J(0) (a polynomial root, e.g. (J - c).roots()) and keep the "
                       "smallest real root in (0, 1].")
    return chk.verdict()


def check_barrier_by_hand(fn):
    chk = Checker("barrier_by_hand")
    height, _ = analytic.barrier_height(analytic.scalar_path_polynomial([2.0, 0.5], [0.5, 2.0]))
    chk.close("barrier height", np.float64(fn()), height, 1e-6,
              hint="at alpha = 1/2 each weight is the average of its two ends; J = (1 - w1 w2)^2 there, and the "
                   "two ends have J = 0.")
    return chk.verdict()


def check_depth_path_polynomial(fn):
    chk, alphas = Checker("depth_path_polynomial"), np.linspace(-1, 2, 13)
    rng = np.random.default_rng(8)
    for L in (1, 2, 3, 5):
        a, b = rng.standard_normal(L), rng.standard_normal(L)
        chk.close(f"J(alpha), depth {L}", np.asarray(fn(a, b)(alphas), np.float64),
                  analytic.scalar_path_polynomial(a, b)(alphas), EXACT,
                  hint="p(alpha) is the product of L degree-1 polynomials; J = (1 - p)^2 has degree 2L.")
    return chk.verdict()


# ------------------------------------------------------------------------------------------------ lesson 3
def check_fast_sweep(fn):
    chk, rng = Checker("fast_sweep"), np.random.default_rng(9)
    model = MLP(n_in=20, hidden=(16, 12), activation="relu", n_classes=4, init_ranges=(0.5, 0.5, 0.5))
    theta0 = model.init(0, dtype=np.float64)
    theta1 = model.init(1, dtype=np.float64) * 3 + 0.1 * rng.standard_normal(model.size)
    X, y = rng.random((50, 20)), rng.integers(0, 4, 50)
    alphas = np.linspace(-0.5, 1.5, 9)
    want = [model.loss(interpolate(theta0, theta1, a), (X, y)) for a in alphas]
    chk.close("J along the line", np.asarray(fn(model, theta0, theta1, X, y, alphas), np.float64), np.array(want),
              1e-10, hint="z(alpha) = (1 - alpha) (X W0 + b0) + alpha (X W1 + b1) for the first layer; every "
                          "later layer uses the interpolated weights W(alpha) themselves.")
    return chk.verdict()


# ------------------------------------------------------------------------------------------------ lesson 4
STEP_NAMES = ("dx", "dh_prev", "dc_prev", "dWx", "dWh", "db")
GATES = ("input gate i", "forget gate f", "cell candidate g", "output gate o")


def _lstm_case(rng, N, D, H, T=None):
    xs = rng.standard_normal((N, D) if T is None else (N, T, D))
    return [xs, rng.standard_normal((N, H)), rng.standard_normal((N, H)), 0.5 * rng.standard_normal((D, 4 * H)),
            0.5 * rng.standard_normal((H, 4 * H)), 0.5 * rng.standard_normal(4 * H)]


def _gate_hints(chk, mine_db, want_db, H):
    for g, gate in enumerate(GATES):
        block = slice(g * H, (g + 1) * H)
        if rel(mine_db[block], want_db[block]) > NUM:
            chk.note(f"columns {g * H}:{(g + 1) * H} ({gate}) are wrong: recheck that gate's derivative "
                     "(sigmoid' = s (1 - s), tanh' = 1 - t^2) and what multiplies it in c' = f c + i g, "
                     "h' = o tanh(c').")


def check_lstm_step_backward(fn):
    chk, rng = Checker("lstm_step_backward"), np.random.default_rng(10)
    N, D, H = 3, 4, 5
    inputs = _lstm_case(rng, N, D, H)
    h, c, cache = layers.lstm_step_forward(*inputs)
    dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    grads = _tuple(fn(dh, dc, cache), 6, "lstm_step_backward")
    library = layers.lstm_step_backward(dh, dc, cache)
    df = np.concatenate([dh.ravel(), dc.ravel()])
    for k, name in enumerate(STEP_NAMES):
        def f(a, k=k):
            args = inputs[:k] + [a] + inputs[k + 1:]
            h2, c2, _ = layers.lstm_step_forward(*args)
            return np.concatenate([h2.ravel(), c2.ravel()])
        _against(chk, name, grads[k], numerical_vjp(f, inputs[k].copy(), df), library[k])
    if "db" in chk.errors and chk.errors["db"] > NUM:
        _gate_hints(chk, np.asarray(grads[5]), library[5], H)
    return chk.verdict()


def check_bptt(fn):
    chk, rng = Checker("bptt"), np.random.default_rng(11)
    N, T, D, H = 2, 4, 3, 4
    inputs = _lstm_case(rng, N, D, H, T)
    dhs = rng.standard_normal((N, T, H))

    def steps(xs, h, c, Wx, Wh, b):
        hs, caches = [], []
        for t in range(xs.shape[1]):
            h, c, cache = layers.lstm_step_forward(xs[:, t], h, c, Wx, Wh, b)
            hs.append(h)
            caches.append(cache)
        return np.stack(hs, axis=1), caches

    grads = _tuple(fn(dhs, steps(*inputs)[1]), 6, "bptt")
    library = layers.lstm_backward(dhs, layers.lstm_forward(*inputs)[2])
    for k, name in enumerate(("dxs", "dh0", "dc0", "dWx", "dWh", "db")):
        def f(a, k=k):
            return steps(*(inputs[:k] + [a] + inputs[k + 1:]))[0]
        _against(chk, name, grads[k], numerical_vjp(f, inputs[k].copy(), dhs), library[k],
                 hint={"dWx": "the weights are shared by every step: add up the steps' dWx, dWh, db.",
                       "dh0": "carry dh and dc from step t+1 back into step t, adding dhs[:, t] to dh."}.get(
                     name, "walk t = T-1 ... 0; step t's upstream dh is dhs[:, t] plus the dh carried back."))
    return chk.verdict()


# ------------------------------------------------------------------------------------------------ lesson 5
def check_conv_backward_loops(fn):
    chk, rng = Checker("conv_backward_loops"), np.random.default_rng(12)
    for stride, pad in ((2, 1), (1, 0)):
        x, W, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
        out, cache = layers.conv_forward(x, W, b, stride, pad)
        dout = rng.standard_normal(out.shape)
        grads = _tuple(fn(dout, x, W, stride, pad), 3, "conv_backward_loops")
        library = layers.conv_backward(dout, cache)
        args = [x, W, b]
        for k, name in enumerate(("dx", "dW", "db")):
            def f(a, k=k):
                return layers.conv_forward(*(args[:k] + [a] + args[k + 1:]), stride, pad)[0]
            _against(chk, f"{name} (stride {stride}, pad {pad})", grads[k], numerical_vjp(f, args[k].copy(), dout),
                     library[k], hint="out[n,f,i,j] uses x_pad[n,c,i*s+p,j*s+q] W[f,c,p,q] (no kernel flip); "
                                      "dx adds into x_pad at the same place, then drops the padding.")
    return chk.verdict()


def check_im2col(fn):
    chk, rng = Checker("im2col"), np.random.default_rng(13)
    for stride, pad, kernel in ((2, 1, 3), (1, 0, 2)):
        x = rng.standard_normal((2, 3, 6, 5))
        want, _ = conv_layer.im2col(x, kernel, kernel, stride, pad)
        chk.close(f"cols (stride {stride}, pad {pad}, {kernel}x{kernel})", fn(x, kernel, kernel, stride, pad), want,
                  EXACT, hint="row (c, p, q), column (n, i, j): cols[(c*HH + p)*WW + q, (n*Ho + i)*Wo + j] = "
                              "x_pad[n, c, i*s + p, j*s + q].")
    return chk.verdict()


def check_col2im(fn):
    chk, rng = Checker("col2im"), np.random.default_rng(14)
    for stride, pad, kernel in ((1, 1, 3), (2, 0, 2)):
        x_shape = (2, 3, 6, 5)
        cols, out_hw = conv_layer.im2col(np.zeros(x_shape), kernel, kernel, stride, pad)
        C = rng.standard_normal(cols.shape)
        want = conv_layer.col2im(C, x_shape, kernel, kernel, stride, pad, out_hw)
        chk.close(f"dx (stride {stride}, pad {pad}, {kernel}x{kernel})", fn(C, x_shape, kernel, kernel, stride, pad),
                  want, EXACT, hint="col2im is im2col's adjoint: <im2col(x), C> = <x, col2im(C)> for all x, C; "
                                    "where windows overlap, add (+=), never assign.")
    return chk.verdict()


# ------------------------------------------------------------------------------------------------ lesson 6
def tiny_mpdbm():
    """The MP-DBM of the exercise: 12 pixels, 5 and 4 hidden units, 3 labels, 3 mean-field iterations."""
    return MPDBM(n_visible=12, hidden=(5, 4), n_classes=3, iterations=3)


def onehot(labels, n_classes, dtype=np.float64):
    out = np.zeros((labels.shape[0], n_classes), dtype)
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def mpdbm_final_grads(model, records, X, labels, masks):
    """J and dJ/dz at the last update of v and of y (the multi-prediction cost, see lesson 6).

    J = (1 / (N V)) [ sum_{n,i} m_v BCE(x, z_v) + sum_n m_y NLL(label | z_y) ], so
    dJ/dz_v = m_v (sigmoid(z_v) - x) / (N V) and dJ/dz_y = m_y (softmax(z_y) - onehot) / (N V).
    Returns ``(J, {record index: dJ/dz})``.
    """
    m_v, m_y = masks
    N, V = X.shape
    last = {op.target: k for k, (op, *_rest) in enumerate(records)}
    z_v, z_y = records[last["v"]][2], records[last["y"]][2]
    softplus = np.maximum(z_v, 0) + np.log1p(np.exp(-np.abs(z_v)))
    logp = layers.log_softmax(z_y)
    J = ((m_v * (softplus - X * z_v)).sum() - (m_y * logp[np.arange(N), labels]).sum()) / (N * V)
    d_zy = m_y[:, None] * (np.exp(logp) - onehot(labels, model.n_classes, X.dtype)) / (N * V)
    return float(J), {last["v"]: m_v * (layers.sigmoid(z_v) - X) / (N * V), last["y"]: d_zy}


def check_mean_field_backward(fn):
    chk, rng = Checker("mean_field_backward"), np.random.default_rng(15)
    model = tiny_mpdbm()
    theta = model.init(0, dtype=np.float64) + 0.3 * rng.standard_normal(model.size)
    X, labels = rng.random((4, 12)), rng.integers(0, 3, 4)
    masks = model.draw_masks(rng, 4, np.float64)
    _, records = model.infer(theta, X, onehot(labels, 3), *masks)
    _, d_final = mpdbm_final_grads(model, records, X, labels, masks)
    grad = fn(model, theta, records, masks, d_final)
    want = model.loss_and_grad(theta, (X, labels), masks=masks)[1]
    if not chk.shape("grad", grad, want.shape):
        return chk.verdict()
    mine_p, want_p = model.unflatten(np.asarray(grad, np.float64)), model.unflatten(want)
    for name in model.layout.names:
        chk.close(f"d{name}", mine_p[name], want_p[name], EXACT,
                  hint={"h0.W": "h0.W is used upward with scale 2 (first pass), upward in every h0 update and "
                                "transposed in every v update: add all of them.",
                        "h1.W": "h1.W is used upward in h1's updates and transposed (h1 W1^T) in h0's updates.",
                        "c.W": "c.W is used upward for y and transposed (y Wc^T) in h1's updates."}.get(
                      name, "each update adds d_pre summed over the batch to its bias."))
    loss = (lambda t: model.loss_and_grad(t, (X, labels), masks=masks)[0])
    worst = max(c[2] for c in directional_check(loss, np.asarray(grad, np.float64), theta,
                                                np.random.default_rng(16), 3))
    chk.errors["directional"] = worst
    if worst > 1e-6:
        chk.note("the gradient disagrees with central differences along random directions; remember that a "
                 "clamped variable passes no gradient (multiply by its mask) and that an update *overwrites* its "
                 "target, so the older value's gradient starts from zero.")
    return chk.verdict()


# ------------------------------------------------------------------------------------------------ lesson 7
def check_project(fn):
    chk, rng = Checker("project"), np.random.default_rng(17)
    traj = np.cumsum(rng.standard_normal((12, 30)), axis=0) + 5.0
    coord, residual = _tuple(fn(traj, traj[0], traj[-1]), 2, "project")
    want = project_trajectory(traj, traj[0], traj[-1])
    chk.close("coord", coord, want.coord, EXACT, hint="coord_t = (theta_t - theta_i) . u with u a *unit* vector.")
    chk.close("residual", residual, want.residual, EXACT,
              hint="residual_t = || (theta_t - theta_i) - coord_t u ||, measured from theta_i.")
    return chk.verdict()


def check_expected_residual(fn):
    chk = Checker("expected_residual")
    cases = [(t, T, d) for T in (10, 1000) for t in (1, T // 3, T - 1) for d in (2, 10, 100_000)]
    mine = np.array([fn(t, T, d) for t, T, d in cases], np.float64)
    want = np.array([np.sqrt((d - 1) * t * (T - t) / T) for t, T, d in cases])
    if chk.close("sqrt(E residual^2)", mine, want, EXACT):
        return chk.verdict()
    wrong_d = np.array([np.sqrt(d * t * (T - t) / T) for t, T, d in cases])
    if rel(mine, wrong_d) < 1e-9:
        chk.note("close: but one of the d directions is the line itself, and the residual is what is left.")
    return chk.verdict()



# ------------------------------------------------------------------------------------------------ lesson 8
def _three_points(rng, P, far):
    """Three points of R^P: a random origin, b some way off, c at an angle to the line a-b (``far`` scales c)."""
    a = rng.standard_normal(P)
    b = a + 0.3 * rng.standard_normal(P)
    c = a + 0.8 * (b - a) + far * rng.standard_normal(P)  # a large component along b - a: unorthogonalised d2 shows
    return a, b, c


def check_plane_basis(fn):
    chk, rng = Checker("plane_basis"), np.random.default_rng(18)
    for case, (P, far) in enumerate(((40, 0.2), (300, 0.05))):
        a, b, c = _three_points(rng, P, far)
        d1, d2 = (np.asarray(d, np.float64) for d in _tuple(fn(a, b, c), 2, "plane_basis"))
        want = plane_through(a, b, c)
        if chk.shape(f"d1 (case {case})", d1, (P,)) and chk.shape(f"d2 (case {case})", d2, (P,)):
            norms, inner = (np.linalg.norm(d1), np.linalg.norm(d2)), float(d1 @ d2)
            if abs(inner) > 1e-10 * norms[0] * norms[1]:
                chk.note(f"case {case}: d1 . d2 = {inner:.3g}, not 0: d2 is not orthogonal to d1. Subtract the part "
                         "of c - a along d1, ((c - a) . d1) d1, before normalising (Gram-Schmidt).")
            elif max(abs(n - 1.0) for n in norms) > 1e-10:
                chk.note(f"case {case}: ||d1|| = {norms[0]:.6g}, ||d2|| = {norms[1]:.6g}: both directions must be "
                         "unit vectors (divide each by its norm).")
            chk.close(f"d1 (case {case})", d1, want.d1, EXACT, hint="d1 = (b - a) / ||b - a||.")
            chk.close(f"d2 (case {case})", d2, want.d2, EXACT,
                      hint="d2 = w / ||w|| with w = (c - a) - ((c - a) . d1) d1: it points towards c's side.")
    return chk.verdict()


def check_plane_coordinates(fn):
    chk, rng = Checker("plane_coordinates"), np.random.default_rng(19)
    a, b, c = _three_points(rng, 50, 0.2)
    plane = plane_through(a, b, c)
    points = [a, b, c, a + 2.0 * rng.standard_normal(50) + 10.0, 0.5 * (a + b) + 0.1 * rng.standard_normal(50)]
    mine = np.array([[np.float64(x) for x in _tuple(fn(t, plane.origin, plane.d1, plane.d2), 3, "plane_coordinates")]
                     for t in points])
    want = np.array([plane.coordinates(t) for t in points])
    chk.close("(a, b)", mine[:, :2], want[:, :2], EXACT,
              hint="with an orthonormal basis the least-squares coordinates are two dot products, "
                   "a = d1 . (theta - origin), b = d2 . (theta - origin).")
    if not chk.close("residual", mine[:, 2], want[:, 2], EXACT):
        if rel(mine[:, 2], want[:, 2] ** 2) < 1e-9:
            chk.note("your residual is the squared distance: take the square root (a Euclidean norm).")
        elif rel(mine[:, 2], [np.linalg.norm(t - a_ * plane.d1 - b_ * plane.d2)
                              for t, (a_, b_, _) in zip(points, want)]) < 1e-9:
            chk.note("the residual is measured from the origin of the plane: || (theta - origin) - a d1 - b d2 ||.")
    return chk.verdict()


def _deep_linear_case(rng, dims, n=20, scale=0.6):
    model = DeepLinear(dims)
    theta = scale * rng.standard_normal(model.size)
    X, Y = rng.standard_normal((n, dims[0])), rng.standard_normal((n, dims[-1]))
    H = analytic.deep_linear_hessian([np.asarray(W) for W in model.weights(theta)], X=X, Y=Y)
    return model, theta, (X, Y), H


def check_hvp_central(fn):
    chk, rng = Checker("hvp_central"), np.random.default_rng(20)
    h = 1e-4
    for case, (dims, size) in enumerate((((3, 4, 2), 1.0), ((2, 3, 3, 2), 1.0), ((3, 4, 2), 300.0))):
        model, theta, batch, H = _deep_linear_case(rng, dims)
        v = rng.standard_normal(model.size)
        v *= size / np.linalg.norm(v)

        def grad(t, model=model, batch=batch):
            return model.loss_and_grad(np.asarray(t, np.float64), batch)[1]

        mine = np.asarray(fn(grad, theta.copy(), v.copy(), h), np.float64)
        label = f"H v (depth {len(dims) - 1}, ||v|| = {size:g})"
        if chk.close(label, mine, H @ v, NUM, hint="H v ~ ||v|| (g(theta + h u) - g(theta - h u)) / (2 h), "
                                                  "u = v / ||v||."):
            library = HessianOperator(model, theta, batch, eps=h, method="central").hvp(v)
            chk.close(f"{label} vs minilinpath", mine, library, EXACT)
            continue
        u, n = v / np.linalg.norm(v), np.linalg.norm(v)
        forward = (grad(theta + h * u) - grad(theta)) / h * n
        unscaled = (grad(theta + h * v) - grad(theta - h * v)) / (2 * h)
        if rel(mine, forward) < 1e-9 or rel(mine, (grad(theta + h * v) - grad(theta)) / h) < 1e-9:
            chk.note("that is a forward difference (g(theta + h u) - g(theta)) / h: its error is O(h), the "
                     "central one's O(h^2). Use g(theta + h u) - g(theta - h u) over 2 h.")
        elif size != 1.0 and rel(mine, unscaled) < 1e-9:
            chk.note(f"you stepped h v, a step of length h ||v|| = {h * size:g}, far from small: step h along "
                     "the unit vector u = v / ||v|| and multiply the result by ||v||.")
    return chk.verdict()


# ------------------------------------------------------------------------------------------------ lesson 9
def check_batchnorm_backward(fn):
    from minilinpath.layers import batchnorm as bn

    chk, rng = Checker("batchnorm_backward"), np.random.default_rng(9)
    x = 2 * rng.standard_normal((6, 4)) + 1
    gamma, beta, dout = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal((6, 4))
    dx, dgamma, dbeta = _tuple(fn(dout, x, gamma, 1e-5), 3, "batchnorm_backward")
    library = bn.batchnorm_backward(dout, bn.batchnorm_forward(x, gamma, beta, 1e-5)[1])
    args = [x, gamma, beta]
    hints = {"dx": "x_n reaches every output of its column through the mean and the variance: three terms",
             "dgamma": "sum over the batch of dout * x_hat", "dbeta": "sum dout over the batch axis 0"}
    for label, mine, k, lib in (("dx", dx, 0, library[0]), ("dgamma", dgamma, 1, library[1]),
                                ("dbeta", dbeta, 2, library[2])):
        def f(a, k=k):
            return bn.batchnorm_forward(*(args[:k] + [a] + args[k + 1:]), 1e-5)[0]
        _against(chk, label, mine, numerical_vjp(f, args[k].copy(), dout), lib, hint=hints[label])
    return chk.verdict()


def check_adam_step(fn):
    from minilinpath.optim import Adam

    chk, rng = Checker("adam_step"), np.random.default_rng(10)
    theta, m, v = rng.standard_normal(7), np.zeros(7), np.zeros(7)
    lib_theta, state = theta.copy(), {"adam_m": np.zeros(7), "adam_v": np.zeros(7)}
    for t in range(1, 4):
        g = rng.standard_normal(7)
        theta, m, v = _tuple(fn(theta, m, v, g.copy(), t, 0.01, 0.9, 0.999, 1e-8), 3, "adam_step")
        Adam(0.9, 0.999, 1e-8).step(lib_theta, state, g.copy(), 0.01, t)
        hint = "m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t); theta -= lr m_hat / (sqrt(v_hat) + eps)"
        if not chk.close(f"theta after update {t}", theta, lib_theta, EXACT, hint=hint):
            break
        chk.close(f"m after update {t}", m, state["adam_m"], EXACT, hint="m = beta1 m + (1 - beta1) g")
        chk.close(f"v after update {t}", v, state["adam_v"], EXACT, hint="v = beta2 v + (1 - beta2) g^2")
    return chk.verdict()


def check_gauss_length(fn):
    from minilinpath.path import gauss_length

    chk, rng = Checker("gauss_length"), np.random.default_rng(11)
    alphas = np.linspace(0, 1, 9)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    straight = a[None] + alphas[:, None, None] * b[None]       # a segment: its length is ||b|| per input
    def length(outputs):   # a Python float or a 0-d array: the checker compares arrays
        return np.asarray(fn(outputs), dtype=np.float64)

    chk.close("a straight path", length(straight), np.asarray(np.linalg.norm(b, axis=1).mean()), EXACT,
              hint="sum the norms of the steps between consecutive alphas, then average over the inputs")
    circle = np.stack([np.cos(2 * np.pi * alphas), np.sin(2 * np.pi * alphas)], axis=1)[:, None, :]
    chk.close("once round a circle (an octagon)", length(circle), np.asarray(16 * np.sin(np.pi / 8)), EXACT,
              hint="the norm of each step, not of the whole displacement (the circle ends where it starts)")
    curved = rng.standard_normal((9, 4, 3))
    chk.close("a random path", length(curved), np.asarray(gauss_length(alphas, curved)), EXACT)
    return chk.verdict()


CHECKS = {name[len("check_"):]: f for name, f in dict(globals()).items() if name.startswith("check_")}
