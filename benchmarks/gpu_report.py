"""Collect what benchmarks/gpu_check.sh left in its folder into one Markdown report (REPORT.md).

docs/REPRODUCTION.md quotes this report for the numbers that need a GPU: the
device, the GPU test results, the benchmark lines, and the paper-profile figure
(its command, exit status, seconds, and its summary: best validation errors
and the metrics of each line).

    python benchmarks/gpu_report.py OUTDIR > OUTDIR/REPORT.md
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def last_line(path: Path, default: str = "(missing)") -> str:
    lines = path.read_text(errors="replace").strip().splitlines() if path.is_file() else []
    return lines[-1] if lines else default


def paper_figure_section(out: Path) -> list:
    lines = ["## Paper-profile figure", ""]
    command = (out / "paper_figure.cmd").read_text().strip() if (out / "paper_figure.cmd").is_file() else "?"
    status = (out / "paper_figure.status").read_text().split() if (out / "paper_figure.status").is_file() else []
    rc, seconds = (int(status[0]), int(status[1])) if len(status) == 2 else (None, None)
    lines.append(f"- command: `{command}`")
    verdict = {None: "not run", 0: "finished", 124: "stopped by the time limit"}.get(rc, f"failed (exit {rc})")
    lines.append(f"- result: {verdict}" + (f" after {seconds} s" if seconds is not None else ""))
    settings = sorted((out / "paper-figure").glob("fig*.json")) if (out / "paper-figure").is_dir() else []
    if rc == 0 and settings:
        summary = json.loads(settings[0].read_text()).get("summary", {})
        for name, metrics in summary.get("metrics", {}).items():
            keep = {k: metrics[k] for k in ("monotone", "largest_bump", "local_minima", "argmin_alpha",
                                            "valid_error_at_1") if k in metrics}
            lines.append(f"- `{name}`: {json.dumps(keep)}")
        for warning in summary.get("warnings", []):
            lines.append(f"- warning: {warning}")
    else:
        lines += ["", "Last lines of its log:", "", "```"]
        log = out / "paper_figure.log"
        lines += log.read_text(errors="replace").strip().splitlines()[-12:] if log.is_file() else ["(no log)"]
        lines.append("```")
    return lines


def report(out: Path) -> str:
    lines = [f"# GPU check report ({out})", "", "## Device", "", "```"]
    lines += (out / "device.txt").read_text().strip().splitlines() if (out / "device.txt").is_file() else ["(none)"]
    lines += ["```", "", "## Tests", "",
              f"- `pytest -m gpu`: {last_line(out / 'pytest_gpu.log')}",
              f"- whole suite: {last_line(out / 'pytest_all.log')}", "", "## Benchmarks", "", "```"]
    for name in ("bench_gpu.txt", "bench_cpu.txt"):
        if (out / name).is_file():
            lines += (out / name).read_text(errors="replace").strip().splitlines()
    lines += ["```", ""] + paper_figure_section(out)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python benchmarks/gpu_report.py OUTDIR  (the folder benchmarks/gpu_check.sh wrote)",
              file=sys.stderr)
        return 2
    sys.stdout.write(report(Path(argv[0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
