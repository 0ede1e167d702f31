"""Data-quality checks per catalog source: pure rules over a few measured figures, and a runner.

Rules: the null rate of a column above a threshold, duplicate keys, freshness (the newest time
value older than N hours), row-count change beyond ±X% against the previous run. The runner
measures through the warehouse (``Warehouse.run`` with the tenant's whole scope), so it works
for every origin: imported, synced, or a connected database's live table. Results are stored
(``quality_results``); a failing check notifies the tenant's admins in the app and, when the
check says so, by e-mail.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.data.tenant_sources import get_source_row
from portal.errors import DeliveryFailed, InvalidSpec, PermissionDenied, PortalError
from portal.identity.principal import Principal
from portal.identity.scope import Scope
from portal.models import CatalogSource, Notification, QualityCheck, QualityResult, Tenant, User, utcnow
from portal.specs import parse_spec

log = logging.getLogger(__name__)
Kind = Literal["null_rate", "duplicate_keys", "freshness", "row_count_change"]


class CheckIn(BaseModel):
    """One check as an admin configures it.

    ``threshold``: the highest allowed null rate (0..1), the allowed duplicate keys (usually 0),
    the maximum age in hours, or the allowed change in percent.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    column: str | None = Field(default=None, max_length=63)
    threshold: float = Field(default=0.0, ge=0, le=1_000_000)
    email: bool = False

    @model_validator(mode="after")
    def _needs(self) -> CheckIn:
        if self.kind == "null_rate" and not self.column:
            raise ValueError("a null_rate check needs a column")
        if self.kind == "null_rate" and self.threshold > 1:
            raise ValueError("threshold: a null rate is between 0 and 1")
        return self


class ChecksIn(BaseModel):
    """``PUT /api/catalog/sources/{name}/checks``: the whole set (replaces the previous one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checks: list[CheckIn] = Field(max_length=50)


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome."""

    kind: str
    ok: bool
    value: float | None
    message: str
    check_id: int | None = None


# --------------------------------------------------------------------------- pure rules
def rule_null_rate(nulls: int, total: int, threshold: float, column: str) -> CheckResult:
    """Fails when more than ``threshold`` (0..1) of the rows have no ``column`` value."""
    rate = nulls / total if total else 0.0
    ok = rate <= threshold
    return CheckResult(
        "null_rate", ok, rate, f"{column}: {rate:.1%} of {total} rows are empty (allowed {threshold:.1%})"
    )


def rule_duplicate_keys(worst: int, keys: Sequence[str], threshold: float = 0) -> CheckResult:
    """Fails when a key appears more than once (``worst``: the most rows one key has)."""
    extra = max(0, worst - 1)
    ok = extra <= threshold
    what = ", ".join(keys)
    msg = f"({what}) is unique" if extra == 0 else f"a ({what}) value appears on {worst} rows"
    return CheckResult("duplicate_keys", ok, float(extra), msg)


def rule_freshness(newest: datetime | None, now: datetime, max_hours: float, column: str) -> CheckResult:
    """Fails when the newest ``column`` value is older than ``max_hours`` (or there is none)."""
    if newest is None:
        return CheckResult("freshness", False, None, f"{column}: no rows with a time")
    newest = newest if newest.tzinfo else newest.replace(tzinfo=UTC)
    age = (now - newest).total_seconds() / 3600
    ok = age <= max_hours
    return CheckResult(
        "freshness", ok, age, f"{column}: newest row is {age:.1f} h old (allowed {max_hours:g} h)"
    )


def rule_row_count_change(previous: int | None, current: int, max_pct: float) -> CheckResult:
    """Fails when the row count moved more than ``max_pct`` percent since the previous run."""
    if previous is None:
        return CheckResult("row_count_change", True, float(current), f"{current} rows (first measure)")
    # From nothing to something counts as +100% (a ratio to zero has no size).
    pct = (current - previous) / previous * 100 if previous else (0.0 if current == 0 else 100.0)
    ok = abs(pct) <= max_pct
    return CheckResult(
        "row_count_change",
        ok,
        float(current),
        f"{previous} -> {current} rows ({pct:+.1f}%, allowed ±{max_pct:g}%)",
    )


# --------------------------------------------------------------------------- configuration
def set_checks(session: Session, principal: Principal, name: str, data: Any) -> list[QualityCheck]:
    """Replace the checks of the tenant's source ``name`` (admins); columns must exist."""
    if not principal.is_admin:
        raise PermissionDenied("only tenant admins manage data-quality checks")
    row = get_source_row(session, principal.tenant_id, name)
    req = parse_spec(ChecksIn, data)
    names = {c["name"] for c in row.columns_json}
    for i, c in enumerate(req.checks):
        if c.column and c.column not in names:
            raise InvalidSpec(
                f"checks[{i}].column: no column called {c.column!r}", field=f"checks[{i}].column"
            )
        if c.kind == "duplicate_keys" and not (c.column or row.key_columns_json):
            raise InvalidSpec(
                f"checks[{i}].column: the source has no key columns; name the column",
                field=f"checks[{i}].column",
            )
        if c.kind == "freshness" and not (c.column or row.time_column):
            raise InvalidSpec(
                f"checks[{i}].column: the source has no time column; name the column",
                field=f"checks[{i}].column",
            )
    session.execute(
        delete(QualityCheck).where(
            QualityCheck.tenant_id == principal.tenant_id, QualityCheck.source_name == name
        )
    )
    out = [
        QualityCheck(
            tenant_id=principal.tenant_id,
            source_name=name,
            kind=c.kind,
            column=c.column,
            threshold=c.threshold,
            email=c.email,
        )
        for c in req.checks
    ]
    session.add_all(out)
    session.flush()
    return out


def list_checks(session: Session, tenant_id: int, name: str) -> list[QualityCheck]:
    """The checks of a tenant's source, in order."""
    return list(
        session.scalars(
            select(QualityCheck)
            .where(QualityCheck.tenant_id == tenant_id, QualityCheck.source_name == name)
            .order_by(QualityCheck.id)
        )
    )


def check_to_dict(c: QualityCheck) -> dict[str, Any]:
    """A check as the API shows it."""
    return {"id": c.id, "kind": c.kind, "column": c.column, "threshold": c.threshold, "email": c.email}


def latest_results(session: Session, tenant_id: int, name: str) -> list[QualityResult]:
    """The newest result of each current check of the source."""
    out: list[QualityResult] = []
    for c in list_checks(session, tenant_id, name):
        r = session.scalar(
            select(QualityResult)
            .where(QualityResult.check_id == c.id)
            .order_by(QualityResult.id.desc())
            .limit(1)
        )
        if r is not None:
            out.append(r)
    return out


def result_to_dict(r: QualityResult | CheckResult) -> dict[str, Any]:
    """A result as the API shows it."""
    out = {"kind": r.kind, "ok": r.ok, "value": r.value, "message": r.message, "check_id": r.check_id}
    if isinstance(r, QualityResult):
        out["at"] = r.created_at
    return out


# --------------------------------------------------------------------------- the runner
def _one(
    warehouse: Any, scope: Scope, name: str, metrics: list[dict[str, Any]], **extra: Any
) -> pd.DataFrame:
    spec = {"source": name, "metrics": metrics, **extra}
    return warehouse.run(spec, scope, use_cache=False).frame


def measure(
    ctx: Any, row: CatalogSource, check: QualityCheck, tenant_key: str, previous: float | None
) -> CheckResult:
    """Run one check on the source's current data."""
    wh, scope, name = ctx.warehouse, Scope.of(tenant_key), row.name
    if check.kind == "null_rate":
        col = str(check.column)
        f = _one(
            wh, scope, name, [{"agg": "count", "as": "n"}, {"agg": "count", "column": col, "as": "filled"}]
        )
        total, filled = int(f["n"].iloc[0] or 0), int(f["filled"].iloc[0] or 0)
        return rule_null_rate(total - filled, total, check.threshold, col)
    if check.kind == "duplicate_keys":
        keys = [check.column] if check.column else list(row.key_columns_json)
        f = _one(
            wh,
            scope,
            name,
            [{"agg": "count", "as": "n"}],
            group_by=keys,
            sort=[{"by": "n", "desc": True}],
            limit=1,
        )
        worst = int(f["n"].iloc[0]) if len(f) else 0
        return rule_duplicate_keys(worst, [str(k) for k in keys], check.threshold)
    if check.kind == "freshness":
        col = str(check.column or row.time_column)
        f = _one(wh, scope, name, [{"agg": "max", "column": col, "as": "newest"}])
        raw = f["newest"].iloc[0] if len(f) else None
        newest = None if raw is None or pd.isna(raw) else pd.Timestamp(raw).to_pydatetime()
        return rule_freshness(newest, datetime.now(UTC), check.threshold, col)
    f = _one(wh, scope, name, [{"agg": "count", "as": "n"}])
    current = int(f["n"].iloc[0] or 0)
    return rule_row_count_change(None if previous is None else int(previous), current, check.threshold)


def run_checks(ctx: Any, session: Session, tenant_id: int, source_name: str) -> list[CheckResult]:
    """Run every check of a tenant's source, store the results, notify on failures.

    ``ctx`` is the application context (settings, warehouse). A check that cannot run (the
    database is away, a column was dropped) is a failed result saying why.
    """
    row = get_source_row(session, tenant_id, source_name)
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        return []
    out: list[CheckResult] = []
    for check in list_checks(session, tenant_id, source_name):
        previous = session.scalar(
            select(QualityResult.value)
            .where(QualityResult.check_id == check.id)
            .order_by(QualityResult.id.desc())
            .limit(1)
        )
        try:
            res = measure(ctx, row, check, tenant.slug, previous)
        except PortalError as exc:
            res = CheckResult(check.kind, False, None, f"the check could not run: {exc.message}")
        res = CheckResult(res.kind, res.ok, res.value, res.message, check.id)
        session.add(
            QualityResult(
                tenant_id=tenant_id,
                check_id=check.id,
                source_name=source_name,
                kind=res.kind,
                ok=res.ok,
                value=res.value,
                message=res.message,
                data_version=row.data_version,
                created_at=utcnow(),
            )
        )
        out.append(res)
        if not res.ok:
            _alert(ctx, session, tenant_id, row, check, res)
    session.flush()
    return out


def _alert(
    ctx: Any, session: Session, tenant_id: int, row: CatalogSource, check: QualityCheck, res: CheckResult
) -> None:
    admins = list(
        session.scalars(
            select(User).where(User.tenant_id == tenant_id, User.is_admin.is_(True), User.is_active.is_(True))
        )
    )
    title = f"Data quality: {row.label or row.name} failed its {check.kind.replace('_', ' ')} check"
    for u in admins:
        session.add(
            Notification(
                tenant_id=tenant_id,
                user_id=u.id,
                title=title[:300],
                body=res.message,
                link="/admin/data",
                severity="warn",
                created_at=utcnow(),
            )
        )
    if check.email and admins:
        from portal.notify.email import EmailMessageSpec, deliver, mailer_from_settings

        settings = ctx.settings
        try:
            spec = EmailMessageSpec(
                sender=settings.mail_from,
                recipients=tuple(u.email for u in admins),
                subject=title[:200],
                text=f"{res.message}\n\nSource: {row.name}\n",
                idempotency_key=f"quality:{check.id}:{row.data_version}:{utcnow().isoformat()}",
                tenant_id=tenant_id,
            )
            deliver(mailer_from_settings(settings.smtp_url, settings.outbox_dir), spec)
        except (DeliveryFailed, InvalidSpec, OSError) as exc:
            # The in-app notification is there; a mail server that is away must not undo it.
            log.warning("quality alert mail for tenant %s not delivered: %s", tenant_id, exc)


def run_checks_for(ctx: Any, session: Session, principal: Principal, source_name: str) -> list[CheckResult]:
    """On demand (admins): run the checks of a source of the caller's tenant."""
    if not principal.is_admin:
        raise PermissionDenied("only tenant admins run data-quality checks")
    return run_checks(ctx, session, principal.tenant_id, source_name)
