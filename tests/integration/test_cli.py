"""The `conductor` command line, in-process, on embedded defaults (SQLite + DuckDB + embedded Redis)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from portal.cli import main
from portal.infra.redis_server import free_port


@pytest.fixture
def home(tmp_path, monkeypatch):
    for k in ("DATABASE_URL", "WAREHOUSE_URL", "REDIS_URL", "CONDUCTOR_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("CONDUCTOR_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_demo_prepares_everything(home, capsys):
    assert main(["demo", "--no-serve", "--scale", "0.002"]) == 0
    out = capsys.readouterr()
    assert (home / "conductor.sqlite3").exists() and (home / "warehouse.duckdb").exists()
    assert "admin@acme.example.com" in out.out and "password: conductor-demo" in out.out
    assert "tickets" in out.err and "rows" in out.err  # progress bar
    # idempotent: a second run keeps the data and says the accounts exist
    assert main(["demo", "--no-serve"]) == 0
    assert "already exist" in capsys.readouterr().out


def test_users_and_tokens(home, capsys, monkeypatch):
    assert main(["migrate"]) == 0
    monkeypatch.setenv("CONDUCTOR_PASSWORD", "s3cret-password")
    assert main(["create-user", "--tenant", "initech", "--email", "Bob@Initech.com", "--admin"]) == 0
    assert "created user bob@initech.com" in capsys.readouterr().out
    assert main(["create-token", "--email", "bob@initech.com"]) == 0
    assert capsys.readouterr().out.strip().startswith("cbi_")
    # bad input: a clear message and exit code 2, no traceback
    assert main(["create-token", "--email", "nobody@initech.com"]) == 2
    assert "no user" in capsys.readouterr().err
    assert main(["create-user", "--tenant", "initech", "--email", "bob@initech.com"]) == 2
    assert "already registered" in capsys.readouterr().err


def test_migrate_down_and_up(home, capsys):
    assert main(["migrate"]) == 0
    assert main(["migrate", "--downgrade", "base"]) == 0
    assert main(["migrate"]) == 0
    assert "head" in capsys.readouterr().out


@pytest.mark.parametrize("secret", ["short", "conductor-dev-secret-do-not-use-in-production"])
def test_refuses_weak_or_published_secret(home, monkeypatch, capsys, secret):
    assert main(["migrate"]) == 0
    monkeypatch.setenv("CONDUCTOR_SECRET_KEY", secret)
    for dev in ("0", "1"):  # dev mode is no excuse: a published secret lets anyone sign a cookie
        monkeypatch.setenv("CONDUCTOR_DEV", dev)
        assert main(["serve"]) == 2
        assert "CONDUCTOR_SECRET_KEY" in capsys.readouterr().err


def test_cli_revokes_tokens(home, capsys):
    assert main(["demo", "--no-serve", "--scale", "0.002"]) == 0
    assert main(["create-token", "--email", "viewer@acme.example.com"]) == 0
    assert main(["create-token", "--email", "viewer@acme.example.com", "--days", "400"]) == 2
    capsys.readouterr()
    assert main(["list-tokens", "--email", "viewer@acme.example.com"]) == 0
    listing = capsys.readouterr().out
    assert "\tactive\t" in listing
    tid = listing.split("\t")[0]
    assert main(["revoke-token", "--email", "viewer@acme.example.com", "--id", tid]) == 0
    assert main(["list-tokens", "--email", "viewer@acme.example.com"]) == 0
    assert "\trevoked\t" in capsys.readouterr().out
    assert main(["revoke-token", "--email", "admin@acme.example.com", "--id", tid]) == 2  # not theirs


def test_serve_refuses_unmigrated_database(home, capsys):
    assert main(["serve"]) == 2
    assert "conductor migrate" in capsys.readouterr().err


def test_serve_subprocess_health_page_and_clean_exit(home):
    assert main(["demo", "--no-serve", "--scale", "0.002"]) == 0
    port = free_port()
    env = {**os.environ, "CONDUCTOR_PORT": str(port), "CONDUCTOR_HOME": str(home)}
    exe = Path(sys.executable).with_name("conductor")
    proc = subprocess.Popen(
        [str(exe), "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.RequestException:  # refused while it starts, or slow to answer the first call
                assert proc.poll() is None, proc.stdout.read()
                assert time.time() < deadline, "server did not start"
                time.sleep(0.3)
        assert r.status_code == 200 and r.json()["status"] == "ok"
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200 and "Conductor BI" in page.text
        tok = requests.post(
            f"http://127.0.0.1:{port}/api/tokens",
            json={"email": "analyst@acme.example.com", "password": "conductor-demo"},
            timeout=10,
        )
        assert tok.status_code == 201
        rep = requests.get(
            f"http://127.0.0.1:{port}/api/reports",
            headers={"Authorization": f"Bearer {tok.json()['token']}"},
            timeout=10,
        )
        assert len(rep.json()["reports"]) >= 4
        children = job_processes_of(proc.pid)
        # Issue 9: a job submitted to the portal's Redis runs in the worker it started.
        assert job_runs_in(children, home) == "done"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode in (0, -signal.SIGTERM), out
    # the job processes and the embedded Redis it started are gone too
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE], out
    left = subprocess.run(["pgrep", "-f", f"redis-server.*{home}"], capture_output=True, text=True).stdout
    assert not left.strip(), out


def job_processes_of(pid: int, timeout: float = 30) -> list[psutil.Process]:
    """The worker per pool and the scheduler ``conductor serve`` started (waits for all three)."""
    deadline = time.time() + timeout
    while True:
        kids = psutil.Process(pid).children()
        roles = sorted(" ".join(k.cmdline()[3:]) for k in kids if "portal.cli" in k.cmdline())
        if roles == ["scheduler", "worker --pool batch", "worker --pool realtime"]:
            return [k for k in kids if "portal.cli" in k.cmdline()]
        assert time.time() < deadline, f"job processes not started: {roles}"
        time.sleep(0.3)


def job_runs_in(children: list[psutil.Process], home: Path, timeout: float = 60) -> str:
    """Submit a no-op job on the portal's database and Redis; the state its record reaches."""
    from redis import Redis
    from sqlalchemy import select

    from portal.config import Settings
    from portal.identity.principal import principal_for_user_id
    from portal.infra.db import make_engine, make_sessionmaker, transaction
    from portal.jobqueue.enqueue import submit
    from portal.models import JobRecord, User

    worker = next(c for c in children if "realtime" in c.cmdline())
    redis = Redis.from_url(worker.environ()["REDIS_URL"])  # the portal's (embedded) Redis
    engine = make_engine(Settings.from_env({"CONDUCTOR_HOME": str(home)}).metadata_url)
    try:
        sessions = make_sessionmaker(engine)
        with transaction(sessions) as s:
            uid = s.scalar(select(User.id).where(User.email == "analyst@acme.example.com"))
            sub = submit(s, principal_for_user_id(s, uid), "report_execute", {}, priority="high")
        sub.enqueue(redis, func="jobs.runtime.noop")
        deadline = time.time() + timeout
        while True:
            with sessions() as s:
                state = s.scalar(select(JobRecord.status).where(JobRecord.id == sub.record.id))
            if state in ("done", "failed") or time.time() > deadline:
                return str(state)
            time.sleep(0.3)
    finally:
        engine.dispose()
        redis.close()


def test_worker_and_scheduler_refuse_bad_numbers(home, capsys):
    """Issue 9: bad input names the option and exits 2, before any Redis or database is touched."""
    assert main(["worker", "--pool", "batch", "-n", "0"]) == 2
    assert "-n:" in capsys.readouterr().err
    assert main(["scheduler", "--interval", "-5"]) == 2
    assert "--interval:" in capsys.readouterr().err
