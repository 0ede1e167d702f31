"""The HTTP connection: an analyst's laptop talking to the portal's REST API with a bearer token.

Frames travel as Arrow IPC streams (``Accept: application/vnd.apache.arrow.stream``),
so column types survive: timestamps stay timestamps, integers stay integers, NULLs
stay missing. Every failure is a :class:`portal.errors.PortalError`: the server's
JSON error becomes the exception class it names (``InvalidSpec`` with its ``field``,
``NotFound``, ``PermissionDenied``...), so code written against the in-process
connection catches the same exceptions here.
"""

from __future__ import annotations

import ipaddress
import warnings
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import requests

from portal import errors
from portal.client.base import BaseConnection, ExecutionFailed
from portal.errors import AuthenticationFailed, ConfigError, PortalError
from portal.infra.cache import frame_from_bytes
from portal.specs import QuerySpec

#: The IANA media type of the Arrow IPC streaming format (what ``portal.web.api.frames`` answers).
ARROW_STREAM = "application/vnd.apache.arrow.stream"
#: Seconds a report run may take before ``run_report`` gives up waiting (the server's maximum).
RUN_WAIT_S = 60
#: Seconds to connect, and to wait for an answer (a heavy query may take the server's full timeout).
DEFAULT_TIMEOUT = (10.0, 300.0)
HOW_TO_SIGN_IN = (
    "create an API token with `conductor create-token --email you@example.com` on the server, "
    "or POST {url}/api/tokens with your e-mail and password, then "
    "portal.connect({url!r}, token=...) or set CONDUCTOR_URL and CONDUCTOR_TOKEN"
)
# An error the server names but this client does not know (a newer server) maps by status.
_BY_STATUS: dict[int, type[PortalError]] = {
    400: errors.BadRequest,
    401: AuthenticationFailed,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.PayloadTooLarge,
    422: errors.InvalidSpec,
    429: errors.QuotaExceeded,
}


class ServerError(PortalError):
    """The portal failed (5xx), or answered something that is not its API (a proxy's error page)."""

    def __init__(self, message: str, *, status: int = 502, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.status = status


class PortalUnavailable(ServerError):
    """The portal could not be reached, or did not answer in time."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpConnection(BaseConnection):
    """A connection to a portal over HTTP(S), acting as the owner of ``token`` (see :class:`BaseConnection`).

    ``timeout`` is ``(connect, read)`` seconds; ``verify`` is passed to ``requests``
    (``False`` or a CA bundle path for a private certificate authority).
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        verify: bool | str = True,
    ) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"url: expected the portal's address, such as https://portal.example.com (got {url!r})",
                field="url",
            )
        self.url = url.strip().rstrip("/")
        token = (token or "").strip()  # pasted from a terminal, often with its newline
        if not token:
            raise AuthenticationFailed("no API token: " + HOW_TO_SIGN_IN.format(url=self.url), field="token")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            warnings.warn(
                f"{self.url}: the API token travels unencrypted over http; use https",
                stacklevel=3,
            )
        self.timeout = timeout
        self._http = requests.Session()
        self._http.verify = verify
        self._http.headers.update({"Authorization": f"Bearer {token}", "User-Agent": "conductor-client"})
        try:
            self._whoami()  # a wrong token or address fails here, not at the first query
        except Exception:
            self._http.close()
            raise

    def __repr__(self) -> str:
        return f"HttpConnection({self.url!r})"  # never the token

    # -- HTTP -----------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        arrow: bool = False,
    ) -> requests.Response:
        accept = f"{ARROW_STREAM}, application/json;q=0.5" if arrow else "application/json"
        what = f"{method} {self.url}{path}"
        try:
            r: requests.Response = self._http.request(
                method,
                f"{self.url}{path}",
                json=json,
                params=params,
                headers={"Accept": accept},
                timeout=self.timeout,
            )
        except requests.Timeout:
            raise PortalUnavailable(
                f"{what}: no answer within the timeout ({self.timeout} s); "
                "pass portal.connect(..., timeout=(connect, read)) for longer work"
            ) from None
        except requests.ConnectionError as exc:
            raise PortalUnavailable(
                f"{what}: cannot reach the portal ({type(exc).__name__}: {exc})"
            ) from None
        if r.status_code >= 400:
            raise self._error(r, what)
        return r

    def _error(self, r: requests.Response, what: str) -> PortalError:
        """The exception the server's JSON error names (or, for a non-API answer, a ServerError)."""
        try:
            body = r.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("message"), str):
            return ServerError(
                f"{what}: HTTP {r.status_code} {r.reason} is not an answer of the portal's API: "
                f"{r.text[:200]!r}",
                status=r.status_code,
            )
        message: str = body["message"]
        field = body.get("field") if isinstance(body.get("field"), str) else None
        if r.status_code == 401:
            return AuthenticationFailed(
                f"{message}; {HOW_TO_SIGN_IN.format(url=self.url)}", field=field or "token"
            )
        if r.status_code >= 500 and body.get("error") in (None, "InternalError", "HTTPError"):
            return ServerError(f"{what}: {message}", status=r.status_code, field=field)
        named = getattr(errors, str(body.get("error")), None)
        if isinstance(named, type) and issubclass(named, PortalError):
            return named(message, field=field)
        cls = _BY_STATUS.get(r.status_code)
        if cls is not None:
            return cls(message, field=field)
        return ServerError(f"{what}: {message}", status=r.status_code, field=field)

    def _json(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        doc = self._request(method, path, **kw).json()
        if not isinstance(doc, dict):
            raise ServerError(f"{method} {self.url}{path}: expected a JSON object")
        return doc

    @staticmethod
    def _frame(r: requests.Response) -> pd.DataFrame:
        ctype = r.headers.get("Content-Type", "")
        if not ctype.startswith(ARROW_STREAM):
            raise ServerError(
                f"{r.request.method} {r.url}: expected an Arrow stream, got {ctype or 'no content type'} "
                "(is the portal older than this client?)"
            )
        return frame_from_bytes(r.content)

    # -- transport primitives ----------------------------------------------
    def _whoami(self) -> dict[str, Any]:
        return self._json("GET", "/api/me")

    def _catalog(self) -> list[dict[str, Any]]:
        sources: list[dict[str, Any]] = self._json("GET", "/api/catalog")["sources"]
        return sources

    def _run_query(self, spec: QuerySpec, params: dict[str, Any]) -> pd.DataFrame:
        body = {"query": spec.model_dump(mode="json", by_alias=True), "params": params}
        return self._frame(self._request("POST", "/api/query", json=body, arrow=True))

    def _save_report(self, data: dict[str, Any], report_id: int | None) -> dict[str, Any]:
        if report_id is None:
            return self._json("POST", "/api/reports", json=data)
        return self._json("PUT", f"/api/reports/{int(report_id)}", json=data)

    def _list_reports(self, search: str | None) -> list[dict[str, Any]]:
        doc = self._json("GET", "/api/reports", params={"search": search} if search else None)
        rows: list[dict[str, Any]] = doc["reports"]
        return rows

    def _list_dashboards(self, group: str | None, search: str | None) -> list[dict[str, Any]]:
        args = {k: v for k, v in (("group", group), ("search", search)) if v}
        rows: list[dict[str, Any]] = self._json("GET", "/api/dashboards", params=args or None)["dashboards"]
        return rows

    def _execute_report(
        self, report_id: int, params: dict[str, Any] | None
    ) -> tuple[dict[str, Any], pd.DataFrame | None]:
        # The run goes through the portal's job queue: wait for it as long as the server allows.
        body: dict[str, Any] = {"wait": RUN_WAIT_S, **({"params": params} if params else {})}
        r = self._request("POST", f"/api/reports/{int(report_id)}/execute", json=body, arrow=True)
        if r.status_code == 202:
            job = r.json()
            jid, why = job.get("job_id"), f": {job['reason']}" if job.get("reason") else ""
            raise ExecutionFailed(
                f"report {report_id} is still on its way as job {jid} ({job.get('state')}{why}); "
                f"see GET /api/jobs/{jid}",
                field="report_id",
            )
        if not r.headers.get("Content-Type", "").startswith(ARROW_STREAM):
            ex = r.json()  # a failed execution has no rows: its JSON record says why
            if not isinstance(ex, dict) or ex.get("status") == "done":
                self._frame(r)  # rows that are not Arrow: raises, naming what came instead
            return ex, None
        ex = {"id": int(r.headers.get("X-Conductor-Execution-Id", "0")), "status": "done"}
        return ex, self._frame(r)

    def close(self) -> None:
        """Close the HTTP connections (the token stays valid: revoke it with ``DELETE /api/tokens/{id}``)."""
        self._http.close()
