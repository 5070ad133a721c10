"""Trend charts (measures/charts.py): pure values in, deterministic and accessible SVG out."""

from __future__ import annotations

import datetime
import re

import pytest

from ketacare.measures.charts import ChartPoint, describe, trend_lines, trend_svg
from ketacare.measures.definitions import get_instrument

DAY = datetime.date(2026, 1, 5)


def points(*totals: int | None) -> list[ChartPoint]:
    return [ChartPoint(DAY + datetime.timedelta(days=10 * i), t, t is not None) for i, t in enumerate(totals)]


def group(svg: str, gid: str) -> str:
    match = re.search(rf'<g id="{gid}">(.*?)</g>', svg, re.S)
    assert match, f"no group {gid}"
    return match.group(1)


def ys(path_group: str) -> list[float]:
    d = re.search(r'd="([^"]+)"', path_group)
    assert d
    return [float(y) for y in re.findall(r"[ML] [-\d.]+ ([-\d.]+)", d.group(1))]


def pixel_y(svg: str, chart_id: str, value: float, low: float, high: float) -> float:
    """Where `value` should be drawn: from the plot area's top and bottom edges in the SVG."""
    area = ys(group(svg, f"{chart_id}-plot-area"))
    bottom, top = max(area), min(area)
    return bottom - (value - low) / (high - low) * (bottom - top)


def test_phq9_bands_lines_title_and_desc():
    svg = trend_svg(get_instrument("phq9"), points(20, 16, 12, 8, 4), chart_id="t")
    for band in ("minimal", "mild", "moderate", "moderately_severe", "severe"):
        assert f'id="t-band-{band}"' in svg
    assert "Moderately severe" in svg  # band labels are text
    assert svg.startswith("<svg")
    assert 'role="img"' in svg
    assert 'aria-labelledby="t-title t-desc"' in svg
    assert '<title id="t-title">PHQ-9 total over time</title>' in svg
    desc = re.search(r'<desc id="t-desc">(.*?)</desc>', svg, re.S)
    assert desc
    assert "Baseline 20 on 2026-01-05; latest 4" in desc.group(1)
    assert "Remission: total &lt; 5" in desc.group(1)


def test_response_and_remission_lines_at_the_right_height():
    # PHQ-9: response is >= 50 % below the baseline (the first valid response, 20) -> 10;
    # remission is a total below 5 (clinical.md 3.11).
    svg = trend_svg(get_instrument("phq9"), points(None, 20, 14, 9), chart_id="t")
    response = ys(group(svg, "t-response-line"))
    remission = ys(group(svg, "t-remission-line"))
    assert response[0] == pytest.approx(pixel_y(svg, "t", 10, 0, 27), abs=0.01)
    assert remission[0] == pytest.approx(pixel_y(svg, "t", 5, 0, 27), abs=0.01)
    assert len(set(response)) == 1  # horizontal


def test_baseline_is_the_first_valid_response():
    lines = trend_lines(get_instrument("phq9"), points(None, 18, 10))
    assert lines.baseline is not None
    assert lines.baseline.total == 18
    assert lines.response is not None
    assert lines.response.y == 9
    assert lines.response.definition.id == "response_50pct"


def test_madrs_draws_the_first_remission_definition_and_names_it():
    inst = get_instrument("madrs")
    lines = trend_lines(inst, points(30, 20))
    assert lines.remission is not None
    assert lines.remission.definition.id == inst.definitions("remission")[0].id == "remission_at_most_12"
    svg = trend_svg(inst, points(30, 20), chart_id="m")
    assert "Remission: total ≤ 12" in svg
    assert ys(group(svg, "m-remission-line"))[0] == pytest.approx(pixel_y(svg, "m", 12, 0, 60), abs=0.01)


def test_pcl5_has_no_bands_but_its_cutoff_range():
    svg = trend_svg(get_instrument("pcl5"), points(50, 40), chart_id="p")
    assert "-band-" not in svg
    assert 'id="p-cutoff"' in svg
    assert "31–33" in svg
    assert "response-line" not in svg  # PCL-5 stores no response definition


def test_cadss_has_neither_bands_nor_lines():
    svg = trend_svg(get_instrument("cadss"), points(10, 4), chart_id="c")
    assert "-band-" not in svg
    assert "cutoff" not in svg
    assert "remission-line" not in svg


def test_invalid_responses_are_gaps_and_marked():
    svg = trend_svg(get_instrument("phq9"), points(20, None, 12), chart_id="t")
    trend = group(svg, "t-trend")
    d = re.search(r'd="([^"]+)"', trend)
    assert d
    # Two moves: the line is broken at the invalid response.
    assert d.group(1).count("M") == 2
    assert 'id="t-invalid"' in svg
    assert "1 incomplete, not scored: 2026-01-15" in svg


def test_markers_are_drawn_and_described():
    svg = trend_svg(
        get_instrument("phq9"), points(20, 12), chart_id="t", markers=[(datetime.date(2026, 1, 8), "Infusion 1")]
    )
    assert 'id="t-marker-0"' in svg
    assert "Infusion 1" in svg
    assert "Markers: 2026-01-08 Infusion 1." in describe(
        get_instrument("phq9"), points(20, 12), [(datetime.date(2026, 1, 8), "Infusion 1")]
    )
    assert "marker-" not in trend_svg(get_instrument("phq9"), points(20, 12), chart_id="t")


def test_output_is_deterministic_and_ids_are_prefixed():
    a = trend_svg(get_instrument("gad7"), points(15, 9, 4), chart_id="gad7")
    b = trend_svg(get_instrument("gad7"), points(15, 9, 4), chart_id="gad7")
    assert a == b
    ids = re.findall(r'\bid="([^"]+)"', a)
    assert all(i.startswith("gad7-") for i in ids)
    assert len(ids) == len(set(ids))
    refs = re.findall(r"url\(#([^)]+)\)", a)
    assert refs
    assert all(r in ids for r in refs)
    # Nothing from the network, no date stamp.
    assert "http://www.w3.org" in a
    assert "https://" not in a
    assert "<metadata>" not in a
    assert "@font-face" not in a


def test_single_point_and_no_points():
    assert "<svg" in trend_svg(get_instrument("phq9"), points(12), chart_id="one")
    assert "<svg" in trend_svg(get_instrument("phq9"), [], chart_id="empty")


def test_refuses_an_instrument_without_totals_and_a_bad_id():
    with pytest.raises(ValueError, match="no total"):
        trend_svg(get_instrument("cssrs_screen"), [], chart_id="x")
    with pytest.raises(ValueError, match="chart id"):
        trend_svg(get_instrument("phq9"), [], chart_id='x" onload="')
