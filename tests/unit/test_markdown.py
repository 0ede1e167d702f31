import pytest

from portal.viz.markdown import render_markdown


def test_markdown_renders():
    out = render_markdown(
        "# Título\n\n**SLA** is *key* — [docs](https://example.com)\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert "<h1>Título</h1>" in out and "<strong>SLA</strong>" in out and "<table>" in out
    assert 'href="https://example.com"' in out and "noopener" in out


@pytest.mark.parametrize(
    "attack",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src='https://evil.example'></iframe>",
        "![x](javascript:alert(1))",
        "<svg onload=alert(1)>",
    ],
)
def test_no_script_injection(attack):
    tags = _parse(render_markdown(attack))
    for tag, attrs in tags:
        assert tag not in {"script", "iframe", "svg", "object", "embed", "style"}, tag
        for name, value in attrs:
            assert not name.startswith("on"), name
            assert not (value or "").strip().lower().startswith("javascript:"), value


def _parse(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    from html.parser import HTMLParser

    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    P().feed(html)
    return found
