"""``minilinpath curvature``: how J curves along the init -> solution line, and across it.

Along the line theta(alpha) = (1 - alpha) theta_init + alpha theta_final:

- J (train, validation) and d2J/dalpha2 = d^T H d (d = theta_final - theta_init),
  the second difference of float64 losses (cheap, the first-layer sweep);
- at a few points (``--points``): the ``--k`` largest and the ``--k`` smallest
  (most negative) eigenvalues of the Hessian of the training J by Lanczos on
  central-difference Hessian-vector products (float64), the gradient norm, the
  curvature along the line's own unit direction, and optionally Hutchinson's
  trace estimate. The Hessian is that of J on the first ``--examples`` training
  examples (each product costs two float64 gradients of them).

Is the paper's flat start a saddle? At alpha = 0 a small gradient with
eigenvalues of both signs says so; the report counts the negative ones among
those computed.
"""
from __future__ import annotations

import time

import numpy as np

from .. import backend
from ..path import HessianOperator, hessian_eigenvalues, hutchinson_trace, line_curvature, linear_path
from ..path.curvature import DEFAULT_EPS
from .common import MAX_CHUNK, MAX_LINE_POINTS, UsageError, int_between, run_figure, table
from .mnist import Experiment, add_data_arguments

MAX_EIGEN_POINTS = 100      # --points: each is a Lanczos run of many Hessian-vector products
MAX_ABS_ALPHA = 100.0       # --points: alphas in [-100, 100] (at 1e7, float32 J overflows to inf and NaN)
MAX_K = 1_000               # --k: eigenvalues at each end
MAX_TRACE_SAMPLES = 10_000  # --trace-samples: Hutchinson samples per point

DESCRIPTION = "Curvature along the init -> solution line: d2J/dalpha2 beside J, and the top and most negative " \
              "Hessian eigenvalues (Lanczos on Hessian-vector products) at chosen points."


def alpha_list(text: str) -> list:
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"--points {text!r}: give numbers separated by commas, e.g. 0,0.25,0.5,0.75,1") from None
    if not values or not np.all(np.isfinite(values)):
        raise UsageError(f"--points {text!r}: give at least one finite number.")
    if len(values) > MAX_EIGEN_POINTS:
        raise UsageError(f"--points: {len(values):,} points, more than {MAX_EIGEN_POINTS} (each is a Lanczos run); "
                         "give fewer.")
    far = [v for v in values if abs(v) > MAX_ABS_ALPHA]
    if far:
        raise UsageError(f"--points: alpha = {far[0]:g} is too far from the line's ends 0 and 1 (theta would be "
                         f"{abs(far[0]):g} times the step from init to solution, J overflows); give alphas in "
                         f"[-{MAX_ABS_ALPHA:g}, {MAX_ABS_ALPHA:g}].")
    return values


def add_arguments(parser):
    parser.add_argument("--model", default="mnist_pi", choices=("mnist_pi", "relu", "mnist_valid", "sigmoid"),
                        help="the paper's network (maxout, ReLU without / with dropout, sigmoid)")
    parser.add_argument("--points", default="0,0.25,0.5,0.75,1",
                        help="alphas where the eigenvalues are computed (at most 100, each in [-100, 100])")
    parser.add_argument("--k", type=int_between(1, MAX_K), default=5, help="eigenvalues at each end of the spectrum")
    parser.add_argument("--examples", type=int_between(1, MAX_CHUNK), default=1000,
                        help="training examples of the Hessian (the first ones)")
    parser.add_argument("--trace-samples", type=int_between(0, MAX_TRACE_SAMPLES), default=0,
                        help="Hutchinson samples for the trace at each point (0: no trace)")
    parser.add_argument("--tol", type=float, default=1e-2, help="Lanczos: relative accuracy of each eigenvalue")
    parser.add_argument("--eps", type=float, default=DEFAULT_EPS,
                        help="the step of central-difference Hessian-vector products (models without an exact one)")
    parser.add_argument("--precision", choices=("float32", "float64"), default="float32",
                        help="of the exact Hessian-vector products (central differences always use float64)")
    parser.add_argument("--alphas", type=int_between(1, MAX_LINE_POINTS), default=41,
                        help="points of the line curve on [-0.1, 1.1]")
    add_data_arguments(parser)


def compute(args):
    points = alpha_list(args.points)
    if not (args.tol > 0 and args.eps > 0):
        raise UsageError("--tol and --eps must be > 0.")
    exp = Experiment(args)
    run = exp.model(args.model)
    model, t0, t1 = run.model, run.theta_init, run.theta_final
    alphas = np.linspace(-0.1, 1.1, args.alphas)
    started = time.perf_counter()
    line = linear_path(model, t0, t1, exp.train, alphas, exp.valid, chunk_size=args.chunk_size)
    d2 = line_curvature(model, t0, t1, exp.train, alphas, progress=True)
    line_seconds = time.perf_counter() - started
    xp = backend.get_xp(t0)
    sub = tuple(a[:args.examples] for a in exp.train)
    d = xp.asarray(t1, dtype=np.float64) - xp.asarray(t0, dtype=np.float64)
    u = d / backend.to_float(xp.linalg.norm(d))
    rows, top, bottom, traces, grads, along = [], [], [], [], [], []
    started = time.perf_counter()
    matvecs = 0
    for i, a in enumerate(points):
        theta = (1.0 - a) * xp.asarray(t0, dtype=np.float64) + a * xp.asarray(t1, dtype=np.float64)
        op = HessianOperator(model, theta, sub, eps=args.eps, dtype=np.dtype(args.precision))
        hi = hessian_eigenvalues(model, theta, sub, k=args.k, which="LA", tol=args.tol, seed=[args.seed, i, 0],
                                 operator=op)
        lo = hessian_eigenvalues(model, theta, sub, k=args.k, which="SA", tol=args.tol, seed=[args.seed, i, 1],
                                 operator=op)
        top.append(hi.values)
        bottom.append(lo.values)
        grads.append(backend.to_float(xp.linalg.norm(op.gradient(op.theta))))
        along.append(backend.to_float(u @ op.hvp(u.astype(op.dtype))))
        if args.trace_samples:
            tr = hutchinson_trace(model, theta, sub, samples=args.trace_samples, seed=[args.seed, i, 2], operator=op)
            traces.append((tr.estimate, tr.stderr))
        matvecs += op.matvecs
        print(f"alpha = {a:g}: top {np.array2string(hi.values, precision=4)}, most negative "
              f"{np.array2string(lo.values, precision=4)} ({op.matvecs} Hessian-vector products)", flush=True)
    eigen_seconds = time.perf_counter() - started
    top, bottom = np.array(top), np.array(bottom)
    arrays = {**line.arrays("line/"), "line/d2J_dalpha2": d2, "line/theta0": backend.to_numpy(t0),
              "line/theta1": backend.to_numpy(t1), "eigen/alphas": np.array(points), "eigen/top": top,
              "eigen/bottom": bottom, "eigen/grad_norm": np.array(grads), "eigen/along_line": np.array(along)}
    if traces:
        arrays["eigen/trace"] = np.array(traces)
    summary = {**exp.settings(), "model": args.model, "k": args.k, "examples": int(sub[0].shape[0]),
               "tol": args.tol, "eps": args.eps, "hvp": f"{op.method} ({op.dtype})", "line_seconds": round(line_seconds, 2),
               "eigen_seconds": round(eigen_seconds, 2), "matvecs": matvecs,
               "points": [{"alpha": a, "top": [float(v) for v in top[i]], "bottom": [float(v) for v in bottom[i]],
                           "negative": int((bottom[i] < 0).sum()), "grad_norm": grads[i], "along_line": along[i],
                           **({"trace": traces[i][0], "trace_stderr": traces[i][1]} if traces else {})}
                          for i, a in enumerate(points)],
               "d2_min": float(d2.min()), "d2_min_alpha": float(alphas[np.argmin(d2)])}
    return arrays, summary


def plot(arrays, summary):
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12.5, 4.8), layout="constrained")
    alphas = arrays["line/alphas"]
    left.plot(alphas, arrays["line/J_train"], "-", color="C0", lw=1.8, label="training J")
    if "line/J_valid" in arrays:
        left.plot(alphas, arrays["line/J_valid"], "--", color="C0", lw=1.2, label="validation J")
    left.set_xlabel(r"$\alpha$")
    left.set_ylabel("J", color="C0")
    twin = left.twinx()
    twin.plot(alphas, arrays["line/d2J_dalpha2"], "-", color="C3", lw=1.4, label=r"$d^2J/d\alpha^2$")
    twin.axhline(0, color="C3", lw=0.6, ls=":")
    twin.set_ylabel(r"$d^2J/d\alpha^2 = d^\top H d$", color="C3")
    handles = [h for ax in (left, twin) for h in ax.get_legend_handles_labels()[0]]
    left.legend(handles, [h.get_label() for h in handles], fontsize=8)
    left.set_title("J and its curvature along the init → solution line", fontsize=10)
    pa = arrays["eigen/alphas"]
    for j in range(arrays["eigen/top"].shape[1]):
        right.plot(pa, arrays["eigen/top"][:, j], "o-", color="C0", ms=4, lw=1, alpha=1 - 0.12 * j,
                   label="largest eigenvalues" if j == 0 else None)
        right.plot(pa, arrays["eigen/bottom"][:, j], "s-", color="C3", ms=4, lw=1, alpha=1 - 0.12 * j,
                   label="smallest (most negative)" if j == 0 else None)
    right.plot(pa, arrays["eigen/along_line"], "k^--", ms=5, lw=1, label="along the line (unit direction)")
    right.axhline(0, color="0.5", lw=0.8)
    right.set_yscale("symlog", linthresh=1e-3)
    right.set_xlabel(r"$\alpha$")
    right.set_ylabel(f"Hessian eigenvalues ({summary['examples']} training examples)")
    right.legend(fontsize=8)
    right.set_title(f"top and bottom {summary['k']} eigenvalues (Lanczos)", fontsize=10)
    fig.suptitle(f"{summary['model']} on {summary['dataset']} ({summary['profile']} profile): curvature", fontsize=12)
    return fig


def report(summary):
    rows = []
    for p in summary["points"]:
        rows.append((f"{p['alpha']:g}", f"{p['top'][0]:.4g}", f"{p['bottom'][0]:.4g}",
                     f"{p['negative']} of {len(p['bottom'])}", f"{p['grad_norm']:.3g}", f"{p['along_line']:.3g}",
                     f"{p['trace']:.4g} ± {p['trace_stderr']:.2g}" if "trace" in p else "-"))
    lines = ["  " + line for line in table(rows, ("alpha", "largest eigenvalue", "smallest eigenvalue",
                                                  "negative among the smallest", "|grad J|", "u^T H u along the line",
                                                  "trace (Hutchinson)"))]
    start = summary["points"][0]
    if start["alpha"] == 0:
        if start["negative"] and start["bottom"][0] < -1e-3 * abs(start["top"][0]):
            verdict = (f"at alpha = 0 the Hessian has negative eigenvalues (down to {start['bottom'][0]:.3g}, against "
                       f"{start['top'][0]:.3g} at the top) with |grad J| = {start['grad_norm']:.3g}: the start is a "
                       "saddle-like region, not a minimum")
        else:
            verdict = "at alpha = 0 no clearly negative eigenvalue was found among those computed"
        lines.append(verdict)
    lines.append(f"most negative d2J/dalpha2 along the line: {summary['d2_min']:.4g} at alpha = "
                 f"{summary['d2_min_alpha']:.3g}; line {summary['line_seconds']:.1f} s, eigenvalues "
                 f"{summary['eigen_seconds']:.1f} s ({summary['matvecs']} Hessian-vector products)")
    return lines


def main(argv=None):
    return run_figure("curvature", DESCRIPTION, compute, plot, report, add_arguments, argv=argv)
