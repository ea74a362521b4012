"""The written model contract as path/ uses it, the one fast path of the line and the plane, and the one
whole-number rule for path/'s arguments (3.0 is whole: accepted as 3, with the same numbers as 3)."""
import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from minilinpath import contract
from minilinpath.models import MLP, ConvMaxout, ConvSpec, DeepLinear
from minilinpath.path import (evaluate_plane, grid_around, line_curve, linear_path, plane_through, train_curve)
from minilinpath.path import first_layer
from minilinpath.path import linear as linear_module
from minilinpath.path import plane as plane_module

from .conftest import ROOT, ModelWithout

PATH_DIR = ROOT / "minilinpath" / "path"


def small_mlp(**dropout):
    return MLP(n_in=6, hidden=(5, 4), activation="maxout", pieces=3, n_classes=3, init_ranges=(0.5,) * 3, **dropout)


def small_conv():
    return ConvMaxout(input_shape=(1, 6, 6), conv=(ConvSpec(2, 2, 3, 1, 2, 2),), dense=(3,), dense_pieces=2,
                      n_classes=3, init_range=0.4)


def same_bits(a, b):
    return a is None and b is None or (a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes())


def plane_problem(model, width, seed=0):
    rng = np.random.default_rng(seed)
    train = rng.standard_normal((13, width)), rng.integers(0, 3, 13)
    valid = rng.standard_normal((5, width)), rng.integers(0, 3, 5)
    plane = plane_through(*[model.init(s, dtype=np.float64) + 0.3 * rng.standard_normal(model.size) for s in range(3)])
    return plane, train, valid, np.linspace(-0.5, 1.5, 4), np.linspace(-0.3, 1.2, 3)


# ------------------------------------------------------------------ the defect: float whole numbers in evaluate_plane
def test_evaluate_plane_with_chunk_size_3_0_is_chunk_size_3():
    """The defect of issue 23: evaluate_plane(..., chunk_size=3.0), which linear_path accepts, failed every grid row
    with a TypeError inside PlaneIncomplete."""
    model = small_mlp()
    plane, train, _, a_values, b_values = plane_problem(model, 6)
    three = evaluate_plane(model, plane, train, a_values, b_values, chunk_size=3, progress=False)
    whole_float = evaluate_plane(model, plane, train, a_values, b_values, chunk_size=3.0, progress=False)
    assert whole_float.rows_done.all() and same_bits(whole_float.J_train, three.J_train)
    assert same_bits(whole_float.error_train, three.error_train) and whole_float.settings == three.settings


@pytest.mark.parametrize("make, width", [(small_mlp, 6), (small_conv, 36)], ids=["mlp", "conv"])
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
def test_evaluate_plane_takes_a_whole_float_chunk_size_block_rows_and_cache_bytes(make, width, fast):
    """chunk_size=3.0 (which linear_path accepts) failed every grid row with a TypeError inside PlaneIncomplete
    (range() of a float, in the workers); now 3.0 is 3, with the same bits."""
    model = make()
    plane, train, valid, a_values, b_values = plane_problem(model, width)
    ints = evaluate_plane(model, plane, train, a_values, b_values, valid=valid, chunk_size=3, block_rows=2,
                          cache_bytes=1 << 20, fast=fast, progress=False)
    floats = evaluate_plane(model, plane, train, a_values, b_values, valid=valid, chunk_size=3.0, block_rows=2.0,
                            cache_bytes=float(1 << 20), fast=fast, progress=False)
    assert ints.settings["fast"] is fast and floats.rows_done.all()
    for key in ("J_train", "J_valid", "error_train", "error_valid"):
        assert same_bits(getattr(floats, key), getattr(ints, key)), key
    assert floats.settings == ints.settings and type(floats.settings["chunk_size"]) is int


@pytest.mark.parametrize("name, value", [("chunk_size", 2.5), ("chunk_size", True), ("chunk_size", 0),
                                         ("chunk_size", float("nan")), ("block_rows", 1.5), ("block_rows", True),
                                         ("cache_bytes", -1), ("cache_bytes", 0.5)])
def test_evaluate_plane_refuses_a_fractional_or_boolean_count_in_one_line(name, value):
    model = small_mlp()
    plane, train, _, a_values, b_values = plane_problem(model, 6)
    with pytest.raises(ValueError, match=f"{name} must be a whole number") as info:
        evaluate_plane(model, plane, train, a_values, b_values, progress=False, **{name: value})
    assert "\n" not in str(info.value)


def test_linear_path_takes_whole_float_monte_carlo_samples_and_seed():
    """mc_samples=2.0 was refused (the old rule of path/: an int only) and seed=3.0 failed deep inside NumPy's
    SeedSequence; under the package's one rule both are whole numbers."""
    model = small_mlp(input_include=0.8, input_scale=1.25, hidden_include=0.5, hidden_scale=2.0)
    rng = np.random.default_rng(2)
    batch = rng.standard_normal((11, 6)), rng.integers(0, 3, 11)
    theta0, theta1 = model.init(1, dtype=np.float64), model.init(2, dtype=np.float64)
    ints = linear_path(model, theta0, theta1, batch, [0.0, 0.4, 1.0], chunk_size=4, mc_samples=2, seed=3,
                       progress=False)
    floats = linear_path(model, theta0, theta1, batch, [0.0, 0.4, 1.0], chunk_size=4.0, mc_samples=2.0, seed=3.0,
                         progress=False)
    assert same_bits(floats.J_train, ints.J_train) and same_bits(floats.error_train, ints.error_train)
    assert floats.settings == ints.settings == {**ints.settings, "mc_samples": 2, "seed": 3, "chunk_size": 4}
    for name, value in (("mc_samples", 1.5), ("mc_samples", True), ("seed", 0.5)):
        with pytest.raises(ValueError, match=f"{name}.* must be a whole number"):
            linear_path(model, theta0, theta1, batch, [0.0, 1.0], **{"mc_samples": 2, name: value}, progress=False)


def test_train_curve_and_the_grids_take_whole_floats():
    """batch_size=4.0 (accepted by the old check) failed when slicing the shuffled order, seed=3.0 inside NumPy's
    SeedSequence; grid_around's n=5.0 was refused. Now each is its whole number, with the same numbers."""
    model = MLP(n_in=4, hidden=(5,), n_classes=3, activation="tanh", init_ranges=(0.5, 0.5))
    rng = np.random.default_rng(4)
    data = rng.standard_normal((10, 4)), rng.integers(0, 3, 10)
    ints = train_curve(model, line_curve("chain", model.init(0, dtype=np.float64), model.init(1, dtype=np.float64),
                                         bends=2), data, epochs=2, batch_size=4, seed=3, progress=False)
    floats = train_curve(model, line_curve("chain", model.init(0, dtype=np.float64),
                                           model.init(1, dtype=np.float64), bends=2.0),
                         data, epochs=2.0, batch_size=4.0, seed=3.0, progress=False)
    assert all(same_bits(a, b) for a, b in zip(floats.curve.points, ints.curve.points))
    assert floats.settings == ints.settings and floats.history == ints.history
    plane = plane_through(np.zeros(3), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
    for a, b in zip(grid_around(plane, n=5.0), grid_around(plane, n=5)):
        assert same_bits(a, b) and a.size == 5
    for kwargs in (dict(batch_size=2.5), dict(epochs=True), dict(batch_size=0)):
        with pytest.raises(ValueError, match="must be a whole number"):
            train_curve(model, line_curve("bezier", model.init(0, dtype=np.float64),
                                          model.init(1, dtype=np.float64)), data, progress=False, **kwargs)


# ------------------------------------------------------------------------------------- the contract, declared
def test_the_package_models_declare_the_abilities_path_uses():
    mlp, conv, deep = small_mlp(), small_conv(), DeepLinear((2, 3, 1))
    for ability in (contract.FirstLayerSweep, contract.LineChunkSweep, contract.ChecksBatch,
                    contract.EvaluationChunks, contract.DropoutMasks, contract.ErrorRate):
        assert isinstance(mlp, ability) and isinstance(conv, ability), ability.__name__
        assert not isinstance(deep, ability), ability.__name__
    assert isinstance(mlp, contract.LineParameters) and not isinstance(conv, contract.LineParameters)
    assert isinstance(conv, contract.PairedFirstLinear) and not isinstance(mlp, contract.PairedFirstLinear)
    assert contract.fixed_evaluation_bytes(conv) == conv.eval_fixed_bytes > 0
    assert contract.fixed_evaluation_bytes(mlp) == 0
    assert contract.model_name(conv) == conv.name and contract.model_name(deep) == deep.name
    assert contract.model_name(object()) == "object"


def module_sources():
    return {path.name: path.read_text() for path in sorted(PATH_DIR.glob("*.py"))}


def test_path_imports_no_model_module_and_reads_no_signature():
    for name, text in module_sources().items():
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                assert not module.startswith("..models") and "minilinpath.models" not in module, (name, module)
                assert module != "inspect", name
            if isinstance(node, ast.Import):
                assert all(alias.name != "inspect" and not alias.name.startswith("minilinpath.models")
                           for alias in node.names), name


def test_path_probes_no_model_with_hasattr_or_getattr_and_calls_no_private_method_of_it():
    """Abilities are asked with isinstance against minilinpath.contract; what hasattr/getattr remain look at
    batches, results and executors (each such line says so, or reads its own object)."""
    for name, text in module_sources().items():
        for number, line in enumerate(text.splitlines(), start=1):
            code = line.split("#")[0]
            assert "model._" not in code, (name, number, line)
            assert not ("hasattr(model" in code or "getattr(model" in code), (name, number, line)


def test_no_function_in_path_is_longer_than_sixty_lines():
    for name, text in module_sources().items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno + 1 <= 60, (name, node.name)


# ---------------------------------------------------------------------------- one fast path, line and plane
def test_the_line_and_the_plane_take_their_products_from_the_one_fast_path(monkeypatch):
    """Both sweeps get the first layer's products from first_layer.FirstLayer.products (the plane keeps them
    across grid rows) and evaluate points through first_layer.evaluate_from_first_output (the plane at every
    point; the line where the model has no loop of its own)."""
    calls, points = [], []
    real_products, real_evaluate = first_layer.FirstLayer.products, first_layer.evaluate_from_first_output

    def counting(self, X, masks=None):
        calls.append(len(self.weights))
        return real_products(self, X, masks)

    def counting_points(*args, **kwargs):
        points.append(1)
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(first_layer.FirstLayer, "products", counting)
    monkeypatch.setattr(plane_module, "evaluate_from_first_output", counting_points)
    monkeypatch.setattr(linear_module, "evaluate_from_first_output", counting_points)
    model = small_mlp()
    plane, train, _, a_values, b_values = plane_problem(model, 6)
    evaluate_plane(model, plane, train, a_values, b_values, chunk_size=5, progress=False)
    assert calls == [3, 3, 3]   # the three products of each of the 3 chunks, kept for every row
    assert len(points) == 3 * len(a_values) * len(b_values)   # every chunk at every grid point
    calls.clear()
    points.clear()
    linear_path(model, plane.origin, plane.point(1.0, 0.0), train, [0.0, 0.5, 1.0], chunk_size=5, progress=False)
    assert calls == [2, 2, 2] and not points   # the two ends' products of each chunk; the MLP's own loop
    hidden = _WithoutOwnLoop(model)
    linear_path(hidden, plane.origin, plane.point(1.0, 0.0), train, [0.0, 0.5, 1.0], chunk_size=5, progress=False)
    assert len(points) == 3 * 3   # the generic loop: every chunk at every alpha


class _WithoutOwnLoop(ModelWithout):
    """A model seen without evaluate_line_chunk (nor line_parameters): the line's generic loop serves it."""

    HIDDEN = ("evaluate_line_chunk", "line_parameters")


def own_model_module():
    spec = importlib.util.spec_from_file_location("own_model", ROOT / "docs" / "own_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_model_written_from_scratch_with_the_first_layer_ability_gets_the_fast_sweeps():
    """docs/own_model.py's TwoLayerTanhFast declares FirstLayerSweep by having its names (no base class): the
    line and the plane then use the first-layer trick, equal to the plain evaluation to rounding; it has no
    check_batch, so the fast sweep's own batch check refuses a malformed batch before computing."""
    own = own_model_module()
    plain, fast = own.TwoLayerTanh(2, 4, 3), own.TwoLayerTanhFast(2, 4, 3)
    assert isinstance(fast, contract.FirstLayerSweep) and not isinstance(plain, contract.FirstLayerSweep)
    assert not isinstance(fast, contract.ChecksBatch)
    train, valid = own.make_data(0, 30), own.make_data(1, 12)
    theta0, theta1 = fast.init(0), fast.init(1)
    alphas = np.linspace(-0.5, 1.5, 5)
    slow = linear_path(plain, theta0, theta1, train, alphas, valid, progress=False)
    quick = linear_path(fast, theta0, theta1, train, alphas, valid, chunk_size=7, progress=False)
    for key in ("J_train", "J_valid", "error_train", "error_valid"):
        np.testing.assert_allclose(getattr(quick, key), getattr(slow, key), rtol=1e-12, atol=1e-14, err_msg=key)
    plane = plane_through(theta0, theta1, fast.init(2))
    a_values, b_values = np.linspace(0, 1, 3), np.linspace(0, 1, 2)
    fast_grid = evaluate_plane(fast, plane, train, a_values, b_values, chunk_size=7, progress=False)
    plain_grid = evaluate_plane(plain, plane, train, a_values, b_values, progress=False)
    assert fast_grid.settings["fast"] and not plain_grid.settings["fast"]
    np.testing.assert_allclose(fast_grid.J_train, plain_grid.J_train, rtol=1e-12)
    with pytest.raises(ValueError, match="linear_path, the train set: y must hold one label per row"):
        linear_path(fast, theta0, theta1, (train[0], train[1][:-1]), alphas, progress=False)


def test_the_readme_own_model_section_names_every_ability_of_the_contract():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### The analysis on your own model"):text.index("## Beyond the line")]
    for name in ("ErrorRate", "EvaluatesInOnePass", "ChecksBatch", "EvaluationChunks", "FirstLayerSweep",
                 "PairedFirstLinear", "DropoutMasks", "LineChunkSweep", "LineParameters", "FixedEvaluationBytes",
                 "Constrained", "ScaledLearningRates", "ExactHessian"):
        assert f"`{name}`" in section, name
        assert isinstance(getattr(contract, name), type), name
    assert Path(ROOT / "docs" / "own_model.py").exists()
