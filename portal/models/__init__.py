"""Typed SQLAlchemy 2 models of the metadata database (seed 000 plus identity).

JSON columns hold validated specs (see :mod:`portal.specs`). Relationships are
``lazy="raise"``: every query says what it loads.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    func,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column, relationship
from sqlalchemy.types import TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER on SQLite (so it stays an autoincrementing rowid).
BigId: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")

VISIBILITIES = ("private", "group", "customer", "public")
ROLES = ("owner", "editor", "viewer")
PRIORITIES = ("low", "normal", "high", "critical")


def utcnow() -> datetime:
    """Timezone-aware now in UTC (stored as naive UTC on SQLite)."""
    return datetime.now(UTC)


def search_key(text: str) -> str:
    """``text`` folded for search: accents removed and case folded ("Relatório" → "relatorio").

    Stored in ``search_text`` columns and applied to what users type, so one ``LIKE`` on the
    stored column finds names whatever their accents and case, on SQLite and PostgreSQL alike.
    """
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


# --------------------------------------------------------------------------- identity
class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    settings_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("email", name="uq_users_email"),
        Index("ix_users_invite_token_hash", "invite_token_hash", unique=True),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Row-level data scope; None means "all of the tenant".
    location_scope: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    contract_scope: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    customer_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    password_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    # An invited user sets a password through a one-time link (its SHA-256 here).
    invite_token_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    invite_expires_at: Mapped[datetime | None] = mapped_column(default=None)


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_groups_tenant_name"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("group_id", "user_id", name="uq_memberships_group_user"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class WebSession(Base):
    """A browser sign-in: the cookie holds a random token, the database its hash (revocable)."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")


class DataSource(Base):
    __tablename__ = "data_sources"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_data_sources_tenant_name"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # sql | csv | xlsx | rest
    config_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    credentials_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_tested_at: Mapped[datetime | None] = mapped_column(default=None)
    last_test_ok: Mapped[bool | None] = mapped_column(Boolean, default=None)
    last_test_message: Mapped[str | None] = mapped_column(Text, default=None)
    sync_history_json: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- reports
class Report(Base):
    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    query_json: Mapped[dict[str, Any]] = mapped_column()
    params_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    viz_json: Mapped[list[Any]] = mapped_column(default=list)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    scope_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    heavy: Mapped[bool] = mapped_column(Boolean, default=False)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: Name and description folded by :func:`search_key`; kept up to date on every insert and update.
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: In the trash since (``None``: not deleted); purged 30 days later.
    deleted_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    deleted_by: Mapped[int | None] = mapped_column(BigInteger, default=None)  # a user id, like audit_logs

    executions: Mapped[list[ReportExecution]] = relationship(
        back_populates="report", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )


class ReportExecution(Base):
    __tablename__ = "report_executions"
    __table_args__ = (Index("ix_report_executions_report_at", "report_id", "executed_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    executed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    executed_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running|done|failed|canceled
    runtime_ms: Mapped[float | None] = mapped_column(Float, default=None)
    row_count: Mapped[int | None] = mapped_column(Integer, default=None)
    result_ref: Mapped[str | None] = mapped_column(String(500), default=None)
    meta_json: Mapped[dict[str, Any]] = mapped_column(default=dict)

    report: Mapped[Report] = relationship(back_populates="executions", lazy="raise")


class ReportSchedule(Base):
    __tablename__ = "report_schedules"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    schedule_expr: Mapped[str] = mapped_column(String(500))  # cron or RRULE
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    delivery_config_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    offpeak_only: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The last fire claimed (portal.queue.schedules.due_fire's baseline); set when created.
    last_fire_at: Mapped[datetime | None] = mapped_column(default=None)


class ReportTrigger(Base):
    """A condition on a report's result (``portal.specs.triggers.TriggerSpec``) and its actions.

    ``state_json`` is what the evaluations remember: ``{"history": [bool...], "armed": bool}``
    (the last matches for "for N consecutive evaluations", and re-arm after a notification).
    """

    __tablename__ = "report_triggers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    rule_json: Mapped[dict[str, Any]] = mapped_column()
    actions_json: Mapped[list[Any]] = mapped_column(default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_fired_at: Mapped[datetime | None] = mapped_column(default=None)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    created_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    state_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    last_evaluated_at: Mapped[datetime | None] = mapped_column(default=None)


# --------------------------------------------------------------------------- dashboards
class Dashboard(Base):
    __tablename__ = "dashboards"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    layout_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    filters_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    scope_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    realtime_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: Name and description folded by :func:`search_key`; kept up to date on every insert and update.
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: In the trash since (``None``: not deleted); purged 30 days later.
    deleted_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    deleted_by: Mapped[int | None] = mapped_column(BigInteger, default=None)  # a user id, like audit_logs

    widgets: Mapped[list[Widget]] = relationship(
        back_populates="dashboard", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )


@event.listens_for(Report, "before_insert")
@event.listens_for(Report, "before_update")
@event.listens_for(Dashboard, "before_insert")
@event.listens_for(Dashboard, "before_update")
def _fold_search_text(mapper: Mapper[Any], connection: Any, target: Report | Dashboard) -> None:
    # Whoever writes the row (a service, the demo seed, a script), its search column follows.
    target.search_text = search_key(f"{target.name or ''}\n{target.description or ''}")


class Widget(Base):
    __tablename__ = "widgets"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dashboard_id: Mapped[int] = mapped_column(ForeignKey("dashboards.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16))  # chart|table|kpi|text
    viz: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200), default="")
    config_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    position: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {x, y, w, h}
    refresh_interval_sec: Mapped[int | None] = mapped_column(Integer, default=None)
    realtime_channel: Mapped[str | None] = mapped_column(String(200), default=None)

    dashboard: Mapped[Dashboard] = relationship(back_populates="widgets", lazy="raise")


class Favorite(Base):
    __tablename__ = "favorites"
    __table_args__ = (UniqueConstraint("user_id", "object_type", "object_id", name="uq_favorites_obj"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- sharing
class ShareToken(Base):
    __tablename__ = "share_tokens"
    __table_args__ = (Index("ix_share_tokens_object", "tenant_id", "object_type", "object_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    object_type: Mapped[str] = mapped_column(
        String(32)
    )  # report|dashboard|widget|snapshot|pdf_template|pdf_render
    object_id: Mapped[int] = mapped_column(BigInteger)
    mode: Mapped[str] = mapped_column(String(16), default="no_login")  # with_login|no_login
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    permissions_json: Mapped[list[Any]] = mapped_column(default=list)  # viewer|drilldown|export
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    max_uses: Mapped[int | None] = mapped_column(Integer, default=None)
    used_count: Mapped[int] = mapped_column(Integer, default=0)
    ip_whitelist_json: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    label: Mapped[str | None] = mapped_column(String(200), default=None)
    # Origins allowed to frame the viewer (CSP frame-ancestors); empty: nobody may frame it.
    frame_origins_json: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    # A snapshot share: the dashboard's data frozen when the token was made.
    snapshot_json: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class ShareAccess(Base):
    """One use of a share token, granted or refused (the token's access log)."""

    __tablename__ = "share_access_log"
    __table_args__ = (Index("ix_share_access_log_token_at", "token_id", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("share_tokens.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)
    user_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    path: Mapped[str | None] = mapped_column(String(300), default=None)
    result: Mapped[str] = mapped_column(String(32))


class PublicLink(Base):
    __tablename__ = "public_links"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int] = mapped_column(BigInteger)
    token_id: Mapped[int] = mapped_column(ForeignKey("share_tokens.id", ondelete="CASCADE"), index=True)
    url_slug: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- PDF
class PdfTemplate(Base):
    __tablename__ = "pdf_templates"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    schema_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    theme_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PdfTemplateVersion(Base):
    __tablename__ = "pdf_template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version", name="uq_pdf_template_versions_tv"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("pdf_templates.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    schema_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    theme_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    comment: Mapped[str] = mapped_column(Text, default="")
    name: Mapped[str | None] = mapped_column(String(200), default=None)


class PdfRender(Base):
    __tablename__ = "pdf_renders"
    __table_args__ = (Index("ix_pdf_renders_tenant_requested", "tenant_id", "requested_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("pdf_templates.id", ondelete="CASCADE"), index=True)
    template_version: Mapped[int | None] = mapped_column(Integer, default=None)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id", ondelete="SET NULL"))
    params_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued|running|done|failed|canceled
    file_ref: Mapped[str | None] = mapped_column(String(500), default=None)
    pages: Mapped[int | None] = mapped_column(Integer, default=None)
    runtime_ms: Mapped[float | None] = mapped_column(Float, default=None)
    errors_json: Mapped[list[Any]] = mapped_column(default=list)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    offpeak_only: Mapped[bool] = mapped_column(Boolean, default=False)
    tenant_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    job_id: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    file_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    schedule_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    signed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    scope_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")


class PdfTheme(Base):
    """A saved theme (``portal.specs.pdf.ThemeSpec``), reused by name across a tenant's templates."""

    __tablename__ = "pdf_themes"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_pdf_themes_tenant_name"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    theme_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PdfAsset(Base):
    """An uploaded image (logo) a template names; sniffed and size-limited on upload."""

    __tablename__ = "pdf_assets"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_pdf_assets_tenant_name"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PdfSigningConfig(Base):
    """A tenant's signing certificate: the PKCS#12 and its password encrypted together at rest
    (``portal.infra.crypto``), the subject/issuer/expiry shown to admins, an optional TSA."""

    __tablename__ = "pdf_signing_configs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), unique=True)
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    subject: Mapped[str] = mapped_column(String(500))
    issuer: Mapped[str] = mapped_column(String(500))
    not_after: Mapped[datetime | None] = mapped_column(default=None)
    tsa_url: Mapped[str | None] = mapped_column(String(500), default=None)
    reason: Mapped[str | None] = mapped_column(String(200), default=None)
    location: Mapped[str | None] = mapped_column(String(200), default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PdfSchedule(Base):
    """A template rendered on a cron/RRULE schedule and delivered (e-mail attachment, in-app,
    signed link); the scheduler fires it like a report schedule (same columns and rules)."""

    __tablename__ = "pdf_schedules"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("pdf_templates.id", ondelete="CASCADE"), index=True)
    schedule_expr: Mapped[str] = mapped_column(String(500))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    last_fire_at: Mapped[datetime | None] = mapped_column(default=None)
    params_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    delivery_config_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    offpeak_only: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PdfScheduleFire(Base):
    """One fire of a PDF schedule, claimed once (as :class:`ScheduleFire` for report schedules)."""

    __tablename__ = "pdf_schedule_fires"
    __table_args__ = (
        UniqueConstraint("schedule_id", "fire_time", name="uq_pdf_schedule_fires_schedule_fire"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("pdf_schedules.id", ondelete="CASCADE"))
    fire_time: Mapped[datetime] = mapped_column()  # UTC
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_queue.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- jobs
class JobRecord(Base):
    """The mirror of one job: its state (``portal.queue.states``), why it waits, who it acts for.

    Written only through :mod:`portal.jobstore` (``move`` is the one writer of ``status``).
    """

    __tablename__ = "job_queue"
    __table_args__ = (
        Index("ix_job_queue_status_prio", "status", "priority"),
        Index("ix_job_queue_tenant_status", "tenant_id", "status"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    job_class: Mapped[str] = mapped_column(String(32))  # portal.specs.jobs.JobClass
    pool: Mapped[str] = mapped_column(String(16), default="batch", server_default="batch")  # realtime|batch
    rq_job_id: Mapped[str | None] = mapped_column(String(128), unique=True, default=None)
    dedup_key: Mapped[str | None] = mapped_column(String(128), default=None, index=True)
    # The account the job acts for (a schedule's owner, whoever clicked "run").
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    payload_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # queued|deferred|waiting|running|retrying|failed|done|canceled (portal.queue.states.JobState)
    # The human reason a job waits or ended: "tenant acme runs 2 of 2 allowed".
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    not_before_at: Mapped[datetime | None] = mapped_column(default=None)
    scheduled_for: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When it last entered a queue for a new run (creation, retry, deferral over): queue lag.
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    worker_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # A small summary of the outcome: rows, runtime, error class (never the result itself).
    result_json: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # What admission needs besides class/tenant/priority: {"heavy", "offpeak_only", "override",
    # "resources": breaker keys, "estimated_rows"} (portal.queue.admission.Snapshot).
    admission_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    # Measured in the worker (getrusage of its thread; peak RSS of the process during the run).
    cpu_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    peak_rss_mb: Mapped[float | None] = mapped_column(Float, default=None)


class ScheduleFire(Base):
    """One fire of a schedule, claimed once: two schedulers cannot both fire (schedule, time)."""

    __tablename__ = "schedule_fires"
    __table_args__ = (UniqueConstraint("schedule_id", "fire_time", name="uq_schedule_fires_schedule_fire"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("report_schedules.id", ondelete="CASCADE"))
    fire_time: Mapped[datetime] = mapped_column()  # UTC
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_queue.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """One message a job sent (or tried to) to one recipient; the key makes a retry skip it."""

    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("job_queue.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # email|webhook|in_app
    recipient: Mapped[str] = mapped_column(String(320))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="sent")  # sent|failed
    message_id: Mapped[str | None] = mapped_column(String(255), default=None)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class WorkerPool(Base):
    __tablename__ = "worker_pools"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    types_allowed: Mapped[list[Any]] = mapped_column(default=list)
    concurrency_limit: Mapped[int] = mapped_column(Integer, default=2)
    tenant_limit_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="active")


class OffpeakWindow(Base):
    __tablename__ = "offpeak_windows"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    timezone: Mapped[str] = mapped_column(String(64), default="America/Sao_Paulo")
    windows_json: Mapped[list[Any]] = mapped_column(
        default=list
    )  # [{"dow":[1..7],"from":"HH:mm","to":"HH:mm"}]
    maintenance_json: Mapped[list[Any]] = mapped_column(default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Alert(Base):
    """An alert a trigger raised: ``open`` until someone acknowledges (``acked``) or closes it.

    ``history_json`` lists every step with who took it: ``[{"at", "by", "action", "note"}]``.
    ``widget_id`` is set when an action highlights a widget: every dashboard holding it shows
    the alert's state while the alert is not closed.
    """

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_tenant_status", "tenant_id", "status"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    source_type: Mapped[str] = mapped_column(String(16))  # trigger|metric
    object_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    severity: Mapped[str] = mapped_column(String(8), default="info")  # info|warn|crit
    status: Mapped[str] = mapped_column(String(8), default="open")  # open|acked|closed
    payload_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    history_json: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    trigger_id: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)
    widget_id: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)


class AlertTicket(Base):
    """A ticket an alert opened (action ``open_ticket``); mirrored to an external system if configured."""

    __tablename__ = "alert_tickets"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="SET NULL"), default=None, index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open|closed
    external_ref: Mapped[str | None] = mapped_column(String(200), default=None)
    external_status: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class Notification(Base):
    """An in-app notification for one user (the bell): unread until ``read_at``."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text, default=None)
    link: Mapped[str | None] = mapped_column(String(500), default=None)
    severity: Mapped[str] = mapped_column(String(8), default="info")  # info|warn|crit
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(default=None)


class QueueLimits(Base):
    """Admission limits and quotas (``portal.queue.admission.Limits`` as JSON).

    The row with ``tenant_id`` NULL holds the global limits (per class); a tenant's row holds
    that tenant's concurrency, critical cap and quotas, which its admins change through
    ``POST /api/workers/rebalance``.
    """

    __tablename__ = "queue_limits"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), unique=True, default=None
    )
    limits_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_by: Mapped[int | None] = mapped_column(BigInteger, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Permission(Base):
    __tablename__ = "permissions"
    __table_args__ = (Index("ix_permissions_object", "object_type", "object_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int] = mapped_column(BigInteger)
    subject_type: Mapped[str] = mapped_column(String(16))  # user|group|customer
    subject_ref: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))  # owner|editor|viewer
    expires_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditLog(Base):
    __tablename__ = "audit_logs"
    __table_args__ = (Index("ix_audit_logs_tenant_at", "tenant_id", "created_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    user_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    action: Mapped[str] = mapped_column(String(32))  # create|edit|delete|run|view|share|job|token|login
    object_type: Mapped[str | None] = mapped_column(String(32), default=None)
    object_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    snapshots: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The tables of the other model modules join the same metadata (migrations compare against it).
from portal.models.data import CatalogSource as CatalogSource  # noqa: E402
from portal.models.events import EventDimension as EventDimension  # noqa: E402
from portal.models.events import EventSettings as EventSettings  # noqa: E402
from portal.models.ingest import ImportRun as ImportRun  # noqa: E402
from portal.models.syncs import QualityCheck as QualityCheck  # noqa: E402
from portal.models.syncs import QualityResult as QualityResult  # noqa: E402
from portal.models.syncs import SourceSync as SourceSync  # noqa: E402
