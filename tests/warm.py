"""Run a variant's Python steps in forks of a warm interpreter (tests/zygote.py), not fresh ones.

`WarmPython.run_step` takes the same command as `run_step` in tests/conftest.py
(`python -m module ...`, `python -c code ...`, `python script.py ...` or a console script beside
the interpreter) and gives the same result: the step's combined output, or a failed test naming
the command; `WarmPython.run` keeps stderr apart when asked. Each step is still a
process of its own, in the variant's directory and environment; what it saves is the interpreter's
start and the import of the libraries every step shares.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

ZYGOTE = Path(__file__).with_name("zygote.py")
# The characters of a step's output that a failure for its time shows: its last lines.
TAIL = 8000
# pytest warns that it cannot rewrite the asserts of a plugin imported before it starts, as the
# zygote imports them; the warning is about those modules' own asserts, and the rendered suites'
# `filterwarnings = ["error"]` would make it fatal. The variants run fresh (the covering ones) see
# every other warning of that kind.
PRELOADED_PLUGINS = (
    "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning"
)


def shown(command: list[str]) -> str:
    """A command as a failure names it: its program by file name (`python`), not its full path."""
    return " ".join([Path(command[0]).name, *command[1:]])


class WarmPython:
    def __init__(self, python: str, env: Mapping[str, str]) -> None:
        self.python = python
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the zygote
        self._process = subprocess.Popen(
            [python, str(ZYGOTE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errors,
            env=dict(env),
        )
        self._received = b""
        # CPU seconds of the steps run so far (each with the processes it waited for).
        self.steps_cpu = 0.0
        if self._read(timeout=300) != {"ready": True}:
            raise RuntimeError(f"the warm interpreter did not start: {self._failure()}")

    def _failure(self) -> str:
        self._process.kill()
        self._process.wait()
        self._errors.seek(0)
        return self._errors.read().decode(errors="replace")

    def _read(self, timeout: float) -> dict[str, object] | None:
        """The zygote's next reply, or None if none comes within timeout seconds.

        Read from the descriptor itself: a buffered reader could hold the next reply where
        select() does not see it.
        """
        stdout = self._process.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._received:
            ready, _, _ = select.select([stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return None
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"the warm interpreter stopped: {self._failure()}")
            self._received += chunk
        line, _, self._received = self._received.partition(b"\n")
        reply: dict[str, object] = json.loads(line)
        return reply

    def request(self, command: list[str]) -> dict[str, object] | None:
        """The zygote's request for a command this can run warm, or None.

        `python -m module ...`, `python -c code ...`, `python script.py ...`, or a console script
        of the environment.
        """
        program, *arguments = command
        if program == self.python and arguments[:1] == ["-m"]:
            module, argv = arguments[1], arguments[2:]
            if module == "pytest":
                argv = ["-W", PRELOADED_PLUGINS, *argv]
            return {"module": module, "script": None, "argv": argv}
        if program == self.python and arguments[:1] == ["-c"]:
            return {"module": None, "script": None, "code": arguments[1], "argv": arguments[2:]}
        if program == self.python and arguments[:1] and arguments[0].endswith(".py"):
            return {"module": None, "script": arguments[0], "argv": arguments[1:]}
        if program != self.python and Path(program).parent == Path(self.python).parent:
            return {"module": None, "script": program, "argv": arguments}
        return None

    def run(
        self,
        command: list[str],
        cwd: Path,
        env: Mapping[str, str],
        timeout: float,
        *,
        separate_errors: bool = False,
    ) -> tuple[int, str, str]:
        """Run a command in a fork: its exit status, stdout and stderr (with separate_errors; else
        stderr is in stdout, interleaved as written, and the third item is empty)."""
        request = self.request(command)
        if request is None:
            raise ValueError(f"`{shown(command)}` is not a Python step of the shared environment")
        with tempfile.TemporaryDirectory(prefix="step-") as directory:
            output, errors = Path(directory) / "stdout", Path(directory) / "stderr"
            request |= {"cwd": str(cwd), "env": dict(env)}
            request |= {"output": str(output), "errors": str(errors) if separate_errors else None}
            stdin = self._process.stdin
            assert stdin is not None
            stdin.write(json.dumps(request).encode() + b"\n")
            stdin.flush()
            started = self._read(timeout=60)
            if started is None:
                raise RuntimeError(f"the warm interpreter did not fork `{shown(command)}`")
            finished = self._read(timeout=timeout)
            if finished is None:
                # SIGINT first: pytest, say, then reports where it was, which the failure shows.
                os.kill(int(str(started["pid"])), signal.SIGINT)
                if self._read(timeout=20) is None:
                    os.kill(int(str(started["pid"])), signal.SIGKILL)
                    self._read(timeout=60)
                written = output.read_text(errors="replace")[-TAIL:]
                pytest.fail(
                    f"`{shown(command)}` took over {timeout:.0f} s; its output ended:\n{written}",
                    pytrace=False,
                )
            returncode = int(str(finished["returncode"]))
            self.steps_cpu += float(str(finished["cpu"]))
            written = errors.read_text(errors="replace") if separate_errors else ""
            return returncode, output.read_text(errors="replace"), written

    def run_step(
        self, command: list[str], cwd: Path, env: Mapping[str, str], timeout: float
    ) -> str:
        """As tests/conftest.py's `run_step`: the combined output, or a failed test."""
        returncode, output, _ = self.run(command, cwd, env, timeout)
        if returncode != 0:
            pytest.fail(f"`{shown(command)}` exited {returncode}:\n{output}", pytrace=False)
        return output

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._errors.close()
