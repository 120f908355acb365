"""A warm interpreter for the matrix: the shared environment's libraries imported once, then a
fork per Python step of a variant (export_openapi, mypy, deptry, lint-imports, pytest).

Run by tests/warm.py as `MATRIX_PYTHON tests/zygote.py`, one per pytest-xdist worker (the
deployment tests read each variant's gunicorn.conf.py through it too). Each step
would otherwise start an interpreter and import FastAPI, SQLAlchemy, pydantic, pytest, Hypothesis
and schemathesis again: about 2 s of every variant's suite and 1 s of its export.

Protocol, one JSON object per line: a request on stdin
    {"cwd": ..., "env": {...}, "argv": [...], "module": "pytest" | null, "script": path | null,
     "code": text | null, "output": path, "errors": path | null}
is answered on stdout by {"pid": N} once the step's process is forked, then by
{"returncode": R, "cpu": seconds} once it has exited (its user and system CPU time, with the
processes it waited for). The step's stdout goes to `output`, its stderr to `errors`
or, without one, to `output` too.

Only third-party libraries are imported here, never a variant's own code, and each is imported
with warnings as errors (the rendered suites' `filterwarnings = ["error"]`), so a library that
warns on import fails here as it would fail a user's `pytest`. Libraries that read the
environment on import (prometheus_client, OpenTelemetry's instrumentations) are left to each step.
"""

import gc
import importlib
import json
import os
import runpy
import signal
import sys
import warnings
from pathlib import Path

# pytest and the plugins it loads at start-up: imported by pytest before its warning filters
# apply, so they are imported here as pytest imports them.
PLUGINS = (
    "pytest",
    "_pytest.assertion.rewrite",
    "_pytest.python",
    "_pytest.fixtures",
    "_pytest.terminal",
    "_pytest.capture",
    "_hypothesis_pytestplugin",
    "hypothesis",
    "pytest_asyncio.plugin",
    "schemathesis",
    "schemathesis.pytest.plugin",
    # What pytest and the plugins above import once a run starts: the debugger, pytest-xdist's
    # plugin (loaded by every run once installed) and schemathesis's reporters.
    "pdb",
    "xdist.plugin",
    "xdist.looponfail",
    "schemathesis.pytest.xdist",
    "schemathesis.reporting.html.writer",
    "schemathesis.reporting.junitxml",
)
# What the services import; under pytest their warnings are errors.
LIBRARIES = (
    "fastapi",
    "starlette.applications",
    "pydantic",
    "pydantic_settings",
    "sqlalchemy",
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.postgresql.asyncpg",
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "asyncpg",
    "aiosqlite",
    "alembic.command",
    "alembic.config",
    "httpx",
    "structlog",
    "jwt",
    "pwdlib",
    "limits.aio.storage",
    "redis.asyncio",
    "openapi_spec_validator",
    # What the services' fuzz test builds from its OpenAPI document, and the libraries of the
    # services' other answers (jobs, account mail, Sentry): about a second of each suite's
    # collection, on every variant that has them.
    "schemathesis.specs.openapi.schemas",
    "schemathesis.specs.openapi.checks",
    "schemathesis.specs.openapi.coverage",
    "schemathesis.python.asgi",
    "schemathesis.transport.asgi",
    "pydantic.v1",
    "pwdlib.hashers.argon2",
    "aiosmtplib",
    "aiosmtpd.controller",
    "tenacity",
    "taskiq",
    "taskiq.api",
    "taskiq.cli.worker.cmd",
    "taskiq_redis",
    "sentry_sdk",
    "sentry_sdk.integrations.fastapi",
)
# The tools' own modules, for their steps.
TOOLS = ("mypy.main", "mypy.api", "deptry.cli", "importlinter.cli")


def preload() -> None:
    for name in PLUGINS + TOOLS:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in LIBRARIES:
            try:
                importlib.import_module(name)
            except ImportError:
                continue


def run(request: dict[str, object]) -> None:
    """In the forked child: become the step's process and run it; it exits as `python` would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.chdir(str(request["cwd"]))
    os.environ.clear()
    os.environ.update(request["env"])  # type: ignore[arg-type]
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    output = os.open(str(request["output"]), flags, 0o644)
    errors = os.open(str(request["errors"]), flags, 0o644) if request.get("errors") else output
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.dup2(output, 1)
    os.dup2(errors, 2)
    for descriptor in {output, errors, nothing}:
        os.close(descriptor)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own descriptors
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    # `python -c` and `python -m`: the working directory first on sys.path; a script: its own
    # directory.
    module, script = request.get("module"), request.get("script")
    argv = [str(argument) for argument in request["argv"]]  # type: ignore[attr-defined]
    if request.get("code"):
        sys.path[0] = ""
        sys.argv = ["-c", *argv]
        exec(compile(str(request["code"]), "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102
    elif module:
        sys.path[0] = str(Path.cwd())
        sys.argv = [str(module), *argv]
        runpy.run_module(str(module), run_name="__main__", alter_sys=True)
    else:
        sys.path[0] = str(Path(str(script)).parent)
        sys.argv = [str(script), *argv]
        runpy.run_path(str(script), run_name="__main__")
    # The step ended without SystemExit; either way the child leaves as `python` does (its
    # SystemExit or exception rises through serve() to the interpreter), never returning to serve.
    sys.exit(0)


def serve() -> None:
    replies = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        replies.flush()
        pid = os.fork()
        if pid == 0:
            run(request)
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        # wait4: the step's exit and the CPU it used, with the processes it started and waited for.
        _, status, usage = os.wait4(pid, 0)
        cpu = usage.ru_utime + usage.ru_stime
        reply = {"returncode": os.waitstatus_to_exitcode(status), "cpu": cpu}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    preload()
    # What was imported lives as long as every step: frozen, the steps' collections never walk it
    # (nor write to its pages, which each fork would then copy).
    gc.collect()
    gc.freeze()
    print(json.dumps({"ready": True}), flush=True)
    serve()
