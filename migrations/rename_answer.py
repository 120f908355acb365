"""Rename a question or an answer value in a service's .copier-answers.yml, before an update.

copier runs it from `_migrations` (see copier.yml) in the service's directory, with copier's own
interpreter, before it reads the answers, so the update renders with the new spelling:

    rename_answer.py value QUESTION OLD NEW     database: postgres  ->  database: postgresql
    rename_answer.py question OLD NEW           dbms: ...           ->  database: ...

A service that never had the old spelling is left as it is.
"""

import sys
from pathlib import Path

import yaml

ANSWERS = Path(".copier-answers.yml")


def rename(answers: dict[str, object], kind: str, args: list[str]) -> bool:
    if kind == "value":
        question, old, new = args
        if answers.get(question) == old:
            answers[question] = new
            return True
    elif kind == "question":
        old, new = args
        if old in answers and new not in answers:
            answers[new] = answers.pop(old)
            return True
    else:
        raise SystemExit(f"unknown rename kind {kind!r}: use 'value' or 'question'")
    return False


def main(argv: list[str]) -> None:
    if len(argv) < 3:
        raise SystemExit(__doc__)
    answers = yaml.safe_load(ANSWERS.read_text())
    if rename(answers, argv[1], argv[2:]):
        header = "# Changes here will be overwritten by Copier; do not edit by hand.\n"
        ANSWERS.write_text(header + yaml.safe_dump(answers, sort_keys=True))
        print(f"{ANSWERS}: renamed {' '.join(argv[1:])}")


if __name__ == "__main__":
    main(sys.argv)
