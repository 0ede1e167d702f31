"""Browser tests: a real `conductor serve` on loopback with the tiny demo data, driven by Playwright
on the system Chromium. Screenshots of each step go to tests/ui/artifacts/ (git-ignored)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from portal.infra.redis_server import free_port
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    assert Path(CHROMIUM).exists(), (
        "Chromium missing: run the README test command (it installs chromium via apt-get)"
    )
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1500, "height": 1000}}


@pytest.fixture(scope="session")
def portal_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CONDUCTOR_HOME of the portal under test: its metadata database is ``conductor.sqlite3`` there."""
    return tmp_path_factory.mktemp("portal-home")


@pytest.fixture(scope="session")
def portal_url(portal_home: Path) -> Iterator[str]:
    """Base URL of a portal serving the tiny demo warehouse (SQLite metadata, embedded Redis)."""
    home = portal_home
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WAREHOUSE_URL", "REDIS_URL")}
    port = free_port()
    # Every browser test signs in from 127.0.0.1: a higher per-address budget than production's 10.
    env.update(
        CONDUCTOR_HOME=str(home),
        CONDUCTOR_PORT=str(port),
        CONDUCTOR_LOG_LEVEL="WARNING",
        CONDUCTOR_LOGIN_PER_MINUTE="200",
    )
    exe = str(Path(sys.executable).with_name("conductor"))
    subprocess.run(
        [exe, "demo", "--no-serve", "--scale", "0.004"], env=env, check=True, capture_output=True, timeout=300
    )
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([exe, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert proc.poll() is None, (home / "server.log").read_text()
        assert time.time() < deadline, "portal did not start"
        time.sleep(0.3)
    yield base
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    finally:
        log.close()


@pytest.fixture
def shot(request):
    """shot(page, "step") saves tests/ui/artifacts/<test>-NN-step.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    counter = {"n": 0}

    def take(page, step: str) -> Path:
        counter["n"] += 1
        path = ARTIFACTS / f"{request.node.name}-{counter['n']:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def login(page, base: str, email: str, password: str = "conductor-demo", target: str = "/") -> None:
    page.goto(f"{base}/login?next={target}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def form_sign_in(base: str, email: str, password: str = "conductor-demo") -> requests.Session:
    """A requests session signed in through the real form (CSRF field included)."""
    import re

    s = requests.Session()
    page = s.get(f"{base}/login", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
    r = s.post(
        f"{base}/login",
        data={"email": email, "password": password, "next": "/", "_xsrf": xsrf},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 302, r.text
    return s
