"""Operations endpoints: ``/healthz`` for load balancers, ``/metrics`` for Prometheus scrapers."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text
from tornado.ioloop import IOLoop

from portal.errors import NotFound
from portal.web.api.base import BaseHandler

log = logging.getLogger(__name__)


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


class HealthHandler(BaseHandler):
    async def get(self) -> None:
        def check() -> dict[str, str]:
            out: dict[str, str] = {}
            for name, probe in (
                ("metadata", lambda: _ping(self.ctx.engine)),
                ("warehouse", lambda: _ping(self.ctx.warehouse.engine)),
                ("redis", self.ctx.redis.ping),
            ):
                try:
                    probe()
                    out[name] = "ok"
                except Exception as exc:
                    out[name] = f"error: {type(exc).__name__}"
            return out

        checks = await IOLoop.current().run_in_executor(None, check)
        ok = all(v == "ok" for v in checks.values())
        self.send({"status": "ok" if ok else "degraded", "checks": checks}, 200 if ok else 503)


def metrics_allowed(settings: Any, client_ip: str, authorization: str) -> bool:
    """``/metrics`` is for scrapers: a matching bearer token, or a client in an allowed network."""
    if settings.metrics_token and hmac.compare_digest(authorization, f"Bearer {settings.metrics_token}"):
        return True
    try:
        ip = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    for net in settings.metrics_networks:
        try:
            if ip in ipaddress.ip_network(net, strict=False):
                return True
        except ValueError:
            log.warning("CONDUCTOR_METRICS_NETWORKS: %r is not a network", net)
    return False


class MetricsHandler(BaseHandler):
    def get(self) -> None:
        auth_header = self.request.headers.get("Authorization", "")
        if not metrics_allowed(self.ctx.settings, self.client_ip(), auth_header):
            raise NotFound("no such endpoint: GET /metrics")
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest())
