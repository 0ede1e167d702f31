"""Static chart export through plotly + Kaleido + Chromium: every viz as PNG, SVG, and the export speed."""

from __future__ import annotations

import os
import shutil
import struct
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from portal.specs import VIZ_TYPES, ChartSpec
from portal.viz import charts


@pytest.fixture(autouse=True, scope="module")
def _chromium_present():
    # A missing browser is a broken setup, not a reason to skip the PNG export tests.
    found = os.environ.get("BROWSER_PATH") or any(
        shutil.which(b) for b in ("chromium", "google-chrome", "chrome")
    )
    assert found, "Kaleido needs Chromium: run the README test command (it installs chromium via apt-get)"


OUT = Path("/tmp/charts")


def frame_for(viz: str) -> tuple[ChartSpec, pd.DataFrame]:
    rng = np.random.default_rng(7)
    if viz in ("line", "area"):
        days = pd.date_range("2024-03-01", periods=30, freq="D")
        rows = [(d, c, int(rng.integers(20, 90))) for d in days for c in ("email", "phone", "web", "chat")]
        df = pd.DataFrame(rows, columns=["opened_at", "channel", "tickets"])
        return ChartSpec(
            viz=viz,
            x="opened_at",
            y=["tickets"],
            series="channel",
            stacked=viz == "area",
            title=f"Daily tickets by channel ({viz})",
        ), df
    if viz == "heatmap":
        rows = [
            (d, h, float(rng.gamma(2, 3))) for d in ("Mon", "Tue", "Wed", "Thu", "Fri") for h in range(24)
        ]
        df = pd.DataFrame(rows, columns=["weekday", "hour_of_day", "avg_minutes"])
        return ChartSpec(
            viz=viz,
            x="hour_of_day",
            y=["avg_minutes"],
            series="weekday",
            title="First response (min) by hour",
        ), df
    teams = ["Field Ops North", "Field Ops South", "Help Desk", "Network", "Facilities"]
    rows = [(t, p, int(rng.integers(5, 120))) for t in teams for p in ("critical", "high", "normal")]
    df = pd.DataFrame(rows, columns=["team_name", "priority", "tickets"])
    series = "priority" if viz in ("bar", "column", "treemap") else None
    return ChartSpec(
        viz=viz,
        x="team_name",
        y=["tickets"],
        series=series,
        stacked=viz == "bar",
        title=f"Tickets by team ({viz})",
    ), df


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module", autouse=True)
def warm_kaleido() -> None:
    # The first export starts Chromium (seconds); the tests measure the steady state.
    spec, df = frame_for("column")
    charts.to_png(spec, df, width=300, scale=1)


@pytest.mark.parametrize("viz", VIZ_TYPES)
def test_png_of_every_viz(viz):
    spec, df = frame_for(viz)
    png = charts.to_png(spec, df, width=900, scale=2)
    assert png_size(png) == (1800, spec.height * 2)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{viz}.png").write_bytes(png)


def test_png_size_options_and_empty_frame():
    spec, df = frame_for("line")
    assert png_size(charts.to_png(spec, df, width=400, height=250, scale=1)) == (400, 250)
    assert png_size(charts.to_png(spec, df.iloc[0:0], width=400, scale=1)) == (400, spec.height)


@pytest.mark.parametrize("viz", ["column", "donut", "treemap"])
def test_svg_export(viz):
    spec, df = frame_for(viz)
    svg = charts.to_svg(spec, df, width=600)
    assert svg.lstrip().startswith(b"<svg") and b"</svg>" in svg[-200:]
    assert spec.title.encode() in svg


def test_export_speed_after_warm_up():
    specs = [frame_for(v) for v in VIZ_TYPES]
    assert len(specs) == 8
    start = time.perf_counter()
    for spec, df in specs:
        charts.to_png(spec, df, width=900, scale=2)
    took = time.perf_counter() - start
    print(
        f"\n8 chart PNGs (900x{'/'.join(str(s.height) for s, _ in specs[:1])} @2x) after warm-up: "
        f"{took:.2f} s, {took / 8 * 1000:.0f} ms/chart"
    )


def test_missing_chromium_raises_instead_of_hanging(tmp_path):
    import subprocess
    import sys

    code = (
        "import pandas as pd\n"
        "from portal.viz import charts\n"
        "from portal.specs import ChartSpec\n"
        "df = pd.DataFrame({'a': ['x'], 'n': [1]})\n"
        "try:\n"
        "    charts.to_png(ChartSpec(viz='column', x='a', y=['n']), df)\n"
        "except RuntimeError as exc:\n"
        "    print('raised:', exc)\n"
    )
    env = {**os.environ, "BROWSER_PATH": str(tmp_path / "no-such-chromium")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "raised: Kaleido could not start Chromium" in done.stdout, done.stderr[-2000:]
