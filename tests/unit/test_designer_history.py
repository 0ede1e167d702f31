"""The PDF designer's pure logic: undo/redo history, snapping, spec edits, property forms' field
reading and coercion, rebinding, theme lists, version diffs, the preview's latest-wins worker."""

from __future__ import annotations

import threading
import time

import pytest

from components.pdf_designer import edits
from components.pdf_designer.binding import (
    default_data,
    inline_default,
    query_columns,
    rebind,
    report_choice,
)
from components.pdf_designer.edits import DataDefault
from components.pdf_designer.history import History
from components.pdf_designer.preview import InputCache, LatestWorker, PreviewResult, data_key, errors_html
from components.pdf_designer.properties import FieldDesc, coerce, describe_model
from components.pdf_designer.theme import pairs_text, parse_pairs, parse_palette
from components.pdf_designer.versions import diff_html
from portal.errors import InvalidSpec
from portal.specs.pdf import PageSetup, PdfTemplateSpec, RectElement, TextElement, ThemeSpec, TitleElement

REPORT = DataDefault({"report_id": 7}, ["priority"], ["tickets"])


def _spec() -> PdfTemplateSpec:
    return edits.blank_template("Monthly")


# --------------------------------------------------------------------------- history
def test_undo_redo_walk_the_snapshots() -> None:
    h: History[int] = History(0)
    assert not h.can_undo and not h.can_redo
    for v in (1, 2, 3):
        assert h.push(v)
    assert h.undo() == 2 and h.undo() == 1
    assert h.present == 1 and h.can_redo and h.redo_depth == 2
    assert h.redo() == 2
    assert h.present == 2


def test_a_new_edit_after_undo_forgets_the_redo_branch() -> None:
    h: History[str] = History("a")
    h.push("b")
    h.push("c")
    h.undo()
    h.push("d")
    assert not h.can_redo and h.redo() is None
    assert h.undo() == "b"


def test_pushing_the_same_snapshot_records_nothing() -> None:
    h: History[int] = History(1)
    assert not h.push(1)
    assert not h.can_undo


def test_history_is_bounded_oldest_dropped_first() -> None:
    h: History[int] = History(0, limit=3)
    for v in range(1, 10):
        h.push(v)
    assert h.undo_depth == 3
    assert [h.undo(), h.undo(), h.undo(), h.undo()] == [8, 7, 6, None]
    assert h.present == 6


def test_reset_starts_over_and_limit_must_be_positive() -> None:
    h: History[int] = History(0)
    h.push(1)
    h.reset(5)
    assert h.present == 5 and not h.can_undo and not h.can_redo
    with pytest.raises(ValueError):
        History(0, limit=0)


def test_history_of_specs_uses_equality_of_frozen_models() -> None:
    spec = _spec()
    h = History(spec)
    same = edits.blank_template("Monthly")
    assert not h.push(same)
    moved = edits.move_elements(spec, {"title1": {"x": 20, "y": 20, "w": 180, "h": 15}})
    assert h.push(moved)
    assert h.undo() == spec


# --------------------------------------------------------------------------- snapping and canvas
@pytest.mark.parametrize(
    ("value", "grid", "expected"),
    [(12.4, 5, 10), (12.6, 5, 15), (7.3, 0, 7.3), (7.26, 0, 7.3), (3.3, 2.5, 2.5), (-1.2, 5, 0)],
)
def test_snap(value: float, grid: float, expected: float) -> None:
    assert edits.snap(value, grid) == pytest.approx(expected)


def test_snap_box_keeps_boxes_on_the_paper_and_at_least_a_cell() -> None:
    assert edits.snap_box({"x": 198, "y": -3, "w": 21, "h": 2}, 5, 210, 297) == {
        "x": 190,
        "y": 0,
        "w": 20,
        "h": 5,
    }
    assert edits.snap_box({"x": 0, "y": 290, "w": 400, "h": 40}, 5, 210, 297)["w"] == 210
    # a line stays flat
    assert edits.snap_box({"x": 11, "y": 50, "w": 100, "h": 0.001}, 5, 210, 297)["h"] == 0.001


def test_page_boxes_and_moved_boxes_round_trip() -> None:
    spec = _spec()
    boxes = edits.page_boxes(spec, 0)
    assert boxes == [
        {"id": "title1", "kind": "title", "label": "Monthly", "x": 15, "y": 30, "w": 180, "h": 15}
    ]
    assert edits.moved_boxes(spec, 0, boxes) == {}
    dragged = [{**boxes[0], "x": 31.7, "y": 42.2}]
    assert edits.moved_boxes(spec, 0, dragged) == {"title1": {"x": 30, "y": 40, "w": 180, "h": 15}}
    # junk from the browser is ignored, never an exception
    assert edits.moved_boxes(spec, 0, [{"id": "title1", "x": "a"}, {"id": "nope", "x": 1}, "x"]) == {}  # type: ignore[list-item]


def test_bands_and_new_elements_keep_clear_of_header_and_footer() -> None:
    spec = edits.update_template(edits.remove_element(_spec(), "title1"), {"theme.header.text": "Acme"})
    # a 12 mm header (its text) and the default footer (page numbers), 2 mm gap, 15 mm margins
    assert edits.bands(spec, 0) == {"header": {"y": 15, "h": 14}, "footer": {"y": 268, "h": 14}}
    assert edits.content_area(spec, 0) == (29, 268)
    assert edits.new_element(spec, "text", 0)["box"]["y"] == 30  # below the header, on the grid
    cover = edits.set_page(spec, 0, kind="cover")
    assert edits.bands(cover, 0) == {}
    assert edits.new_element(cover, "text", 0)["box"]["y"] == 15
    quiet = edits.update_template(spec, {"theme.header.text": "", "theme.footer.page_numbers": False})
    assert edits.bands(quiet, 0) == {}


def test_section_children_are_drawn_absolute_and_not_moved() -> None:
    spec = edits.add_element(
        _spec(),
        0,
        {
            "kind": "section",
            "id": "s1",
            "binding": {"report_id": 1},
            "group_by": "team",
            "box": {"x": 10, "y": 100, "w": 190, "h": 60},
            "children": [
                {"kind": "text", "id": "c1", "text": "x", "box": {"x": 5, "y": 10, "w": 50, "h": 10}}
            ],
        },
    )
    child = next(b for b in edits.page_boxes(spec, 0) if b["id"] == "c1")
    assert (child["x"], child["y"], child["parent"]) == (15, 110, "s1")
    assert edits.moved_boxes(spec, 0, [{**child, "x": 50}]) == {}


def test_element_labels_are_the_text_or_a_hint() -> None:
    t = TitleElement(id="t", text="<b>x</b>")
    assert edits.element_label(t) == "<b>x</b>"  # the canvas writes it as text (textContent)
    assert edits.element_label(RectElement(id="r")) == ""


# --------------------------------------------------------------------------- spec edits
def test_update_element_applies_dotted_paths_and_validates() -> None:
    spec = edits.update_element(_spec(), "title1", {"text": "Sales", "box.x": 20})
    el = spec.element("title1")
    assert (el.text, el.box.x) == ("Sales", 20)
    with pytest.raises(InvalidSpec) as e:
        edits.update_element(spec, "title1", {"text": ""})
    assert "title1" in e.value.message and "text" in e.value.message
    with pytest.raises(InvalidSpec) as e:
        edits.update_element(spec, "title1", {"color": "red"})
    assert "color" in e.value.message


def test_renaming_to_a_used_id_is_refused_naming_it() -> None:
    spec = edits.add_element(_spec(), 0, edits.new_element(_spec(), "text", 0))
    with pytest.raises(InvalidSpec) as e:
        edits.update_element(spec, "text1", {"id": "title1"})
    assert "title1" in e.value.message


def test_new_elements_of_every_kind_are_valid_and_stack_down_the_page() -> None:
    spec = _spec()
    for kind in (
        "title",
        "text",
        "image",
        "chart",
        "table",
        "kpi",
        "section",
        "toc",
        "page_break",
        "line",
        "rect",
    ):
        el = edits.new_element(spec, kind, 0, REPORT, asset="logo.png")
        spec = edits.add_element(spec, 0, el)
    ids = [e.id for e in spec.pages[0].elements]
    assert len(set(ids)) == len(ids) == 12
    chart = spec.element("chart1")
    assert (chart.chart.x, chart.chart.y, chart.binding.report_id) == ("priority", ["tickets"], 7)
    assert spec.element("kpi1").kpi.value == "tickets"
    assert spec.element("section1").group_by == "priority"
    assert spec.element("image1").asset == "logo.png"
    _, h = spec.page.dimensions()
    assert all(e.box.y + e.box.h <= h for e in spec.pages[0].elements)


def test_a_data_element_without_anything_to_bind_is_refused_naming_binding() -> None:
    with pytest.raises(InvalidSpec) as e:
        edits.new_element(_spec(), "chart", 0, None)
    assert e.value.message.startswith("chart:") and "report" in e.value.message


def test_remove_and_duplicate_ids() -> None:
    spec = edits.remove_element(_spec(), "title1")
    assert spec.pages[0].elements == []
    assert edits.unique_id(_spec(), "title") == "title2"
    assert edits.unique_id(_spec(), "9 x!") == "e9_x1"


def test_pages_add_remove_move_and_rename() -> None:
    spec = edits.add_page(_spec(), "cover", after=-1)
    assert [p.kind for p in spec.pages] == ["cover", "body"]
    spec = edits.add_page(spec, "body")
    spec = edits.move_page(spec, 0, 5)
    assert [p.kind for p in spec.pages] == ["body", "body", "cover"]
    spec = edits.set_page(spec, 2, name="Capa")
    assert spec.pages[2].name == "Capa"
    spec = edits.remove_page(edits.remove_page(spec, 0), 0)
    with pytest.raises(InvalidSpec) as e:
        edits.remove_page(spec, 0)
    assert "pages" in e.value.message


def test_update_template_names_the_field() -> None:
    spec = edits.update_template(_spec(), {"page.grid_mm": 2.5, "page.orientation": "landscape"})
    assert spec.page.dimensions() == (297, 210)
    with pytest.raises(InvalidSpec) as e:
        edits.update_template(spec, {"page.margins.left": 150})
    assert "margins" in e.value.message


# --------------------------------------------------------------------------- property forms
def test_describe_model_reads_kinds_bounds_options_and_nested_boxes() -> None:
    fields = {f.path: f for f in describe_model(TitleElement, skip=("kind",), nested=("box",))}
    assert list(fields)[:5] == ["id", "box.x", "box.y", "box.w", "box.h"]
    assert fields["text"].kind == "string"
    assert (fields["size"].kind, fields["size"].optional, fields["size"].lower, fields["size"].upper) == (
        "number",
        True,
        6,
        96,
    )
    assert fields["align"].kind == "select" and fields["align"].options == ("left", "center", "right")
    assert fields["color"].kind == "color" and fields["color"].optional
    assert fields["level"].kind == "integer" and fields["in_toc"].kind == "bool"
    assert describe_model(TextElement, skip=("kind",))[1].kind == "text"  # 20,000 characters: a text area
    theme = {f.path: f for f in describe_model(ThemeSpec, nested=("header",))}
    assert theme["accent"].kind == "color" and not theme["accent"].optional
    assert "header.page_numbers" in theme and "palette" not in theme and "footer.text" not in theme
    page = {f.path for f in describe_model(PageSetup, nested=("margins",))}
    assert {"size", "width_mm", "margins.left", "grid_mm"} <= page


def test_param_names_never_clash_with_parameterized_name() -> None:
    (name,) = [f for f in describe_model(ThemeSpec) if f.path == "name"]
    assert name.name == "f_name"
    assert FieldDesc("box.x", "X", "number").name == "f_box__x"


@pytest.mark.parametrize(
    ("desc", "raw", "expected"),
    [
        (FieldDesc("size", "Size", "number", optional=True), None, None),
        (FieldDesc("size", "Size", "number", optional=True), "", None),
        (FieldDesc("box.x", "X", "number"), "12,5", 12.5),
        (FieldDesc("level", "Level", "integer"), 2.0, 2),
        (FieldDesc("color", "Colour", "color", optional=True), None, None),
        (FieldDesc("accent", "Accent", "color"), "#AABBCC", "#aabbcc"),
        (FieldDesc("logo", "Logo", "string", optional=True), "  ", None),
        (FieldDesc("text", "Text", "string"), "", ""),
        (FieldDesc("bold", "Bold", "bool"), 1, True),
        (FieldDesc("align", "Align", "select", options=("left", "right")), "right", "right"),
    ],
)
def test_coerce(desc: FieldDesc, raw: object, expected: object) -> None:
    assert coerce(desc, raw) == expected


@pytest.mark.parametrize(
    ("desc", "raw", "words"),
    [
        (FieldDesc("box.x", "X", "number"), None, "box.x: give a number"),
        (FieldDesc("box.x", "X", "number"), "abc", "box.x: 'abc' is not a number"),
        (FieldDesc("box.x", "X", "number"), float("nan"), "box.x: give a finite number"),
        (FieldDesc("level", "Level", "integer"), 1.5, "level: must be a whole number"),
        (FieldDesc("accent", "Accent", "color"), "red", "accent: 'red' is not a colour"),
        (FieldDesc("align", "Align", "select", options=("left",)), "up", "align: 'up' is not one of left"),
    ],
)
def test_coerce_refuses_naming_the_field(desc: FieldDesc, raw: object, words: str) -> None:
    with pytest.raises(InvalidSpec) as e:
        coerce(desc, raw)
    assert e.value.message.startswith(words)


# --------------------------------------------------------------------------- bindings
def test_query_columns_and_report_choices() -> None:
    q = {"source": "tickets", "group_by": ["priority"], "metrics": [{"agg": "count", "as": "tickets"}]}
    assert query_columns(q) == (["priority"], ["tickets"])
    assert query_columns({"source": "x"}) == ([], [])
    raw = report_choice(2, "Raw", {"source": "tickets", "columns": ["id", "priority"]})
    grouped = report_choice(3, "By priority", q)
    assert default_data([raw, grouped]) == grouped.data
    assert default_data([raw]) == raw.data
    assert default_data([]) is None


def test_rebind_keeps_what_the_new_result_has_and_replaces_the_rest() -> None:
    chart = {
        "kind": "chart",
        "id": "c",
        "chart": {"viz": "heatmap", "x": "team", "y": ["tickets"], "series": "day"},
    }
    out = rebind(chart, REPORT)
    assert out["binding"] == {"report_id": 7}
    assert out["chart"] == {"viz": "column", "x": "priority", "y": ["tickets"], "series": None}
    kept = rebind({**chart, "chart": {"viz": "bar", "x": "priority", "y": ["tickets"]}}, REPORT)
    assert kept["chart"]["x"] == "priority"
    table = rebind({"kind": "table", "id": "t", "columns": [{"name": "priority"}, {"name": "gone"}]}, REPORT)
    assert table["columns"] == [{"name": "priority"}] and table["subtotals_by"] is None
    assert rebind({"kind": "kpi", "id": "k", "kpi": {"value": "x"}}, REPORT)["kpi"]["value"] == "tickets"
    assert rebind({"kind": "section", "id": "s", "group_by": "x"}, REPORT)["group_by"] == "priority"


def test_inline_default_uses_a_text_column_of_the_catalog() -> None:
    from portal.data.catalog import Catalog, Column, Source

    cat = Catalog((Source("t", "t", "T", (Column("n", "int"), Column("team", "string"))),))
    data = inline_default(cat)
    assert data is not None and data.binding["query"]["group_by"] == ["team"]
    assert data.columns == ["team", "rows"]


# --------------------------------------------------------------------------- theme lists, diffs, errors
def test_palette_and_pairs_parse_naming_the_field() -> None:
    assert parse_palette("#AABBCC, #112233;#000000") == ["#aabbcc", "#112233", "#000000"]
    with pytest.raises(InvalidSpec) as e:
        parse_palette("#aabbcc, blue")
    assert e.value.message.startswith("palette.1:")
    assert parse_pairs("company = Acme = Inc\n\n phone=1") == {"company": "Acme = Inc", "phone": "1"}
    with pytest.raises(InvalidSpec) as e:
        parse_pairs("ok = 1\nbad line", "variables")
    assert e.value.message.startswith("variables line 2:")
    assert parse_pairs(pairs_text({"a": "1", "b": "x = y"})) == {"a": "1", "b": "x = y"}


def test_diff_html_lists_changes_and_escapes_them() -> None:
    out = diff_html(
        {
            "old_version": 1,
            "new_version": 2,
            "added": ["<img src=x onerror=alert(1)>"],
            "removed": ["r1"],
            "changed": [{"id": "t1", "kind": "title", "props": {"text": {"old": "a", "new": "<script>"}}}],
            "settings": {"theme.accent": {"old": "#000000", "new": "#ffffff"}},
        }
    )
    assert "<img" not in out and "<script>" not in out and "&lt;script&gt;" in out
    assert "Added" in out and "Removed" in out and "Changed title" in out and "theme.accent" in out
    assert "No changes" in diff_html({"old_version": 1, "new_version": 2})


def test_preview_errors_are_escaped() -> None:
    out = errors_html(PreviewResult(errors=[("<u>", "bad <i>", 2)]))
    assert (
        "<u>" not in out
        and "<i>" not in out
        and "&lt;u&gt;" in out
        and "&lt;i&gt;" in out
        and "page 2" in out
    )
    assert "No preview: x &lt;" in errors_html(PreviewResult(failure="x <"))


# --------------------------------------------------------------------------- the preview's data reuse
def test_data_key_ignores_layout_and_text_but_not_bindings() -> None:
    spec = edits.add_element(_spec(), 0, edits.new_element(_spec(), "chart", 0, REPORT))
    key = data_key(spec)
    assert data_key(edits.update_element(spec, "title1", {"text": "Other"})) == key
    assert data_key(edits.update_element(spec, "chart1", {"box.x": 40})) == key
    assert data_key(edits.update_element(spec, "chart1", {"binding": {"report_id": 8}})) != key
    assert data_key(edits.update_template(spec, {"variables": {"note": "x"}})) != key
    assert data_key(edits.update_template(spec, {"name": "Renamed"})) != key  # {{template.name}}


def test_input_cache_keeps_one_entry_for_a_while() -> None:
    cache = InputCache(ttl=60)
    inputs = object()
    cache.put("a", inputs)  # type: ignore[arg-type]
    assert cache.get("a") is inputs and cache.get("b") is None
    assert InputCache(ttl=0).get("a") is None


def test_designer_address() -> None:
    from pages.designer import template_id_arg

    assert template_id_arg({}) is None
    assert template_id_arg({"id": [b"12"]}) == 12
    assert template_id_arg({"id": [b"12"], "new": [b"1"]}) is None
    assert template_id_arg({"id": [b"abc"]}) == 0
    assert template_id_arg({"id": [b"9" * 30]}) == 0


# --------------------------------------------------------------------------- the preview worker
def test_latest_worker_debounces_and_the_latest_request_wins() -> None:
    done: list[tuple[int, int]] = []
    finished = threading.Event()

    def deliver(gen: int, result: int) -> None:
        done.append((gen, result))
        if result == 3:
            finished.set()

    w: LatestWorker[int, int] = LatestWorker(lambda x: x, deliver, delay=0.05)
    for x in (1, 2, 3):
        w.request(x)
    assert finished.wait(5)
    # The first edit after a quiet spell may start at once (if the thread picks it up before the
    # next arrives); within the burst only the latest is worked on: 2 never is.
    assert done[-1] == (3, 3)
    assert done in ([(3, 3)], [(1, 1), (3, 3)])
    w.stop()


def test_latest_worker_runs_one_at_a_time_and_survives_a_failing_render() -> None:
    running, overlap, seen = [0], [False], []
    finished = threading.Event()

    def work(x: int) -> int:
        running[0] += 1
        overlap[0] |= running[0] > 1
        time.sleep(0.05)
        running[0] -= 1
        if x == 1:
            raise RuntimeError("boom")
        return x

    def deliver(gen: int, result: int) -> None:
        seen.append(result)
        if result == 3:
            finished.set()

    w: LatestWorker[int, int] = LatestWorker(work, deliver, delay=0.0)
    w.request(1)
    time.sleep(0.02)
    w.request(2)
    time.sleep(0.1)
    w.request(3)
    assert finished.wait(5)
    assert not overlap[0] and 1 not in seen and seen[-1] == 3
    w.stop()
