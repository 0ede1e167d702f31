"""The migration history builds exactly the schema of portal/models.py, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, insert, inspect, pool, select, text
from sqlalchemy.exc import IntegrityError

from portal.errors import ConfigError
from portal.infra import migrate
from portal.models import Base, utcnow


@pytest.fixture
def engine(metadata_url: str) -> Iterator[Engine]:
    eng = create_engine(metadata_url, poolclass=pool.NullPool)
    yield eng
    eng.dispose()


def schema_diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


def test_upgrade_builds_the_models_schema(metadata_url: str, engine: Engine) -> None:
    assert migrate.current(metadata_url) == migrate.head()
    assert schema_diff(engine) == []
    migrate.check_up_to_date(metadata_url)  # no error at head


def test_downgrade_to_base_then_upgrade_again(metadata_url: str, engine: Engine) -> None:
    migrate.downgrade(metadata_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert migrate.current(metadata_url) is None
    with pytest.raises(ConfigError, match="run `conductor migrate`"):
        migrate.check_up_to_date(metadata_url)
    if engine.dialect.name == "postgresql":  # the guard's function is gone too
        with engine.connect() as conn:
            functions = text("SELECT count(*) FROM pg_proc WHERE proname = 'audit_logs_append_only'")
            assert conn.scalar(functions) == 0

    migrate.upgrade(metadata_url)
    assert schema_diff(engine) == []
    assert migrate.current(metadata_url) == migrate.head()


def test_audit_logs_are_append_only(engine: Engine) -> None:
    table = Base.metadata.tables["audit_logs"]
    with engine.begin() as conn:
        conn.execute(insert(table).values(action="login", snapshots={}, created_at=utcnow()))
    for statement in (
        table.update().values(action="edit"),
        table.delete(),
        table.delete().where(table.c.action == "login"),
    ):
        with pytest.raises(IntegrityError, match="audit_logs is append-only"), engine.begin() as conn:
            conn.execute(statement)
    if engine.dialect.name == "postgresql":
        with pytest.raises(IntegrityError, match="append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_logs"))
    with engine.connect() as conn:
        assert conn.execute(select(table.c.action)).scalars().all() == ["login"]


def test_check_up_to_date_on_missing_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nowhere' / 'x.sqlite3'}"
    with pytest.raises(ConfigError, match=r"not initialised.*run `conductor migrate`"):
        migrate.check_up_to_date(url)
    assert not (tmp_path / "nowhere").exists()  # reading the version created nothing


def test_unknown_revision_is_not_fixed_by_migrating(metadata_url: str, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
    with pytest.raises(ConfigError, match="unknown to this version of Conductor"):
        migrate.check_up_to_date(metadata_url)


def test_upgrade_on_a_connection_given_by_the_caller(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'given.sqlite3'}"
    engine = create_engine(url, poolclass=pool.NullPool)
    cfg = migrate.alembic_config("sqlite:///must-not-be-used.sqlite3")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    engine.dispose()
    assert migrate.current(url) == migrate.head()
    assert not Path("must-not-be-used.sqlite3").exists()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_offline_sql_script(dialect: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = "sqlite://" if dialect == "sqlite" else "postgresql+psycopg://u@localhost/x"  # never connected
    command.upgrade(migrate.alembic_config(url), "head", sql=True)
    script = capsys.readouterr().out
    assert "CREATE TABLE audit_logs" in script
    assert "audit_logs is append-only" in script
