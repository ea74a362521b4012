"""keep_freed_memory: freed blocks are reused (counted in page faults, not timed), the opt-out, every command calls it."""
import os
import platform
import subprocess
import sys

import pytest

from minilinpath import allocator

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# Allocate, fill and free a 48 MB array 12 times; print the minor page faults of the last 11 rounds.
# Without the setting each round maps fresh memory and faults all ~12,000 of its pages in again.
CHURN = """
import os, resource, sys
import numpy as np
from minilinpath.allocator import keep_freed_memory
print(keep_freed_memory(), file=sys.stderr)
def round_trip():
    a = np.empty(12 << 20, dtype=np.float32)
    a.fill(1.0)
    del a
round_trip()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(11):
    round_trip()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def churn_faults(setting: str) -> int:
    env = {**os.environ, "MINILINPATH_KEEP_FREED_MEMORY": setting}
    done = subprocess.run([sys.executable, "-c", CHURN], env=env, capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


@pytest.mark.skipif(not GLIBC, reason="the setting is glibc's")
def test_freed_memory_is_reused_instead_of_faulted_in_again():
    huge_pages_per_round = (48 << 20) // (2 << 20)  # the fewest faults a round can cost (2 MiB huge pages)
    assert churn_faults("0") >= 11 * huge_pages_per_round  # malloc left alone: every round faults memory in
    assert churn_faults("1") < huge_pages_per_round        # kept: the rounds reuse the first one's memory


def test_opt_out_changes_nothing(monkeypatch):
    monkeypatch.setenv("MINILINPATH_KEEP_FREED_MEMORY", "0")
    assert allocator.keep_freed_memory() is False


@pytest.mark.parametrize("value", ["off", "false", "00", "yes please"])
def test_other_values_are_refused_with_one_line(monkeypatch, tmp_path, capsys, value):
    monkeypatch.setenv("MINILINPATH_KEEP_FREED_MEMORY", value)
    with pytest.raises(ValueError, match="give 1 .* or 0"):
        allocator.keep_freed_memory()
    from minilinpath.figures import common

    status = common.run_figure("figx", "a test figure", compute=None, plot=None, report=None,
                               argv=["--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error: MINILINPATH_KEEP_FREED_MEMORY=") and err.count("\n") == 1


@pytest.mark.skipif(not GLIBC, reason="the setting is glibc's")
def test_accepted_on_glibc(monkeypatch):
    monkeypatch.delenv("MINILINPATH_KEEP_FREED_MEMORY", raising=False)
    assert allocator.keep_freed_memory() is True


def test_every_command_asks_for_it(monkeypatch, tmp_path):
    from minilinpath.figures import common

    calls = []
    monkeypatch.setattr(common, "keep_freed_memory", lambda: calls.append(1) or True)
    status = common.run_figure("figx", "a test figure", compute=None, plot=None, report=None,
                               argv=["--replot", "--out", str(tmp_path / "nothing-here")])
    assert status == 2 and calls == [1]  # the --replot error comes after the setting
