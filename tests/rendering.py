"""Render services from a snapshot of the working tree, the one way tests and nox sessions do it.

Command line (nox runs it inside its session's environment, where copier is installed):
    python -m tests.rendering DEST [KEY=VALUE ...]   render one service into DEST
    python -m tests.rendering --matrix DEST          render every matrix variant into DEST/<n>
    python -m tests.rendering --matrix --only pyproject.toml DEST   ... that one file of each
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path

import yaml
from copier import run_copy

from tests.matrix import BASE_ANSWERS, VARIANTS, parse_assignments

ROOT = Path(__file__).resolve().parent.parent

# What a copy without git leaves out: VCS data, environments and caches.
_NOT_TEMPLATE = shutil.ignore_patterns(
    ".git", ".nox", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"
)


def _working_tree_files(root: Path) -> list[str] | None:
    """Files git would commit from root (tracked or new, minus ignored), or None without git."""
    try:
        listing = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            capture_output=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return [name for name in listing.stdout.decode().split("\0") if name]


def snapshot_template(dst: Path, root: Path = ROOT) -> Path:
    """Copy the working tree into dst without .git, so copier renders what is on disk, not a tag."""
    files = _working_tree_files(root)
    if files is None:
        shutil.copytree(root, dst, ignore=_NOT_TEMPLATE, dirs_exist_ok=True)
        return dst
    for name in files:
        source = root / name
        # Skip files deleted since they were staged, and gitlinks (directories).
        if source.is_dir() or not source.exists():
            continue
        target = dst / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return dst


def slim_template(dst: Path, only: str, root: Path = ROOT) -> Path:
    """Copy into dst the template's questions and its one top-level file `only` (as is, or as
    `only.jinja`): what renders that file, without the hundreds of other paths whose names copier
    would render as templates only to exclude them (a render of one file: ~0.9 s -> ~0.1 s)."""
    questions = root / "copier.yml"
    subdirectory = yaml.safe_load(questions.read_text()).get("_subdirectory", "")
    (dst / subdirectory).mkdir(parents=True, exist_ok=True)
    shutil.copy2(questions, dst / "copier.yml")
    for name in (only, f"{only}.jinja"):
        if (root / subdirectory / name).exists():
            shutil.copy2(root / subdirectory / name, dst / subdirectory / name)
    return dst


def render(src: Path, answers: Mapping[str, object], dst: Path, only: str | None = None) -> Path:
    """Render the template at src into dst with copier's defaults, BASE_ANSWERS and answers.

    `only` names one file at the template's top level to render, and nothing else.
    """
    exclude = ["*", f"!{only}", f"!{only}.jinja"] if only else []
    run_copy(
        str(src),
        dst,
        data={**BASE_ANSWERS, **answers},
        defaults=True,
        unsafe=False,
        quiet=True,
        vcs_ref=None,
        exclude=exclude,
    )
    return dst


def render_copy(src: Path, answers: Mapping[str, object], dst: Path) -> Path:
    """What `render(src, answers, dst)` gives, rendered once per snapshot and answers: later calls
    copy that render, which takes a few milliseconds where copier takes about a second.

    The renders are kept beside the snapshot (`<snapshot>.renders/`), so processes that share a
    snapshot (pytest-xdist's workers) share them. A process that asks for a render another is
    making waits for it (a lock file per render) instead of making it too: the workers walk the
    variants in the same order, and without the lock a third of the renders of a run were made
    twice. Each is rendered in a directory of its own and renamed into place whole, so a render
    that fails or is killed leaves nothing behind.
    """
    merged = {**BASE_ANSWERS, **answers}
    key = hashlib.sha256(json.dumps(merged, sort_keys=True, default=str).encode()).hexdigest()
    cache = src.parent / f"{src.name}.renders"
    cache.mkdir(exist_ok=True)
    kept = cache / key[:16]
    with (cache / f"{key[:16]}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not kept.exists():
            staging = Path(tempfile.mkdtemp(dir=cache, prefix="rendering-"))
            try:
                render(src, answers, staging / "service")
                (staging / "service").rename(kept)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(kept, dst, symlinks=True)
    return dst


def main(argv: list[str] | None = None) -> None:
    """Render from the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m tests.rendering", description=__doc__)
    parser.add_argument("dest", type=Path, help="where to render")
    parser.add_argument("answers", nargs="*", metavar="KEY=VALUE", help="answers to copier.yml")
    parser.add_argument(
        "--matrix", action="store_true", help="render every matrix variant into DEST/<n>"
    )
    parser.add_argument(
        "--only", metavar="FILE", help="render only this top-level file (with --matrix)"
    )
    args = parser.parse_args(argv)
    if args.matrix and args.answers:
        parser.error("--matrix renders the matrix's own answers; give no KEY=VALUE with it")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only:
            template = slim_template(Path(tmp), args.only)
        else:
            template = snapshot_template(Path(tmp))
        if args.matrix:
            # One process per core: each render is about a second of copier's own Python, and
            # nox's sessions render the whole matrix's pyproject.toml before they start.
            with ProcessPoolExecutor() as pool:
                renders = pool.map(
                    render,
                    repeat(template),
                    [variant.answers for variant in VARIANTS],
                    [args.dest / str(number) for number in range(len(VARIANTS))],
                    repeat(args.only),
                )
                for _ in renders:  # raise the first render's error, if any
                    pass
        else:
            render(template, parse_assignments(args.answers), args.dest, only=args.only)


if __name__ == "__main__":
    main()
