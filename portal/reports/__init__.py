"""Saved reports: the service (CRUD, execution, history, stored results).

The public API of the package; modules inside are an implementation detail."""

from __future__ import annotations

from portal.reports.service import (
    ReportIn,
    create_report,
    delete_report,
    execute_report,
    execution_to_dict,
    get_report,
    list_executions,
    list_reports,
    load_execution_result,
    report_to_dict,
    update_report,
)

__all__ = [
    "ReportIn",
    "create_report",
    "delete_report",
    "execute_report",
    "execution_to_dict",
    "get_report",
    "list_executions",
    "list_reports",
    "load_execution_result",
    "report_to_dict",
    "update_report",
]
