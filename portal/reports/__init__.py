"""Saved reports: the service (CRUD, library listing, trash, execution, history, stored results).

The public API of the package; modules inside are an implementation detail.
"""

from __future__ import annotations

from portal.reports.service import (
    REPORT_GROUPS,
    ReportEntry,
    ReportIn,
    create_report,
    delete_report,
    entry_to_dict,
    execute_report,
    execution_to_dict,
    get_report,
    last_runs,
    list_executions,
    list_report_trash,
    list_reports,
    load_execution_result,
    purge_reports,
    report_library,
    report_to_dict,
    restore_report,
    search_pattern,
    update_report,
)
from portal.reports.trash import TRASH_DAYS, TrashItem, purge_at, user_names

__all__ = [
    "REPORT_GROUPS",
    "TRASH_DAYS",
    "ReportEntry",
    "ReportIn",
    "TrashItem",
    "create_report",
    "delete_report",
    "entry_to_dict",
    "execute_report",
    "execution_to_dict",
    "get_report",
    "last_runs",
    "list_executions",
    "list_report_trash",
    "list_reports",
    "load_execution_result",
    "purge_at",
    "purge_reports",
    "report_library",
    "report_to_dict",
    "restore_report",
    "search_pattern",
    "update_report",
    "user_names",
]
