"""``report.html``: one self-contained page of charts over an export (matplotlib SVG, inline).

No scripts, fonts, styles or images from elsewhere: every glyph is an SVG path, so the page looks
the same offline in any browser. The SVG carries no date and fixed ids, so an unchanged store gives
the same bytes. Labels from the site are drawn as written, never parsed as maths (a tag ``$\\foo$``);
a chart that cannot be drawn all the same is a WARNING and a note in its place, never a failed export.
"""

from __future__ import annotations

import html
import io
import logging
import re
import warnings
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mayadeen.export.escape import chart_label
from mayadeen.export.profile import Profile, week_of

logger = logging.getLogger(__name__)

TOP = 15
MAX_WEEKS = 104
MAX_RUNS = 200
_RC = {
    "svg.hashsalt": "mayadeen",
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "text.parse_math": False,
    "text.usetex": False,
}
#: Legends go above the axes, in a row, so they never cover a bar.
_LEGEND = {"loc": "lower left", "bbox_to_anchor": (0, 1.02), "fontsize": 8, "frameon": False}
_HEAD = re.compile(r"^.*?(?=<svg)", re.S)


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    return _HEAD.sub("", buffer.getvalue(), count=1)


def _figure(height: float = 3.2) -> tuple[Figure, Any]:
    fig = Figure(figsize=(9, height))
    return fig, fig.add_subplot()


def _empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what}", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _counts_on(axis) -> None:
    """Whole numbers only on an axis of counts (no "0.5 items")."""
    axis.set_major_locator(MaxNLocator(integer=True))


def _not_drawn(anchor: str, exc: Exception) -> Figure:
    logger.warning(
        "report.html: the %s chart could not be drawn (%s: %s); the export goes on without it",
        anchor,
        type(exc).__name__,
        exc,
    )
    fig, ax = _figure(1.0)
    _empty(ax, "chart: it could not be drawn from this data")
    return fig


def _periods(first: str, last: str) -> tuple[str, list[str], Callable[[str], str]]:
    """Bars for the days ``first``..``last``: weeks (by their Monday) up to MAX_WEEKS of them, else
    months. Returns the unit, every period's label in order, and day → label."""
    start, end = date.fromisoformat(week_of(first)), date.fromisoformat(week_of(last))
    weeks = (end - start).days // 7 + 1
    if weeks <= MAX_WEEKS:
        return "week", [(start + timedelta(weeks=i)).isoformat() for i in range(weeks)], week_of
    first_month, last_month = (int(d[:4]) * 12 + int(d[5:7]) - 1 for d in (first, last))
    months = [f"{n // 12:04d}-{n % 12 + 1:02d}" for n in range(first_month, last_month + 1)]
    return "month", months, lambda day: day[:7]


def _time_bars(ax, series: dict[str, Counter], first: str, last: str, ylabel: str) -> None:
    """Stacked bars of day counts per period, one colour per series."""
    unit, labels, period = _periods(first, last)
    bottom = [0] * len(labels)
    for name, days in series.items():
        per_period: Counter[str] = Counter()
        for day, count in days.items():
            per_period[period(day)] += count
        heights = [per_period[label] for label in labels]
        # Only the periods that have some: a zero-height bar draws nothing and costs a patch (a few
        # items over two years were ~550 of them, most of a small export's time).
        drawn = [i for i, height in enumerate(heights) if height]
        ax.bar(
            drawn, [heights[i] for i in drawn], bottom=[bottom[i] for i in drawn], label=chart_label(name), width=0.85
        )
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_xlim(-0.5, len(labels) - 0.5)  # every period, whether it has a bar or not
    step = max(1, len(labels) // 12)
    ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=30, ha="right")
    ax.set_ylabel(f"{ylabel} per {unit}")
    _counts_on(ax.yaxis)


def items_per_period(profile: Profile) -> Figure:
    fig, ax = _figure()
    if not profile.items:
        _empty(ax, "items")
        return fig
    series: dict[str, Counter] = {}
    for (day, group), count in sorted(profile.days.items()):
        series.setdefault(group, Counter())[day] += count
    _time_bars(ax, dict(sorted(series.items())), profile.first, profile.last, "items published")
    ax.legend(title="section group", ncols=len(series), **_LEGEND)
    return fig


def top_counts(counter: Counter, what: str) -> Figure:
    top = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    fig, ax = _figure(0.8 + 0.22 * max(len(top), 3))
    if not top:
        _empty(ax, what)
        return fig
    names, counts = zip(*reversed(top), strict=True)
    ax.barh(range(len(top)), counts)
    ax.set_yticks(range(len(top)), [chart_label(n) for n in names])
    ax.set_xlabel("items")
    _counts_on(ax.xaxis)
    return fig


def body_lengths(profile: Profile) -> Figure:
    fig, ax = _figure()
    if not profile.items:
        _empty(ax, "items")
        return fig
    values, weights = zip(*sorted(profile.word_counts.items()), strict=True)
    ax.hist(values, bins=min(40, max(5, len(values))), weights=weights)
    ax.set_xlabel("words in the body")
    ax.set_ylabel("items")
    _counts_on(ax.yaxis)
    return fig


def revisions_over_time(by_day: list[tuple[str, int]]) -> Figure:
    fig, ax = _figure()
    if not by_day:
        _empty(ax, "edits after publication seen yet")
        return fig
    _time_bars(ax, {"edits": Counter(dict(by_day))}, by_day[0][0], by_day[-1][0], "items found edited")
    return fig


def _mean_coverage(run: dict[str, Any]) -> float | None:
    """Mean field coverage of a run, in %; None when it stored no item (nothing to measure: not 0 %)."""
    shares = (run.get("coverage") or {}).get("fields") or {}
    if not shares or not (run["items_new"] or run["items_updated"]):
        return None
    return 100 * sum(shares.values()) / len(shares)


def crawl_health(runs: list[dict[str, Any]]) -> Figure:
    """Stacked bars of new, updated and errors per run; a mark under a run that stored nothing; the
    mean field coverage of the runs that stored items, on its own axis."""
    fig, ax = _figure()
    runs = runs[-MAX_RUNS:]
    if not runs:
        _empty(ax, "crawl runs")
        return fig
    x = range(len(runs))
    new = [r["items_new"] or 0 for r in runs]
    updated = [r["items_updated"] or 0 for r in runs]
    errors = [r["errors"] or 0 for r in runs]
    handles = [
        ax.bar(x, new, label="new", width=0.8),
        ax.bar(x, updated, bottom=new, label="updated", width=0.8),
        ax.bar(
            x,
            errors,
            bottom=[a + b for a, b in zip(new, updated, strict=True)],
            label="errors",
            width=0.8,
            color="tab:red",
        ),
    ]
    idle = [i for i in x if not new[i] and not updated[i]]
    if idle:
        handles += ax.plot(
            idle,
            [0] * len(idle),
            linestyle="none",
            marker="^",
            markersize=7,
            color="tab:gray",
            clip_on=False,
            label="nothing new stored",
        )
    ax.set_ylabel("items / errors")
    _counts_on(ax.yaxis)
    ax.set_ylim(bottom=0)
    ax.set_xlim(-0.6, max(len(runs), 8) - 0.4)  # a few runs: narrow bars, not one wide block
    step = max(1, len(runs) // 12)
    ax.set_xticks(
        list(x)[::step], [chart_label(f"#{r['id']} {r['spider']}") for r in runs][::step], rotation=30, ha="right"
    )
    measured = [(i, c) for i, c in zip(x, map(_mean_coverage, runs), strict=True) if c is not None]
    if measured:
        twin = ax.twinx()
        handles += twin.plot(*zip(*measured, strict=True), "k.-", label="mean field coverage (runs that stored items)")
        twin.set_ylim(0, 105)
        twin.set_ylabel("mean field coverage, %")
    ax.legend(handles=handles, ncols=len(handles), **_LEGEND)
    return fig


def _chart_svg(anchor: str, draw: Callable[[], Figure]) -> str:
    """The SVG of the chart ``draw`` makes, or of a note that it could not be made. Matplotlib's
    failures on odd data have many types (fonts, layout, values), and one chart is not worth the
    whole export."""
    try:
        return _svg(draw())
    except Exception as exc:  # noqa: BLE001 - any failure of the renderer, see the docstring
        return _svg(_not_drawn(anchor, exc))


def report_html(
    *, profile: Profile, revisions_by_day: list[tuple[str, int]], runs: list[dict[str, Any]], title: str, subtitle: str
) -> str:
    """The page: a heading, then one ``<figure class="chart">`` per chart."""
    charts = [
        (
            "items-over-time",
            "Items published per week (per month over more than two years), by section group",
            lambda: items_per_period(profile),
        ),
        ("top-tags", f"Top {TOP} tags", lambda: top_counts(profile.tags, "tags")),
        ("top-authors", f"Top {TOP} authors", lambda: top_counts(profile.authors, "authors")),
        ("body-length", "Body length", lambda: body_lengths(profile)),
        (
            "revisions",
            "Edits after publication: items found changed (counted when their old version was last seen)",
            lambda: revisions_over_time(revisions_by_day),
        ),
        (
            "crawl-health",
            f"Crawl health over the last {MAX_RUNS} runs at most: new, updated, errors; field coverage",
            lambda: crawl_health(runs),
        ),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
        "figure{margin:2rem 0}figcaption{font-weight:bold;margin-bottom:.5rem}svg{max-width:100%;height:auto}"
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(subtitle)}</p>",
    ]
    with matplotlib.rc_context(_RC), warnings.catch_warnings():
        # A glyph the font lacks (a CJK tag) is drawn as a box: a fact of the font, not a fault to report.
        warnings.filterwarnings("ignore", r"Glyph \d+ .* missing from font", UserWarning)
        for anchor, caption, draw in charts:
            parts.append(f'<figure class="chart" id="{anchor}"><figcaption>{html.escape(caption)}</figcaption>')
            parts.append(_chart_svg(anchor, draw))
            parts.append("</figure>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
