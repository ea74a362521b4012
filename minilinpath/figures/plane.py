"""``minilinpath plane``: J on a plane through parameter space, with the SGD trajectory and how far it is from it.

Planes (``--plane``):

- ``three`` (default): through the initial point, the solution and a second
  solution (the same network trained from seed + 1), orthonormal basis, true
  Euclidean distances (Garipov et al. 2018 draw planes like this);
- ``paper``: the paper's Fig. 7 pair: the init -> solution line and the
  direction of the epoch farthest from it;
- ``pca``: through the solution along the two leading principal directions
  of the trajectory (Li et al. 2018);
- ``random``: through the solution along two Gaussian directions normalised
  per filter / layer / model (``--norm``, Li et al. 2018), coordinates in [-span, span].

The picture: filled contours of the training J over the grid (log scale), the
trajectory's projection on the plane coloured by its distance from the plane,
and, beside it, J along the trajectory (what training saw) against J of its
projection (what the contours show there). Grid rows are saved as they are
computed: an interrupted command, run again, resumes.

Where the grid rows run (the same executors as ``minilinpath study``; default:
this process, one block of rows after another):

    minilinpath plane ... --executor dask                  # a LocalCluster: 2 worker processes, 1 BLAS thread each
    minilinpath plane ... --workers 4                      # the same with 4 workers (implies --executor dask)
    minilinpath plane ... --scheduler tcp://host:8786      # a running Dask cluster (implies --executor dask)

Blocks of ``--block-rows`` grid rows are the tasks; each finished block is
stored at once, so a resumed run redoes no finished block, and the numbers are
the same, bit for bit, whichever executor computed them.
"""
from __future__ import annotations

import time

import numpy as np

from ..path import evaluate_plane, grid_around, paper_plane, pca_plane, plane_through, random_plane, \
    trajectory_on_plane
from .. import backend
from ..path.plane import NORMALIZATIONS, PlaneIncomplete, plane_fingerprint
from ..study.executors import ExecutorError, import_distributed, make_executor
from .common import UsageError, finite_float, int_between, positive_int, run_figure, table
from .mnist import Experiment, add_data_arguments

DESCRIPTION = "J on a plane through parameter space (init, solution, second solution; or PCA / random / the " \
              "paper's directions), with the SGD trajectory and its distance from the plane."
KINDS = ("three", "paper", "pca", "random")


def add_arguments(parser):
    parser.add_argument("--model", default="mnist_pi", choices=("mnist_pi", "relu", "mnist_valid", "sigmoid"),
                        help="the paper's network (maxout, ReLU without / with dropout, sigmoid)")
    parser.add_argument("--plane", default="three", choices=KINDS, help="which plane (see the description)")
    parser.add_argument("--grid", type=int_between(2, 1001), default=41, help="grid points per axis (2 to 1001)")
    parser.add_argument("--margin", type=float, default=0.25,
                        help="three/paper/pca planes: the grid spans the points widened by this share on each side")
    parser.add_argument("--span", type=finite_float, default=1.0, help="random plane: coordinates in [-span, span]")
    parser.add_argument("--norm", default="filter", choices=[n for n in NORMALIZATIONS if n] + ["none"],
                        help="random plane: normalisation of the directions (Li et al.)")
    parser.add_argument("--one-d", default="zero", choices=("zero", "normalize"),
                        help="random plane: biases (1-D parameters) stay put (zero) or are normalised as one piece")
    parser.add_argument("--no-valid", action="store_true", help="evaluate the training set only")
    add_data_arguments(parser)
    where = parser.add_argument_group("where the grid rows run")
    where.add_argument("--executor", choices=("local", "dask"), default=None,
                       help="local: this process (the default); dask: a LocalCluster on this machine, or the "
                            "cluster at --scheduler")
    where.add_argument("--workers", type=positive_int, default=None,
                       help="worker processes of the LocalCluster (one thread and one BLAS thread each; "
                            "default 2); implies --executor dask")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786; implies --executor dask")
    where.add_argument("--block-rows", type=int_between(1, 1001), default=1,
                       help="grid rows per task; each finished block is stored at once")


def executor_kind(args) -> str:
    """``"local"`` or ``"dask"`` from --executor, --workers and --scheduler; contradictions are a UsageError
    (found before any training)."""
    dask_options = [flag for flag, value in (("--workers", args.workers), ("--scheduler", args.scheduler))
                    if value is not None]
    kind = args.executor or ("dask" if dask_options else "local")
    if kind == "local" and dask_options:
        raise UsageError(f"{dask_options[0]} is an option of the Dask executor; it does not go with --executor "
                         "local (drop one of them).")
    if args.workers is not None and args.scheduler is not None:
        raise UsageError("--workers sizes the LocalCluster started here; with --scheduler the running cluster's "
                         "own workers do the work (drop one of them).")
    if kind == "dask":
        if backend.current() == "gpu":
            raise UsageError("the Dask executor evaluates the grid on CPU worker processes; with --device gpu "
                             "the grid runs in this process (drop --executor/--workers/--scheduler).")
        try:
            import_distributed()
        except ExecutorError as exc:
            raise UsageError(str(exc)) from None
    return kind


def compute(args):
    if args.grid < 2:
        raise UsageError(f"--grid {args.grid}: a plane needs at least 2 points per axis.")
    if not (args.margin >= 0 and args.span > 0):
        raise UsageError("--margin must be >= 0 and --span > 0.")
    kind = executor_kind(args)
    try:  # started first, so that a scheduler that cannot be reached is found before any training
        executor = make_executor(kind, args.scheduler, args.workers or 2)
    except ExecutorError as exc:
        raise UsageError(str(exc)) from None
    with executor:
        if kind == "dask":
            print(f"plane: the grid rows go in blocks of {args.block_rows} to {executor.describe()}")
        return compute_plane(args, executor)


def compute_plane(args, executor):
    """The plane, its grid (blocks of rows on ``executor``) and the trajectory on it: (arrays, summary)."""
    exp = Experiment(args)
    run = exp.model(args.model)
    model, summary = run.model, {}
    if args.plane == "three":
        second = exp.model(args.model, seed=args.seed + 1)
        plane = plane_through(run.theta_init, run.theta_final, second.theta_final,
                              names=("init", "solution", f"solution, seed {args.seed + 1}"))
    elif args.plane == "paper":
        plane, epoch = paper_plane(run.trajectory_rows, run.theta_init, run.theta_final)
        summary["farthest_epoch"] = epoch
    elif args.plane == "pca":
        plane, pca = pca_plane(run.trajectory_rows(), run.theta_final)
        summary["explained_variance"] = [float(v) for v in pca.explained]
    else:
        plane = random_plane(model, run.theta_final, seed=args.seed, norm=None if args.norm == "none" else args.norm,
                             one_d=args.one_d)
    trajectory = trajectory_on_plane(run.trajectory_rows(), plane, model, exp.train, progress=True)
    if args.plane == "random":
        a_values, b_values = grid_around(plane, args.grid, span=args.span)
    else:
        if args.plane == "pca":  # the box of the trajectory's projection
            for t in (0, len(trajectory.a) - 1):
                plane.points[f"epoch {t}" if t else "init"] = (float(trajectory.a[t]), float(trajectory.b[t]))
        a_values, b_values = grid_around(plane, args.grid, margin=args.margin)
    valid = None if args.no_valid else exp.valid
    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / f".plane-{plane_fingerprint(model, plane, a_values, b_values, exp.train, valid)[:16]}.partial.npz"
    started = time.perf_counter()
    try:
        result = evaluate_plane(model, plane, exp.train, a_values, b_values, valid=valid, chunk_size=args.chunk_size,
                                store=store, executor=executor, block_rows=args.block_rows)
    except PlaneIncomplete as exc:  # the rows that finished are in the store: the same command resumes
        raise UsageError(str(exc)) from None
    grid_seconds = time.perf_counter() - started
    store.unlink(missing_ok=True)  # complete: the figure's own .npz holds everything now
    arrays = {**result.arrays("grid/"), **plane.arrays("plane/"), "trajectory/a": trajectory.a,
              "trajectory/b": trajectory.b, "trajectory/residual": trajectory.residual,
              "trajectory/J_true": trajectory.J_true, "trajectory/J_projected": trajectory.J_projected}
    J = result.J_train
    j, i = np.unravel_index(np.nanargmin(J), J.shape)
    gap = np.abs(trajectory.J_true - trajectory.J_projected)
    summary.update({**exp.settings(), "model": args.model, "plane": args.plane, "plane_kind": plane.kind,
                    "grid": [int(b_values.size), int(a_values.size)], "grid_seconds": round(grid_seconds, 2),
                    "executor": executor.describe(), "block_rows": args.block_rows,
                    "fast": result.settings["fast"], "points": {k: list(v) for k, v in plane.points.items()},
                    "lowest_J": float(J[j, i]), "lowest_at": [float(a_values[i]), float(b_values[j])],
                    "J_range": [float(np.nanmin(J)), float(np.nanmax(J))],
                    "trajectory_max_residual": float(trajectory.residual.max()),
                    "trajectory_max_gap": float(gap.max()), "trajectory_gap_epoch": int(np.argmax(gap)),
                    "J_true_at_gap": float(trajectory.J_true[np.argmax(gap)]),
                    "J_projected_at_gap": float(trajectory.J_projected[np.argmax(gap)])})
    if result.error_valid is not None:
        summary["lowest_valid_error"] = float(np.nanmin(result.error_valid))
    return arrays, summary


def plot(arrays, summary):
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    a, b, J = arrays["grid/a_values"], arrays["grid/b_values"], arrays["grid/J_train"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.5, 5.2), layout="constrained",
                                      gridspec_kw={"width_ratios": [1.25, 1]})
    positive = np.where(J > 0, J, np.nan)
    levels = np.geomspace(np.nanmin(positive), np.nanmax(positive), 25)
    filled = left.contourf(a, b, positive, levels=levels, norm=LogNorm(), cmap="viridis")
    left.contour(a, b, positive, levels=levels[::3], colors="w", linewidths=0.4, alpha=0.6)
    fig.colorbar(filled, ax=left, label="training J (log scale)")
    ta, tb, res = arrays["trajectory/a"], arrays["trajectory/b"], arrays["trajectory/residual"]
    left.plot(ta, tb, "-", color="w", lw=0.8, alpha=0.8)
    dots = left.scatter(ta, tb, c=res, cmap="Reds", s=22, edgecolors="k", linewidths=0.4, zorder=3)
    fig.colorbar(dots, ax=left, label="SGD trajectory: distance from the plane")
    for (name, (pa, pb)), marker in zip(zip(arrays["plane/point_names"], arrays["plane/point_coords"]), "o*^sv"):
        left.plot(pa, pb, marker, color="C3", ms=11 if marker == "*" else 8, mec="k", zorder=4)
        left.annotate(str(name), (pa, pb), textcoords="offset points", xytext=(6, 6), fontsize=8, color="w")
    left.set_xlabel("a (along the first direction)")
    left.set_ylabel("b (along the second direction)")
    left.set_title(f"{summary['plane_kind']}", fontsize=10)
    epochs = np.arange(ta.size)
    right.semilogy(epochs, arrays["trajectory/J_true"], "-o", ms=3, label=r"true $J(\theta_t)$ (what SGD saw)")
    right.semilogy(epochs, arrays["trajectory/J_projected"], "--s", ms=3,
                   label="J of its projection (what the contours show there)")
    right.set_xlabel("epoch")
    right.set_ylabel("training J")
    twin = right.twinx()
    twin.plot(epochs, res, ":", color="C3", label="distance from the plane")
    twin.set_ylabel("distance from the plane", color="C3")
    lines = right.get_legend_handles_labels()
    extra = twin.get_legend_handles_labels()
    right.legend(lines[0] + extra[0], lines[1] + extra[1], fontsize=8)
    right.set_title("where the contour picture lies", fontsize=10)
    fig.suptitle(f"{summary['model']} on {summary['dataset']} ({summary['profile']} profile): J on a plane", fontsize=12)
    return fig


def report(summary):
    where = summary.get("executor", "in this process")
    where = where if where.startswith("in ") else f"on {where}"
    rows = [("plane", summary["plane_kind"]), ("grid", f"{summary['grid'][0]} x {summary['grid'][1]}"
                                                        f" in {summary['grid_seconds']:.1f} s {where}"
                                                        f"{', first-layer trick' if summary['fast'] else ''}"),
            ("lowest training J on the grid", f"{summary['lowest_J']:.4g} at (a, b) = "
                                              f"({summary['lowest_at'][0]:.3g}, {summary['lowest_at'][1]:.3g})"),
            ("trajectory: largest distance from the plane", f"{summary['trajectory_max_residual']:.4g}"),
            ("trajectory: largest |J true - J projected|",
             f"{summary['trajectory_max_gap']:.4g} at epoch {summary['trajectory_gap_epoch']} "
             f"(true {summary['J_true_at_gap']:.4g}, contour {summary['J_projected_at_gap']:.4g})")]
    for name, (a, b) in summary["points"].items():
        rows.append((f"point: {name}", f"(a, b) = ({a:.4g}, {b:.4g})"))
    if "explained_variance" in summary:
        rows.append(("PCA: variance explained", ", ".join(f"{v:.1%}" for v in summary["explained_variance"])))
    if "lowest_valid_error" in summary:
        rows.append(("lowest validation error on the grid", f"{summary['lowest_valid_error']:.2%}"))
    return ["  " + line for line in table(rows, ("quantity", "value"))]


def main(argv=None):
    return run_figure("plane", DESCRIPTION, compute, plot, report, add_arguments, argv=argv)
