"""Browser tests: a real `conductor serve` on loopback with the tiny demo data, driven by Playwright
on the system Chromium. Screenshots of each step go to tests/ui/artifacts/ (git-ignored)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.http import PortalProcess

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
    # Every browser test signs in from 127.0.0.1: a higher per-address budget than production's 10.
    server = PortalProcess(portal_home, workers=True, CONDUCTOR_LOGIN_PER_MINUTE="200")
    server.cli("demo", "--no-serve", "--scale", "0.004")
    server.start()
    yield server.base
    server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failed browser test carries the end of the portal's log (CI keeps nothing else)."""
    outcome = yield
    report = outcome.get_result()
    home = getattr(item, "funcargs", {}).get("portal_home")
    if report.failed and call.when == "call" and isinstance(home, Path):
        log = home / "server.log"
        if log.exists():
            tail = log.read_bytes()[-6000:].decode("utf-8", "replace")
            report.sections.append(("portal server log (end)", tail))


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


@pytest.fixture(scope="session")
def bearer(portal_url: str) -> Callable[[str], requests.Session]:
    """bearer(email) → a requests session carrying that demo user's API token (one per user)."""
    sessions: dict[str, requests.Session] = {}

    def get(email: str) -> requests.Session:
        if email not in sessions:
            r = requests.post(
                f"{portal_url}/api/tokens", json={"email": email, "password": "conductor-demo"}, timeout=30
            )
            assert r.status_code == 201, r.text
            s = requests.Session()
            s.headers["Authorization"] = f"Bearer {r.json()['token']}"
            sessions[email] = s
        return sessions[email]

    return get


@pytest.fixture(scope="session")
def signed_in(portal_url: str) -> Callable[[Any, str], None]:
    """signed_in(page, email): the page's browser context gets that demo user's session cookie."""
    from portal.web.webauth import COOKIE

    cookies: dict[str, str] = {}

    def add(page: Any, email: str) -> None:
        if email not in cookies:
            cookies[email] = form_sign_in(portal_url, email).cookies[COOKIE]
        page.context.clear_cookies()
        page.context.add_cookies([{"name": COOKIE, "value": cookies[email], "url": portal_url}])

    return add
