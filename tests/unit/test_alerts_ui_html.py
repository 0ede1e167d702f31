"""What the alerts center, the tile marker and the bell draw: user text (alert and report names,
notes, values) stays text, never markup."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from components.alerts_center import alert_card_html, card_styles, history_html
from components.session import _bell
from components.tile_frame import alert_marker, tile_frame
from portal.alerts.highlight import WidgetAlert

ATTACK = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(markup: str) -> Tags:
    p = Tags()
    p.feed(markup)
    return p


def alert_doc(**changes: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "id": 5,
        "name": ATTACK,
        "severity": "crit",
        "status": "open",
        "report_id": 3,
        "report_name": ATTACK,
        "value": ATTACK,
        "condition": ATTACK,
        "reason": ATTACK,
        "created_at": "2026-03-01T08:00:00+00:00",
        "history": [
            {
                "at": "2026-03-01T08:00:00+00:00",
                "by": None,
                "by_name": "Conductor BI",
                "action": "opened",
                "note": None,
            },
            {
                "at": "2026-03-01T09:00:00+00:00",
                "by": 7,
                "by_name": ATTACK,
                "action": "acked",
                "note": ATTACK,
            },
        ],
    }
    doc.update(changes)
    return doc


def test_an_alert_card_shows_user_text_as_text() -> None:
    markup = alert_card_html(alert_doc())
    parsed = parse(markup)
    assert "img" not in parsed.tags and "script" not in parsed.tags
    assert ATTACK in "".join(parsed.text)  # shown literally
    assert "Critical" in markup and "Open" in markup
    assert card_styles(alert_doc())["border-left"] == "6px solid #dc2626"


def test_the_history_says_who_did_what_and_why() -> None:
    text = "".join(parse(history_html(alert_doc()["history"])).text)  # type: ignore[arg-type]
    assert "opened by Conductor BI" in text
    assert f"acknowledged by {ATTACK}" in text and f"— {ATTACK}" in text


@pytest.mark.parametrize("status", ["open", "acked"])
def test_the_tile_marker_escapes_the_alert_name_in_its_tooltip(status: str) -> None:
    marker = alert_marker(WidgetAlert(widget_id=1, alert_id=9, name=ATTACK, severity="warn", status=status))
    parsed = parse(marker)
    assert parsed.tags == ["a"]
    assert 'href="/alerts?alert=9"' in marker
    assert ("Alert" if status == "open" else "Acked") in "".join(parsed.text)


def test_a_highlighted_tile_gets_the_marker_and_a_coloured_outline() -> None:
    import panel as pn

    alert = WidgetAlert(widget_id=1, alert_id=9, name="Backlog", severity="crit", status="open")
    tile = tile_frame(ATTACK, "bar", pn.Column(), alert=alert)
    head = tile.objects[0].objects[0].object
    assert "cbi-alert-marker" in head and "img" not in parse(head).tags
    assert tile.styles["border"] == "2px solid #dc2626"
    plain = tile_frame("t", "bar", pn.Column())
    assert "border" not in plain.styles and "cbi-alert-marker" not in plain.objects[0].objects[0].object


@pytest.mark.parametrize(("unread", "badge"), [(0, None), (3, "3"), (250, "99+")])
def test_the_bell_shows_the_unread_count(unread: int, badge: str | None) -> None:
    markup = _bell(unread)
    assert 'href="/alerts?tab=notifications"' in markup
    assert f"{unread} unread notification" in markup
    assert ("cbi-bell-count" in markup) is (badge is not None)
    if badge:
        assert f">{badge}</span>" in markup
    assert _bell(None) == ""
