"""Process settings: built once per entry point from the environment and passed down."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from portal.errors import ConfigError

#: The secret used in dev mode when none is configured. Outside dev mode the
#: portal refuses to start with it (see :meth:`Settings.check_secrets`).
DEV_SECRET = "conductor-dev-secret-do-not-use-in-production"  # noqa: S105 - refused outside dev mode


def _default_home() -> Path:
    return Path(os.environ.get("CONDUCTOR_HOME", Path.cwd() / "var")).resolve()


@dataclass(frozen=True)
class Settings:
    """Everything a process needs to know about its environment.

    Empty URLs mean "embedded default": a SQLite file for metadata, a DuckDB
    file for the warehouse and a Redis server started by the portal itself.
    """

    home: Path = field(default_factory=_default_home)
    database_url: str = ""
    warehouse_url: str = ""
    redis_url: str = ""
    secret_key: str = DEV_SECRET
    dev_mode: bool = True
    host: str = "127.0.0.1"
    port: int = 5006
    cache_ttl_seconds: int = 600
    max_query_rows: int = 100_000
    query_timeout_seconds: int = 60
    exports_dir: Path | None = None
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Build settings from ``CONDUCTOR_*`` and the conventional ``*_URL`` variables."""
        e = dict(os.environ if env is None else env)
        home = Path(e.get("CONDUCTOR_HOME", str(Path.cwd() / "var"))).resolve()
        dev = e.get("CONDUCTOR_DEV", "1").strip().lower() in {"1", "true", "yes", "on"}
        try:
            port = int(e.get("CONDUCTOR_PORT", "5006"))
            ttl = int(e.get("CONDUCTOR_CACHE_TTL", "600"))
            max_rows = int(e.get("CONDUCTOR_MAX_QUERY_ROWS", "100000"))
        except ValueError as exc:
            raise ConfigError(f"CONDUCTOR_PORT/CONDUCTOR_CACHE_TTL/CONDUCTOR_MAX_QUERY_ROWS: {exc}") from exc
        return cls(
            home=home,
            database_url=e.get("DATABASE_URL", ""),
            warehouse_url=e.get("WAREHOUSE_URL", ""),
            redis_url=e.get("REDIS_URL", ""),
            secret_key=e.get("CONDUCTOR_SECRET_KEY", DEV_SECRET),
            dev_mode=dev,
            host=e.get("CONDUCTOR_HOST", "127.0.0.1"),
            port=port,
            cache_ttl_seconds=ttl,
            max_query_rows=max_rows,
            exports_dir=Path(e["CONDUCTOR_EXPORTS_DIR"]) if e.get("CONDUCTOR_EXPORTS_DIR") else None,
            log_level=e.get("CONDUCTOR_LOG_LEVEL", "INFO"),
        )

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (settings are immutable)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    # -- derived values ---------------------------------------------------
    @property
    def metadata_url(self) -> str:
        """SQLAlchemy URL of the metadata database (embedded SQLite by default)."""
        return self.database_url or f"sqlite:///{self.home / 'conductor.sqlite3'}"

    @property
    def warehouse(self) -> str:
        """SQLAlchemy URL of the business-data warehouse (embedded DuckDB by default)."""
        return self.warehouse_url or f"duckdb:///{self.home / 'warehouse.duckdb'}"

    @property
    def results_dir(self) -> Path:
        """Where execution results and exports are written."""
        return self.exports_dir or self.home / "results"

    def check_secrets(self) -> None:
        """Refuse a default or weak secret outside dev mode."""
        if self.dev_mode:
            return
        if self.secret_key == DEV_SECRET or len(self.secret_key) < 32:
            raise ConfigError(
                "CONDUCTOR_SECRET_KEY must be set to a random value of at least 32 characters "
                "outside dev mode (CONDUCTOR_DEV=0); generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
