"""A user's first hour and first upgrade, walked as the user walks them, with the user's own tools.

Each journey renders with copier's command line (one through the interactive prompt), copies
`.env.example` to `.env`, runs the steps copier's closing message prints exactly as printed,
starts the service with `make run` and calls it; the upgrade renders the oldest release the
CHANGELOG names, makes the user's edits, runs `copier update` to the working tree and then the
steps `_message_after_update` prints. A failing step fails the test with what the user saw.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import (
    postgres_admin_command,
    require_server,
    shared_python,
    skip_or_fail,
    users_environment,
)
from tests.prompt import Prompt, copier_command, next_steps, visible
from tests.rendering import ROOT, snapshot_template
from tests.test_update import CONFLICT_MARKER, releases

# Newer than any release, so a plain `copier copy` or `copier update` picks the working tree.
WORKING_TREE_TAG = "99.0.0"
# The user's edit of a default in a file the template owns: tokens last 30 minutes, not 15.
TEMPLATE_LIFETIME = "access_token_minutes: int = Field(default=15,"
USER_LIFETIME = "access_token_minutes: int = Field(default=30,"


@dataclass
class Step:
    """One command a user typed, and what the terminal showed."""

    command: str
    returncode: int
    output: str

    def check(self) -> str:
        if self.returncode != 0:
            pytest.fail(
                f"`{self.command}` exited {self.returncode}; the user saw:\n{self.output}",
                pytrace=False,
            )
        return self.output


class Terminal:
    """A shell session: one working directory, the user's PATH, no CI-only shortcuts."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        # The user's environment: without pytest's variables (such as the xdist worker this test
        # runs in), nox's, or PYTHONDONTWRITEBYTECODE, with which every process of a journey
        # compiled every library it imports again, about a quarter of a journey's CPU time (the
        # CHANGELOG has the figures).
        self.env = users_environment()
        self.env.update(
            {
                # copier is where the tests' interpreter has it; uv and make on PATH as for a user
                "PATH": f"{Path(copier_command()).parent}{os.pathsep}{os.environ['PATH']}",
                "GIT_AUTHOR_NAME": "Journey",
                "GIT_AUTHOR_EMAIL": "journey@example.com",
                "GIT_COMMITTER_NAME": "Journey",
                "GIT_COMMITTER_EMAIL": "journey@example.com",
                "NO_COLOR": "1",
            }
        )

    def run(self, command: str, timeout: float = 900) -> Step:
        """Run command as typed at a shell prompt; `cd` moves this terminal."""
        if command.startswith("cd "):
            self.cwd = (self.cwd / command.removeprefix("cd ").strip()).resolve()
            return Step(command, 0 if self.cwd.is_dir() else 1, f"cd: {self.cwd}")
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Step(command, result.returncode, result.stdout)

    def ok(self, command: str, timeout: float = 900) -> str:
        return self.run(command, timeout).check()


@pytest.fixture(scope="module")
def template_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as copier finds it on a host: the oldest release, then the working tree.

    Both are commits of one repository, tagged; the working tree's tag is the newest, so the
    README's plain `copier copy` and `copier update` take it.
    """
    repository = tmp_path_factory.mktemp("template")
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.com"]
    version, ref = releases()[-1]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repository)], check=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(repository)], input=archive.stdout, check=True)
    for message, tag in ((f"release {version}", version), ("working tree", WORKING_TREE_TAG)):
        if tag == WORKING_TREE_TAG:
            for entry in repository.iterdir():
                if entry.name != ".git":
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            snapshot_template(repository)
        subprocess.run([*git, "add", "-A"], cwd=repository, check=True)
        subprocess.run([*git, "commit", "-q", "-m", message], cwd=repository, check=True)
        subprocess.run([*git, "tag", tag], cwd=repository, check=True)
    return repository


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def call(
    port: int, method: str, path: str, body: object = None, token: str | None = None
) -> tuple[int, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@dataclass
class Service:
    """`make run` in the background, as a user leaves it running in a second terminal."""

    process: subprocess.Popen[str]
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                status, _ = call(self.port, "GET", "/health/ready")
            except OSError:
                status = 0
            if status == 200:
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"`make run` never became ready (last status {status}):\n{self.output()}",
                    pytrace=False,
                )
            time.sleep(0.3)


Serve = Callable[[Terminal, str], Service]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """`serve(terminal, "make run")`: start it on a free port; every one is stopped afterwards."""
    started: list[Service] = []

    def start(terminal: Terminal, command: str) -> Service:
        port = free_port()
        log = terminal.cwd.parent / f"{terminal.cwd.name}-run.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                ["bash", "-c", f"{command} PORT={port}"],
                cwd=terminal.cwd,
                env=terminal.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # the reloader and its worker stop together
            )
        service = Service(process, port, log)
        started.append(service)
        service.wait_until_ready()
        return service

    yield start
    for service in started:
        stop(service)


def stop(service: Service) -> None:
    """Ctrl-C in the terminal that runs it: the reloader and its server process both end."""
    if service.process.poll() is not None:
        return
    os.killpg(service.process.pid, signal.SIGINT)
    try:
        service.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(service.process.pid, signal.SIGKILL)
        service.process.wait()


def drop_database(name: str) -> None:
    """Remove a journey's PostgreSQL database, if the server is there (nothing to drop if not)."""
    statement = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    # Not a bare "python" from PATH: it may have no asyncpg, and the database stayed.
    command = postgres_admin_command(shared_python(), statement)
    subprocess.run(command, check=False, capture_output=True)


@pytest.fixture
def project_slug(request: pytest.FixtureRequest) -> Iterator[str]:
    """A slug no other test uses, so its PostgreSQL database is its own; dropped afterwards."""
    slug = f"journey-{uuid.uuid4().hex[:8]}"
    yield slug
    drop_database(slug.replace("-", "_"))


def render_with_the_prompt(terminal: Terminal, template: Path, slug: str) -> str:
    """`copier copy` answered key by key; database=none, so auth is not even offered."""
    prompt = Prompt("copy", str(template), "service", cwd=terminal.cwd)
    prompt.question("The service's human-readable name")
    prompt.type("Journey Service")
    prompt.question("Short machine name")
    prompt.type(slug)
    for question in ("One sentence", "Who maintains", "Contact e-mail", "Python of the runtime"):
        prompt.question(question)
        prompt.accept()
    prompt.question("Database behind the service")
    prompt.choose(2)  # No database (a stateless service)
    prompt.question("Where the rate limiter keeps its counters")
    assert "Users with JWT" not in prompt.screen(), "auth=jwt offered without a database"
    for _ in range(4):
        prompt.accept()
    status = prompt.finish()
    assert status == 0, prompt.screen()
    return prompt.screen()


README_COPY = re.compile(r"^(copier copy) (\S+) (\S+)", re.MULTILINE)


def readme_copy(template: Path, *flags: str) -> str:
    """The template README's `copier copy SOURCE DEST`, from our template into ./service."""
    found = README_COPY.search((ROOT / "README.md").read_text())
    assert found, "README.md shows no `copier copy SOURCE DEST`"
    return " ".join([found[1], *flags, str(template), "service"])


def test_the_readme_installs_what_the_journeys_run() -> None:
    readme = (ROOT / "README.md").read_text()
    prerequisites = readme.partition("Prerequisites:")[2].partition("\n\n")[0]
    # `copier copy` was "command not found" when the prerequisites were `pip install uv nox`.
    assert "pip install uv nox copier" in prerequisites.replace("\n", " ")
    for tool in ("make", "git"):
        assert f"`{tool}`" in prerequisites


@pytest.mark.journey
def test_the_readme_demo(template_repository: Path, tmp_path: Path) -> None:
    """The README's first command, `nox -s demo`, run in a checkout as a user runs it: it renders,
    installs and tests a service, migrates it, and serves it until its probes answer."""
    readme = (ROOT / "README.md").read_text()
    assert "\nnox -s demo " in readme, "the README no longer starts with `nox -s demo`"
    nox = shutil.which("nox")
    if nox is None:
        skip_or_fail("nox is not on PATH: the README's prerequisites install it")
    # A clone of its own: the session's environment (.nox/demo) stays out of the repository the
    # other journeys render from.
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(template_repository), str(checkout)], check=True)
    terminal = Terminal(checkout)
    output = terminal.ok(f"{nox} -s demo -- {tmp_path / 'demo-service'}")
    # The service's own suite ran, and nothing in it failed or was skipped.
    summary = re.search(r"^=+ (.*) in [\d.]+s( \([\d:]+\))? =+$", output, re.MULTILINE)
    assert summary is not None, output
    assert re.fullmatch(r"\d+ passed", summary[1]), summary[0]
    for path in ("/health/live", "/health/ready", "/api/v1/info"):
        assert f"GET {path} -> 200" in output, output
    assert f"Ready. Start it with: cd {tmp_path / 'demo-service'} && make run" in output, output
    # Rendered from the checkout's last commit, so `copier update` inside it finds its way back.
    answers = (tmp_path / "demo-service" / ".copier-answers.yml").read_text()
    assert f"_commit: {WORKING_TREE_TAG}\n" in answers, answers
    assert f"_src_path: {checkout}\n" in answers, answers


def render_with_flags(terminal: Terminal, template: Path, slug: str, database: str) -> str:
    """The README's `copier copy`, with the answers given as flags."""
    answers = {"project_name": "'Journey Service'", "project_slug": slug, "database": database}
    flags = [f"--data {key}={value}" for key, value in {**answers, "auth": "jwt"}.items()]
    return terminal.ok(readme_copy(template, "--defaults", *flags))


def rate_limit_remaining(port: int, headers: dict[str, str] | None = None) -> int:
    """`GET /api/v1/info`'s RateLimit-Remaining: what is left of the caller's allowance."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/info", headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return int(response.headers["RateLimit-Remaining"])


def walk_the_steps(terminal: Terminal, message: str, serve: Serve) -> Service:
    """Run every printed step in order, `make run` last and in the background."""
    steps = next_steps(message)
    assert steps[-1] == "make run", steps
    for step in steps[:-1]:
        terminal.ok(step)
    return serve(terminal, "make run")


@pytest.mark.journey
@pytest.mark.parametrize("database", ["postgresql", "sqlite", "none"])
def test_the_first_hour(
    template_repository: Path,
    tmp_path: Path,
    serve: Serve,
    project_slug: str,
    database: str,
) -> None:
    if database == "postgresql":
        require_server("127.0.0.1", 5432, "PostgreSQL")
    terminal = Terminal(tmp_path)

    # 1. Render with copier's command line.
    if database == "none":
        message = render_with_the_prompt(terminal, template_repository, project_slug)
    else:
        message = render_with_flags(terminal, template_repository, project_slug, database)

    # 2. The optional local settings, then the closing message's steps as printed.
    terminal.ok("cp service/.env.example service/.env")
    service = walk_the_steps(terminal, message, serve)

    # 3. The service answers its probe and its resource.
    if database == "none":
        status, body = call(service.port, "GET", "/api/v1/info")
        assert status == 200, body
        # `make run` believes no client's X-Forwarded-For, as gunicorn does until TRUSTED_PROXIES
        # names a proxy: a request naming another address still counts against this one's.
        first = rate_limit_remaining(service.port)
        forwarded = rate_limit_remaining(service.port, {"X-Forwarded-For": "203.0.113.9"})
        assert forwarded == first - 1, (first, forwarded)
        return
    status, body = call(service.port, "GET", "/api/v1/items")
    assert status == 401, body
    user = {"email": "journey@example.com", "password": "a long journey password"}
    status, body = call(service.port, "POST", "/api/v1/auth/register", user)
    assert status == 201, body
    status, tokens = call(service.port, "POST", "/api/v1/auth/login", user)
    assert status == 200, tokens
    token = str(tokens["access_token"])  # type: ignore[index]
    status, body = call(service.port, "POST", "/api/v1/items", {"name": "first"}, token)
    assert status == 201, body
    status, body = call(service.port, "GET", "/api/v1/items", token=token)
    assert status == 200, body
    # The development console log shows a status as its number, not HTTPStatus's repr.
    log = visible(service.output())
    assert re.search(r"route=/api/v1/items status=401\b", log), log
    stop(service)

    # 4. A resource of the user's own, by the README's recipe, and every check CI runs.
    add_the_notes_resource(terminal)


RECIPE_FILE = re.compile(r"```python\n# ((?:app|tests)/\S+\.py)\n(.*?)```", re.DOTALL)
RECIPE_COMMANDS = re.compile(r"```bash\n(.*?)```", re.DOTALL)


def add_the_notes_resource(terminal: Terminal) -> None:
    """Follow the service README's "Adding a resource" to the letter: its files, its commands."""
    readme = (terminal.cwd / "README.md").read_text()
    section = readme.partition("\n## Adding a resource\n")[2].partition("\n## ")[0]
    files = RECIPE_FILE.findall(section)
    assert len(files) >= 6, f"the recipe shows {len(files)} files:\n{section}"
    for path, text in files:
        target = terminal.cwd / path
        assert not target.exists(), f"the recipe overwrites {path}, a file the template owns"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    (commands,) = RECIPE_COMMANDS.findall(section)
    for line in commands.splitlines():
        terminal.ok(line.partition("  #")[0].strip())
    # New files only (and the document they change): no file the template owns was edited.
    changed = terminal.ok("git status --porcelain").splitlines()
    assert changed, "the recipe changed nothing"
    edited = [line for line in changed if not line.startswith("?? ")]
    assert edited == [" M openapi.json"], changed


def conflicted_files(project: Path) -> list[str]:
    return sorted(
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.is_file()
        and not {".git", ".venv", "__pycache__"} & set(path.parts)
        and (path.suffix == ".rej" or CONFLICT_MARKER.search(path.read_text(errors="ignore")))
    )


# The default answers; CI runs it in the postgresql shard (`-k postgresql`).
@pytest.mark.journey
@pytest.mark.parametrize("database", ["postgresql"])
def test_the_upgrade_from_the_oldest_release(
    template_repository: Path, tmp_path: Path, project_slug: str, database: str
) -> None:
    require_server("127.0.0.1", 5432, "PostgreSQL")
    version, _ = releases()[-1]
    terminal = Terminal(tmp_path)

    # A service made from the oldest release, committed, with the user's own edit.
    answers = {"project_name": "'Journey Service'", "project_slug": project_slug}
    flags = [f"--data {key}={value}" for key, value in {**answers, "database": database}.items()]
    terminal.ok(readme_copy(template_repository, "--defaults", "--vcs-ref", version, *flags))
    terminal.ok("cd service")
    terminal.ok('git init -q && git add -A && git commit -q -m "Generate from the template"')
    config = terminal.cwd / "app/core/config.py"
    assert TEMPLATE_LIFETIME in config.read_text()
    config.write_text(config.read_text().replace(TEMPLATE_LIFETIME, USER_LIFETIME))
    terminal.ok('git commit -q -am "Tokens last 30 minutes"')

    # The plain update takes the newest tag: the working tree.
    message = terminal.ok("copier update --defaults")

    assert conflicted_files(terminal.cwd) == [], message
    assert USER_LIFETIME in config.read_text(), "the user's edit was lost"
    for step in next_steps(message):
        terminal.ok(step)
    assert terminal.ok("git status --porcelain") == ""

    # The user's own resource, migrated on PostgreSQL, then the service moves to SQLite: the
    # resource's migration runs there too, and the suite passes (the steps run `make check`).
    add_the_notes_resource(terminal)
    terminal.ok('git add -A && git commit -q -m "Notes"')
    message = terminal.ok("copier update --defaults --data database=sqlite")

    assert conflicted_files(terminal.cwd) == [], message
    assert "aiosqlite" in (terminal.cwd / "pyproject.toml").read_text()
    for step in next_steps(message):
        terminal.ok(step)
    assert terminal.ok("git status --porcelain") == ""
