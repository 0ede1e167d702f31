"""PDF checks for the tests: text through ``pdftotext`` (per page), fonts through ``pdffonts``."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any


def pdf_text(pdf: bytes, *, page: int | None = None) -> str:
    """The text of a PDF (or of one 1-based page), as poppler's ``pdftotext -layout`` reads it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doc.pdf"
        path.write_bytes(pdf)
        args = ["pdftotext", "-layout", "-enc", "UTF-8"]
        if page is not None:
            args += ["-f", str(page), "-l", str(page)]
        return subprocess.run(
            [*args, str(path), "-"], check=True, capture_output=True, timeout=60
        ).stdout.decode()


def pdf_pages(pdf: bytes) -> list[str]:
    """The text of each page (``pdftotext`` separates pages with form feeds)."""
    pages = pdf_text(pdf).split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


# --------------------------------------------------------------------------- through the REST API
def template_id(s: Any, api: Any, name: str) -> int:
    rows = s.get(f"{api.base}/api/pdf/templates").json()["templates"]
    return int(next(t["id"] for t in rows if t["name"] == name))


def render(s: Any, api: Any, tid: int, timeout: float = 90, **body: Any) -> dict[str, Any]:
    r = s.post(f"{api.base}/api/pdf/templates/{tid}/render", json=body)
    assert r.status_code == 202, r.text
    answer = r.json()
    assert set(answer) >= {"render_id", "job_id", "status"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = s.get(f"{api.base}/api/pdf/renders/{answer['render_id']}").json()
        if doc["status"] in ("done", "failed"):
            return dict(doc)
        time.sleep(0.2)
    raise AssertionError(f"render {answer['render_id']} did not finish: {doc}")


def download(s: Any, api: Any, render_id: int) -> bytes:
    r = s.get(f"{api.base}/api/pdf/renders/{render_id}/download")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/pdf"
    return bytes(r.content)


def broken_spec() -> dict[str, Any]:
    ok_query = {"source": "tickets", "metrics": [{"agg": "count", "as": "tickets"}], "group_by": ["priority"]}
    return {
        "name": "Broken bits",
        "pages": [
            {
                "elements": [
                    {
                        "kind": "title",
                        "id": "t",
                        "box": {"x": 15, "y": 20, "w": 180, "h": 12},
                        "text": "Still here",
                    },
                    {
                        "kind": "table",
                        "id": "gone_report",
                        "box": {"x": 15, "y": 40, "w": 180, "h": 30},
                        "binding": {"report_id": 999999},
                    },
                    {
                        "kind": "image",
                        "id": "no_logo",
                        "box": {"x": 15, "y": 80, "w": 30, "h": 30},
                        "asset": "nope.png",
                    },
                    {
                        "kind": "chart",
                        "id": "bad_column",
                        "box": {"x": 15, "y": 120, "w": 180, "h": 60},
                        "binding": {"query": ok_query},
                        "chart": {"viz": "bar", "x": "no_such_column", "y": ["tickets"]},
                    },
                    {
                        "kind": "table",
                        "id": "fine",
                        "box": {"x": 15, "y": 190, "w": 180, "h": 60},
                        "binding": {"query": ok_query},
                    },
                ]
            }
        ],
    }
