"""The UI's escaping helpers: user text in Markdown panes, alerts, toasts and multi-choice labels is
shown literally (Panel's Markdown panes, Notyf toasts and Bokeh's MultiChoice all render HTML)."""

from __future__ import annotations

import html
from html.parser import HTMLParser
from typing import Any

import pandas as pd
import panel as pn
import pytest

from components import session
from components.report_builder import viz_caption
from components.session import alert, escape_md, escaped_options
from components.widget_view import render_widget
from portal.specs import WidgetSpec

ATTACKS = [
    '<img src=x onerror="alert(1)">',
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    '<svg onload="alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src='javascript:alert(1)'></iframe>",
    "<!-- comment -->",
    "&lt;img src=x onerror=alert(1)&gt;",  # entities must stay text, not be decoded into a tag
    "&#60;script&#62;",
]
MARKDOWN = [
    "**bold** _em_ `code` ~~del~~",
    "[link](javascript:alert(1)) ![img](x)",
    "# heading",
    "1. item",
    "- item",
    "+ item",
    "> quote",
    "---",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "$x^2$ and $$y$$",
    "{role}`x` [^note]",
    "Term\n: definition",
    "back\\slash \\* star",
    "a_b_c __init__ 3 * 4 * 5",
    "https://example.com www.example.com <https://example.com>",
]
PLAIN = ["Operations & SLA", 'O\'Brien "quoted"', "100% <= 5 > 3", "Título — ação", "", "   spaced   "]


class _Page(HTMLParser):
    """Tags (with attributes) and text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text += data

    def handle_comment(self, data: str) -> None:
        self.tags.append(("!--", []))


def browser_html(pane: pn.pane.Markdown, source: str) -> str:
    """The HTML the browser puts in the page for ``source`` (Panel escapes it once for transport)."""
    return html.unescape(pane._transform_object(source)["object"])


def shown(fragment: str) -> _Page:
    page = _Page()
    page.feed(fragment)
    page.close()
    return page


def normalized(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("text", ATTACKS + MARKDOWN + PLAIN)
@pytest.mark.parametrize("pane", [pn.pane.Markdown, pn.pane.Alert])
def test_escape_md_shows_text_literally(text: str, pane: type[pn.pane.Markdown]) -> None:
    page = shown(browser_html(pane(""), escape_md(text)))
    assert {tag for tag, _ in page.tags} <= {"p", "br"}, page.tags
    assert all(not attrs for _, attrs in page.tags), page.tags
    assert normalized(page.text) == normalized(text)


def test_unescaped_markdown_would_be_html() -> None:
    # The reason for escape_md: Panel's Markdown panes pass raw HTML to the page.
    page = shown(browser_html(pn.pane.Markdown(""), ATTACKS[0]))
    assert ("img", [("src", "x"), ("onerror", "alert(1)")]) in page.tags


def test_escape_md_inside_markdown_keeps_the_surrounding_formatting() -> None:
    page = shown(browser_html(pn.pane.Markdown(""), f"*No dashboards matching “{escape_md('**x** <b>')}”.*"))
    assert [tag for tag, _ in page.tags] == ["p", "em"]
    assert page.text.strip() == "No dashboards matching “**x** <b>”."


def test_escape_md_takes_any_value() -> None:
    assert escape_md(42) == "42"
    assert escape_md(None) == "None"
    assert escape_md(["<b>"]) == escape_md("['<b>']")


@pytest.mark.parametrize("kind", ["danger", "warning", "info"])
def test_alert_is_plain_text(kind: str) -> None:
    box = alert(ATTACKS[0] + " **not bold**", kind, sizing_mode="stretch_width")
    assert isinstance(box, pn.pane.Alert)
    assert box.alert_type == kind and box.sizing_mode == "stretch_width"
    page = shown(browser_html(box, box.object))
    assert [tag for tag, _ in page.tags] == ["p"]
    assert page.text.strip() == ATTACKS[0] + " **not bold**"


class _Toasts:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, int]] = []

    def success(self, message: str, duration: int) -> None:
        self.sent.append(("success", message, duration))

    def error(self, message: str, duration: int) -> None:
        self.sent.append(("error", message, duration))


def test_toasts_are_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    toasts = _Toasts()
    monkeypatch.setattr(type(pn.state), "notifications", property(lambda _: toasts))
    session.notify(f"Created {ATTACKS[0]}")
    session.notify_error("name: 'a & b' <script>")
    assert toasts.sent == [
        ("success", "Created &lt;img src=x onerror=&quot;alert(1)&quot;&gt;", 3000),
        ("error", "name: &#x27;a &amp; b&#x27; &lt;script&gt;", 0),
    ]
    assert [shown(m).tags for _, m, _ in toasts.sent] == [[], []]


def test_toasts_outside_a_session_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(type(pn.state), "notifications", property(lambda _: None))
    session.notify("<b>x</b>")
    session.notify_error("<b>x</b>")


def test_escaped_options_for_multichoice() -> None:
    values = [ATTACKS[0], "Smith & Sons", "plain", 'quote"d']
    options = escaped_options(values)
    assert list(options.values()) == values
    assert list(options) == [
        "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;",
        "Smith &amp; Sons",
        "plain",
        "quote&quot;d",
    ]
    w = pn.widgets.MultiChoice(options=options, value=[ATTACKS[0]])
    model = w.get_root()
    assert model.options == list(options)  # what Bokeh inserts as HTML
    assert model.value == [next(iter(options))]
    w.value = ["Smith & Sons"]
    assert model.value == ["Smith &amp; Sons"]


@pytest.mark.parametrize(
    ("viz", "caption"),
    [
        ({"viz": "bar", "x": "team_name", "y": ["n", "m"]}, "bar of n, m by team_name"),
        ({"viz": ATTACKS[0], "x": "priority", "y": ["n"]}, f"{ATTACKS[0]} of n by priority"),
        ({"viz": "bar", "x": ATTACKS[2], "y": ATTACKS[3]}, f"bar of {ATTACKS[3]} by {ATTACKS[2]}"),
        ({"viz": "bar"}, "bar of ? by ?"),
        ({"foo": 1}, "invalid visualization"),
        ("column", "invalid visualization"),
        (None, "invalid visualization"),
    ],
)
def test_viz_caption(viz: Any, caption: str) -> None:
    page = shown(browser_html(pn.pane.Markdown(""), viz_caption(viz)))
    assert {tag for tag, _ in page.tags} <= {"p", "strong"}
    assert normalized(page.text) == caption


def test_widget_error_messages_are_text() -> None:
    spec = WidgetSpec.model_validate(
        {
            "type": "kpi",
            "title": "Tickets",
            "query": {"source": "tickets", "metrics": [{"agg": "count", "as": "n"}]},
            "kpi": {"value": "n", "label": ATTACKS[0]},
        }
    )
    box = render_widget(spec, error=f"customer_name: unknown value {ATTACKS[0]}")
    assert isinstance(box, pn.pane.Alert)
    assert shown(browser_html(box, box.object)).text.strip() == f"customer_name: unknown value {ATTACKS[0]}"
    # A KPI column missing from the data: the message names it, as text.
    box = render_widget(spec, pd.DataFrame([[1]], columns=[ATTACKS[2]]))
    assert isinstance(box, pn.pane.Alert)
    page = shown(browser_html(box, box.object))
    assert [tag for tag, _ in page.tags] == ["p"] and "kpi.value" in page.text
    # The label itself is escaped into the card's HTML.
    card = render_widget(spec, pd.DataFrame([[7]], columns=["n"]))
    assert isinstance(card, pn.pane.HTML)
    assert ATTACKS[0] not in card.object and html.escape(ATTACKS[0]) in card.object
