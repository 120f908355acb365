"""The matrix's warm interpreter (tests/warm.py) counts the CPU time of the steps it runs, with
the processes each step waits for, as the matrix's timings report it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import outer_environment
from tests.warm import WarmPython

# A step that spins 0.3 s of CPU time; run with `parent`, it then runs itself as a child (as a
# suite starts a server) and waits for it, which spins 0.3 s more.
SPIN = """\
import subprocess, sys, time
def spin(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
spin(0.3)
if sys.argv[1:] == ["parent"]:
    subprocess.run([sys.executable, __file__], check=True)
"""


def test_a_step_s_cpu_time_counts_the_processes_it_waited_for(
    warm_python: Callable[[], WarmPython], tmp_path: Path
) -> None:
    warm = warm_python()
    script = tmp_path / "spin.py"
    script.write_text(SPIN)
    before = warm.steps_cpu

    warm.run_step([warm.python, str(script), "parent"], tmp_path, outer_environment(), 60)

    # The step spun 0.3 s and its child 0.3 s more, besides their start; a count without the
    # child would stay under 0.6 s (the child's own start is a fresh interpreter's).
    assert warm.steps_cpu - before >= 0.6, warm.steps_cpu - before
