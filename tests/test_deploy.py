"""The deployment files of every variant lint clean, agree with each other, and do what they say.

The static checks (hadolint, kubernetes-validate, kustomize, the compose file) run on every render
variant, since python_version changes the Dockerfile. The `matrix` tests start each feature variant
exactly as its Dockerfile's CMD does, with the shared environment's gunicorn (MATRIX_PYTHON), and
check the probes the Deployment points at and the graceful shutdown gunicorn.conf.py promises.
Both kinds take the observability questions all off and all on (tests/matrix.py: deploy_variants).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import postgres_admin_command, require_server, skip_or_fail
from tests.matrix import Variant, deploy_variants, selected_variants
from tests.rendering import render_copy
from tests.warm import WarmPython

# A version kubernetes-validate ships schemas for, and one every supported cluster serves the
# manifests' API versions in (autoscaling/v2 and policy/v1 are GA since 1.23 and 1.21).
KUBERNETES_VERSION = "1.30.0"
BASE = Path("deploy/kubernetes/base")
OVERLAY = Path("deploy/kubernetes/overlays/production")
MIGRATE = ["alembic", "upgrade", "head"]
CREATE_DATABASE = "python -m app.commands.create_database"
TEST_REDIS_URL = "redis://127.0.0.1:6379/0"
START_TIMEOUT = 30  # seconds for the service to answer its first request
# The variables gunicorn.conf.py reads; the checks of its defaults run without them.
GUNICORN_ENV = (
    "WEB_CONCURRENCY",
    "BIND",
    "GRACEFUL_TIMEOUT",
    "TIMEOUT",
    "KEEPALIVE",
    "MAX_REQUESTS",
    "MAX_REQUESTS_JITTER",
    "TRUSTED_PROXIES",
)

# What each database answer deploys besides the Deployment, the Service and the ConfigMap.
EXPECTED_KINDS = {
    "postgresql": {"HorizontalPodAutoscaler", "PodDisruptionBudget", "Job"},
    "sqlite": {"PersistentVolumeClaim"},
    "none": {"HorizontalPodAutoscaler", "PodDisruptionBudget"},
}
EXPECTED_SERVICES = {
    "postgresql": {"app", "migrate", "postgres"},
    "sqlite": {"app", "migrate"},
    "none": {"app"},
}


@pytest.fixture(
    scope="module", params=deploy_variants(selected_variants()), ids=lambda variant: variant.id
)
def variant(request: pytest.FixtureRequest) -> Variant:
    """conftest's variants, observability on the diagonal (tests/matrix.py: deploy_variants)."""
    chosen: Variant = request.param
    return chosen


# --- the rendered files ---------------------------------------------------------------------


def dockerfile_cmd(project: Path) -> list[str]:
    """The exec-form CMD of the Dockerfile's final stage."""
    commands = [
        line.removeprefix("CMD ")
        for line in (project / "Dockerfile").read_text().splitlines()
        if line.startswith("CMD ")
    ]
    assert commands, "the Dockerfile has no CMD"
    command: list[str] = json.loads(commands[-1])
    return command


def dockerfile_final_stage(project: Path) -> list[str]:
    """The instructions after the last FROM, continuation lines joined."""
    text = (project / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last_from = max(number for number, line in enumerate(lines) if line.startswith("FROM "))
    return [line for line in lines[last_from:] if not line.startswith("#")]


# gunicorn.conf.py reads the app's settings, so it is read in a process of its own, in the
# project's directory, as gunicorn reads it. Its worker class comes back as the names of its
# bases, with the uvicorn configuration it passes.
READ_GUNICORN_CONF = """\
import json, runpy
settings = runpy.run_path("gunicorn.conf.py")
worker = settings.pop("worker_class")
plain = (bool, int, float, str, list, type(None))
values = {k: v for k, v in settings.items() if isinstance(v, plain) and not k.startswith("_")}
values["worker_class"] = [f"{base.__module__}.{base.__name__}" for base in worker.__mro__]
values["worker_config"] = worker.CONFIG_KWARGS
print(json.dumps(values))
"""


GunicornSettings = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def gunicorn_settings(warm_python: Callable[[], WarmPython]) -> GunicornSettings:
    """`gunicorn_settings(project, env=None)`: gunicorn.conf.py's module namespace, as gunicorn
    reads it, under the given environment (in a fork of the warm interpreter: a fresh one spent
    ~0.7 s importing, five times per variant)."""

    def read(project: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        warm = warm_python()
        base = {key: value for key, value in os.environ.items() if key not in GUNICORN_ENV}
        command = [warm.python, "-c", READ_GUNICORN_CONF]
        returncode, output, errors = warm.run(
            command, project, base | dict(env or {}), timeout=120, separate_errors=True
        )
        if returncode != 0:
            pytest.fail(
                f"reading gunicorn.conf.py exited {returncode}:\n{output}{errors}", pytrace=False
            )
        settings: dict[str, Any] = json.loads(output)
        return settings

    return read


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def answers(project: Path) -> dict[str, Any]:
    """Every answer the render used, copier's defaults included (.copier-answers.yml)."""
    recorded: dict[str, Any] = load_yaml(project / ".copier-answers.yml")
    return recorded


def project_slug(project: Path) -> str:
    return str(answers(project)["project_slug"])


def has_secret(project: Path) -> bool:
    """A Secret holds the database password (postgresql) and the token key (auth=jwt)."""
    recorded = answers(project)
    return recorded["database"] == "postgresql" or recorded.get("auth") == "jwt"


def config_env(project: Path) -> dict[str, str]:
    """The KEY=VALUE lines of the base's config.env, the ConfigMap every pod reads."""
    lines = (project / BASE / "config.env").read_text().splitlines()
    pairs = [line.partition("=") for line in lines if line.strip() and not line.startswith("#")]
    return {key: value for key, _, value in pairs}


def has_jobs(variant: Variant) -> bool:
    return variant.answers["jobs"] == "taskiq"


WORKER_COMMAND = ["python", "-m", "app.commands.worker"]
WORKER_PROBE = ["python", "-m", "app.commands.worker_alive"]
SCHEDULER_COMMAND = ["python", "-m", "app.commands.scheduler"]
# The default JOBS_SHUTDOWN_TIMEOUT: the seconds a stopping worker gives its running jobs.
JOBS_SHUTDOWN_TIMEOUT = 25


def worker_pod(rendered: Path, variant: Variant) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod spec that runs the job worker, and the worker's container in it."""
    name = "worker.yaml" if variant.answers["database"] == "postgresql" else "deployment.yaml"
    pod = load_yaml(rendered / BASE / name)["spec"]["template"]["spec"]
    (worker,) = [container for container in pod["containers"] if container["name"] == "worker"]
    return pod, worker


def web_container(deployment: Mapping[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    (app,) = [container for container in containers if container["name"] == "app"]
    return dict(app)


def probe_target(container: Mapping[str, Any], probe: str) -> tuple[str, int]:
    """The path and the container port number a probe hits (a named port resolved)."""
    http_get = container[probe]["httpGet"]
    port = http_get["port"]
    if isinstance(port, str):
        (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return http_get["path"], int(port)


def tool(name: str) -> str:
    """A tool of the test group, from PATH or beside this interpreter."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        skip_or_fail(f"{name} is not installed (it is in pyproject.toml's test group)")
    return found


def run(command: list[str], cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """Run a tool; fail the test with its output unless it exits 0."""
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` exited {result.returncode}:\n{result.stdout}{result.stderr}",
            pytrace=False,
        )
    return result.stdout


# --- Dockerfile and gunicorn.conf.py ----------------------------------------------------------


def test_dockerfile_passes_hadolint(rendered: Path) -> None:
    hadolint = tool("hadolint")
    run([hadolint, "--no-color", "--failure-threshold", "style", "Dockerfile"], cwd=rendered)


def test_image_runs_the_service_as_configured(rendered: Path, variant: Variant) -> None:
    final = dockerfile_final_stage(rendered)
    assert final[0] == f"FROM python:{variant.answers['python_version']}-slim"
    assert "USER 10001:10001" in final
    assert "EXPOSE 8000" in final
    healthcheck = next(line for line in final if line.startswith("HEALTHCHECK"))
    assert "/health/live" in healthcheck
    assert "curl" not in healthcheck
    assert "wget" not in healthcheck
    assert dockerfile_cmd(rendered) == [
        "gunicorn",
        "-c",
        "gunicorn.conf.py",
        "app.main:create_app()",
    ]
    # Only the virtualenv and the code come from the build stage: no uv, no cache.
    from_builder = [line.split()[-2] for line in final if line.startswith("COPY --from=builder")]
    assert from_builder == ["/app/.venv", "/app/app"]
    copies_alembic = any(
        line.startswith("COPY ") and "alembic.ini" in line.split() for line in final
    )
    assert copies_alembic == (variant.answers["database"] != "none")


def test_dockerignore_lets_in_what_the_dockerfile_copies(rendered: Path) -> None:
    patterns = [
        line.strip()
        for line in (rendered / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "the build context should be an allowlist"
    allowed = {pattern.removeprefix("!") for pattern in patterns if pattern.startswith("!")}
    for line in (rendered / "Dockerfile").read_text().splitlines():
        words = line.split()
        if not words or words[0] != "COPY" or any(w.startswith("--from") for w in words):
            continue
        for source in words[1:-1]:
            assert source.rstrip("*") in allowed, f"{source} is copied but .dockerignore drops it"
            if not source.endswith("*"):
                assert (rendered / source).exists(), f"the Dockerfile copies a missing {source}"
    assert ".env" not in allowed


def test_gunicorn_config_follows_the_environment(
    rendered: Path, gunicorn_settings: GunicornSettings
) -> None:
    defaults = gunicorn_settings(rendered)
    assert "uvicorn_worker._workers.UvicornWorker" in defaults["worker_class"]
    # h11 bounds a request's head; httptools would buffer any size.
    assert defaults["worker_config"]["http"] == "h11"
    assert defaults["worker_config"]["h11_max_incomplete_event_size"] > 0
    assert defaults["workers"] == 1
    assert defaults["bind"] == ["0.0.0.0:8000"]
    assert defaults["accesslog"] is None
    assert defaults["max_requests"] > 0
    assert 0 < defaults["max_requests_jitter"] < defaults["max_requests"]
    assert defaults["graceful_timeout"] > 0
    assert defaults["timeout"] > 0
    assert defaults["keepalive"] > 0
    # No peer's X-Forwarded-* is believed until TRUSTED_PROXIES names one (gunicorn's own
    # default would believe 127.0.0.1).
    assert defaults["forwarded_allow_ips"] == ""

    overridden = gunicorn_settings(
        rendered,
        {
            "WEB_CONCURRENCY": "3",
            "BIND": "127.0.0.1:9000",
            "TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7",
        },
    )
    assert overridden["workers"] == 3
    assert overridden["bind"] == ["127.0.0.1:9000"]
    # The app's setting, as gunicorn's validator and uvicorn's proxy middleware both read it.
    assert overridden["forwarded_allow_ips"] == "10.0.0.0/8,192.0.2.7/32"


# --- Kubernetes -------------------------------------------------------------------------------


def kustomization_files(rendered: Path) -> list[Path]:
    return sorted((rendered / "deploy" / "kubernetes").rglob("kustomization.yaml"))


def manifests(rendered: Path) -> list[Path]:
    """Every Kubernetes manifest of the base, the example Secret included."""
    return sorted(path for path in (rendered / BASE).glob("*.yaml") if path.stem != "kustomization")


def validate(paths: list[Path]) -> None:
    run(
        [
            sys.executable,
            "-m",
            "kubernetes_validate",
            "--strict",
            "--kubernetes-version",
            KUBERNETES_VERSION,
            "--quiet",
            *map(str, paths),
        ]
    )


def test_manifests_pass_kubernetes_validate(rendered: Path) -> None:
    validate(manifests(rendered))


def test_kustomizations_reference_files_that_exist(rendered: Path, variant: Variant) -> None:
    for kustomization in kustomization_files(rendered):
        spec = load_yaml(kustomization)
        for resource in spec.get("resources", []):
            assert (kustomization.parent / resource).exists(), f"{kustomization}: {resource}"
        for generator in spec.get("configMapGenerator", []):
            for env_file in generator.get("envs", []):
                assert (kustomization.parent / env_file).is_file(), f"{kustomization}: {env_file}"

    # Every manifest of the base is a resource, except the example Secret: applying it would
    # replace the real Secret with its placeholder.
    listed = set(load_yaml(rendered / BASE / "kustomization.yaml")["resources"])
    files = {path.name for path in manifests(rendered)}
    assert listed == files - {"secret.example.yaml"}
    # The job worker: a Deployment of its own with PostgreSQL, in the one pod with SQLite; the
    # scheduler: a Deployment of its own with either.
    worker_files = {"worker.yaml", "worker-pdb.yaml"}
    has_worker_deployment = has_jobs(variant) and variant.answers["database"] == "postgresql"
    assert (worker_files <= files) == has_worker_deployment
    assert not (worker_files & files) or has_worker_deployment
    assert ("scheduler.yaml" in files) == has_jobs(variant)
    kinds = {load_yaml(rendered / BASE / name)["kind"] for name in listed}
    assert kinds == {"Deployment", "Service"} | EXPECTED_KINDS[str(variant.answers["database"])]
    assert ("secret.example.yaml" in files) == has_secret(rendered)
    if has_secret(rendered):
        secret = load_yaml(rendered / BASE / "secret.example.yaml")
        assert set(secret["stringData"].values()) == {"change-me"}, "placeholders only"


def kustomize(rendered: Path, directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        skip_or_fail("kubectl is not installed, so the kustomizations cannot be built")
    output = run([kubectl, "kustomize", str(rendered / directory)])
    return [document for document in yaml.safe_load_all(output) if document]


def test_kustomize_builds_valid_base_and_overlay(
    rendered: Path, variant: Variant, tmp_path: Path
) -> None:
    slug = project_slug(rendered)
    for directory in (BASE, OVERLAY):
        documents = kustomize(rendered, directory)
        built = tmp_path / f"{directory.name}.yaml"
        built.write_text(yaml.safe_dump_all(documents))
        validate([built])

        (config_map,) = [
            document["metadata"]["name"]
            for document in documents
            if document["kind"] == "ConfigMap"
        ]
        assert config_map.startswith(f"{slug}-"), "the generated ConfigMap carries a hash"
        pod_specs = [
            document["spec"]["template"]["spec"]
            for document in documents
            if document["kind"] in {"Deployment", "Job"}
        ]
        for pod in pod_specs:
            for container in pod["containers"] + pod.get("initContainers", []):
                references = [ref["configMapRef"]["name"] for ref in container["envFrom"][:1]]
                assert references == [config_map]
                if directory == OVERLAY:
                    assert container["image"] == f"registry.example.com/{slug}:0.1.0"


def test_deployment_probes_security_and_shutdown_budget(
    rendered: Path, variant: Variant, gunicorn_settings: GunicornSettings
) -> None:
    deployment = load_yaml(rendered / BASE / "deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    app = web_container(deployment)
    settings = gunicorn_settings(rendered)
    bind_port = int(settings["bind"][0].rpartition(":")[2])

    assert probe_target(app, "startupProbe") == ("/health/live", bind_port)
    assert probe_target(app, "livenessProbe") == ("/health/live", bind_port)
    assert probe_target(app, "readinessProbe") == ("/health/ready", bind_port)

    # The grace period runs from the preStop hook on, so it must cover the pause and gunicorn's.
    pre_stop = app["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + settings["graceful_timeout"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    for container in pod["containers"] + pod.get("initContainers", []):
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]  # noqa: S108
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]["memory"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]

    database = variant.answers["database"]
    config = config_env(rendered)
    assert config["ENVIRONMENT"] == "production"
    assert config["LOG_JSON"] == "true"
    expected_env_from = [{"configMapRef": {"name": project_slug(rendered)}}]
    if has_secret(rendered):
        expected_env_from.append({"secretRef": {"name": project_slug(rendered)}})
    for container in pod["containers"] + pod.get("initContainers", []):
        assert container["envFrom"] == expected_env_from
    if database == "sqlite":
        # One pod with the volume, migrated by its initContainer before the app starts.
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        (migrate,) = pod["initContainers"]
        assert migrate["command"] == MIGRATE
        assert config["DATABASE_URL"].startswith("sqlite+aiosqlite:////data/")
        assert {"name": "data", "mountPath": "/data"} in app["volumeMounts"]
    else:
        assert "replicas" not in deployment["spec"], "the HorizontalPodAutoscaler owns it"
        assert "initContainers" not in pod
    if database == "postgresql":
        job = load_yaml(rendered / BASE / "migrate-job.yaml")
        (migrate,) = job["spec"]["template"]["spec"]["containers"]
        # As compose's migrate service: the database first, if it is missing.
        assert migrate["command"] == ["sh", "-c", f"{CREATE_DATABASE} && {' '.join(MIGRATE)}"]
        assert migrate["image"] == app["image"]
        assert migrate["envFrom"] == app["envFrom"]
        # The Job's pod must not be selected by the Service or counted by the budget.
        selector = deployment["spec"]["selector"]["matchLabels"]
        job_labels = job["spec"]["template"]["metadata"]["labels"]
        assert not selector.items() <= job_labels.items()


def test_the_worker_runs_and_is_probed_as_its_tests_run_it(
    rendered: Path, variant: Variant
) -> None:
    """The worker's command and liveness probe are the ones the rendered suite starts and checks
    (tests/jobs/test_worker.py), in Kubernetes and compose alike; no Service or web budget
    selects a worker pod."""
    if not has_jobs(variant):
        assert "worker" not in load_yaml(rendered / "compose.yaml")["services"]
        return
    pod, worker = worker_pod(rendered, variant)
    assert worker["command"] == WORKER_COMMAND
    for probe in ("startupProbe", "livenessProbe"):
        assert worker[probe]["exec"]["command"] == WORKER_PROBE
    assert "readinessProbe" not in worker, "no Service sends it traffic"
    if variant.answers["metrics"]:
        # Its own samples, on JOBS_METRICS_PORT (the web's /metrics cannot see them).
        assert [port["containerPort"] for port in worker["ports"]] == [9100]
    else:
        assert "ports" not in worker
    assert pod["terminationGracePeriodSeconds"] > JOBS_SHUTDOWN_TIMEOUT
    assert "REDIS_URL" in config_env(rendered)

    compose = load_yaml(rendered / "compose.yaml")["services"]
    assert compose["worker"]["command"] == WORKER_COMMAND
    assert compose["worker"]["healthcheck"]["test"] == ["CMD", *WORKER_PROBE]
    assert int(compose["worker"]["stop_grace_period"].removesuffix("s")) > JOBS_SHUTDOWN_TIMEOUT
    assert compose["worker"]["environment"] == compose["app"]["environment"]

    scheduler = load_yaml(rendered / BASE / "scheduler.yaml")
    (scheduler_container,) = scheduler["spec"]["template"]["spec"]["containers"]
    assert scheduler_container["command"] == SCHEDULER_COMMAND
    assert scheduler["spec"]["replicas"] == 1
    assert compose["scheduler"]["command"] == SCHEDULER_COMMAND
    assert compose["scheduler"]["depends_on"]["redis"] == {"condition": "service_healthy"}

    if variant.answers["database"] == "postgresql":
        deployment = load_yaml(rendered / BASE / "worker.yaml")
        worker_labels = deployment["spec"]["template"]["metadata"]["labels"]
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        if variant.answers["metrics"]:
            assert annotations["prometheus.io/port"] == "9100"
        else:
            assert "prometheus.io/scrape" not in annotations
        budget = load_yaml(rendered / BASE / "worker-pdb.yaml")
        assert (
            budget["spec"]["selector"]["matchLabels"]
            == deployment["spec"]["selector"]["matchLabels"]
        )
        for web in ("service.yaml", "pdb.yaml"):
            spec = load_yaml(rendered / BASE / web)["spec"]
            selector = spec.get("selector", {})
            selector = selector.get("matchLabels", selector)
            assert not selector.items() <= worker_labels.items(), f"{web} selects the worker"
    else:
        # SQLite: one pod, so the worker shares its data volume.
        assert {"name": "data", "mountPath": "/data"} in worker["volumeMounts"]


# --- compose ----------------------------------------------------------------------------------


def test_compose_matches_the_answers(
    rendered: Path, variant: Variant, gunicorn_settings: GunicornSettings
) -> None:
    compose = load_yaml(rendered / "compose.yaml")
    services = compose["services"]
    database = str(variant.answers["database"])
    uses_redis = variant.answers["rate_limit_backend"] == "redis" or has_jobs(variant)
    expected = EXPECTED_SERVICES[database] | ({"redis"} if uses_redis else set())
    assert set(services) == (
        expected
        | ({"worker", "scheduler"} if has_jobs(variant) else set())
        | ({"mailpit"} if variant.answers["auth"] == "jwt" else set())
    )

    app = services["app"]
    assert app["build"] == "."
    assert app["env_file"] == [{"path": ".env", "required": False}]
    assert "/health/live" in " ".join(app["healthcheck"]["test"])
    assert app["ports"] == ["127.0.0.1:8000:8000"]
    grace = int(app["stop_grace_period"].removesuffix("s"))
    assert grace > gunicorn_settings(rendered)["graceful_timeout"]
    if uses_redis:
        assert "redis-cli" in services["redis"]["healthcheck"]["test"]
        assert app["depends_on"]["redis"] == {"condition": "service_healthy"}
        assert app["environment"]["REDIS_URL"].startswith("redis://redis:6379/")
    if database == "none":
        assert set(app.get("depends_on", {})) == ({"redis"} if uses_redis else set())
        assert "volumes" not in compose
        return

    migrate = services["migrate"]
    # One image: `app` builds it, `migrate` runs it (PostgreSQL: after creating the database).
    if database == "postgresql":
        assert migrate["command"] == ["sh", "-c", f"{CREATE_DATABASE} && {' '.join(MIGRATE)}"]
    else:
        assert migrate["command"] == MIGRATE
    assert "build" not in migrate
    assert migrate["image"] == app["image"]
    assert migrate["env_file"] == app["env_file"]
    assert app["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert migrate["environment"]["DATABASE_URL"] == app["environment"]["DATABASE_URL"]
    url = app["environment"]["DATABASE_URL"]
    if database == "postgresql":
        postgres = services["postgres"]
        assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
        for service in (app, migrate):
            assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert url.startswith("postgresql+asyncpg://")
        assert url.endswith(f"@postgres:5432/{postgres['environment']['POSTGRES_DB']}")
        volume = postgres["volumes"][0].partition(":")[0]
    else:
        assert url.startswith("sqlite+aiosqlite:////data/")
        assert app["volumes"] == migrate["volumes"] == ["data:/data"]
        volume = "data"
    assert volume in compose["volumes"], "the data lives on a named volume"
    if variant.answers["auth"] == "jwt":
        # Account mail, from every service of the image, goes to Mailpit's SMTP port.
        assert services["mailpit"]["ports"] == ["127.0.0.1:8025:8025", "127.0.0.1:1025:1025"]
        assert app["environment"]["SMTP_HOST"] == "mailpit"
        assert app["environment"]["SMTP_PORT"] == "1025"
    if has_jobs(variant):
        # Jobs wait in Redis: its append-only file lives on a volume, so a restart keeps them.
        redis = services["redis"]
        assert redis["command"] == ["redis-server", "--appendonly", "yes"]
        assert redis["volumes"][0].partition(":")[0] in compose["volumes"]
        assert services["worker"]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert services["worker"]["depends_on"]["redis"] == {"condition": "service_healthy"}


# --- the service, started as the image starts it (matrix) ------------------------------------


def postgres_admin(python: str, *statements: str) -> None:
    run(postgres_admin_command(python, *statements))


# redis is the jobs variants' client, so the shared environment has it whenever they run.
FORGET_SCRIPT = """\
import sys, redis
client = redis.Redis.from_url(sys.argv[1])
for key in client.scan_iter(match=sys.argv[2] + "*"):
    client.delete(key)
"""


@contextmanager
def redis_keys(python: str) -> Iterator[str]:
    """A prefix of this test's own for keys in this machine's Redis; its keys (a stream has no
    TTL) are deleted at the end."""
    prefix = f"deploy-{uuid.uuid4().hex}"
    try:
        yield prefix
    finally:
        run([python, "-c", FORGET_SCRIPT, TEST_REDIS_URL, prefix])


@dataclass
class Database:
    """The database a started service uses: its environment, and how to take it away."""

    env: dict[str, str]
    name: str | None = None
    path: Path | None = None

    def make_unavailable(self, python: str) -> None:
        if self.name is not None:
            # The shared server keeps running for the other tests: only this database goes away.
            postgres_admin(
                python,
                f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false',
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "  # noqa: S608 - our name
                f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()",
            )
        elif self.path is not None:
            # The tests run as root, which ignores permissions, and an open file outlives its
            # name: the file is overwritten where it is, as a failed disk would leave it, and so
            # are the write-ahead log and its index beside it, which would serve the pages.
            for name in (self.path.name, f"{self.path.name}-wal", f"{self.path.name}-shm"):
                file = self.path.with_name(name)
                if file.exists():
                    with file.open("r+b") as opened:
                        opened.write(b"\0" * file.stat().st_size)


@contextmanager
def service_database(
    variant: Variant, project: Path, python: str, tmp_path: Path
) -> Iterator[Database]:
    """A fresh database for the variant, migrated as the Job or initContainer does."""
    answer = variant.answers["database"]
    if answer == "none":
        yield Database(env=deployed_env(project, {}))
        return
    if answer == "sqlite":
        path = tmp_path / "data" / "service.db"
        path.parent.mkdir()
        url = f"sqlite+aiosqlite:///{path}"
        database = Database(env=deployed_env(project, {"DATABASE_URL": url}), path=path)
    else:
        require_server("127.0.0.1", 5432, "PostgreSQL")
        # Not created here: the Job's command must create it.
        name = f"deploy_{uuid.uuid4().hex[:12]}"
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        database = Database(env=deployed_env(project, {"DATABASE_URL": url}), name=name)
    # The command of the Job (postgresql) or the initContainer (sqlite), as the manifest says,
    # with the variant's environment's tools first on PATH, as the image's are.
    path = os.pathsep.join((str(Path(python).parent), database.env.get("PATH", "")))
    try:
        run(migrate_command(project, answer), cwd=project, env=database.env | {"PATH": path})
        yield database
    finally:
        if database.name is not None:
            postgres_admin(python, f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')


def migrate_command(project: Path, database: object) -> list[str]:
    """The migrations' command in the manifests: the Job's (postgresql), the initContainer's."""
    if database == "postgresql":
        job = load_yaml(project / BASE / "migrate-job.yaml")
        (container,) = job["spec"]["template"]["spec"]["containers"]
    else:
        deployment = load_yaml(project / BASE / "deployment.yaml")
        (container,) = deployment["spec"]["template"]["spec"]["initContainers"]
    command: list[str] = container["command"]
    return command


def deployed_env(project: Path, database_env: Mapping[str, str]) -> dict[str, str]:
    """A pod's environment: the ConfigMap's config.env and a value for each key of the Secret.

    The values are this run's: the database made for the test, a fresh JWT secret. A key the
    Secret gains that this test cannot fill fails the test, as it would fail the pod.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env |= config_env(project)
    if "REDIS_URL" in env:
        # The cluster's Redis is this machine's here, with keys of this test's own.
        require_server("127.0.0.1", 6379, "Redis")
        env |= {"REDIS_URL": TEST_REDIS_URL, "RATE_LIMIT_KEY_PREFIX": f"deploy-{uuid.uuid4().hex}"}
    # The pod's host names are this machine's address here.
    env["ALLOWED_HOSTS"] = "127.0.0.1"
    if "OTEL_EXPORTER_OTLP_ENDPOINT" in env:
        # No collector listens here: spans are made as in the pod, and dropped.
        env["OTEL_TRACES_EXPORTER"] = "none"
    values = {"JWT_SECRET": secrets.token_urlsafe(48), **database_env}
    secret = project / BASE / "secret.example.yaml"
    for key in load_yaml(secret)["stringData"] if secret.exists() else []:
        if key not in values:
            pytest.fail(f"the Secret holds {key}, which the test has no value for", pytrace=False)
        env[key] = values[key]
    return env | dict(database_env)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serving(
    project: Path,
    python: str,
    env: Mapping[str, str],
    log: Path,
    app: str | None = None,
) -> Iterator[Service]:
    """The service started by the Dockerfile's CMD, gunicorn taken from python's environment.

    app replaces the CMD's application (a test-only wrapper). Stopped with SIGTERM at the end.
    """
    command = dockerfile_cmd(project)
    command[0] = str(Path(python).parent / command[0])
    if app is not None:
        command[-1] = app
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=project,
            env={**env, "BIND": f"127.0.0.1:{port}"},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    service = Service(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                get(f"{service.url}/health/live", timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the service never answered:\n{service.output()}", pytrace=False)
                time.sleep(0.1)
        yield service
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def feature_variants() -> list[Variant]:
    return [variant for variant in deploy_variants(selected_variants()) if variant.run_suite]


def deployment_probes(project: Path) -> dict[str, str]:
    app = web_container(load_yaml(project / BASE / "deployment.yaml"))
    return {
        probe: probe_target(app, probe)[0]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }


@pytest.mark.matrix
@pytest.mark.parametrize("variant", feature_variants(), ids=lambda variant: variant.id)
def test_probes_answer_as_deployed(
    variant: Variant, template_snapshot: Path, tmp_path: Path, matrix_python: str
) -> None:
    project = render_copy(template_snapshot, variant.answers, tmp_path / "service")
    with (
        service_database(variant, project, matrix_python, tmp_path) as database,
        serving(project, matrix_python, database.env, tmp_path / "log") as service,
    ):
        for probe, path in deployment_probes(project).items():
            status, body = get(service.url + path)
            assert status == 200, f"{probe} {path} answered {status}: {body}"


@pytest.mark.matrix
@pytest.mark.parametrize("variant", feature_variants(), ids=lambda variant: variant.id)
def test_readiness_follows_the_database(
    variant: Variant, template_snapshot: Path, tmp_path: Path, matrix_python: str
) -> None:
    project = render_copy(template_snapshot, variant.answers, tmp_path / "service")
    probes = deployment_probes(project)
    live, ready = probes["livenessProbe"], probes["readinessProbe"]
    with (
        service_database(variant, project, matrix_python, tmp_path) as database,
        serving(project, matrix_python, database.env, tmp_path / "log") as service,
    ):
        status, body = get(service.url + ready)
        if status != 200:
            pytest.fail(f"{ready} answered {status} before the database went away: {body}")
        database.make_unavailable(matrix_python)

        status, body = get(service.url + ready)
        if variant.answers["database"] == "none":
            assert status == 200, f"with no database {ready} answered {status}: {body}"
        else:
            assert status == 503, f"{ready} answered {status} without its database: {body}"
            problem = json.loads(body)
            assert problem["checks"]["database"]["status"] == "failing"
        status, body = get(service.url + live)
        assert status == 200, f"{live} answered {status} while the database was away: {body}"


SLOW_APP = '''\
"""The service with one slow route, to hold requests in flight during a shutdown."""

import asyncio

from fastapi import FastAPI

from app.main import create_app


def build() -> FastAPI:
    app = create_app()

    @app.get("/test/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(2)
        return {"status": "finished"}

    return app
'''


def jobs_variants() -> list[Variant]:
    """The feature variants with jobs; the limiter's answer is the web's alone, so one value."""
    return [
        variant
        for variant in feature_variants()
        if has_jobs(variant) and variant.answers["rate_limit_backend"] == "memory"
    ]


def pod_command(container: Mapping[str, Any], python: str) -> list[str]:
    """A container's command, its `python` the matrix environment's."""
    command = list(container["command"])
    assert command[0] == "python", command
    return [python, *command[1:]]


def start_logged(
    command: list[str], cwd: Path, env: Mapping[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """Start a process, its output (stdout and stderr) going to `log`."""
    with log.open("wb") as sink:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT)


def wait_for(
    done: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, what: str
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not done():
        if process.poll() is not None or time.monotonic() > deadline:
            output = log.read_text(errors="replace")
            pytest.fail(f"{what} never happened:\n{output}", pytrace=False)
        time.sleep(0.2)


def stopped(process: subprocess.Popen[bytes], grace: float, log: Path) -> None:
    """SIGTERM, as the kubelet sends it; the process must exit 0 within the pod's grace."""
    process.send_signal(signal.SIGTERM)
    try:
        status = process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"still running {grace} s after SIGTERM", pytrace=False)
    assert status == 0, log.read_text(errors="replace")


@pytest.mark.matrix
@pytest.mark.parametrize("variant", jobs_variants(), ids=lambda variant: variant.id)
def test_the_worker_and_the_scheduler_start_as_deployed(
    variant: Variant, template_snapshot: Path, tmp_path: Path, matrix_python: str
) -> None:
    """The worker and the scheduler started by their manifests' commands with the pod's
    environment (the ConfigMap and the Secret): the worker's startup and liveness probe passes,
    with metrics its port serves its samples as its pod says, and both exit 0 on SIGTERM within
    the pod's grace period."""
    project = render_copy(template_snapshot, variant.answers, tmp_path / "service")
    pod, worker = worker_pod(project, variant)
    scheduler = load_yaml(project / BASE / "scheduler.yaml")["spec"]["template"]["spec"]
    (scheduler_container,) = scheduler["containers"]
    grace = float(pod["terminationGracePeriodSeconds"])
    with (
        service_database(variant, project, matrix_python, tmp_path) as database,
        redis_keys(matrix_python) as queue,
    ):
        env = deployed_env(project, database.env)
        # The pod's own /tmp and the cluster's stream are this test's here.
        heartbeat = tmp_path / "heartbeat"
        env |= {"JOBS_HEARTBEAT_FILE": str(heartbeat), "JOBS_QUEUE": queue}
        ports = {port["name"]: port["containerPort"] for port in worker.get("ports", [])}
        if variant.answers["metrics"]:
            assert list(ports.values()) == [9100], "JOBS_METRICS_PORT's default"
            env["JOBS_METRICS_PORT"] = str(free_port())
        else:
            assert not ports, "no metrics, no port"

        log = tmp_path / "worker.log"
        process = start_logged(pod_command(worker, matrix_python), project, env, log)
        try:
            probe = pod_command(worker["startupProbe"]["exec"], matrix_python)
            assert probe == pod_command(worker["livenessProbe"]["exec"], matrix_python)

            def alive() -> bool:
                result = subprocess.run(
                    probe, cwd=project, env=env, capture_output=True, timeout=30, check=False
                )
                return result.returncode == 0

            wait_for(alive, process, log, "the worker's probe passing")
            if variant.answers["metrics"]:
                status, body = get(f"http://127.0.0.1:{env['JOBS_METRICS_PORT']}/metrics")
                assert status == 200
                assert "# TYPE jobs_total counter" in body
        finally:
            stopped(process, grace, log)
        assert not heartbeat.exists(), "a stopped worker leaves no heartbeat"

        scheduler_log = tmp_path / "scheduler.log"
        command = pod_command(scheduler_container, matrix_python)
        process = start_logged(command, project, env, scheduler_log)
        try:
            wait_for(
                lambda: "Startup completed" in scheduler_log.read_text(errors="replace"),
                process,
                scheduler_log,
                "the scheduler's start",
            )
        finally:
            stopped(
                process, float(scheduler.get("terminationGracePeriodSeconds", 30)), scheduler_log
            )


def shutdown_variants() -> list[Variant]:
    """One variant is enough, and the one without a database needs no server."""
    variants = sorted(feature_variants(), key=lambda variant: variant.answers["database"] != "none")
    return variants[:1]


@pytest.mark.matrix
@pytest.mark.parametrize("variant", shutdown_variants(), ids=lambda variant: variant.id)
def test_sigterm_lets_in_flight_requests_finish(
    variant: Variant,
    template_snapshot: Path,
    tmp_path: Path,
    matrix_python: str,
    gunicorn_settings: GunicornSettings,
) -> None:
    project = render_copy(template_snapshot, variant.answers, tmp_path / "service")
    wrapper = tmp_path / "wrapper"
    wrapper.mkdir()
    (wrapper / "slowapp.py").write_text(SLOW_APP)
    graceful_timeout = gunicorn_settings(project)["graceful_timeout"]
    statuses: list[int] = []

    with service_database(variant, project, matrix_python, tmp_path) as database:
        env = database.env | {"PYTHONPATH": str(wrapper)}
        with serving(
            project, matrix_python, env, tmp_path / "log", app="slowapp:build()"
        ) as service:

            def slow_request() -> None:
                statuses.append(get(f"{service.url}/test/slow")[0])

            clients = [threading.Thread(target=slow_request) for _ in range(5)]
            for client in clients:
                client.start()
            time.sleep(0.5)
            service.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            for client in clients:
                client.join(timeout=graceful_timeout + 5)
            returncode = service.process.wait(timeout=graceful_timeout + 5)
            stopped_after = time.monotonic() - signalled

    assert statuses == [200] * 5, f"in-flight requests got {statuses}:\n{service.output()}"
    assert returncode == 0, f"gunicorn exited {returncode}:\n{service.output()}"
    assert stopped_after < graceful_timeout, f"gunicorn took {stopped_after:.1f} s to stop"
    assert re.search(r'"event": "shutdown"', service.output()), "the lifespan did not close"


def with_fewest_servers(wanted: Callable[[Variant], bool]) -> list[Variant]:
    """One variant that has what `wanted` asks for, with no database server when it can."""
    variants = [variant for variant in feature_variants() if wanted(variant)]
    return sorted(variants, key=lambda variant: variant.answers["database"] != "none")[:1]


def redis_variants() -> list[Variant]:
    """The Redis limiter's variant with the fewest servers besides Redis."""
    return with_fewest_servers(lambda variant: variant.answers["rate_limit_backend"] == "redis")


@pytest.mark.matrix
@pytest.mark.parametrize("variant", redis_variants(), ids=lambda variant: variant.id)
def test_workers_share_one_rate_limit_in_redis(
    variant: Variant, template_snapshot: Path, tmp_path: Path, matrix_python: str
) -> None:
    """Four gunicorn workers, one client: exactly N requests pass, whichever worker serves."""
    allowed, extra = 20, 8
    project = render_copy(template_snapshot, variant.answers, tmp_path / "service")
    with service_database(variant, project, matrix_python, tmp_path) as database:
        env = database.env | {"WEB_CONCURRENCY": "4", "RATE_LIMIT_DEFAULT": f"{allowed}/day"}
        with serving(project, matrix_python, env, tmp_path / "log") as service:
            # Each new connection may land on another worker: the count must still be shared.
            statuses = [get(f"{service.url}/api/v1/info")[0] for _ in range(allowed + extra)]
            workers = len(re.findall(r"Booting worker", service.output()))

    assert workers == 4, service.output()
    assert statuses.count(200) == allowed, statuses
    assert statuses.count(429) == extra, statuses
    assert statuses == [200] * allowed + [429] * extra


def metrics_variants() -> list[Variant]:
    """One variant with metrics on, with the fewest servers besides the service."""
    return with_fewest_servers(lambda variant: bool(variant.answers["metrics"]))


@pytest.mark.matrix
@pytest.mark.parametrize("variant", metrics_variants(), ids=lambda variant: variant.id)
def test_workers_share_one_request_count(
    variant: Variant, template_snapshot: Path, tmp_path: Path, matrix_python: str
) -> None:
    """Two gunicorn workers: every scrape, whichever worker answers it, counts every request."""
    sent = 40
    project = render_copy(template_snapshot, variant.answers, tmp_path / "service")
    samples = tmp_path / "prometheus"
    samples.mkdir()
    # A previous run's leftovers: a scrape fails on this unless the start wiped the directory.
    (samples / "counter_1.db").write_bytes(b"not a prometheus file")
    with service_database(variant, project, matrix_python, tmp_path) as database:
        env = database.env | {
            "WEB_CONCURRENCY": "2",
            "PROMETHEUS_MULTIPROC_DIR": str(samples),
            "OTEL_TRACES_EXPORTER": "none",
        }
        with serving(project, matrix_python, env, tmp_path / "log") as service:
            with ThreadPoolExecutor(max_workers=8) as pool:
                urls = [f"{service.url}/api/v1/info"] * sent
                statuses = [status for status, _ in pool.map(get, urls)]
            scrapes = [get(f"{service.url}/metrics") for _ in range(6)]
            workers = len(re.findall(r"Booting worker", service.output()))

    assert workers == 2, service.output()
    assert statuses == [200] * sent
    for status, text in scrapes:
        assert status == 200, text
        counted = [
            float(line.rpartition(" ")[2])
            for line in text.splitlines()
            if line.startswith("http_requests_total{") and 'route="/api/v1/info"' in line
        ]
        assert sum(counted) == sent, text
