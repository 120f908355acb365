"""Render and update time: copier rendering the default answers, and `copier update` of it."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from copier import run_copy, run_update
from serving import verdict

RENDER_TARGET_S = 1.0

RENDER_RUNS = 5


def measure_render(snapshot: Path, work: Path) -> dict[str, Any]:
    """Time copier rendering the default answers into fresh directories, RENDER_RUNS times."""
    seconds = []
    for run in range(RENDER_RUNS):
        started = time.perf_counter()
        run_copy(str(snapshot), work / f"render-{run}", defaults=True, quiet=True, unsafe=False)
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    return {
        "runs_s": [round(s, 4) for s in seconds],
        "median_s": round(median, 4),
        "min_s": round(min(seconds), 4),
        "target_s": RENDER_TARGET_S,
        "pass": median <= RENDER_TARGET_S,
    }


def report_render(render: dict[str, Any]) -> None:
    print(
        f"Render, default answers, {RENDER_RUNS} runs:  median {render['median_s']:.3f} s, "
        f"min {render['min_s']:.3f} s   target <= {RENDER_TARGET_S:g} s   "
        f"{verdict(render['pass'])}"
    )


UPDATE_RUNS = 3
UPDATE_TARGET_S = 3.0


def _git(cwd: Path, *args: str) -> None:
    identity = ["-c", "user.name=Bench", "-c", "user.email=bench@example.com"]
    subprocess.run(["git", *identity, *args], cwd=cwd, check=True, capture_output=True)


def _commit(repo: Path, tag: str | None = None) -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "bench")
    if tag:
        _git(repo, "tag", tag)


def measure_update(snapshot: Path, work: Path) -> dict[str, Any]:
    """Time `copier update` of the default service from one template tag to the next.

    The template is a git repository tagged 1.0.0, then 1.1.0 after a one-line change; each run
    renders and commits a fresh service at 1.0.0 (untimed) and times the update to 1.1.0.
    """
    template = work / "update-template"
    shutil.copytree(snapshot, template)
    _git(template, "init", "-q", "-b", "main")
    _commit(template, "1.0.0")
    context = template / "template/app/core/request_context.py"
    context.write_text(context.read_text() + "\n# A change for the update benchmark.\n")
    _commit(template, "1.1.0")

    seconds = []
    for run in range(UPDATE_RUNS):
        service = work / f"update-service-{run}"
        run_copy(str(template), service, defaults=True, quiet=True, vcs_ref="1.0.0")
        _git(service, "init", "-q", "-b", "main")
        _commit(service)
        started = time.perf_counter()
        run_update(service, defaults=True, overwrite=True, quiet=True, vcs_ref="1.1.0")
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    return {
        "runs_s": [round(s, 4) for s in seconds],
        "median_s": round(median, 4),
        "target_s": UPDATE_TARGET_S,
        "pass": median <= UPDATE_TARGET_S,
    }


def report_update(update: dict[str, Any]) -> None:
    print(
        f"copier update, default service, {UPDATE_RUNS} runs:  median {update['median_s']:.3f} s"
        f"   target <= {UPDATE_TARGET_S:g} s   {verdict(update['pass'])}"
    )
