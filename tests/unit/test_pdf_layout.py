"""Flow and pagination logic (reports_pdf.layout): pure numbers, no PDF."""

from __future__ import annotations

from reports_pdf.layout import Anchor, Area, Flow, Slot

AREA = Area(top=30.0, bottom=270.0)


def page_flow() -> Flow:
    return Flow(Anchor(1, 0.0), AREA, pinned=True)


def test_elements_without_growth_stay_where_designed() -> None:
    flow = page_flow()
    assert flow.place(40, 20) == Slot(1, 40)
    # Pinned elements are drawn where the designer put them, even past the area's bottom.
    assert flow.place(260, 30) == Slot(1, 260)


def test_growth_pushes_down_only_the_elements_below_the_grown_box() -> None:
    flow = page_flow()
    table = flow.place(50, 40)  # box 50..90
    flow.grew(90, Slot(table.page, 150))  # really ended at 150: 60 mm of growth
    # Beside the table (starts above its box bottom): unchanged.
    assert flow.place(60, 20) == Slot(1, 60)
    # Below it: moved by the growth, keeping the designed gap.
    assert flow.place(100, 20) == Slot(1, 160)


def test_growth_over_pages_moves_the_rest_to_the_end_page() -> None:
    flow = page_flow()
    flow.place(50, 40)
    flow.grew(90, Slot(3, 120))
    assert flow.place(95, 10) == Slot(3, 125)
    assert flow.last_page == 3


def test_a_moved_element_that_does_not_fit_starts_the_next_page_and_the_rest_follow() -> None:
    flow = page_flow()
    flow.grew(90, Slot(1, 200))  # 110 mm of growth
    chart = flow.place(100, 80)  # would span 210..290, past the bottom
    assert chart == Slot(2, AREA.top)
    # An element 10 mm below the chart's top keeps its distance on the new page.
    assert flow.place(110, 5) == Slot(2, AREA.top + 10)


def test_shorter_elements_never_pull_others_up() -> None:
    flow = page_flow()
    flow.grew(90, Slot(1, 70))
    assert flow.place(100, 10) == Slot(1, 100)


def test_page_break_sends_everything_below_to_the_next_page() -> None:
    flow = page_flow()
    flow.page_break(150)
    assert flow.place(100, 10) == Slot(1, 100)
    assert flow.place(150, 10) == Slot(2, AREA.top)
    assert flow.place(170, 10) == Slot(2, AREA.top + 20)


def test_the_furthest_growth_wins() -> None:
    flow = page_flow()
    flow.grew(90, Slot(1, 120))  # +30
    flow.grew(90, Slot(2, 60))  # a side-by-side table that ran to the next page
    assert flow.place(100, 10) == Slot(2, 70)


def test_band_flows_are_not_pinned_and_report_their_extent() -> None:
    band = Flow(Anchor(4, 200.0), AREA, pinned=False)
    first = band.place(10, 30)  # 210..240 fits
    assert first == Slot(4, 210)
    band.reach(Slot(4, 240))
    second = band.place(45, 40)  # 245..285 does not fit: next page
    assert second == Slot(5, AREA.top)
    band.reach(Slot(5, AREA.top + 40))
    assert band.extent(50) == Slot(5, AREA.top + 40)
    assert band.extent(100) == Slot(5, AREA.top + 55)
