"""The authenticated endpoints a user copies, on PostgreSQL: users/me, the items list and create."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from copier import run_copy
from serving import (
    CONNECTIONS,
    DATABASE_SERVER,
    SERVER_CORE,
    SERVICE_ENV,
    WARMUP_S,
    LoadRun,
    SetupError,
    bare_app_dir,
    cpu_figure,
    median_run,
    migrate,
    pinned,
    run_probe,
    run_wrk,
    serve,
    verdict,
    with_server_cpu,
    wrk_available,
)

# At 256 connections no request may starve: every one answered 2xx within a second.
FAIR_P99_TARGET_MS = 1000.0
AUTH_CONNECTIONS = (64, 256)
CLIENT_TIMEOUT_S = 2
ME_PATH = "/api/v1/users/me"
ITEMS_PATH = "/api/v1/items"
PAGE_SIZE = 20
LIST_PATH = f"{ITEMS_PATH}?limit={PAGE_SIZE}"
# The reader owns more items than a page holds, so the page has a next one and its total counts
# rows beyond it; the writer's creates go to a second user, so the reader's page never changes.
SEEDED_ITEMS = 100
REGISTER_PATH = "/api/v1/auth/register"
LOGIN_PATH = "/api/v1/auth/login"
LOGIN_CONNECTIONS = 4
# Argon2 is slow on purpose and runs on the server's one core, so 4 logins queue behind each
# other; a login that takes seconds is the figure being measured, not a lost request.
LOGIN_TIMEOUT_S = 30
# A run with candidates outlives the default 15-minute access token; the lifetime is one claim
# compared per request, so a longer one costs nothing. The default render limits every route
# (rate_limit_backend=memory): the limits are raised far past the load, so each request is counted
# (its cost is in the figure) and none refused.
AUTH_ENV = {
    "ACCESS_TOKEN_MINUTES": str(24 * 60),
    "RATE_LIMIT_DEFAULT": "1000000000/day",
    "RATE_LIMIT_STRICT": "100000000/day",  # login: the figure is Argon2's rate, not the limit's
}


@dataclass(frozen=True)
class Endpoint:
    """One authenticated endpoint under load, and its targets at 64 connections."""

    label: str
    ratio_target: float  # req/s at 64 over bare FastAPI's /health/live in the same rounds
    p99_target_ms: float


AUTH_ENDPOINTS = {
    "me": Endpoint(f"GET {ME_PATH}", 0.15, 100.0),
    "list": Endpoint(f"GET {LIST_PATH}", 0.10, 150.0),
    "create": Endpoint(f"POST {ITEMS_PATH}", 0.08, 150.0),
}
# What the report states about each service's configuration, read from its own settings.
REPORTED_SETTINGS = (
    "database_pool_size",
    "database_max_overflow",
    "database_pool_timeout",
    "argon2_time_cost",
    "argon2_memory_cost",
    "argon2_parallelism",
)
SETTINGS_PROBE = (
    "import json, sys\n"
    "from app.core.config import get_settings\n"
    "settings = get_settings()\n"
    "print(json.dumps({name: getattr(settings, name, None) for name in sys.argv[1:]}))\n"
)
LOGIN_SCRIPT = """\
wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
"""
# A fresh item name on every request (a duplicate is a 409): a prefix new to each wrk run, and a
# counter, which one wrk thread (-t1) keeps alone. The bearer token comes from wrk's -H, which
# wrk puts in wrk.headers before it runs the script.
CREATE_SCRIPT = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local prefix = "@PREFIX@"
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{"name":"' .. prefix .. "-" .. counter .. '"}')
end
"""


@dataclass(frozen=True)
class BenchDatabase:
    name: str
    url: str
    server_version: str
    free_connections: int  # what max_connections leaves when the run starts


async def _admin(*statements: str) -> tuple[str, int]:
    """Run statements on the server's `postgres` database; return its version and free slots."""
    # The rendered service's driver: present wherever the service can run, and untyped.
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(f"postgresql://{DATABASE_SERVER}/postgres", timeout=10)
    try:
        for statement in statements:
            await connection.execute(statement)
        version = str(await connection.fetchval("SHOW server_version"))
        free = await connection.fetchval(
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int"
            " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
        )
        return version.split()[0], int(free)
    finally:
        await connection.close()


@contextmanager
def bench_database() -> Iterator[BenchDatabase]:
    """A fresh database on the local PostgreSQL for this run, dropped at the end in any case."""
    name = f"bench_{secrets.token_hex(6)}"
    try:
        version, free = asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # refused, authentication, missing driver: all mean "no database"
        message = f"could not create a database on {DATABASE_SERVER}"
        raise SetupError(message, repr(error)) from error
    try:
        yield BenchDatabase(name, f"postgresql+asyncpg://{DATABASE_SERVER}/{name}", version, free)
    finally:
        # FORCE ends the connections a server that would not stop may still hold.
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def check_connections(settings: dict[str, dict[str, Any]], database: BenchDatabase) -> None:
    """Refuse to start more pools than PostgreSQL has connections for.

    Every service's pool can grow to pool size + overflow while the others hold theirs idle; past
    max_connections the database refuses new ones and the service answers 500s, which would be
    measured as the service's fault.
    """
    wanted = {
        # A setting the service does not have (a renamed pool) counts as none.
        name: (values["database_pool_size"] or 0) + (values["database_max_overflow"] or 0)
        for name, values in settings.items()
    }
    if sum(wanted.values()) > database.free_connections:
        pools = ", ".join(f"{name} {count}" for name, count in wanted.items())
        raise SetupError(
            f"the pools need {sum(wanted.values())} connections, PostgreSQL has "
            f"{database.free_connections} free",
            f"pool size + overflow per service: {pools}; measure fewer candidates per run",
        )


def service_settings(service_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """REPORTED_SETTINGS as the service resolves them from env (and its .env, if it has one)."""
    output = run_probe(
        SETTINGS_PROBE,
        list(REPORTED_SETTINGS),
        service_dir,
        env,
        failure=f"could not read the settings of {service_dir}",
    )
    settings: dict[str, Any] = json.loads(output)
    return settings


# What the data-access layer costs on its own: the principal lookup users/me makes (the gate,
# a short autocommit connection, one Core select), through the rendered service's own code, in a
# loop on one core with no HTTP around it.
DATA_ACCESS_PROBE = """\
import asyncio, sys, time
from sqlalchemy import select
from app.core.config import get_settings
from app.db.models.user import User
from app.db.repositories.users import PrincipalRepository

try:
    from app.db.database import Database
except ImportError:  # a service from before the database object (a candidate of an older commit)
    Database = None


def older_layer(settings):
    from functools import partial
    from types import SimpleNamespace
    from app.api.deps import read_connection
    from app.db.engine import create_engine
    from app.db.retry import request_connect_retry
    from app.db.session import SessionGate

    gate = SessionGate(settings.database_pool_size, timeout=settings.database_pool_timeout)
    read_engine = create_engine(settings, autocommit=True)
    app_state = SimpleNamespace(
        session_gate=gate, connect_retry=request_connect_retry(settings), read_engine=read_engine
    )
    request = SimpleNamespace(state=SimpleNamespace(), app=SimpleNamespace(state=app_state))
    return PrincipalRepository(partial(read_connection, request)), read_engine.dispose


async def main(count):
    settings = get_settings()
    if Database is None:
        principals, close = older_layer(settings)
    else:
        database = Database(settings)
        principals, close = PrincipalRepository(database.connection), database.close
    from app.db.engine import create_engine
    engine = create_engine(settings)
    async with engine.connect() as connection:
        user_id = await connection.scalar(select(User.id).limit(1))
    await engine.dispose()

    for _ in range(count // 10):
        await principals.get(user_id)
    start = time.process_time()
    for _ in range(count):
        await principals.get(user_id)
    print((time.process_time() - start) / count * 1000)
    await close()

try:
    import uvloop
except ImportError:
    asyncio.run(main(int(sys.argv[1])))
else:
    uvloop.run(main(int(sys.argv[1])))
"""
DATA_ACCESS_READS = 3000


def data_access_cpu_ms(service_dir: Path, env: dict[str, str]) -> float | None:
    """CPU milliseconds of one principal lookup, without the HTTP request; None if it cannot run.

    The probe names the data layer's internals, so a service whose layer moved loses this one
    figure (the reason is printed), not the section.
    """
    try:
        output = run_probe(
            DATA_ACCESS_PROBE,
            [str(DATA_ACCESS_READS)],
            service_dir,
            env,
            failure="could not time the data-access layer alone",
            prefix=pinned(SERVER_CORE),
            timeout=120,
        )
    except SetupError as error:
        print(f"{error}; the probe's last output:\n{error.output[-2000:]}")
        return None
    return round(float(output), 3)


def request_json(
    url: str, body: dict[str, str] | None = None, *, token: str | None = None
) -> tuple[int, Any]:
    """A JSON request on loopback (POST with a body, else GET); its status and decoded answer."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - loopback
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers=headers,
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def sign_in(base: str, credentials: dict[str, str]) -> str:
    """Register a bench user and log in; return the access token."""
    status, answer = request_json(base + REGISTER_PATH, credentials)
    if status != 201:
        raise SetupError(f"register answered {status}, not 201", str(answer))
    status, answer = request_json(base + LOGIN_PATH, credentials)
    if status != 200:
        raise SetupError(f"login answered {status}, not 200", str(answer))
    token: str = answer["access_token"]
    return token


def seed_items(base: str, token: str) -> None:
    """Give the reader SEEDED_ITEMS items, and check that the measured page holds PAGE_SIZE."""
    for number in range(SEEDED_ITEMS):
        status, answer = request_json(base + ITEMS_PATH, {"name": f"seeded-{number}"}, token=token)
        if status != 201:
            raise SetupError(f"creating a seeded item answered {status}, not 201", str(answer))
    status, answer = request_json(base + LIST_PATH, token=token)
    if status != 200 or len(answer["items"]) != PAGE_SIZE:
        raise SetupError(f"the items list did not answer a page of {PAGE_SIZE}", str(answer))


def create_script(work: Path) -> Path:
    """A wrk script posting items with names no earlier run used."""
    prefix = secrets.token_hex(6)
    script = work / f"create-{prefix}.lua"
    script.write_text(CREATE_SCRIPT.replace("@PREFIX@", prefix))
    return script


def measure_auth(
    snapshot: Path, work: Path, seconds: int, rounds: int, candidates: dict[str, Path]
) -> dict[str, Any]:
    """Load AUTH_ENDPOINTS on the rendered service, and on candidate copies of it.

    Every server runs at once (one uvicorn worker each, pinned to SERVER_CORE) on one fresh
    database, migrated by the rendered service; each round loads bare FastAPI's /health/live at 64
    connections, then each endpoint at 64 and then at 256 on each service in turn, each round
    from the next service, so slow drift and what a load leaves behind hit them all alike. The
    login rate and the data-access probe come last, on the rendered one.
    """
    wrk = wrk_available()
    if wrk is None:
        return {"skipped": "wrk could not be had; this load needs headers and a POST body"}
    service_dir = work / "auth-service"
    run_copy(str(snapshot), service_dir, defaults=True, quiet=True, unsafe=False)
    services = {"rendered": service_dir, **candidates}
    reader = {"email": "bench@example.com", "password": secrets.token_urlsafe(16)}
    writer = {"email": "bench-writer@example.com", "password": secrets.token_urlsafe(16)}

    with bench_database() as database, ExitStack() as servers:
        env = {**os.environ, **SERVICE_ENV, **AUTH_ENV, "DATABASE_URL": database.url}
        migrate(service_dir, env)
        settings = {name: service_settings(path, env) for name, path in services.items()}
        check_connections(settings, database)

        bare_app = serve("auth-bare", bare_app_dir(work), env, app="bare_app:app")
        bare_server = servers.enter_context(bare_app)
        running = {
            name: servers.enter_context(serve(f"auth-{name}", path, env))
            for name, path in services.items()
        }
        base = running["rendered"].base
        reader_token = sign_in(base, reader)
        seed_items(base, reader_token)
        read_bearer = (f"Authorization: Bearer {reader_token}",)
        write_bearer = (f"Authorization: Bearer {sign_in(base, writer)}",)

        def load(name: str, endpoint: str, connections: int, duration: int) -> LoadRun:
            server = running[name]
            if endpoint == "create":
                url, headers, script = server.base + ITEMS_PATH, write_bearer, create_script(work)
            else:
                path = ME_PATH if endpoint == "me" else LIST_PATH
                url, headers, script = server.base + path, read_bearer, None
            return with_server_cpu(
                server,
                lambda: run_wrk(wrk, url, duration, connections, headers=headers, script=script),
            )

        def load_live() -> LoadRun:
            live = bare_server.url
            return with_server_cpu(bare_server, lambda: run_wrk(wrk, live, seconds, CONNECTIONS))

        loads = [
            (endpoint, connections)
            for endpoint in AUTH_ENDPOINTS
            for connections in AUTH_CONNECTIONS
        ]
        run_wrk(wrk, bare_server.url, WARMUP_S, CONNECTIONS)
        for endpoint, connections in loads:
            for name in services:
                load(name, endpoint, connections, WARMUP_S)
        bare_runs: list[LoadRun] = []
        runs: dict[str, dict[str, dict[int, list[LoadRun]]]] = {
            name: {
                endpoint: {connections: [] for connections in AUTH_CONNECTIONS}
                for endpoint in AUTH_ENDPOINTS
            }
            for name in services
        }
        names = list(services)
        for round_number in range(rounds):
            bare_runs.append(load_live())
            # Each round starts the services from another one: the services share one database,
            # and a load runs on what the one before left (a write-heavy table, a checkpoint), so
            # a fixed order would put one service after the heaviest load every time.
            turn = round_number % len(names)
            order = names[turn:] + names[:turn]
            for endpoint, connections in loads:
                for name in order:
                    runs[name][endpoint][connections].append(
                        load(name, endpoint, connections, seconds)
                    )

        login = measure_login(wrk, base, reader, work, seconds)
        data_access_ms = data_access_cpu_ms(service_dir, env)

    bare = median_run(bare_runs)
    figures = {
        name: _service_figures(runs[name], bare["requests_per_s"], settings[name], path)
        for name, path in services.items()
    }
    argon2 = {key: value for key, value in settings["rendered"].items() if "argon2" in key}
    return {
        "load_generator": f"wrk -t1 --timeout {CLIENT_TIMEOUT_S}s",
        "pinned": bool(pinned(SERVER_CORE)),
        "seconds_per_run": seconds,
        "rounds": rounds,
        "database": {"name": database.name, "server_version": database.server_version},
        "seeded_items": SEEDED_ITEMS,
        "bare": bare,
        "bare_runs": [asdict(run) for run in bare_runs],
        "services": figures,
        "login": {**login, "argon2": argon2},
        "data_access_cpu_ms": data_access_ms,
        "pass": figures["rendered"]["pass"],
    }


def _service_figures(
    runs: dict[str, dict[int, list[LoadRun]]],
    bare_rps: float,
    settings: dict[str, Any],
    path: Path,
) -> dict[str, Any]:
    endpoints = {
        endpoint: _endpoint_figures(AUTH_ENDPOINTS[endpoint], endpoint_runs, bare_rps)
        for endpoint, endpoint_runs in runs.items()
    }
    return {
        "path": str(path),
        "settings": settings,
        "endpoints": endpoints,
        "pass": all(figures["pass"] for figures in endpoints.values()),
    }


def _endpoint_figures(
    endpoint: Endpoint, runs: dict[int, list[LoadRun]], bare_rps: float
) -> dict[str, Any]:
    """One endpoint's medians at each load and its verdict on each target."""
    low, high = (median_run(runs[connections]) for connections in AUTH_CONNECTIONS)
    ratio = low["requests_per_s"] / bare_rps
    non_2xx = low["non_2xx"] + high["non_2xx"]
    checks = {
        "ratio": (round(ratio, 3), ratio >= endpoint.ratio_target),
        "p99_ms_at_64": (low["p99_ms"], low["p99_ms"] <= endpoint.p99_target_ms),
        "p99_ms_at_256": (high["p99_ms"], high["p99_ms"] <= FAIR_P99_TARGET_MS),
        "timeouts_at_256": (high["timeouts"], high["timeouts"] == 0),
        # Stricter than "no 5xx": wrk does not tell 5xx from 4xx, and a 401 (a token that went
        # bad) or a 409 (a name used twice) would make every figure meaningless.
        "non_2xx": (non_2xx, non_2xx == 0),
    }
    return {
        "at_64": low,
        "at_256": high,
        "runs": {str(c): [asdict(run) for run in runs[c]] for c in AUTH_CONNECTIONS},
        "checks": {name: {"value": value, "pass": ok} for name, (value, ok) in checks.items()},
        "pass": all(ok for _, ok in checks.values()),
    }


def measure_login(
    wrk: str, base: str, credentials: dict[str, str], work: Path, seconds: int
) -> dict[str, Any]:
    """`wrk -s login.lua`: the JSON login, LOGIN_CONNECTIONS at a time, for `seconds`."""
    script = work / "login.lua"
    script.write_text(LOGIN_SCRIPT.format(body=json.dumps(credentials)))
    run = run_wrk(
        wrk, base + LOGIN_PATH, seconds, LOGIN_CONNECTIONS, script=script, timeout_s=LOGIN_TIMEOUT_S
    )
    return {"connections": LOGIN_CONNECTIONS, "seconds": seconds, **asdict(run)}


def report_auth(auth: dict[str, Any] | None) -> None:
    if auth is None:
        print("Authenticated endpoints: skipped (--skip-auth)")
        return
    if "skipped" in auth:
        print(f"Authenticated endpoints: skipped ({auth['skipped']})")
        return
    rendered = auth["services"]["rendered"]
    pool = rendered["settings"]
    pinning = "server on core 0, load on core 1" if auth["pinned"] else "not pinned"
    print(
        f"Authenticated endpoints with a bearer token, one uvicorn worker each, "
        f"{auth['load_generator']}, {auth['rounds']} alternating rounds of "
        f"{auth['seconds_per_run']} s ({pinning}),\n"
        f"  PostgreSQL {auth['database']['server_version']} on the same machine (not pinned), "
        f"pool {pool['database_pool_size']} + {pool['database_max_overflow']} overflow; the "
        f"reader owns {auth['seeded_items']} items; medians, and the server's CPU per request:"
    )
    _load_row("bare FastAPI /health/live, 64", auth["bare"])
    for key, endpoint in AUTH_ENDPOINTS.items():
        figures = rendered["endpoints"][key]
        print(f"  {endpoint.label}")
        for connections in AUTH_CONNECTIONS:
            _load_row(f"  {connections} connections", figures[f"at_{connections}"])
        targets = {
            "ratio": ("  at 64 / bare", f">= {endpoint.ratio_target:g}", "{:.3f}"),
            "p99_ms_at_64": ("  p99 at 64", f"<= {endpoint.p99_target_ms:g} ms", "{:.1f} ms"),
            "p99_ms_at_256": ("  p99 at 256", f"<= {FAIR_P99_TARGET_MS:g} ms", "{:.1f} ms"),
            "timeouts_at_256": (f"  timeouts (> {CLIENT_TIMEOUT_S} s) at 256", "0", "{}"),
            "non_2xx": ("  non-2xx (so no 5xx)", "0", "{}"),
        }
        for check_key, (label, target, shape) in targets.items():
            check = figures["checks"][check_key]
            value = shape.format(check["value"])
            print(f"  {label:<30} {value:>10}   target {target:<10} {verdict(check['pass'])}")
    bare_cpu = auth["bare"]["server_cpu_ms"]
    lookup_ms = auth["data_access_cpu_ms"]
    if bare_cpu is not None:
        budget = bare_cpu / AUTH_ENDPOINTS["me"].ratio_target
        lookup = f"takes {lookup_ms:.2f} ms" if lookup_ms is not None else "could not be timed"
        print(
            f"  users/me's ratio target leaves {budget:.2f} ms of CPU per request; the principal "
            f"lookup alone (gate, connection, Core select), no HTTP, {lookup}"
        )
    if len(auth["services"]) > 1:
        report_candidates(auth["services"])
    login = auth["login"]
    argon2 = login["argon2"]
    lost = f"   {login['errors']} errors" if login["errors"] else ""
    print(
        f"Login, POST {LOGIN_PATH} (JSON), Argon2 t={argon2['argon2_time_cost']} "
        f"m={argon2['argon2_memory_cost']} KiB p={argon2['argon2_parallelism']}, "
        f"{login['connections']} connections, {login['seconds']} s:\n"
        f"  {login['requests_per_s']:.1f} logins/s   p50 {login['p50_ms']:.0f} ms   "
        f"p99 {login['p99_ms']:.0f} ms{lost}   (no target: for capacity planning)"
    )


def _load_row(label: str, figures: dict[str, Any]) -> None:
    lost = f"   {figures['timeouts']} timeouts" if figures["timeouts"] else ""
    bad = f"   {figures['non_2xx']} non-2xx" if figures["non_2xx"] else ""
    print(
        f"  {label:<30} {figures['requests_per_s']:>7.0f} req/s   "
        f"p50 {figures['p50_ms']:7.1f} ms   p99 {figures['p99_ms']:7.1f} ms   "
        f"{cpu_figure(figures['server_cpu_ms'])}{lost}{bad}"
    )


def report_candidates(services: dict[str, dict[str, Any]]) -> None:
    """The `--auth-candidate` copies next to the rendered service, all from the same run."""
    print("  candidates, same run (change = req/s at 64 against rendered):")
    for key, endpoint in AUTH_ENDPOINTS.items():
        base = services["rendered"]["endpoints"][key]["at_64"]
        print(f"    {endpoint.label}")
        print(
            f"    {'':<20} {'req/s@64':>8} {'change':>7} {'CPU ms':>7} {'p50@64':>8}"
            f" {'p99@64':>8} {'req/s@256':>9} {'p99@256':>8} {'timeouts':>8} {'non-2xx':>7}"
            f" {'ratio':>6}"
        )
        for name, service in services.items():
            figures = service["endpoints"][key]
            low, high = figures["at_64"], figures["at_256"]
            change = (low["requests_per_s"] / base["requests_per_s"] - 1) * 100
            cpu = low["server_cpu_ms"]
            print(
                f"    {name:<20} {low['requests_per_s']:>8.0f} {change:>+6.0f}% "
                f"{cpu if cpu is not None else float('nan'):>7.2f} {low['p50_ms']:>8.1f} "
                f"{low['p99_ms']:>8.1f} {high['requests_per_s']:>9.0f} {high['p99_ms']:>8.0f} "
                f"{high['timeouts']:>8} {low['non_2xx'] + high['non_2xx']:>7} "
                f"{figures['checks']['ratio']['value']:>6.3f}"
            )
