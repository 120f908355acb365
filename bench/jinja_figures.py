"""How much inline Jinja the template's Python holds: control tags per 100 lines, and where.

What is counted:
- Template Python: every file under template/ whose rendered name ends in `.py` (a `.py.jinja`
  file, a plain `.py` file, and a file whose name is itself a conditional such as
  `{% if database == 'sqlite' %}engine.py{% endif %}`). Only `.jinja` files are rendered, so a
  plain file holds no tags but counts in the lines and the files.
- Lines: all lines of those files, as `wc -l` counts them, blank ones included.
- Control tags: each `{% ... %}` in a file's content (if, elif, else, endif, for, set, ...);
  `{{ ... }}` expressions are not control. A condition in a file's name is a whole-file
  conditional and is not in its content, so it is not counted.
- A whole-file conditional written inside the file is not counted either: an `{% if %}` alone on
  the first non-blank line whose matching `{% endif %}` is alone on the last non-blank line, with
  no `{% elif %}` or `{% else %}` of its own. It decides whether the file has content at all (what
  a conditional file name does), not what the shared file says.

Run it as `python bench/jinja_figures.py` for the figures alone; bench/bench.py prints them first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parent.parent / "template"
TEMPLATES_SUFFIX = ".jinja"  # copier's default _templates_suffix, which copier.yml keeps

TAGS_PER_100_LINES_TARGET = 3.0
FILES_SHARE_TARGET = 0.15
TOP_FILES = 5

TAG = re.compile(r"\{%-?\s*(\w+).*?-?%\}", re.DOTALL)
NAME_TAG = re.compile(r"\{%.*?%\}|\{\{.*?\}\}")


@dataclass(frozen=True)
class FileFigures:
    path: str
    lines: int
    tags: int


def rendered_name(path: Path) -> str:
    """The file name copier writes: tags in the name dropped, the templates suffix removed."""
    return NAME_TAG.sub("", path.name).removesuffix(TEMPLATES_SUFFIX)


def whole_file_condition(text: str, tags: list[re.Match[str]]) -> bool:
    """Whether the first and last tags are an if/endif pair wrapping all the file's content."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(tags) < 2 or not lines:
        return False
    first, last = tags[0], tags[-1]
    if first.group(1) != "if" or last.group(1) != "endif":
        return False
    if lines[0] != first.group(0).strip() or lines[-1] != last.group(0).strip():
        return False
    depth = 0
    for index, tag in enumerate(tags):
        keyword = tag.group(1)
        if keyword in ("elif", "else") and depth == 1:
            return False  # a choice between two contents, not a file that is or is not there
        if keyword in ("if", "for", "block", "macro", "call", "filter", "with", "raw"):
            depth += 1
        elif keyword.startswith("end"):
            depth -= 1
            if depth == 0 and index != len(tags) - 1:
                return False  # the first if closes before the end: not the whole file
    return True


def file_figures(path: Path, template: Path = TEMPLATE) -> FileFigures:
    text = path.read_text()
    lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    tags = list(TAG.finditer(text)) if path.name.endswith(TEMPLATES_SUFFIX) else []
    count = len(tags) - 2 if whole_file_condition(text, tags) else len(tags)
    return FileFigures(str(path.relative_to(template)), lines, count)


def measure_jinja(template: Path = TEMPLATE) -> dict[str, Any]:
    files = [
        file_figures(path, template)
        for path in sorted(template.rglob("*"))
        if path.is_file() and rendered_name(path).endswith(".py")
    ]
    lines = sum(figures.lines for figures in files)
    tags = sum(figures.tags for figures in files)
    tagged = [figures for figures in files if figures.tags]
    per_100 = tags * 100 / lines if lines else 0.0
    share = len(tagged) / len(files) if files else 0.0
    top = sorted(tagged, key=lambda figures: figures.tags, reverse=True)[:TOP_FILES]
    return {
        "python_files": len(files),
        "lines": lines,
        "control_tags": tags,
        "tags_per_100_lines": round(per_100, 2),
        "files_with_tags": len(tagged),
        "share_of_files_with_tags": round(share, 3),
        "top_files": [
            {"path": figures.path, "tags": figures.tags, "lines": figures.lines} for figures in top
        ],
        "targets": {
            "tags_per_100_lines": TAGS_PER_100_LINES_TARGET,
            "share_of_files_with_tags": FILES_SHARE_TARGET,
        },
        "pass": per_100 <= TAGS_PER_100_LINES_TARGET and share <= FILES_SHARE_TARGET,
    }


def report_jinja(jinja: dict[str, Any]) -> None:
    verdict = {True: "PASS", False: "MISS"}
    per_100, share = jinja["tags_per_100_lines"], jinja["share_of_files_with_tags"]
    print(
        f"Inline Jinja in the template's Python ({jinja['python_files']} files, "
        f"{jinja['lines']} lines, {jinja['control_tags']} control tags; whole-file conditionals "
        f"not counted):\n"
        f"  control tags per 100 lines {per_100:>10.2f}   target <= "
        f"{TAGS_PER_100_LINES_TARGET:g}       {verdict[per_100 <= TAGS_PER_100_LINES_TARGET]}\n"
        f"  Python files holding any   {share:>9.0%} ({jinja['files_with_tags']})   target <= "
        f"{FILES_SHARE_TARGET:.0%}     {verdict[share <= FILES_SHARE_TARGET]}"
    )
    for entry in jinja["top_files"]:
        share_of_tags = entry["tags"] / jinja["control_tags"]
        print(
            f"    {entry['tags']:>4} tags ({share_of_tags:>4.0%}) in {entry['lines']:>4} lines  "
            f"{entry['path']}"
        )


if __name__ == "__main__":
    report_jinja(measure_jinja())
