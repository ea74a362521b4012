"""docs/CONFIGS.md: every citation of it resolves, and its key numbers are the package's.

Two kinds of check:

- citations: every mention of the page in the code, tests, lessons, benchmarks and docs names it by its path,
  ``docs/CONFIGS.md``, and every section it names (``section 3``, ``sections 1-2, 5``, ``sections 6a, 6c and
  6d``) is a numbered heading of the page;
- numbers: a value in the page's tables (the paper's or pylearn2's number, written by hand) equals the value the
  package's presets, recipes and data modules hold. The expectation comes from the page, the actual value from
  the package: if either changes alone, the test fails.
"""
import re
from pathlib import Path

import numpy as np
import pytest

from minilinpath import models
from minilinpath.data import cifar10, mnist, ptb
from minilinpath.experiments import STAGE2_RECIPE
from minilinpath.path import alpha_grid
from minilinpath.train import CIFAR10_RECIPE, MNIST_PI_RECIPE, MNIST_VALID_RECIPE, MPDBM_RECIPE, QUICK_RECIPES
from minilinpath.train_lm import LM_RECIPES

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs/CONFIGS.md"
SCANNED = ["minilinpath", "analytic", "lessons", "docs", "tests", "benchmarks", "README.md"]
TEXT_SUFFIXES = {".py", ".md", ".txt", ".sh", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".json"}
PAGE_NAME = "CONFIGS" + ".md"  # spelled in two parts, so that this file holds no citation of its own making


# ------------------------------------------------------------------------------------------- reading the page
def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def section_ids(text: str) -> set:
    """The numbers that start the page's headings: '## 1. Maxout ...' -> '1', '### 6a. The paper' -> '6a'."""
    return set(re.findall(r"^#{2,3} (\d+[a-z]?)\. ", text, flags=re.MULTILINE))


def section(text: str, sid: str) -> str:
    """The text of section ``sid``, from its heading to the next heading of any section."""
    match = re.search(rf"^#{{2,3}} {re.escape(sid)}\. .*?(?=^#{{2,3}} \d+[a-z]?\. |\Z)", text,
                      flags=re.MULTILINE | re.DOTALL)
    assert match, f"docs/CONFIGS.md has no section {sid}"
    return match.group(0)


def row(sid: str, first_cell: str) -> list:
    """The cells of the table row of section ``sid`` whose first cell is ``first_cell``."""
    rows = [line for line in section(doc_text(), sid).splitlines() if line.startswith(f"| {first_cell} |")]
    assert len(rows) == 1, f"section {sid}: {len(rows)} rows start with {first_cell!r}"
    return [cell.strip() for cell in rows[0].strip().strip("|").split("|")]


def numbers(cell: str) -> list:
    """The numbers written in a cell, in order: '1,233,610' is one number, '240, 240' two; '−' is a minus."""
    cell = cell.replace("−", "-").replace("±", "")
    found = re.findall(r"-?\d{1,3}(?:,\d{3})+(?!\d)|-?\d+(?:\.\d+)?(?:e-?\d+)?", cell)
    return [float(n.replace(",", "")) for n in found]


def source(sid: str, setting: str) -> list:
    """The numbers of a row's second column (the source value)."""
    return numbers(row(sid, setting)[1])


# ------------------------------------------------------------------------------------------- citations
def citation_problems(line: str, sections: set) -> list:
    """What is wrong with the citations of the page on one line of text (an empty list: nothing)."""
    problems = []
    for match in re.finditer(re.escape(PAGE_NAME), line):
        if not line[:match.start()].endswith("docs/"):
            problems.append(f"cites {PAGE_NAME} without its path docs/{PAGE_NAME}")
            continue
        named = re.match(r"\s*,?\s*\(?sections?\s+(\d+[a-z]?(?:\s*(?:-|,|and)\s*\d+[a-z]?)*)", line[match.end():])
        for sid in named_sections(named.group(1)) if named else []:
            if sid not in sections:
                problems.append(f"names section {sid}, which docs/{PAGE_NAME} does not have")
    return problems


def named_sections(listing: str) -> list:
    """'1-2, 5' -> ['1', '2', '5']; '6a, 6c and 6d' -> ['6a', '6c', '6d']."""
    named = []
    for part in re.split(r"\s*(?:,|and)\s*", listing.strip()):
        ends = [p.strip() for p in part.split("-")]
        if len(ends) == 2 and ends[0].isdigit() and ends[1].isdigit():
            named += [str(i) for i in range(int(ends[0]), int(ends[1]) + 1)]
        else:
            named += ends
    return named


def scanned_files():
    for name in SCANNED:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(path.rglob("*"))
        yield from (f for f in files if f.is_file() and f.suffix in TEXT_SUFFIXES and "__pycache__" not in f.parts)


def test_the_page_is_in_the_repository_with_its_sections():
    assert DOC.is_file()
    assert {"0", "1", "2", "2a", "2b", "3", "4", "5", "6a", "6b", "6c", "6d", "7a", "7b", "7c", "8a", "8b",
            "9", "10"} <= section_ids(doc_text())


def test_every_citation_names_docs_configs_and_an_existing_section():
    sections = section_ids(doc_text())
    problems, cited = [], 0
    for path in scanned_files():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            cited += line.count(PAGE_NAME)
            problems += [f"{path.relative_to(ROOT)}:{number}: {p}" for p in citation_problems(line, sections)]
    assert not problems, "\n".join(problems)
    assert cited >= 30  # the code cites the page in about 30 places; none may slip out of the scan


def test_the_citation_check_catches_a_bare_name_and_a_missing_section():
    sections = {"1", "2", "5", "6a"}
    assert citation_problems(f"# pylearn2 (docs/{PAGE_NAME} section 1)", sections) == []
    assert citation_problems(f"(docs/{PAGE_NAME} sections 1-2, 5): early stopping", sections) == []
    assert citation_problems(f"# see {PAGE_NAME} section 1", sections) == [
        f"cites {PAGE_NAME} without its path docs/{PAGE_NAME}"]
    assert citation_problems(f"``paper/{PAGE_NAME}``", sections) != []
    assert citation_problems(f"# docs/{PAGE_NAME} section 3: detector 33", sections) == [
        f"names section 3, which docs/{PAGE_NAME} does not have"]
    assert len(citation_problems(f"docs/{PAGE_NAME} sections 6a, 6c and 6d", sections)) == 2
    assert named_sections("1-2, 5") == ["1", "2", "5"] and named_sections("6a, 6c and 6d") == ["6a", "6c", "6d"]


def test_numbers_reads_thousands_lists_and_minus_signs():
    assert numbers("1,233,610") == [1233610.0]
    assert numbers("240, 240") == [240.0, 240.0]
    assert numbers("U(−0.005, 0.005)") == [-0.005, 0.005]
    assert numbers("lr divided by 1.000004, never below 1e-6") == [1.000004, 1e-6]


# ------------------------------------------------------------------------------------------- the numbers
def test_maxout_mlp_section_1_is_the_mnist_pi_preset_and_recipe():
    preset, recipe = models.PRESETS["mnist_pi"], MNIST_PI_RECIPE
    assert tuple(source("1", "hidden units")) == preset["hidden"]
    assert source("1", "pieces per unit") == [preset["pieces"]]
    assert {abs(r) for r in source("1", "weight init")} == set(preset["init_ranges"])
    assert {source("1", "column norm limit")[0]} == set(preset["max_col_norms"])  # "1.9365 on h0, h1 and y"
    assert source("1", "input dropout") == [preset["input_include"], preset["input_scale"]]
    assert source("1", "hidden dropout")[:2] == [preset["hidden_include"], preset["hidden_scale"]]
    assert source("1", "minibatch") == [recipe.batch_size]
    assert source("1", "learning rate") == [recipe.learning_rate]
    assert source("1", "lr decay per update") == [recipe.lr_schedule.decay_factor, recipe.lr_schedule.min_lr]
    mu = recipe.momentum_schedule
    assert source("1", "momentum") == [recipe.momentum, mu.final_momentum, mu.start, mu.saturate]
    assert source("1", "early stopping") == [recipe.patience]
    assert source("1", "data") == [0, mnist.N_TRAIN - 1, mnist.N_TRAIN, 59_999]
    assert source("1", "parameters")[0] == models.get("mnist_pi").size
    # stage 2, mnist_pi_continued.yaml
    assert source("1", "stage 2 learning rate") == [STAGE2_RECIPE.learning_rate]
    assert source("1", "stage 2 momentum") == [STAGE2_RECIPE.momentum] and STAGE2_RECIPE.momentum_schedule is None


def test_relu_mlp_section_2_is_the_mnist_valid_preset_and_recipe():
    preset, recipe = models.PRESETS["mnist_valid"], MNIST_VALID_RECIPE
    assert tuple(source("2", "hidden units")) == preset["hidden"]
    inits = source("2", "weight init h0") + source("2", "weight init h1") + [0.0]
    assert "all zeros" in row("2", "weight init y")[1] and tuple(inits) == preset["init_ranges"]
    assert tuple(source("2", "column norm limits")[:3]) == preset["max_col_norms"]  # then "(h0, h1, y)"
    assert source("2", "input dropout") == [preset["input_include"], preset["input_scale"]]
    assert source("2", "hidden dropout") == [preset["hidden_include"], preset["hidden_scale"]]
    assert source("2", "learning rate") == [recipe.learning_rate]
    lr = recipe.lr_schedule
    assert source("2", "lr decay") == [lr.start, lr.saturate, lr.decay_factor]
    mu = recipe.momentum_schedule
    assert source("2", "momentum") == [recipe.momentum, mu.final_momentum, mu.start, mu.saturate]
    assert source("2", "parameters")[0] == models.get("mnist_valid").size
    # 2a and 2b: the same network without dropout, and with sigmoids
    assert all(models.PRESETS["relu"][k] == 1.0 for k in ("input_include", "input_scale", "hidden_include"))
    assert models.PRESETS["sigmoid"]["activation"] == "sigmoid" and "keeps dropout" in section(doc_text(), "2b")


@pytest.mark.parametrize("layer, index", [("h0", 0), ("h1", 1), ("h2", 2)])
def test_conv_maxout_section_3_layer_table_is_the_cifar10_preset(layer, index):
    spec = models.CIFAR10_MAXOUT["conv"][index]
    cells = row("3", layer)
    assert numbers(cells[1]) == [spec.units, spec.pieces]
    assert numbers(cells[2]) == [spec.kernel, spec.kernel]
    assert numbers(cells[3]) == [spec.pad]
    assert numbers(cells[4]) == [spec.pool, spec.pool, spec.pool_stride]
    assert numbers(cells[5]) == [spec.max_kernel_norm]
    assert numbers(cells[6]) == [spec.lr_scale]


def test_conv_maxout_section_3_dense_layers_sizes_and_recipe():
    preset, recipe = models.CIFAR10_MAXOUT, CIFAR10_RECIPE
    assert numbers(row("3", "h3")[1]) == [preset["dense"][0], preset["dense_pieces"]]
    assert numbers(row("3", "h3")[5]) + numbers(row("3", "y")[5]) == list(preset["max_col_norms"])
    pooled = [tuple(numbers(cell)) for cell in row("3", "after pooling")[1:]]  # the spatial-size table
    assert models.get("cifar10_maxout").shapes_after == [(96, *pooled[0]), (192, *pooled[1]), (192, *pooled[2])]
    assert {abs(r) for r in source("3", "weight init")[:2]} == {preset["init_range"]}  # "U(-0.005, 0.005)"
    assert source("3", "input dropout") == [preset["input_include"], preset["input_scale"]]
    assert source("3", "minibatch") == [recipe.batch_size]
    assert source("3", "learning rate")[0] == recipe.learning_rate
    assert source("3", "lr decay") == [recipe.lr_schedule.decay_factor, recipe.lr_schedule.saturate]
    mu = recipe.momentum_schedule
    assert source("3", "momentum") == [recipe.momentum, mu.final_momentum, mu.start, mu.saturate]
    assert recipe.drop_last and source("3", "full batches only")[:2] == [2014, 312]
    assert source("3", "global contrast normalisation")[-2:] == [cifar10.GCN_SCALE, 1e-8]
    assert "0.1·I" in row("3", "ZCA whitening")[1] and cifar10.ZCA_FILTER_BIAS == 0.1


def test_mpdbm_section_4_is_the_mpdbm_preset_and_recipe():
    preset, recipe = models.MPDBM_PAPER, MPDBM_RECIPE
    assert tuple(source("4", "hidden units")) == preset["hidden"]
    assert source("4", "mean-field iterations") == [preset["iterations"]]
    assert source("4", "h0 weight init")[0] == preset["h0_sparse_init"]
    assert source("4", "h1 weight init") == [preset["h1_init_range"]]
    assert source("4", "label weight init")[0] == preset["c_sparse_init"]
    assert tuple(source("4", "hidden biases at init")) == preset["biases"]
    assert tuple(source("4", "column norm limits")[:3]) == preset["max_col_norms"]
    assert source("4", "target probability")[0] == preset["mask_prob"]
    assert source("4", "learning rate") == [recipe.learning_rate]
    assert source("4", "lr decay") == [recipe.lr_schedule.decay_factor, recipe.lr_schedule.saturate]
    mu = recipe.momentum_schedule
    assert source("4", "momentum") == [recipe.momentum, mu.final_momentum, mu.saturate]
    assert source("4", "parameters")[0] == models.get("mpdbm").size


def test_adversarial_section_5_is_fgsm_objectives_defaults():
    import inspect

    from minilinpath.adversarial import fgsm_objective
    defaults = {k: p.default for k, p in inspect.signature(fgsm_objective).parameters.items()}
    assert source("5", "mixing weight α") == [defaults["mix"]]
    assert source("5", "ε on MNIST")[0] == defaults["epsilon"]
    assert defaults["clip"] is None and "`clip=None`" in row("5", "clipping x + ε·sign(·) to [0, 1]")[3]


@pytest.mark.parametrize("column, name", [(1, "ptb_small"), (2, "ptb_medium"), (3, "ptb_large")])
def test_lstm_section_6a_paper_table_is_the_language_model_presets(column, name):
    preset, recipe = models.LANGUAGE_MODELS[name], LM_RECIPES[name]

    def paper(setting):
        return numbers(row("6a", setting)[column])

    assert paper("units per layer") == [preset["hidden"]]
    assert paper("unrolled steps") == [preset["steps"]]
    assert paper("init range") == [preset["init_range"]]
    dropout = paper("dropout on non-recurrent connections")
    assert 1.0 - (dropout[0] / 100 if dropout else 0.0) == pytest.approx(preset["keep_prob"], abs=1e-12)
    assert paper("epochs in all") == [recipe.max_max_epoch]
    assert paper("epochs at lr 1") == [recipe.max_epoch] and recipe.learning_rate == 1.0
    assert paper("then the rate is divided each epoch by") == [recipe.decay]
    assert paper("gradient norm clip") == [recipe.max_grad_norm]
    assert numbers(row("6d", "minibatch")[column]) == [recipe.batch_size]


def test_lstm_section_6d_parameter_counts_are_the_presets_sizes():
    text = section(doc_text(), "6d")
    counts = re.search(r"fewer parameters:\s+([\d,]+)\s+/\s+([\d,]+)\s+/\s+([\d,]+)", text)
    assert [numbers(c)[0] for c in counts.groups()] == [models.get(n).size
                                                       for n in ("ptb_small", "ptb_medium", "ptb_large")]


def test_data_section_7_checksums_and_urls_are_the_data_modules():
    for role, file_name in mnist.FILES.items():
        cells = row("7a", f"`{file_name}`")
        assert cells[1] == f"`{mnist.DATASETS['mnist']['gz_md5'][role]}`"
        assert cells[2] == f"`{mnist.DATASETS['mnist']['content_md5'][role]}`"
    for mirror in mnist.DATASETS["mnist"]["mirrors"]:
        assert f"`{mirror}`" in section(doc_text(), "7a")
    assert row("7b", f"`{cifar10.ARCHIVE}`")[1] == f"`{cifar10.ARCHIVE_MD5}`"
    for member, md5 in cifar10.MEMBER_MD5.items():
        assert row("7b", f"`{member}`")[1] == f"`{md5}`"
    assert f"`{cifar10.URLS[0]}`" in section(doc_text(), "7b")
    for split, md5 in ptb.MD5.items():
        assert row("7c", f"`ptb.{split}.txt`")[1] == f"`{md5}`"
    assert f"`{ptb.MIRROR}`" in section(doc_text(), "7c")


def test_alpha_grids_of_section_0_are_path_alpha_grid():
    assert source("0", "coarse grid")[:3] == [9, 0, 19]  # "α = i/9 for i = 0, …, 19"
    assert np.array_equal(alpha_grid("paper"), np.arange(0, 19 + 1) / 9)
    for setting, kind in (("fine grid", "fine"), ("start window", "start"), ("end window", "end")):
        count, low, high = source("0", setting)
        grid = alpha_grid(kind)
        assert (grid.size, grid[0], grid[-1]) == (count, low, high)


def test_quick_profile_rows_of_section_9_are_the_quick_recipes():
    cells = row("9", "`mnist_pi`")[1]
    assert "120, 120" in cells and models.QUICK_SIZES["mnist_pi"] == (120, 120)
    assert "1.0003 per update" in cells and QUICK_RECIPES["mnist_pi"]["lr_schedule"].decay_factor == 1.0003
    assert "lr 0.25" in row("9", "`sigmoid`")[1] and QUICK_RECIPES["sigmoid"]["learning_rate"] == 0.25
    assert "U(±0.05)" in row("9", "`cifar10_maxout`")[1] and models.CIFAR10_MAXOUT_QUICK["init_range"] == 0.05
