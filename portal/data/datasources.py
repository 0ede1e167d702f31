"""Data sources: connection settings, credentials encrypted at rest (tests: ``portal.ingest.introspect``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from portal.errors import InvalidSpec, NotFound, PermissionDenied
from portal.identity import audit
from portal.identity.principal import Principal
from portal.infra.crypto import decrypt_json, encrypt_json
from portal.models import DataSource
from portal.specs import parse_spec


class DataSourceIn(BaseModel):
    """What an admin sends to register a data source. Secrets go in ``credentials`` only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["sql", "csv", "xlsx", "rest"]
    config: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, str] = Field(default_factory=dict)


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDenied("only tenant admins manage data sources")


def create_data_source(
    session: Session, principal: Principal, data: DataSourceIn | dict[str, Any], secret_key: str
) -> DataSource:
    """Register a data source; credentials are stored encrypted, never in ``config_json``."""
    _require_admin(principal)
    d = parse_spec(DataSourceIn, data)
    if d.kind == "sql":
        url = d.config.get("url")
        if not isinstance(url, str):
            raise InvalidSpec("config.url: a SQLAlchemy URL is required for sql sources", field="config.url")
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise InvalidSpec(f"config.url: not a SQLAlchemy URL: {url[:80]!r}", field="config.url") from None
        if parsed.password:
            raise InvalidSpec(
                "config.url: put the password in credentials.password, not in the URL", field="config.url"
            )
    if session.scalar(
        select(DataSource.id).where(DataSource.tenant_id == principal.tenant_id, DataSource.name == d.name)
    ):
        raise InvalidSpec(f"name: a data source called {d.name!r} exists", field="name")
    ds = DataSource(
        tenant_id=principal.tenant_id,
        name=d.name,
        kind=d.kind,
        config_json=d.config,
        owner_id=principal.require_user("own data sources"),
        credentials_encrypted=encrypt_json(secret_key, d.credentials) if d.credentials else None,
    )
    session.add(ds)
    session.flush()
    audit.record(session, principal, "create", ds, details={"name": ds.name, "kind": ds.kind})
    return ds


def get_data_source(session: Session, principal: Principal, source_id: int) -> DataSource:
    """A data source of the user's tenant (admins only)."""
    _require_admin(principal)
    ds = session.get(DataSource, source_id)
    if ds is None or ds.tenant_id != principal.tenant_id:
        raise NotFound(f"data source {source_id} not found")
    return ds


def sql_url(ds: DataSource, secret_key: str) -> str:
    """The full connection URL of a sql source, with decrypted credentials."""
    url = make_url(str(ds.config_json["url"]))
    creds = decrypt_json(secret_key, ds.credentials_encrypted) if ds.credentials_encrypted else {}
    if creds.get("username"):
        url = url.set(username=creds["username"])
    if creds.get("password"):
        url = url.set(password=creds["password"])
    return url.render_as_string(hide_password=False)
