"""The study's table: one row per run, sorted by its settings, written as CSV and JSON, and summed up per setting.

Columns (the settings of :class:`~minilinpath.study.spec.RunSettings`, then the results of
:func:`~minilinpath.study.tasks.table_row`)::

    dataset activation width depth learning_rate momentum init_scale dropout adversarial optimizer batchnorm seed
    monotone largest_bump bump_alpha J_init J_final distance path_length gauss_length train_error valid_error
    epochs run

``J_init``, ``J_final``: training J at alpha = 0 and 1; ``distance``: ||theta_T - theta_0||;
``path_length``: the sum of the distances between consecutive epochs; ``gauss_length``: the length of the
path the softmax outputs trace along the line (:func:`~minilinpath.path.metrics.gauss_length`); ``train_error``, ``valid_error``:
error rates of the solution; ``run``: the run folder's name (its fingerprint ends it).
"""
from __future__ import annotations

import csv
import io as text_io

from .. import io
from .spec import AXES

SETTINGS = AXES + ("seed",)
RESULTS = ("monotone", "largest_bump", "bump_alpha", "J_init", "J_final", "distance", "path_length", "gauss_length",
           "train_error", "valid_error", "epochs", "run")
COLUMNS = SETTINGS + RESULTS


def sort_rows(rows) -> list:
    """Rows ordered by their settings (the order of :data:`SETTINGS`)."""
    return sorted(rows, key=lambda row: tuple(row[c] for c in SETTINGS))


def to_csv(rows) -> str:
    """The table as CSV text (header line, then one line per row; floats in full precision)."""
    buffer = text_io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: repr(row[c]) if isinstance(row[c], float) else row[c] for c in COLUMNS})
    return buffer.getvalue()


def write_csv(path, rows):
    return io.write_text(path, to_csv(rows))


def varied_axes(rows) -> list:
    """The settings that take more than one value in the table (seed excluded)."""
    return [axis for axis in AXES if len({row[axis] for row in rows}) > 1]


def fraction_monotone(rows, axis: str) -> dict:
    """``{value: (fraction of its runs whose line is monotone, number of runs)}`` for one setting."""
    groups = {}
    for row in rows:
        groups.setdefault(row[axis], []).append(bool(row["monotone"]))
    return {value: (sum(flags) / len(flags), len(flags)) for value, flags in sorted(groups.items())}


CELL_AXES = ("dataset", "optimizer", "batchnorm")


def cells(rows, axes=CELL_AXES) -> list:
    """One summary per combination of ``axes`` (default: data set x optimizer x batch norm), as Lucas et al.
    (2021) compare them: ``n`` runs, ``fraction_monotone``, and the mean over the cell's runs of
    ``largest_bump``, ``distance`` and ``gauss_length`` (with their smallest and largest values)."""
    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[a] for a in axes), []).append(row)
    out = []
    for key, group in sorted(groups.items()):
        cell = dict(zip(axes, key), n=len(group),
                    fraction_monotone=sum(bool(r["monotone"]) for r in group) / len(group))
        for column in ("largest_bump", "distance", "gauss_length", "valid_error"):
            values = [float(r[column]) for r in group]
            cell[column] = {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}
        out.append(cell)
    return out
