"""Job monitor page: ``/jobs`` (the tenant's jobs, workers, queue lag and throughput, live)."""

from __future__ import annotations

from panel.template.base import BaseTemplate

from components.job_monitor import JobMonitor
from components.session import user_session
from components.template import page
from portal.context import AppContext


def create_page(ctx: AppContext) -> BaseTemplate:
    """Build the page for one browser session; its live refresh stops with the session."""
    with user_session(ctx) as (_, principal):
        who = principal.label
    monitor = JobMonitor(ctx)
    monitor.start_live()
    return page("Jobs", who, [monitor])
