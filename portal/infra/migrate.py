"""Schema migrations of the metadata database (Alembic, configured in code).

The history lives in the ``migrations`` package and runs unchanged on SQLite
and PostgreSQL. Entry points call :func:`check_up_to_date` at start-up and
``conductor migrate`` calls :func:`upgrade`; nothing migrates implicitly.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, make_url, pool
from sqlalchemy.exc import SQLAlchemyError

import migrations
from portal.errors import ConfigError


def script_location() -> Path:
    """Directory of the installed ``migrations`` package (env.py, versions/)."""
    # __path__ rather than __file__: it also works if an editable install maps the
    # package as a namespace package (no __file__).
    for entry in migrations.__path__:
        if (Path(entry) / "env.py").is_file():
            return Path(entry).resolve()
    raise ConfigError(
        f"no env.py in the migrations package ({list(migrations.__path__)}): broken installation"
    )


def _safe(url: str) -> str:
    """The URL for messages: never print a password."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases, in-memory ones and URI filenames."""
    u = make_url(url)
    database = u.database or ""
    if u.get_backend_name() != "sqlite" or database in {"", ":memory:"} or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _ensure_sqlite_dir(url: str) -> None:
    """SQLite creates the file but not its directory; create that first."""
    path = _sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` without any ini file.

    ``config.attributes["connection"]`` may be set by the caller to migrate on
    an already-open connection instead (env.py prefers it to the URL).
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()))
    # Options go through ConfigParser interpolation: a "%" of a URL-encoded password must be doubled.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (default: the newest)."""
    _ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate the database at ``url`` down to ``revision`` (default: empty schema)."""
    command.downgrade(alembic_config(url), revision)


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))  # the URL is not used


def head() -> str | None:
    """The newest revision of the migration history."""
    return _scripts().get_current_head()


def current(url: str) -> str | None:
    """The revision the database at ``url`` is at; None when it was never migrated."""
    path = _sqlite_path(url)
    if path is not None and not path.exists():
        # Connecting would create an empty file (or fail on a missing directory): a read has no side effects.
        return None
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def check_up_to_date(url: str) -> None:
    """Raise :class:`ConfigError` unless the database at ``url`` is at the newest revision."""
    scripts = _scripts()
    expected = scripts.get_current_head()
    try:
        found = current(url)
    except SQLAlchemyError as exc:
        raise ConfigError(
            f"cannot read the schema version of the metadata database {_safe(url)}: {exc}"
        ) from exc
    if found == expected:
        return
    known = {rev.revision for rev in scripts.walk_revisions()}
    if found is not None and found not in known:
        # Migrating cannot help: the schema is newer than this code.
        raise ConfigError(
            f"the metadata database {_safe(url)} is at revision {found}, unknown to this version of "
            f"Conductor (newest known: {expected}): upgrade Conductor, or restore a matching backup"
        )
    state = f"at revision {found}" if found else "not initialised (no schema version)"
    raise ConfigError(
        f"the metadata database {_safe(url)} is {state}, but this code needs revision {expected}: "
        "run `conductor migrate`"
    )
