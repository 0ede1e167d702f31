"""Which stored specs read a source: any ``{"source": name}`` at any depth, nothing else."""

from __future__ import annotations

from portal.ingest.dependants import mentions


def test_a_query_anywhere_in_a_spec_is_found() -> None:
    assert mentions({"source": "sales", "metrics": []}, "sales")
    pdf = {"pages": [{"elements": [{"kind": "section", "children": [{"binding": {"query": {"source": "sales"}}}]}]}]}
    assert mentions(pdf, "sales")
    assert mentions([None, {"per_day": {"source": "sales"}}], "sales")


def test_other_sources_and_look_alikes_are_not() -> None:
    assert not mentions({"source": "sales_2024"}, "sales")
    assert not mentions({"title": "sales", "text": "source: sales", "sources": ["sales"]}, "sales")
    assert not mentions({"binding": {"report_id": 3}}, "sales")
    assert not mentions(None, "sales") and not mentions("sales", "sales")
