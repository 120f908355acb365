"""Copier's command line as a user runs it: the interactive prompt on a pseudo-terminal, or flags.

`copier_command()` is the CLI of the environment the tests run in; `Prompt` answers its
questionnaire key by key (pexpect), reading each question by its help text, as a person does.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pexpect

# Cursor movement, colours and the like, which the prompt draws between the words.
ANSI_ESCAPE = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|[()][0-9A-Z])")
KEY_DOWN = "\x1b[B"
CLEAR_LINE = "\x15"  # Ctrl-U: the prompt pre-fills the default, typing would append to it


def copier_command() -> str:
    """The copier CLI installed beside the interpreter running the tests."""
    return str(Path(sys.executable).parent / "copier")


def visible(text: str) -> str:
    """What a terminal shows of text: escapes dropped, carriage returns as line breaks."""
    return ANSI_ESCAPE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")


class Prompt:
    """`copier copy` running on a pseudo-terminal of `columns` columns."""

    def __init__(self, *args: str, cwd: Path, columns: int = 80, timeout: float = 30) -> None:
        # No cursor-position request: pexpect would never answer it, and the prompt would wait.
        env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"}
        self.child = pexpect.spawn(
            copier_command(),
            list(args),
            cwd=str(cwd),
            env=env,
            encoding="utf-8",
            timeout=timeout,
            dimensions=(40, columns),
        )
        self.transcript: list[str] = []

    def _read_until(self, pattern: str | type[pexpect.EOF], timeout: float | None = None) -> None:
        try:
            self.child.expect_exact(pattern, timeout=timeout or self.child.timeout)
        except pexpect.ExceptionPexpect as error:
            raise AssertionError(
                f"copier's prompt never showed {pattern!r}; the screen so far:\n{self.screen()}"
            ) from error
        finally:
            self.transcript.append(self.child.before or "")
            if isinstance(self.child.after, str):
                self.transcript.append(self.child.after)

    def question(self, help_text: str) -> None:
        """Wait for the question whose help starts with help_text."""
        self._read_until(help_text)

    def type(self, text: str) -> None:
        """Replace the pre-filled default with text and press Enter."""
        self.child.send(CLEAR_LINE + text + "\r")

    def accept(self) -> None:
        """Press Enter: the default, or the highlighted choice."""
        self.child.send("\r")

    def choose(self, position: int) -> None:
        """Move down to the choice at position (0 is the first) and press Enter."""
        self.child.send(KEY_DOWN * position + "\r")

    def wait_for(self, text: str) -> None:
        self._read_until(text)

    def finish(self) -> int:
        """Wait for copier to exit; its exit status."""
        self._read_until(pexpect.EOF, timeout=300)  # rendering takes a few seconds
        self.child.close()
        return int(self.child.exitstatus or 0)

    def screen(self) -> str:
        return visible("".join(self.transcript))


def next_steps(message: str) -> list[str]:
    """The commands under "Next steps, in order:" in a copier message, comments dropped."""
    lines = visible(message).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Next steps, in order:"))
    steps = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        steps.append(line.partition("   #")[0].strip())
    return steps
