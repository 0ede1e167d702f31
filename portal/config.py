"""Process settings: built once per entry point from the environment and passed down."""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from portal.errors import ConfigError

#: The constant that signed cookies in early versions. It was published with the
#: source, so it is refused everywhere (see :meth:`Settings.with_secret`).
PUBLISHED_SECRETS = frozenset({"conductor-dev-secret-do-not-use-in-production"})
MIN_SECRET_CHARS = 32
SECRET_FILE = "secret_key"  # noqa: S105 - a file name


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
    secret_key: str = ""
    dev_mode: bool = True
    host: str = "127.0.0.1"
    port: int = 5006
    cache_ttl_seconds: int = 600
    max_query_rows: int = 100_000
    query_timeout_seconds: int = 60
    exports_dir: Path | None = None
    log_level: str = "INFO"
    #: Session cookies get the Secure flag (also automatic for https requests through a trusted proxy).
    secure_cookies: bool = False
    #: Behind a reverse proxy: trust X-Forwarded-For/-Proto (tornado ``xheaders``).
    trusted_proxy: bool = False
    session_hours: int = 12
    #: Sign-in attempts per address per minute (form and API together); raise it behind a shared NAT.
    login_per_minute: int = 10
    api_token_days: int = 30
    #: ``/metrics``: a bearer token for scrapers and the networks allowed without it.
    metrics_token: str = ""
    metrics_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    #: Outgoing mail: ``smtp://[user:pass@]host[:port][?starttls=1]`` or ``smtps://...``; empty
    #: (the embedded default) writes each message as an ``.eml`` file to :attr:`outbox_dir`.
    smtp_url: str = ""
    mail_from: str = "Conductor BI <reports@conductor.localhost>"
    #: Webhooks (and REST sources) may not call loopback, private or link-local addresses unless
    #: allowed here: all of them, or the listed host names.
    webhook_allow_private: bool = False
    webhook_allowed_hosts: tuple[str, ...] = ()
    #: The portal's address as users reach it (links in e-mails); default ``http://host:port``.
    public_url: str = ""
    #: The demo's live-operations simulator (``portal.demo.simulator``): publishes on the real-time
    #: bus every second when the server has demo data; ``CONDUCTOR_SIMULATOR=0`` switches it off.
    simulator: bool = True

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Build settings from ``CONDUCTOR_*`` and the conventional ``*_URL`` variables."""
        e = dict(os.environ if env is None else env)
        home = Path(e.get("CONDUCTOR_HOME", str(Path.cwd() / "var"))).resolve()
        dev = _flag(e.get("CONDUCTOR_DEV", "1"))
        ints: dict[str, int] = {}
        for name, default in (
            ("CONDUCTOR_PORT", 5006),
            ("CONDUCTOR_CACHE_TTL", 600),
            ("CONDUCTOR_MAX_QUERY_ROWS", 100_000),
            ("CONDUCTOR_QUERY_TIMEOUT", 60),
            ("CONDUCTOR_SESSION_HOURS", 12),
            ("CONDUCTOR_TOKEN_DAYS", 30),
            ("CONDUCTOR_LOGIN_PER_MINUTE", 10),
        ):
            try:
                ints[name] = int(e.get(name, str(default)))
            except ValueError:
                raise ConfigError(f"{name}: must be an integer (got {e.get(name)!r})") from None
            if ints[name] <= 0:
                raise ConfigError(f"{name}: must be positive (got {ints[name]})")
        # Outside dev mode /metrics is closed until a scrape token or networks are configured.
        raw_networks = e.get("CONDUCTOR_METRICS_NETWORKS", "127.0.0.0/8,::1/128" if dev else "")
        networks = tuple(n.strip() for n in raw_networks.split(",") if n.strip())
        return cls(
            home=home,
            database_url=e.get("DATABASE_URL", ""),
            warehouse_url=e.get("WAREHOUSE_URL", ""),
            redis_url=e.get("REDIS_URL", ""),
            secret_key=e.get("CONDUCTOR_SECRET_KEY", ""),
            dev_mode=dev,
            host=e.get("CONDUCTOR_HOST", "127.0.0.1"),
            port=ints["CONDUCTOR_PORT"],
            cache_ttl_seconds=ints["CONDUCTOR_CACHE_TTL"],
            max_query_rows=ints["CONDUCTOR_MAX_QUERY_ROWS"],
            query_timeout_seconds=ints["CONDUCTOR_QUERY_TIMEOUT"],
            exports_dir=Path(e["CONDUCTOR_EXPORTS_DIR"]) if e.get("CONDUCTOR_EXPORTS_DIR") else None,
            log_level=e.get("CONDUCTOR_LOG_LEVEL", "INFO"),
            secure_cookies=_flag(e.get("CONDUCTOR_SECURE_COOKIES", "0")),
            trusted_proxy=_flag(e.get("CONDUCTOR_TRUSTED_PROXY", "0")),
            session_hours=ints["CONDUCTOR_SESSION_HOURS"],
            api_token_days=ints["CONDUCTOR_TOKEN_DAYS"],
            login_per_minute=ints["CONDUCTOR_LOGIN_PER_MINUTE"],
            metrics_token=e.get("CONDUCTOR_METRICS_TOKEN", ""),
            metrics_networks=networks,
            smtp_url=e.get("SMTP_URL", ""),
            mail_from=e.get("CONDUCTOR_MAIL_FROM", "Conductor BI <reports@conductor.localhost>"),
            public_url=e.get("CONDUCTOR_PUBLIC_URL", "").rstrip("/"),
            simulator=_flag(e.get("CONDUCTOR_SIMULATOR", "1")),
            webhook_allow_private=_flag(e.get("WEBHOOK_ALLOW_PRIVATE", "0")),
            webhook_allowed_hosts=tuple(
                h.strip().lower() for h in e.get("WEBHOOK_ALLOWED_HOSTS", "").split(",") if h.strip()
            ),
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
    def outbox_dir(self) -> Path:
        """Where mail goes without an SMTP server (one ``.eml`` file per message and recipient)."""
        return self.home / "outbox"

    @property
    def base_url(self) -> str:
        """Where users reach the portal (absolute links in e-mails)."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def results_dir(self) -> Path:
        """Where execution results and exports are written."""
        return self.exports_dir or self.home / "results"

    def with_secret(self) -> Settings:
        """These settings with a usable signing secret.

        A configured secret must be long and not a published one. Without one, a
        random secret is generated on first start and kept in ``home/secret_key``
        (mode 0600), like Jupyter's cookie secret: restarts keep sessions valid and
        nothing in the source can sign a cookie.
        """
        if self.secret_key:
            if self.secret_key in PUBLISHED_SECRETS or len(self.secret_key) < MIN_SECRET_CHARS:
                raise ConfigError(
                    f"CONDUCTOR_SECRET_KEY must be a random value of at least {MIN_SECRET_CHARS} characters "
                    "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'), "
                    "or leave it unset to use a generated one kept in the data directory"
                )
            return self
        return replace(self, secret_key=load_or_create_secret(self.home / SECRET_FILE))


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load_or_create_secret(path: Path) -> str:
    """The secret stored at ``path``; a new random one (written with mode 0600) if there is none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written aside, then hard-linked into place: the link fails if another process won the
        # race, so every process ends up reading the same, complete secret.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"{path}: the secret must not be readable by others (chmod 600 {path})")
    secret = path.read_text().strip()
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(f"{path}: holds no usable secret; delete it to generate a new one")
    return secret
