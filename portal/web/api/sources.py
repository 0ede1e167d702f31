"""Data sources and the tenant's catalog sources (admins only; another tenant's ids are 404).

``/api/sources``: connected databases (``sql``) and REST/JSON sources (``rest``): list, create,
read, change, delete, connection test, table introspection, exposing tables in the catalog,
syncs (a ``source_sync`` job, 202) and their history. ``/api/catalog/sources``: every source the
tenant added (any origin) with row counts, data version, last refresh and quality status; its
quality checks; removal. Credentials (passwords, the REST auth header's value) are never in an
answer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.data import datasources
from portal.data.tenant_sources import catalog_changed, get_source_row, list_source_rows
from portal.errors import BadRequest, PermissionDenied
from portal.identity.principal import Principal
from portal.ingest import connected, quality, sync_history, sync_jobs
from portal.ingest.connected import ExposeRequest
from portal.ingest.dependants import refuse_if_used, source_users
from portal.ingest.introspect import introspect, probe_source
from portal.ingest.sync_store import drop_data
from portal.models import CatalogSource
from portal.specs import parse_spec
from portal.web.api.base import BaseHandler, path_id

SOURCE_FIELDS = ("name", "kind", "config", "credentials")
_NAME = r"([a-z][a-z0-9_]{0,62})"


def _net(handler: BaseHandler) -> dict[str, Any]:
    """The SSRF guard's allowances: the webhooks' settings."""
    s = handler.ctx.settings
    return {"allow_private": s.webhook_allow_private, "allowed_hosts": s.webhook_allowed_hosts}


def _force(handler: BaseHandler) -> bool:
    """``?force=true``: remove a source even while saved objects query it."""
    value = handler.get_query_argument("force", "false")
    if value not in ("0", "1", "true", "false"):
        raise BadRequest(f"force: true or false, got {value[:20]!r}", field="force")
    return value in ("1", "true")


def _admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDenied("only tenant admins manage data sources")


class SourcesHandler(BaseHandler):
    async def get(self) -> None:
        """The tenant's data sources (never their credentials)."""

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            found = connected.list_sources(session, principal)
            return {"sources": [connected.source_to_dict(ds, cats) for ds, cats in found]}

        self.send(await self.call(lst))

    async def post(self) -> None:
        """Register a ``sql`` or ``rest`` data source; secrets go in ``credentials``."""
        body = self.body(SOURCE_FIELDS)
        key = self.ctx.settings.secret_key

        def make(session: Session, principal: Principal) -> dict[str, Any]:
            ds = connected.create_source(session, principal, body, key, **_net(self))
            return connected.source_to_dict(ds)

        self.send(await self.call(make), 201)


class SourceHandler(BaseHandler):
    async def get(self, source_id: str) -> None:
        sid = path_id(source_id, "sourceId")
        self.send(
            await self.call(lambda s, p: connected.source_to_dict(datasources.get_data_source(s, p, sid)))
        )

    async def patch(self, source_id: str) -> None:
        """Change the name, configuration or credentials."""
        sid = path_id(source_id, "sourceId")
        body = self.body(("name", "config", "credentials"))
        key, net = self.ctx.settings.secret_key, _net(self)

        def change(session: Session, principal: Principal) -> dict[str, Any]:
            return connected.source_to_dict(
                connected.update_source(session, principal, sid, body, key, **net)
            )

        self.send(await self.call(change))

    async def delete(self, source_id: str) -> None:
        """Delete it and the catalog sources it feeds."""
        sid = path_id(source_id, "sourceId")

        force = _force(self)

        def drop(session: Session, principal: Principal) -> dict[str, Any]:
            if not force:
                ds = datasources.get_data_source(session, principal, sid)
                fed = session.scalars(select(CatalogSource.name).where(CatalogSource.data_source_id == ds.id))
                refuse_if_used(session, principal.tenant_id, fed, what=f"data source {ds.name!r}")
            ds, names = connected.delete_source(session, principal, sid)
            out = {"id": sid, "deleted": True, "catalog_sources": names}
            return {
                **out,
                "tenant": principal.scope.tenant_key,
                "tenant_id": principal.tenant_id,
                "kind": ds.kind,
            }

        out = await self.call(drop)
        tenant_id, kind = out.pop("tenant_id"), out.pop("kind")
        for name in out["catalog_sources"]:
            self.ctx.warehouse.invalidate(name)
            if kind == "rest":  # its synced copies go too (a connected database's tables stay where they are)
                drop_data(self.ctx.settings, tenant_id, name)
        catalog_changed(self.ctx.redis, out.pop("tenant"))
        self.send(out)


class SourceTestHandler(BaseHandler):
    async def post(self, source_id: str) -> None:
        """Try to connect; the outcome joins the sync history."""
        sid = path_id(source_id, "sourceId")
        key = self.ctx.settings.secret_key
        self.send(await self.call(lambda s, p: probe_source(datasources.get_data_source(s, p, sid), key)))


class SourceTablesHandler(BaseHandler):
    async def get(self, source_id: str) -> None:
        """The database's tables and views with their columns (cached 1 h; ``refresh=1`` reads again)."""
        sid = path_id(source_id, "sourceId")
        refresh = self.get_query_argument("refresh", "0") in ("1", "true", "yes")
        ctx = self.ctx

        def tables(session: Session, principal: Principal) -> dict[str, Any]:
            ds = datasources.get_data_source(session, principal, sid)
            return introspect(ds, ctx.settings.secret_key, ctx.redis, refresh=refresh)

        self.send(await self.call(tables))


class SourceExposeHandler(BaseHandler):
    async def post(self, source_id: str) -> None:
        """Expose tables in the catalog: ``{"tables": [{table, name, columns, scope, time_column}]}``."""
        sid = path_id(source_id, "sourceId")
        req = parse_spec(ExposeRequest, self.body(("tables",)))
        ctx = self.ctx

        def expose(session: Session, principal: Principal) -> dict[str, Any]:
            ds = datasources.get_data_source(session, principal, sid)
            structure = introspect(ds, ctx.settings.secret_key, ctx.redis)
            rows = connected.expose_tables(session, principal, sid, req, structure)
            return {"sources": [catalog_to_dict(r, []) for r in rows], "tenant": principal.scope.tenant_key}

        out = await self.call(expose)
        for s in out["sources"]:
            ctx.warehouse.invalidate(s["name"])
        catalog_changed(ctx.redis, out.pop("tenant"))
        self.send(out, 201)


class SourceSyncHandler(BaseHandler):
    async def post(self, source_id: str) -> None:
        """Start a sync (a ``source_sync`` job): 202 with the job."""
        sid = path_id(source_id, "sourceId")
        self.body(())
        sub = await self.call(lambda s, p: sync_jobs.submit_sync(s, p, sid))
        sub.enqueue(self.ctx.redis)
        self.send({"job_id": sub.record.id, "state": sub.record.status, "data_source_id": sid}, 202)


class SourceSyncsHandler(BaseHandler):
    async def get(self, source_id: str) -> None:
        """The source's syncs, newest first."""
        sid = path_id(source_id, "sourceId")
        self.send(
            await self.call(
                lambda s, p: {
                    "syncs": [sync_history.sync_to_dict(x) for x in sync_history.list_syncs(s, p, sid)]
                }
            )
        )


def catalog_to_dict(row: CatalogSource, results: list[dict[str, Any]]) -> dict[str, Any]:
    """A catalog source as the admin API shows it (no file path: it is the server's business)."""
    status = "none" if not results else ("ok" if all(r["ok"] for r in results) else "failing")
    return {
        "name": row.name,
        "label": row.label,
        "origin": row.origin,
        "data_source_id": row.data_source_id,
        "table": row.table_name if row.origin == "sql" else "",
        "columns": list(row.columns_json or []),
        "scope": dict(row.scope_json or {}),
        "time_column": row.time_column,
        "key_columns": list(row.key_columns_json or []),
        "row_count": row.row_count,
        "data_version": row.data_version,
        "refreshed_at": row.refreshed_at,
        "quality": {"status": status, "results": results},
    }


class CatalogSourcesHandler(BaseHandler):
    async def get(self) -> None:
        """Every source the tenant added, any origin, with its quality status."""

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            _admin(principal)
            rows = list_source_rows(session, principal.tenant_id)
            return {
                "sources": [
                    catalog_to_dict(
                        r,
                        [
                            quality.result_to_dict(x)
                            for x in quality.latest_results(session, r.tenant_id, r.name)
                        ],
                    )
                    for r in rows
                ]
            }

        self.send(await self.call(lst))


class CatalogSourceHandler(BaseHandler):
    async def get(self, name: str) -> None:
        def one(session: Session, principal: Principal) -> dict[str, Any]:
            _admin(principal)
            row = get_source_row(session, principal.tenant_id, name)
            res = [quality.result_to_dict(x) for x in quality.latest_results(session, row.tenant_id, name)]
            checks = [quality.check_to_dict(c) for c in quality.list_checks(session, row.tenant_id, name)]
            used_by = source_users(session, row.tenant_id, [name])
            return {**catalog_to_dict(row, res), "checks": checks, "used_by": used_by}

        self.send(await self.call(one))

    async def delete(self, name: str) -> None:
        """Remove it from the catalog. Refused (409 naming ``force``, listing them) while reports,
        dashboards or PDF templates query it, unless ``force=true``: they then answer 404 naming it."""
        force = _force(self)

        def drop(session: Session, principal: Principal) -> dict[str, Any]:
            _admin(principal)
            row = get_source_row(session, principal.tenant_id, name)  # 404 if there is no such source
            if not force:
                refuse_if_used(session, principal.tenant_id, [name], what=f"source {name!r}")
            quality.set_checks(session, principal, name, {"checks": []})
            gone = {"origin": row.origin, "tenant_id": row.tenant_id, "tenant": principal.scope.tenant_key}
            session.delete(row)
            return {"name": name, "deleted": True, **gone}

        out = await self.call(drop)
        origin, tenant_id = out.pop("origin"), out.pop("tenant_id")
        self.ctx.warehouse.invalidate(name)
        if origin == "rest":  # a synced copy (imports and events keep their own files)
            drop_data(self.ctx.settings, tenant_id, name)
        catalog_changed(self.ctx.redis, out.pop("tenant"))
        self.send(out)


class CatalogChecksHandler(BaseHandler):
    async def put(self, name: str) -> None:
        """Replace the source's checks: ``{"checks": [{kind, column?, threshold, email?}]}``."""
        body = self.body(("checks",))

        def put(session: Session, principal: Principal) -> dict[str, Any]:
            return {
                "checks": [
                    quality.check_to_dict(c) for c in quality.set_checks(session, principal, name, body)
                ]
            }

        self.send(await self.call(put))


class CatalogChecksRunHandler(BaseHandler):
    async def post(self, name: str) -> None:
        """Run the source's checks now; failures notify the admins."""
        self.body(())
        ctx = self.ctx

        def run(session: Session, principal: Principal) -> dict[str, Any]:
            return {
                "results": [
                    quality.result_to_dict(r) for r in quality.run_checks_for(ctx, session, principal, name)
                ]
            }

        self.send(await self.call(run))


SOURCES_ROUTES = [
    (r"/api/sources", SourcesHandler),
    (r"/api/sources/(\d{1,18})", SourceHandler),
    (r"/api/sources/(\d{1,18})/test", SourceTestHandler),
    (r"/api/sources/(\d{1,18})/tables", SourceTablesHandler),
    (r"/api/sources/(\d{1,18})/expose", SourceExposeHandler),
    (r"/api/sources/(\d{1,18})/sync", SourceSyncHandler),
    (r"/api/sources/(\d{1,18})/syncs", SourceSyncsHandler),
    (r"/api/catalog/sources", CatalogSourcesHandler),
    (rf"/api/catalog/sources/{_NAME}", CatalogSourceHandler),
    (rf"/api/catalog/sources/{_NAME}/checks", CatalogChecksHandler),
    (rf"/api/catalog/sources/{_NAME}/checks/run", CatalogChecksRunHandler),
]
