"""The real server (`conductor serve`): security headers on every route, no framing, no cookie in
the page's session token, Panel's component route without 500s, sessions that end at sign-out."""

from __future__ import annotations

import base64
import json
import re

import pytest
import requests

from portal.infra.redis_server import free_port
from tests.ui.conftest import form_sign_in

REQUIRED = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": None,
    "Content-Security-Policy": "frame-ancestors 'none'",
}


def signed_in(base: str, email: str = "analyst@acme.example.com") -> requests.Session:
    return form_sign_in(base, email)


def sample_path(pattern: str) -> str:
    """A concrete URL for a Tornado route pattern."""
    path = pattern.rstrip("$")
    path = re.sub(r"\(\\d\{1,18\}\)", "1", path)
    path = re.sub(r"\(\?P<[^>]+>[^)]*\)", "x", path)
    path = re.sub(r"\([^)]*\)", "x", path)
    return path.replace("/?", "").replace("\\", "").replace(".*", "x") or "/"


@pytest.fixture(scope="module")
def route_patterns(tmp_path_factory) -> list[str]:
    """Every pattern the server registers (built in-process with the same code, never started)."""
    from portal.config import Settings
    from portal.context import build_context
    from portal.web.server import make_server

    home = tmp_path_factory.mktemp("routes")
    ctx = build_context(Settings(home=home, redis_url="redis://127.0.0.1:1/0"))
    server = make_server(ctx, port=free_port(), start=False)
    try:
        rules = server._tornado.wildcard_router.rules
        patterns = sorted({r.matcher.regex.pattern for r in rules})
    finally:
        server._http.stop()
        ctx.engine.dispose()
    assert len(patterns) > 20
    return patterns


def test_security_headers_on_every_route(portal_url, route_patterns):
    user = signed_in(portal_url)
    anonymous = requests.Session()
    missing = []
    for pattern in route_patterns:
        path = sample_path(pattern)
        for who, client in (("anonymous", anonymous), ("signed in", user)):
            r = client.get(f"{portal_url}{path}", allow_redirects=False, timeout=30)
            assert r.status_code < 500 or path == "/healthz", (pattern, path, r.status_code, r.text[:200])
            for name, must_contain in REQUIRED.items():
                value = r.headers.get(name)
                if value is None or (must_contain and must_contain not in value):
                    missing.append((who, pattern, path, r.status_code, name, value))
    assert missing == [], "\n".join(map(str, missing))


def test_page_token_carries_no_cookie(portal_url):
    s = signed_in(portal_url)
    page = s.get(f"{portal_url}/")
    assert page.status_code == 200
    tokens = re.findall(r'"token":\s*"([^"]+)"', page.text) or re.findall(r"token=([\w.-]+)", page.text)
    assert tokens, "no Bokeh session token in the page"
    secret = s.cookies["cbi_session"]
    for token in tokens:
        payload = token.split(".")[0]
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        assert secret.encode() not in raw and b"cbi_session" not in raw and b"Cookie" not in raw
        doc = json.loads(raw)
        assert not doc.get("session_id", "").startswith("{")
    assert secret not in page.text


@pytest.mark.parametrize(
    "path",
    [
        "/components/..%2F..%2Fetc/passwd/x/y",
        "/components/..%2F...",
        "/components/os/path/_css/x",
        "/components/antigravity/x/y/z",
        "/components/panel.pane/Markdown/_stylesheets/..%2F..%2F..%2Fsetup.py",
        "/components/%00/x/y/z",
    ],
)
def test_component_route_refuses_without_500(portal_url, path):
    r = requests.get(f"{portal_url}{path}", timeout=30)
    assert 400 <= r.status_code < 500, (path, r.status_code)
    assert "Traceback" not in r.text and "/site-packages/" not in r.text


def test_sign_out_is_a_post_and_ends_the_session(portal_url):
    s = signed_in(portal_url)
    cookie = s.cookies["cbi_session"]
    assert s.get(f"{portal_url}/reports", allow_redirects=False).status_code == 200
    # A cross-site GET (link, <img>) cannot sign anyone out.
    s.get(f"{portal_url}/logout")
    assert s.get(f"{portal_url}/reports", allow_redirects=False).status_code == 200
    confirm = s.get(f"{portal_url}/logout").text
    token = re.search(r'name="csrf" value="([^"]+)"', confirm).group(1)
    assert s.post(f"{portal_url}/logout", data={"csrf": token}, allow_redirects=False).status_code == 302
    replay = requests.Session()
    replay.cookies.set("cbi_session", cookie)
    r = replay.get(f"{portal_url}/reports", allow_redirects=False)
    assert r.status_code == 302 and "login?next=" in r.headers["Location"]


def _ws_ack(url: str, token: str, cookie: str, origin: str) -> str:
    """Open a Bokeh websocket with ``token`` and return the type of the first message."""
    from websockets.sync.client import connect

    with connect(
        url,
        subprotocols=["bokeh", token],
        additional_headers={"Cookie": f"cbi_session={cookie}", "Origin": origin},
        open_timeout=10,
    ) as conn:
        header = json.loads(conn.recv(timeout=10))
        return str(header.get("msgtype"))


def test_forged_session_token_is_refused(portal_url):
    """Session tokens are signed: a websocket with a token the server did not issue gets nowhere."""
    s = signed_in(portal_url)
    page = s.get(f"{portal_url}/").text
    token = re.findall(r'"token":\s*"([^"]+)"', page)[0]
    cookie = s.cookies["cbi_session"]
    url = portal_url.replace("http", "ws") + "/ws"
    assert _ws_ack(url, token, cookie, portal_url) == "ACK"  # the genuine token works
    header, _, sig = token.partition(".")
    doc = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    doc["session_id"] = "A" * len(doc["session_id"])
    forged = base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=") + "." + sig
    with pytest.raises(Exception) as err:  # refused handshake or closed connection
        _ws_ack(url, forged, cookie, portal_url)
    assert "ACK" not in str(err.value)
