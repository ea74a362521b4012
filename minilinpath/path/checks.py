"""Input checks shared by the analysis functions of :mod:`minilinpath.path`: one clear line instead of an error
from deep inside (a reshape, ARPACK) or a mean over nothing (whole numbers: :mod:`minilinpath.checks`)."""
from __future__ import annotations


def example_count(data, name: str = "train") -> int:
    """The number of examples of a batch (a tuple or list of arrays, every array's rows, which must agree) or of a
    single array.

    Refuses, in one line, a set with no examples and arrays of different lengths (e.g. 6 labels for 7 rows of
    X): either would otherwise fail deep inside, or give the mean of nothing, NaN, after all the work.
    """
    arrays = tuple(data) if isinstance(data, (tuple, list)) else (data,)
    shapes = [getattr(a, "shape", None) for a in arrays]
    if not arrays or any(shape is None or len(shape) == 0 for shape in shapes):
        raise ValueError(f"the {name} set must be an array or a tuple of arrays with one row per example, such as "
                         f"(X, y); got a {type(data).__name__} of shapes {shapes}.")
    counts = [shape[0] for shape in shapes]
    if len(set(counts)) > 1:
        raise ValueError(f"the {name} set's arrays hold different numbers of rows ({', '.join(map(str, counts))}); "
                         "every array needs one row per example (e.g. one label in y per row of X; a single example "
                         "is X[None], of shape (1, features)).")
    if counts[0] == 0:
        raise ValueError(f"the {name} set holds no examples; give at least one.")
    return int(counts[0])
