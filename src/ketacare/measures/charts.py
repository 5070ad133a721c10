"""Symptom-score trends as SVG, drawn server-side by matplotlib (its SVG backend; no GUI, no pyplot).

Pure: values in, an SVG string out; no ORM and no request. The instrument's own data decides what
is drawn (clinical knowledge is data): its severity bands (shaded and labelled), the PCL-5 cut-off
range, the response line (the first stored response definition, e.g. >= 50 % below the baseline,
where the baseline is the first valid response) and the remission line (the first stored remission
definition; MADRS stores two and the first, <= 12, is drawn and named in the legend).

An incomplete (invalid) response has no total: the line breaks there and a cross on the date axis
marks it. `markers` (date, label) are drawn as labelled vertical ticks, for treatment sessions later.

Output is deterministic: ids come from the `chart_id` (clip paths from matplotlib's hash salt,
element groups from our `gid`s), and no date or tool version is written into the file. Text stays
text (`svg.fonttype: none`), so the page's own fonts are used and nothing is fetched.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import re
import threading
from collections.abc import Sequence
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")  # never a GUI backend, whatever the environment says

import matplotlib.dates as mdates
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory

from ketacare.measures.definitions import Instrument, OutcomeDefinition

# Light tints, mildest band first; text on them stays well above 4.5:1 contrast.
BAND_TINTS = ("#e6f2e8", "#eef4dc", "#fbf1d4", "#fbe4d0", "#f7d8d8", "#f2cdd6")
CUTOFF_TINT = "#f6dcc4"
LINE_COLOUR = "#1d6a85"
RESPONSE_COLOUR = "#8a4b08"
REMISSION_COLOUR = "#1f6b33"
INVALID_COLOUR = "#912018"
MARKER_COLOUR = "#4a5560"
TEXT_COLOUR = "#2b3338"

# matplotlib's rcParams are process-wide; one chart at a time keeps a salt from leaking to another.
_LOCK = threading.Lock()
_ID = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclasses.dataclass(frozen=True)
class ChartPoint:
    """One response: its date (in the clinic's zone), total (None when invalid) and validity."""

    day: datetime.date
    total: int | None
    valid: bool


@dataclasses.dataclass(frozen=True)
class Reference:
    """A horizontal line: where, what it means, and the stored definition it comes from."""

    y: float
    label: str
    definition: OutcomeDefinition


@dataclasses.dataclass(frozen=True)
class TrendLines:
    baseline: ChartPoint | None
    response: Reference | None
    remission: Reference | None


def first_definition(instrument: Instrument, kind: str) -> OutcomeDefinition | None:
    found = instrument.definitions(kind)
    return found[0] if found else None


def _num(day: datetime.date) -> float:
    """A date as matplotlib's x value."""
    return float(mdates.date2num(day))  # type: ignore[no-untyped-call]


def _number(value: float) -> str:
    return f"{value:g}"


def remission_text(definition: OutcomeDefinition) -> str:
    op = "<" if definition.rule == "total_below" else "≤"
    return f"total {op} {definition.value}"


def response_text(definition: OutcomeDefinition) -> str:
    return f"≥ {definition.value} % below baseline"


def trend_lines(instrument: Instrument, points: Sequence[ChartPoint]) -> TrendLines:
    """The baseline (first valid response) and the response and remission lines for these points."""
    ordered = sorted(points, key=lambda p: p.day)
    baseline = next((p for p in ordered if p.valid and p.total is not None), None)
    response = None
    definition = first_definition(instrument, "response")
    if definition is not None and baseline is not None and baseline.total:
        y = baseline.total * (100 - definition.value) / 100
        response = Reference(
            y, f"Response: {response_text(definition)} ({baseline.total}) → ≤ {_number(y)}", definition
        )
    remission = None
    definition = first_definition(instrument, "remission")
    if definition is not None:
        remission = Reference(float(definition.value), f"Remission: {remission_text(definition)}", definition)
    return TrendLines(baseline, response, remission)


def describe(
    instrument: Instrument,
    points: Sequence[ChartPoint],
    markers: Sequence[tuple[datetime.date, str]] = (),
) -> str:
    """The chart in words, for its <desc> (screen readers) and anyone who cannot see it."""
    ordered = sorted(points, key=lambda p: p.day)
    valid = [p for p in ordered if p.valid and p.total is not None]
    invalid = [p for p in ordered if not p.valid]
    s = instrument.scoring
    parts = [f"{len(ordered)} {instrument.abbreviation} responses"]
    if ordered:
        parts[0] += f" from {ordered[0].day.isoformat()} to {ordered[-1].day.isoformat()}"
    parts[0] += f"; totals range {s.total_min}–{s.total_max}."
    if valid:
        parts.append(
            f"Baseline {valid[0].total} on {valid[0].day.isoformat()}; latest {valid[-1].total} "
            f"on {valid[-1].day.isoformat()}."
        )
        parts.append("Totals in order: " + ", ".join(f"{p.day.isoformat()} {p.total}" for p in valid) + ".")
    lines = trend_lines(instrument, points)
    if lines.response is not None:
        parts.append(f"{lines.response.label}.")
    if lines.remission is not None:
        parts.append(f"{lines.remission.label}.")
    if s.bands:
        parts.append("Severity bands: " + "; ".join(f"{b.label} {b.min}–{b.max}" for b in s.bands) + ".")
    if s.cutoff is not None:
        parts.append(f"{s.cutoff.label}: {s.cutoff.low}–{s.cutoff.high}.")
    if invalid:
        parts.append(f"{len(invalid)} incomplete, not scored: " + ", ".join(p.day.isoformat() for p in invalid) + ".")
    if markers:
        parts.append("Markers: " + "; ".join(f"{d.isoformat()} {label}" for d, label in markers) + ".")
    return " ".join(parts)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _x_limits(days: list[datetime.date]) -> tuple[float, float]:
    first, last = min(days), max(days)
    span = max((last - first).days, 14)
    pad = datetime.timedelta(days=max(2, span // 20))
    if (last - first).days < 14:
        middle = first + (last - first) / 2
        first, last = middle - datetime.timedelta(days=7), middle + datetime.timedelta(days=7)
    return _num(first - pad), _num(last + pad)


def trend_svg(
    instrument: Instrument,
    points: Sequence[ChartPoint],
    *,
    chart_id: str,
    title: str | None = None,
    markers: Sequence[tuple[datetime.date, str]] = (),
) -> str:
    """One instrument's totals over time as an accessible, deterministic SVG document fragment.

    `chart_id` (lower-case letters, digits, hyphens, underscores) prefixes every id in the SVG, so several charts
    can sit on one page. Raises ValueError for an instrument without totals (C-SSRS).
    """
    if not _ID.match(chart_id):
        raise ValueError(f"chart id {chart_id!r}: use lower-case letters, digits, hyphens and underscores")
    s = instrument.scoring
    if s.total_min is None or s.total_max is None:
        raise ValueError(f"{instrument.code} has no total to chart")
    title = title or f"{instrument.abbreviation} total over time"
    ordered = sorted(points, key=lambda p: p.day)
    lines = trend_lines(instrument, ordered)
    with _LOCK, matplotlib.rc_context(cast(Any, _RC | {"svg.hashsalt": chart_id})):
        fig = Figure(figsize=(7.2, 3.4), dpi=72)
        FigureCanvasSVG(fig)
        ax = fig.add_axes((0.075, 0.25, 0.9, 0.7))
        ax.patch.set_gid("plot-area")
        _draw(ax, instrument, ordered, lines, chart_id, markers)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return _accessible(buffer.getvalue(), chart_id, title, describe(instrument, ordered, markers))


_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "svg.image_inline": True,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 10,
    "text.color": TEXT_COLOUR,
    "axes.edgecolor": "#8a969f",
    "axes.labelcolor": TEXT_COLOUR,
    "xtick.color": TEXT_COLOUR,
    "ytick.color": TEXT_COLOUR,
    "path.simplify": False,
}


def _draw(
    ax: Any,
    instrument: Instrument,
    ordered: list[ChartPoint],
    lines: TrendLines,
    chart_id: str,
    markers: Sequence[tuple[datetime.date, str]],
) -> None:
    s = instrument.scoring
    low, high = s.total_min or 0, s.total_max or 0  # both set: checked by the caller
    ax.set_ylim(low, high)
    x_right = ax.get_xaxis_transform()  # x in axes fraction below, y in data
    band_text = blended_transform_factory(ax.transAxes, ax.transData)
    legend: list[Any] = []
    tints = BAND_TINTS if len(s.bands) <= len(BAND_TINTS) else BAND_TINTS * len(s.bands)
    for index, band in enumerate(s.bands):
        bottom = max(low, band.min - 0.5)
        top = min(high, band.max + 0.5)
        ax.axhspan(bottom, top, color=tints[index], zorder=0, linewidth=0, gid=f"band-{band.code}")
        ax.text(
            0.995,
            (bottom + top) / 2,
            band.label,
            transform=band_text,
            ha="right",
            va="center",
            fontsize=9.5,
            color="#3d454c",
            zorder=1,
            gid=f"band-label-{band.code}",
        )
    if s.cutoff is not None:
        c = s.cutoff
        ax.axhspan(c.low - 0.5, c.high + 0.5, color=CUTOFF_TINT, zorder=0, linewidth=0, gid="cutoff")
        ax.text(
            0.995,
            c.high + 1,
            f"{c.label} {c.low}–{c.high}",
            transform=band_text,
            ha="right",
            va="bottom",
            fontsize=9.5,
            color="#3d454c",
            gid="cutoff-label",
        )
        legend.append(Patch(color=CUTOFF_TINT, label=f"Cut-off range {c.low}–{c.high}"))
    if lines.response is not None:
        ax.axhline(
            lines.response.y,
            color=RESPONSE_COLOUR,
            linestyle=(0, (6, 3)),
            linewidth=1.6,
            zorder=2,
            gid="response-line",
        )
        legend.append(
            Line2D([], [], color=RESPONSE_COLOUR, linestyle=(0, (6, 3)), linewidth=1.6, label=lines.response.label)
        )
    if lines.remission is not None:
        ax.axhline(
            lines.remission.y,
            color=REMISSION_COLOUR,
            linestyle=(0, (1.5, 2)),
            linewidth=2,
            zorder=2,
            gid="remission-line",
        )
        legend.append(
            Line2D([], [], color=REMISSION_COLOUR, linestyle=(0, (1.5, 2)), linewidth=2, label=lines.remission.label)
        )
    days = [p.day for p in ordered] + [d for d, _ in markers]
    if days:
        ax.set_xlim(*_x_limits(days))
    # The line breaks at an invalid response (NaN) and a cross on the date axis marks it.
    xs = [_num(p.day) for p in ordered]
    ys = [float(p.total) if p.valid and p.total is not None else float("nan") for p in ordered]
    if ordered:
        ax.plot(
            xs,
            ys,
            color=LINE_COLOUR,
            linewidth=2.2,
            marker="o",
            markersize=6,
            markerfacecolor="#ffffff",
            markeredgewidth=2,
            zorder=4,
            gid="trend",
            clip_on=False,
        )
        legend.insert(
            0,
            Line2D([], [], color=LINE_COLOUR, linewidth=2.2, marker="o", markerfacecolor="#fff", label="Total"),
        )
    invalid = [x for x, p in zip(xs, ordered, strict=True) if not p.valid]
    if invalid:
        ax.plot(
            invalid,
            [0.0] * len(invalid),
            transform=x_right,
            linestyle="none",
            marker="X",
            markersize=9,
            color=INVALID_COLOUR,
            clip_on=False,
            zorder=5,
            gid="invalid",
        )
        legend.append(
            Line2D([], [], linestyle="none", marker="X", color=INVALID_COLOUR, label="Incomplete: not scored")
        )
    for index, (day, label) in enumerate(markers):
        x = _num(day)
        ax.axvline(x, ymin=0.9, ymax=1.0, color=MARKER_COLOUR, linewidth=1.5, zorder=3, gid=f"marker-{index}")
        ax.text(x, 0.89, label, transform=x_right, ha="center", va="top", fontsize=7.5, color=MARKER_COLOUR)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))  # type: ignore[no-untyped-call]
    ax.tick_params(labelsize=10)
    ax.set_ylabel("Total", fontsize=10)
    ax.grid(axis="y", color="#ffffff", linewidth=0.8, zorder=1)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if legend:
        ax.legend(
            handles=legend,
            loc="upper left",
            bbox_to_anchor=(0.0, -0.12),
            ncols=min(2, len(legend)),
            frameon=False,
            fontsize=9.5,
            handlelength=2.4,
        )


def _accessible(svg: str, chart_id: str, title: str, desc: str) -> str:
    """Drop the XML prologue and fixed size; add role, <title> and <desc> so the chart is labelled."""
    start = svg.index("<svg")
    svg = svg[start:]
    head_end = svg.index(">")
    head = svg[:head_end]
    head = re.sub(r'\s(width|height)="[^"]*"', "", head)
    head += (
        f' class="kc-trend" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc"'
        f' preserveAspectRatio="xMinYMin meet"'
    )
    body = svg[head_end + 1 :]
    body = re.sub(r"<metadata>.*?</metadata>\s*", "", body, flags=re.S)
    # Every id carries the chart's prefix, so two charts on one page never share one.
    body = re.sub(r'\bid="([^"]+)"', rf'id="{chart_id}-\1"', body)
    body = re.sub(r"url\(#([^)]+)\)", rf"url(#{chart_id}-\1)", body)
    body = re.sub(r'href="#([^"]+)"', rf'href="#{chart_id}-\1"', body)
    return (
        f'{head}><title id="{chart_id}-title">{_escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{_escape(desc)}</desc>{body}'
    ).strip()
