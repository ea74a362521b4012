"""The course as students meet it: each lesson converted to a notebook (jupytext) and run in a real Jupyter kernel
(nbclient), small settings. As shipped, Run All stops at the first exercise's check with one clear message and
nothing that looks like a crash; with the solutions switched on from the first code cell it runs to the end.

Needs jupytext, nbclient and ipykernel (the ``dev`` extra); without them these tests skip and say why."""
import importlib.util
import json
import os
import re
import sys

import pytest

from .conftest import MNIST_T10K, ROOT, SHARED_DATA
from .test_lessons import RESULTS, SAYS

jupytext = pytest.importorskip("jupytext", reason="the notebook tests need jupytext (pip install '.[dev]')")
nbclient = pytest.importorskip("nbclient", reason="the notebook tests need nbclient (pip install '.[dev]')")
if importlib.util.find_spec("ipykernel") is None:  # not imported here: only the kernel runs it
    pytest.skip("the notebook tests need ipykernel (pip install '.[dev]')", allow_module_level=True)
import nbformat  # noqa: E402
from nbclient.exceptions import CellExecutionError  # noqa: E402

LESSONS_DIR = ROOT / "lessons"
LESSONS = sorted(p.stem for p in LESSONS_DIR.glob("lesson[0-9][0-9]_*.py"))
KERNEL = "minilinpath-tests"
CRASH_WORDS = ("Traceback", "SystemExit", "To exit", "%tb")


def notebook(lesson, **settings):
    """The lesson as jupytext converts it, with the first code cell's settings changed as a student would."""
    nb = jupytext.read(LESSONS_DIR / f"{lesson}.py", fmt="py:percent")
    first = next(c for c in nb.cells if c.cell_type == "code")
    for name, value in settings.items():
        first.source, n = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", first.source, flags=re.M)
        assert n == 1, f"the first code cell of {lesson} sets {name}"
    return nb


def data_folder(lesson):
    folder = SHARED_DATA / "ptb" if lesson.startswith("lesson04") else MNIST_T10K
    return str(folder) if folder.is_dir() and not lesson.startswith("lesson02") else None


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """A student's kernel: it finds lessontools beside the lessons and minilinpath in the checkout, and nothing
    in the environment switches the solutions on (the first code cell does)."""
    for name in list(os.environ):
        if name.startswith("MINILINPATH_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(LESSONS_DIR), str(ROOT)]))
    monkeypatch.setenv("MINILINPATH_DATA", str(tmp_path / "no-cache"))  # the lessons must not need it
    spec = tmp_path / "jupyter" / "kernels" / KERNEL  # this Python's kernel, whatever else "python3" may name
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "minilinpath tests", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    work = tmp_path / "work"
    work.mkdir()
    return work


def execute(nb, folder):
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name=KERNEL,
                                     resources={"metadata": {"path": str(folder)}})
    try:
        client.execute()
    except CellExecutionError:
        return False
    return True


def outputs_text(cell):
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts += [out.ename, out.evalue, *out.traceback]
        else:
            parts += [str(v) for k, v in out.get("data", {}).items() if k.startswith("text/plain")]
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_as_shipped_run_all_stops_at_the_first_exercise_with_one_clear_message(lesson, kernel_env):
    nb = notebook(lesson, SMALL=True)
    assert not execute(nb, kernel_env), "Run All stops at the first unfinished exercise"
    failed = [c for c in nb.cells if c.cell_type == "code" and any(o.output_type == "error" for o in c.outputs)]
    assert len(failed) == 1
    cell = failed[0]
    name = re.fullmatch(r"course\.check\((\w+)\);?", cell.source.strip()).group(1)  # it is a check cell
    first = re.search(r"@course\.exercise\ndef (\w+)", "\n".join(c.source for c in nb.cells)).group(1)
    assert name == first
    error = next(o for o in cell.outputs if o.output_type == "error")
    shown = "\n".join(error.traceback)  # what Jupyter shows in red: the one message, nothing else
    assert error.ename == "ExerciseNotDone" and error.traceback == [error.evalue]
    assert f"Stopped at the exercise {name}: not implemented" in shown
    assert f"lessons/solutions/{lesson}.py" in shown and "USE_SOLUTIONS = True in the first code cell" in shown
    assert f"[{name}] not implemented yet" in outputs_text(cell)
    everything = "\n".join(outputs_text(c) for c in nb.cells if c.cell_type == "code")
    assert not [w for w in CRASH_WORDS if w in everything], everything[-2000:]


CHECK_CELL = """import json
print("LESSON-CHECK", json.dumps({"point made": bool(%s), "data": course.data_kind,
                                  "figure problems": course.figure_problems}))"""


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_with_the_solutions_switched_on_in_the_first_cell_it_runs_to_the_end(lesson, kernel_env):
    settings = {"USE_SOLUTIONS": True, "SMALL": True}
    if data_folder(lesson):
        settings["DATA_DIR"] = data_folder(lesson)
    nb = notebook(lesson, **settings)
    nb.cells.append(nbformat.v4.new_code_cell(CHECK_CELL % RESULTS[lesson[:8]]))  # evaluated in the kernel
    ran = execute(nb, kernel_env)
    everything = "\n".join(outputs_text(c) for c in nb.cells[:-1] if c.cell_type == "code")
    assert ran, everything[-3000:]
    assert f"using the reference solutions from lessons/solutions/{lesson}.py" in everything
    assert "FAIL" not in everything and "not implemented" not in everything
    found = json.loads(outputs_text(nb.cells[-1]).split("LESSON-CHECK", 1)[1])
    assert found["point made"], everything[-3000:]
    assert SAYS.get(lesson[:8], "") in everything
    synthetic = data_folder(lesson) is None and not lesson.startswith("lesson02")
    assert (found["data"] == "synthetic") == synthetic and ("synthetic" in everything) == synthetic
    if synthetic:  # the fallback note says what to do in a notebook and in a shell
        assert 'DATA_DIR = "that/folder" in the first code cell' in everything
        assert f"python lessons/{lesson}.py that/folder" in everything
    assert found["figure problems"] and not any(found["figure problems"].values()), found["figure problems"]
    assert list((kernel_env / f"lesson{lesson[6:8]}-out").glob("*.png")), "its figures are saved"
    unrounded = re.findall(r"\d\.\d{7,}", everything)  # 0.8999999999999999: numbers are rounded for people
    assert not unrounded, unrounded
    for cell in nb.cells:  # no cell ends with a stray repr (a Path, a list of Line2D, an AxesSubplot ...)
        for out in cell.get("outputs", []):
            if out.output_type == "execute_result":
                shown = out.data.get("text/plain", "")
                assert not re.search(r"PosixPath|WindowsPath|<matplotlib|Text\(|Line2D", shown), (cell.source, shown)
