"""Triggers and alerts: conditions on report results, what they do when they hold, and the alerts center.

- :mod:`~portal.alerts.triggers`: saving triggers (``POST /api/reports/{id}/trigger``), with every
  check that can run before the first evaluation (condition, metric, URLs, loops, rights).
- :mod:`~portal.alerts.evaluation`: one ``trigger_evaluate`` job per trigger after each execution;
  the job decides once (streak, cooldown, re-arm) and raises the alert with its notifications,
  tickets and report runs, then :mod:`~portal.alerts.delivery` sends e-mail and signed webhooks,
  each recorded so a retried job never sends twice.
- :mod:`~portal.alerts.center`: alerts (open → acked → closed, with who acted) and tickets.
- :mod:`~portal.alerts.notifications`: the bell's notifications.
- :mod:`~portal.alerts.highlight`: the alert a dashboard tile shows (one query per dashboard).
- :mod:`~portal.alerts.secrets`: webhook signing secrets, derived per tenant and name.

Services take a session and a :class:`~portal.identity.principal.Principal` and never commit.
"""

from __future__ import annotations

from portal.alerts.center import (
    SEVERITIES,
    STATUSES,
    AlertEntry,
    act_on_alert,
    alert_counts,
    alert_to_dict,
    close_ticket,
    get_alert,
    list_alerts,
    list_tickets,
    ticket_to_dict,
)
from portal.alerts.delivery import Runtime
from portal.alerts.evaluation import evaluation_key, run_evaluation, submit_evaluations
from portal.alerts.highlight import WidgetAlert, widget_alerts
from portal.alerts.notifications import (
    list_notifications,
    mark_read,
    notification_to_dict,
    notify_users,
    unread_count,
)
from portal.alerts.secrets import signing_secret, signing_secrets
from portal.alerts.triggers import (
    condition_text,
    create_trigger,
    delete_trigger,
    get_trigger,
    list_triggers,
    run_report_edges,
    set_trigger_active,
    trigger_to_dict,
)

__all__ = [
    "SEVERITIES",
    "STATUSES",
    "AlertEntry",
    "Runtime",
    "WidgetAlert",
    "act_on_alert",
    "alert_counts",
    "alert_to_dict",
    "close_ticket",
    "condition_text",
    "create_trigger",
    "delete_trigger",
    "evaluation_key",
    "get_alert",
    "get_trigger",
    "list_alerts",
    "list_notifications",
    "list_tickets",
    "list_triggers",
    "mark_read",
    "notification_to_dict",
    "notify_users",
    "run_evaluation",
    "run_report_edges",
    "set_trigger_active",
    "signing_secret",
    "signing_secrets",
    "submit_evaluations",
    "ticket_to_dict",
    "trigger_to_dict",
    "unread_count",
    "widget_alerts",
]
