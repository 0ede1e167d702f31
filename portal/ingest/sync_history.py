"""The history of syncs: ``source_syncs`` rows (and the data source's ``sync_history_json``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.data.datasources import get_data_source
from portal.identity.principal import Principal
from portal.models import DataSource, SourceSync


def sync_to_dict(s: SourceSync) -> dict[str, Any]:
    """A sync as the API shows it."""
    return {
        "id": s.id,
        "data_source_id": s.data_source_id,
        "target": s.target,
        "status": s.status,
        "trigger": s.trigger,
        "job_id": s.job_id,
        "started_at": s.started_at,
        "finished_at": s.finished_at,
        "rows_read": s.rows_read,
        "rows_inserted": s.rows_inserted,
        "rows_updated": s.rows_updated,
        "rows_rejected": s.rows_rejected,
        "row_count": s.row_count,
        "rejected_examples": list(s.rejected_json or []),
        "watermark": s.watermark,
        "error": s.error,
    }


def list_syncs(
    session: Session, principal: Principal, data_source_id: int, limit: int = 100
) -> list[SourceSync]:
    """The latest syncs of a data source of the caller's tenant (admins), newest first."""
    ds = get_data_source(session, principal, data_source_id)
    return list(
        session.scalars(
            select(SourceSync)
            .where(SourceSync.data_source_id == ds.id, SourceSync.tenant_id == ds.tenant_id)
            .order_by(SourceSync.id.desc())
            .limit(limit)
        )
    )


def last_watermark(session: Session, ds: DataSource, target: str) -> str | None:
    """Where the next incremental sync of ``ds`` into ``target`` starts."""
    return session.scalar(
        select(SourceSync.watermark)
        .where(
            SourceSync.data_source_id == ds.id,
            SourceSync.target == target,
            SourceSync.status == "ok",
            SourceSync.watermark.is_not(None),
        )
        .order_by(SourceSync.id.desc())
        .limit(1)
    )


def add_history(ds: DataSource, entry: Mapping[str, Any]) -> None:
    """Append to ``data_sources.sync_history_json`` (the last 100 events are kept)."""
    ds.sync_history_json = [*(ds.sync_history_json or []), dict(entry)][-100:]
