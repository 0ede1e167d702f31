"""File imports end to end: REST upload -> job -> queryable source, on DuckDB and PostgreSQL warehouses.

Also: tenant isolation, the bad-row report, all-or-nothing, upsert idempotence, cancel leaving
the source as it was, and ``conductor import`` in a subprocess.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select

from portal.data.tenant_sources import get_source_row
from portal.errors import InvalidSpec, NotFound
from portal.identity.principal import principal_for_user_id
from portal.infra.db import transaction
from portal.ingest.imports import cancel_import
from portal.ingest.locks import source_lock
from portal.ingest.publish import pg_conninfo, warehouse_table
from portal.ingest.runner import local_import
from portal.ingest.schema import ImportOptions
from portal.models import User
from portal.models.ingest import ImportRun
from tests.support.http import ROOT

pytestmark = pytest.mark.parametrize("module_metadata_url", ["sqlite"], indirect=True)
PASSWORD = "conductor-demo"
ANALYST = "analyst@acme.example.com"
OTHER_ADMIN = "admin@globex.example.com"

SALES = (
    "id;Cliente;Valor;Data;Ativo\n"
    "1;Ânia São;1.234,56;31/12/2024;true\n"
    '2;"Bo ""B""\nSilva";12,50;01/02/2024;false\n'
    '3;=HYPERLINK("x");7,00;05/05/2024;true\n'
    "x4;Dora;1,00;06/05/2024;true\n"
    "5;Eva;2,00;07/05/2024\n"
)


# No ``redis_client`` here: emptying Redis between tests would move the tenants' catalog versions
# back to numbers this process has already seen (and cached under), hiding the new sources.
@pytest.fixture
def api(module_api: Any) -> Any:
    return module_api


@pytest.fixture
def ctx(module_ctx: Any, module_demo: Any) -> Any:
    return module_ctx


def _other_tenant_email(ctx: Any) -> str:
    with ctx.sessions() as s:
        emails = [u.email for u in s.scalars(select(User).where(User.is_admin.is_(True)))]
    return next(e for e in emails if not e.endswith("@acme.example.com"))


def _user(ctx: Any, email: str) -> Any:
    with ctx.sessions() as s:
        return principal_for_user_id(s, s.scalar(select(User.id).where(User.email == email)))


def _wait(http: Any, base: str, import_id: int, timeout: float = 60) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        body: dict[str, Any] = http.get(f"{base}/api/imports/{import_id}", timeout=30).json()
        if body["status"] in ("done", "failed", "canceled"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"import {import_id} did not finish: {body}")


def _upload(http: Any, base: str, data: bytes, filename: str) -> Any:
    return http.put(f"{base}/api/imports/upload", params={"filename": filename}, data=data, timeout=60)


def _rows(ctx: Any, principal: Any, source: str, columns: list[str]) -> list[tuple[Any, ...]]:
    spec = {"source": source, "columns": columns, "sort": [{"by": columns[0]}], "limit": 1000}
    frame = ctx.warehouse.run(spec, principal.scope).frame
    return [tuple(r) for r in frame.itertuples(index=False)]


def test_rest_upload_import_then_query_and_report(api: Any, ctx: Any) -> None:
    http = api.login(ANALYST, PASSWORD)
    up = _upload(http, api.base, SALES.encode("cp1252"), "vendas.csv")
    assert up.status_code == 200, up.text
    preview = up.json()["preview"]
    assert preview["delimiter"] == ";" and preview["encoding"] == "cp1252"
    assert [c["type"] for c in preview["columns"]] == ["string", "string", "float", "date", "bool"]
    options = {"table": "vendas", "columns": [{"name": "id", "type": "int"}], "key_columns": ["id"]}
    r = http.post(f"{api.base}/api/imports", json={"upload_id": up.json()["upload_id"], "options": options})
    assert r.status_code == 202, r.text
    assert {"id", "job_id", "status"} <= set(r.json())
    done = _wait(http, api.base, r.json()["id"])
    assert done["status"] == "done", done
    assert (done["rows_read"], done["rows_loaded"], done["rows_rejected"]) == (5, 3, 2)
    assert done["bytes_done"] == done["size_bytes"] > 0 and done["eta_s"] == 0

    analyst = _user(ctx, ANALYST)
    rows = _rows(ctx, analyst, "vendas", ["id", "cliente", "valor", "ativo"])
    assert rows == [
        (1, "Ânia São", 1234.56, True),
        (2, 'Bo "B"\nSilva', 12.5, False),
        (3, '=HYPERLINK("x")', 7.0, True),
    ]
    report = http.get(f"{api.base}/api/imports/{done['id']}/bad-rows", timeout=30)
    assert report.status_code == 200 and "attachment" in report.headers["Content-Disposition"]
    entries = list(csv.DictReader(io.StringIO(report.text)))
    by_row = {(e["row"], e["column"]): e for e in entries}
    assert "BIGINT" in by_row[("4", "id")]["reason"] and by_row[("4", "id")]["severity"] == "error"
    assert "missing columns" in by_row[("5", "ativo")]["reason"]
    formula = by_row[("3", "cliente")]
    assert formula["severity"] == "warning" and formula["value"].startswith("'=")  # cannot run in a sheet

    # Another tenant: the import, its report and the source do not exist for them.
    other = _other_tenant_email(ctx)
    stranger = api.login(other, PASSWORD)
    assert stranger.get(f"{api.base}/api/imports/{done['id']}", timeout=30).status_code == 404
    assert stranger.get(f"{api.base}/api/imports/{done['id']}/bad-rows", timeout=30).status_code == 404
    assert stranger.post(f"{api.base}/api/imports/{done['id']}/cancel", timeout=30).status_code == 404
    with pytest.raises((NotFound, InvalidSpec)):
        _rows(ctx, _user(ctx, other), "vendas", ["id"])
    query = {"query": {"source": "vendas", "columns": ["id"]}}
    assert http.post(f"{api.base}/api/query", json=query, timeout=30).status_code == 200
    q = stranger.post(f"{api.base}/api/query", json=query, timeout=30)
    assert q.status_code in (404, 422), q.text
    # Nor can they use the analyst's upload id.
    r2 = stranger.post(
        f"{api.base}/api/imports", json={"upload_id": up.json()["upload_id"], "options": options}
    )
    assert r2.status_code == 404, r2.text
    listed = http.get(f"{api.base}/api/imports", timeout=30).json()["imports"]
    assert done["id"] in [i["id"] for i in listed]
    assert done["id"] not in [
        i["id"] for i in stranger.get(f"{api.base}/api/imports", timeout=30).json()["imports"]
    ]


def test_all_or_nothing_loads_nothing_and_keeps_the_report(api: Any, ctx: Any) -> None:
    http = api.login(ANALYST, PASSWORD)
    up = _upload(http, api.base, SALES.encode(), "aon.csv").json()
    options = {"table": "aon_sales", "all_or_nothing": True, "columns": [{"name": "id", "type": "int"}]}
    r = http.post(f"{api.base}/api/imports", json={"upload_id": up["upload_id"], "options": options})
    done = _wait(http, api.base, r.json()["id"])
    assert done["status"] == "failed" and "all_or_nothing" in done["error"], done
    assert done["rows_loaded"] == 0 and done["rows_rejected"] == 2
    assert http.get(f"{api.base}/api/imports/{done['id']}/bad-rows", timeout=30).status_code == 200
    with ctx.sessions() as s, pytest.raises(NotFound):
        get_source_row(s, _user(ctx, ANALYST).tenant_id, "aon_sales")


def test_viewers_without_all_rows_and_bad_requests_are_refused(api: Any, ctx: Any) -> None:
    http = api.login(ANALYST, PASSWORD)
    r = http.put(f"{api.base}/api/imports/upload", data=b"a,b\n1,2\n", timeout=30)
    assert r.status_code == 400 and r.json()["field"] == "filename"
    anon = api.session()
    assert _upload(anon, api.base, b"a\n1\n", "x.csv").status_code == 401
    bad = http.post(
        f"{api.base}/api/imports", json={"upload_id": "../../etc/passwd", "options": {"table": "t"}}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "upload_id"
    up = _upload(http, api.base, b"a,b\n1,2\n", "x.csv").json()
    r = http.post(f"{api.base}/api/imports", json={"upload_id": up["upload_id"], "options": {"table": "T!"}})
    assert r.status_code == 422 and r.json()["field"] == "table", r.text
    r = http.post(
        f"{api.base}/api/imports", json={"upload_id": up["upload_id"], "options": {"table": "t", "x": 1}}
    )
    assert r.status_code == 422 and "x" in r.json()["message"], r.text
    r = http.post(
        f"{api.base}/api/imports",
        json={
            "upload_id": up["upload_id"],
            "options": {"table": "t", "mode": "upsert", "key_columns": ["nope"]},
        },
    )
    assert r.status_code == 422 and r.json()["field"] == "key_columns", r.text
    with ctx.sessions() as s:
        restricted = next(u.email for u in s.scalars(select(User)) if u.email.startswith("restricted"))
    limited = api.login(restricted, PASSWORD)
    assert _upload(limited, api.base, b"a\n1\n", "x.csv").status_code == 403


def _local(ctx: Any, tmp_path: Path, name: str, text: str, **options: Any) -> tuple[int, Any]:
    path = tmp_path / f"{name}.csv"
    path.write_text(text)
    return local_import(ctx, path, ImportOptions(table=name, **options), user_email=ANALYST)


def test_upsert_twice_changes_nothing_and_append_adds(ctx: Any, tmp_path: Path) -> None:
    text = "k,v,d\n1,a,2024-01-01\n2,b,2024-01-02\n2,b2,2024-01-03\n"
    _, first = _local(ctx, tmp_path, "kv", text, mode="upsert", key_columns=["k"])
    assert first.status == "done" and first.rows_loaded == 2  # the last row of a key wins
    analyst = _user(ctx, ANALYST)
    before = _rows(ctx, analyst, "kv", ["k", "v"])
    assert before == [(1, "a"), (2, "b2")]
    _, again = _local(ctx, tmp_path, "kv", text, mode="upsert", key_columns=["k"])
    assert again.status == "done"
    assert _rows(ctx, analyst, "kv", ["k", "v"]) == before
    _, more = _local(
        ctx, tmp_path, "kv", "k,v,d\n2,c,2024-02-01\n3,d,2024-02-02\n", mode="upsert", key_columns=["k"]
    )
    assert more.status == "done"
    assert _rows(ctx, analyst, "kv", ["k", "v"]) == [(1, "a"), (2, "c"), (3, "d")]
    _, app = _local(ctx, tmp_path, "kv", "k,v,d\n9,z,2024-03-01\n", mode="append")
    assert app.status == "done" and _rows(ctx, analyst, "kv", ["k", "v"])[-1] == (9, "z")
    with pytest.raises(InvalidSpec, match=r"columns: .*missing v"):
        _local(ctx, tmp_path, "kv", "k,w\n1,2\n", mode="append")
    with pytest.raises(InvalidSpec, match="exists"):
        _local(ctx, tmp_path, "kv", text)  # mode create on an existing source
    # Only the current and the previous version files are kept.
    with ctx.sessions() as s:
        row = get_source_row(s, analyst.tenant_id, "kv")
    assert len(list(Path(row.parquet_path).parent.glob("v*.parquet"))) == 2


def _cancel_on_first_progress(ctx: Any) -> Any:
    def hook(progress: dict[str, Any]) -> None:
        with transaction(ctx.sessions) as s:
            run = s.scalars(select(ImportRun).order_by(ImportRun.id.desc())).first()
            if run is not None and run.status == "running":
                cancel_import(s, principal_for_user_id(s, run.user_id), run.id)

    return hook


def _big_csv(path: Path, rows: int, value: str = "new") -> Path:
    with path.open("w") as f:
        f.write("k,v,n\n")
        for i in range(rows):
            f.write(f"{i},{value},{i * 0.5}\n")
    return path


def test_cancel_leaves_the_source_as_it_was(ctx: Any, tmp_path: Path) -> None:
    _, first = _local(ctx, tmp_path, "cx", "k,v,n\n1,old,1.5\n", mode="replace")
    assert first.status == "done"
    analyst = _user(ctx, ANALYST)
    big = _big_csv(tmp_path / "big.csv", 300_000)
    _, out = local_import(
        ctx,
        big,
        ImportOptions(table="cx", mode="replace"),
        user_email=ANALYST,
        hook=_cancel_on_first_progress(ctx),
    )
    assert out.status == "canceled", out
    assert _rows(ctx, analyst, "cx", ["k", "v"]) == [(1, "old")]


def test_two_loads_of_one_source_queue_up_and_neither_loses_rows(ctx: Any, tmp_path: Path) -> None:
    """Two appends at once both land (each waits for the source's lock instead of reading a
    version the other replaces); a cancel while waiting leaves the source as it was."""
    _, first = _local(ctx, tmp_path, "lk", "k,v\n0,base\n", mode="replace")
    assert first.status == "done"
    analyst = _user(ctx, ANALYST)
    results: dict[str, Any] = {}

    def append(tag: str, keys: range) -> None:
        path = tmp_path / f"lk_{tag}.csv"
        path.write_text("k,v\n" + "".join(f"{k},{tag}\n" for k in keys))
        opts = ImportOptions(table="lk", mode="append")
        results[tag] = local_import(ctx, path, opts, user_email=ANALYST)[1]

    with source_lock(ctx.settings.home, analyst.tenant_id, "lk"):  # another load in progress
        threads = [
            threading.Thread(target=append, args=("a", range(1, 4))),
            threading.Thread(target=append, args=("b", range(4, 6))),
        ]
        for t in threads:
            t.start()
        time.sleep(1.5)
        assert results == {}, results  # both wait (staged, not swapped in)
        with ctx.sessions() as s:
            waiting = s.scalars(select(ImportRun).where(ImportRun.source_name == "lk")).all()
        assert sorted(r.status for r in waiting)[-2:] == ["running", "running"]
    for t in threads:
        t.join(60)
    assert results["a"].status == "done" and results["b"].status == "done", results
    rows = _rows(ctx, analyst, "lk", ["k", "v"])
    assert sorted(rows) == [(0, "base"), (1, "a"), (2, "a"), (3, "a"), (4, "b"), (5, "b")]

    # Canceled while waiting for the lock: canceled, nothing changed.
    done: dict[str, Any] = {}
    with source_lock(ctx.settings.home, analyst.tenant_id, "lk"):
        path = tmp_path / "lk_c.csv"
        path.write_text("k,v\n9,c\n")
        t = threading.Thread(
            target=lambda: done.update(
                out=local_import(ctx, path, ImportOptions(table="lk", mode="append"), user_email=ANALYST)[1]
            )
        )
        t.start()
        deadline = time.monotonic() + 30
        run = None
        while time.monotonic() < deadline and run is None:
            with transaction(ctx.sessions) as s:
                run = s.scalars(
                    select(ImportRun).where(ImportRun.source_name == "lk", ImportRun.status == "running")
                ).first()
                if run is not None:
                    cancel_import(s, principal_for_user_id(s, run.user_id), run.id)
            time.sleep(0.1)
        t.join(30)
    assert done["out"].status == "canceled", done
    assert sorted(_rows(ctx, analyst, "lk", ["k", "v"])) == sorted(rows)


# --------------------------------------------------------------------------- PostgreSQL warehouse
@pytest.fixture(scope="module")
def pg_ctx(module_settings: Any, module_demo: Any, pg_server: Any, tmp_path_factory: Any) -> Any:
    """A context on the module's metadata database whose warehouse is a real PostgreSQL database."""
    from dataclasses import replace

    from portal.context import build_context

    url = pg_server.create_database()
    settings = replace(module_settings, warehouse_url=url, home=tmp_path_factory.mktemp("pg-home"))
    context = build_context(settings)
    yield context
    context.close()


def test_postgresql_warehouse_copy_swap_upsert_cancel(pg_ctx: Any, tmp_path: Path) -> None:
    ctx = pg_ctx
    analyst = _user(ctx, ANALYST)
    _, out = _local(
        ctx, tmp_path, "pgsales", SALES, columns=[{"name": "id", "type": "int"}], key_columns=["id"]
    )
    assert (out.status, out.rows_read, out.rows_loaded, out.rows_rejected) == ("done", 5, 3, 2), out
    assert _rows(ctx, analyst, "pgsales", ["id", "valor"]) == [(1, 1234.56), (2, 12.5), (3, 7.0)]
    table = warehouse_table(analyst.tenant_id, "pgsales")
    with ctx.sessions() as s:
        assert get_source_row(s, analyst.tenant_id, "pgsales").table_name == table
    text = "k,v\n1,a\n2,b\n2,b2\n"
    for _ in range(2):
        _, up = _local(ctx, tmp_path, "pgkv", text, mode="upsert", key_columns=["k"])
        assert up.status == "done", up
        assert _rows(ctx, analyst, "pgkv", ["k", "v"]) == [(1, "a"), (2, "b2")]
    _, more = _local(ctx, tmp_path, "pgkv", "k,v\n2,c\n3,d\n", mode="upsert", key_columns=["k"])
    assert more.status == "done" and _rows(ctx, analyst, "pgkv", ["k", "v"]) == [(1, "a"), (2, "c"), (3, "d")]
    _, app = _local(ctx, tmp_path, "pgkv", "k,v\n9,z\n", mode="append")
    assert app.status == "done" and len(_rows(ctx, analyst, "pgkv", ["k"])) == 4

    big = _big_csv(tmp_path / "pgbig.csv", 200_000)
    _, canceled = local_import(
        ctx,
        big,
        ImportOptions(table="pgkv", mode="replace"),
        user_email=ANALYST,
        hook=_cancel_on_first_progress(ctx),
    )
    assert canceled.status == "canceled"
    assert len(_rows(ctx, analyst, "pgkv", ["k"])) == 4
    with psycopg.connect(pg_conninfo(ctx.settings.warehouse)) as conn:
        left = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE '%%__stg_%%'").fetchone()
    assert left == (0,)  # no staging table survives a cancel


# --------------------------------------------------------------------------- the CLI
def _cli(ctx: Any, *args: str) -> subprocess.CompletedProcess[str]:
    s = ctx.settings
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WAREHOUSE_URL", "REDIS_URL")}
    env.update(
        CONDUCTOR_HOME=str(s.home),
        DATABASE_URL=s.metadata_url,
        WAREHOUSE_URL=s.warehouse,
        REDIS_URL=s.redis_url or "",
        CONDUCTOR_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        [sys.executable, "-m", "portal.cli", "import", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_cli_import_end_to_end(ctx: Any, tmp_path: Path) -> None:
    path = _big_csv(tmp_path / "cli.csv", 50_000, value="cli")
    done = _cli(ctx, str(path), "--table", "cli_rows", "--user", ANALYST, "--tenant", "acme")
    assert done.returncode == 0, done.stderr
    assert "rows read: 50000" in done.stdout and "rows loaded: 50000" in done.stdout
    assert "rows rejected: 0" in done.stdout and "bad-row report: none" in done.stdout
    assert "rows/s" in done.stderr and "MB" in done.stderr  # the progress bar
    analyst = _user(ctx, ANALYST)
    assert (
        ctx.warehouse.run({"source": "cli_rows", "metrics": [{"agg": "count"}]}, analyst.scope).frame.iloc[
            0, 0
        ]
        == 50_000
    )

    bad = tmp_path / "bad.csv"
    bad.write_text("k,v\n1,a\n1,b\n")  # a duplicate key
    refused = _cli(ctx, str(bad), "--table", "cli_bad", "--user", ANALYST, "--all-or-nothing", "--key", "k")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "rows rejected: 0" not in refused.stdout and "bad-row report: " in refused.stdout
    report = Path(refused.stdout.split("bad-row report: ")[1].splitlines()[0])
    assert report.is_file() and "duplicate key" in report.read_text()
    assert _cli(ctx, str(bad), "--table", "Bad Name", "--user", ANALYST).returncode == 2
    assert _cli(ctx, str(bad), "--table", "t", "--user", "nobody@example.com").returncode == 2
    assert _cli(ctx, str(bad), "--user", ANALYST).returncode == 2  # --table missing
