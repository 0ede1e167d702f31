"""What every analyst connection offers: one set of methods, written once.

A connection is either in-process (:class:`portal.client.local.Connection`, on the
server: the services, the metadata database and the warehouse directly) or over
HTTP (:class:`portal.client.http.HttpConnection`, from a laptop: the REST API with
a bearer token). Each supplies a few transport primitives (``_whoami``,
``_run_query``...); the methods an analyst calls, their argument handling and the
frames they return are defined here, so both modes answer alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import pandas as pd

from portal.client.query import Query, as_spec
from portal.errors import PortalError, unknown
from portal.specs import QuerySpec

#: What :attr:`BaseConnection.user` tells about the account.
USER_FIELDS = ("id", "email", "name", "tenant_id")
#: Columns of :meth:`BaseConnection.reports` and :meth:`BaseConnection.dashboards`.
REPORT_COLUMNS = ["id", "name", "visibility", "published", "owner_id", "updated_at"]
DASHBOARD_COLUMNS = ["id", "name", "visibility", "owner_id", "favorite", "updated_at"]

SpecLike = Query | QuerySpec | dict[str, Any]


class ExecutionFailed(PortalError, RuntimeError):
    """A saved report ran and the warehouse failed; the failed execution is in the report's history."""

    status = 500


class BaseConnection(ABC):
    """An analyst's connection: queries run with the user's scope; reports are saved as the user."""

    # -- transport primitives (one implementation per mode) ----------------
    @abstractmethod
    def _whoami(self) -> dict[str, Any]:
        """The account (at least :data:`USER_FIELDS`)."""

    @abstractmethod
    def _catalog(self) -> list[dict[str, Any]]:
        """The catalog's JSON view: one object per source, with its ``columns``."""

    @abstractmethod
    def _run_query(self, spec: QuerySpec, params: dict[str, Any]) -> pd.DataFrame:
        """Run a validated spec under the user's scope."""

    @abstractmethod
    def _save_report(self, data: dict[str, Any], report_id: int | None) -> dict[str, Any]:
        """Create (``report_id`` None) or replace a report; its JSON view."""

    @abstractmethod
    def _list_reports(self, search: str | None) -> list[dict[str, Any]]:
        """JSON views of the reports the user can see."""

    @abstractmethod
    def _list_dashboards(self, group: str | None, search: str | None) -> list[dict[str, Any]]:
        """JSON views of the dashboards the user can see (with ``favorite``)."""

    @abstractmethod
    def _execute_report(
        self, report_id: int, params: dict[str, Any] | None
    ) -> tuple[dict[str, Any], pd.DataFrame | None]:
        """Run a report now: the execution (``id``, ``status``, ``meta``) and, when done, its rows."""

    @abstractmethod
    def close(self) -> None:
        """Release what the connection holds."""

    # -- what an analyst calls ------------------------------------------------
    @property
    def user(self) -> dict[str, Any]:
        """Who this connection acts as."""
        me = self._whoami()
        return {k: me[k] for k in USER_FIELDS}

    def sources(self) -> pd.DataFrame:
        """The catalogued sources."""
        return pd.DataFrame(
            [
                {
                    "source": s["name"],
                    "label": s["label"],
                    "columns": len(s["columns"]),
                    "description": s["description"],
                }
                for s in self._catalog()
            ]
        )

    def columns(self, source: str) -> pd.DataFrame:
        """Columns of a source."""
        catalog = self._catalog()
        for s in catalog:
            if s["name"] == source:
                return pd.DataFrame(s["columns"])
        raise unknown("source", source, (s["name"] for s in catalog), field="source")

    def query(self, spec: SpecLike, **params: Any) -> pd.DataFrame:
        """Run a query with the user's scope and return a DataFrame."""
        return self._run_query(as_spec(spec), params)

    def save_report(
        self,
        name: str,
        spec: SpecLike,
        *,
        description: str = "",
        publish: bool = False,
        visibility: str = "private",
        heavy: bool = False,
        params: dict[str, Any] | None = None,
        report_id: int | None = None,
    ) -> dict[str, Any]:
        """Save (or, with ``report_id``, update) a report; ``publish=True`` lists it in the portal."""
        data = {
            "name": name,
            "description": description,
            "query": as_spec(spec).model_dump(mode="json", by_alias=True),
            "published": publish,
            "visibility": "public" if publish and visibility == "private" else visibility,
            "heavy": heavy,
            "params": params or {},
        }
        return self._save_report(data, report_id)

    def reports(self, search: str | None = None) -> pd.DataFrame:
        """Reports this user can see."""
        return pd.DataFrame(self._list_reports(search), columns=REPORT_COLUMNS)

    def dashboards(self, group: str | None = None, search: str | None = None) -> pd.DataFrame:
        """Dashboards this user can see; ``group`` is ``mine``, ``team``, ``public`` or ``favorites``."""
        return pd.DataFrame(self._list_dashboards(group, search), columns=DASHBOARD_COLUMNS)

    def run_report(self, report_id: int, **params: Any) -> pd.DataFrame:
        """Execute a saved report (recorded in its history) and return the result."""
        ex, frame = self._execute_report(report_id, params or None)
        if ex.get("status") != "done" or frame is None:
            error = (ex.get("meta") or {}).get("error")
            raise ExecutionFailed(f"execution {ex.get('id')} failed: {error}", field="report_id")
        return frame

    def __enter__(self) -> BaseConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
