"""Write the OpenAPI document to openapi.json without starting a server, or check it is current.

The committed openapi.json is the contract clients generate code from; CI runs `--check`, so a
change to the API shows up in review as a change to this file.

    python -m app.commands.export_openapi            # write openapi.json
    python -m app.commands.export_openapi --check    # exit 1 unless openapi.json is current
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.core.config import Settings
from app.main import create_app

DEFAULT_PATH = Path("openapi.json")


def openapi_document() -> dict[str, Any]:
    """The document the service serves, built from the default settings.

    `model_construct` skips the environment and `.env`: a PROJECT_NAME or VERSION set on one
    machine must not change the committed contract.
    """
    return create_app(Settings.model_construct()).openapi()


def serialize(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.commands.export_openapi")
    parser.add_argument("--output", type=Path, default=DEFAULT_PATH, help="default: openapi.json")
    parser.add_argument(
        "--check", action="store_true", help="compare with the file instead of writing it"
    )
    args = parser.parse_args(argv)
    exported = serialize(openapi_document())
    if not args.check:
        args.output.write_text(exported, encoding="utf-8")
        print(f"Wrote {args.output}")
        return 0
    if not args.output.is_file():
        print(f"{args.output} is missing: run `make openapi` and commit it.", file=sys.stderr)
        return 1
    if args.output.read_text(encoding="utf-8") != exported:
        print(f"{args.output} is out of date: run `make openapi` and commit it.", file=sys.stderr)
        return 1
    print(f"{args.output} is current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
