"""``report.html``'s charts say what happened: coverage only where a run stored items (a run with
nothing new is marked, not drawn as 0 %), whole numbers on count axes, legends off the bars; a chart
that cannot be drawn is a WARNING and a note, never a failed export. The page is looked at in
headless Chromium, as a reader sees it."""

from __future__ import annotations

import logging
from collections import Counter

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from mayadeen.export.profile import Profile
from mayadeen.export.report import crawl_health, items_per_period, report_html, top_counts

CHROMIUM = "/usr/lib/chromium/chromium"


def _run(number: int, spider: str, new: int, updated: int, errors: int, coverage: float) -> dict:
    return {
        "id": number,
        "spider": spider,
        "items_new": new,
        "items_updated": updated,
        "errors": errors,
        "coverage": {"fields": {"headline": coverage, "summary": coverage, "tags": coverage}},
    }


#: A first full crawl, then nightly feed runs: most find nothing new (their coverage measured
#: nothing: 0.0), one stores an edit, one fails twice.
RUNS = [
    _run(1, "sitemap", 14, 0, 0, 0.92),
    _run(2, "feed", 0, 0, 0, 0.0),
    _run(3, "feed", 0, 0, 0, 0.0),
    _run(4, "feed", 1, 0, 0, 0.9),
    _run(5, "feed", 0, 1, 0, 0.88),
    _run(6, "feed", 0, 0, 2, 0.0),
    _run(7, "feed", 0, 0, 0, 0.0),
]
STORED = [0, 3, 4]  # the runs (by position) that stored items
IDLE = [1, 2, 5, 6]


def _profile() -> Profile:
    profile = Profile()
    for n, day in enumerate(["2025-07-01", "2025-07-08", "2025-07-08", "2025-07-15", "2025-08-04"]):
        profile.add(
            {
                "date_published": f"{day}T10:00:00Z",
                "kind": "article",
                "section": "Politics",
                "section_group": "News" if n % 2 else "Articles",
                "tags": ["Gaza"],
                "authors": ["A"],
                "word_count": 300 + n,
            }
        )
    return profile


def _drawn(fig):
    """The figure laid out as it is saved, and its renderer."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def test_coverage_only_over_runs_that_stored_items():
    fig = crawl_health(RUNS)
    _drawn(fig)
    ax, twin = fig.axes
    coverage = [line for line in twin.get_lines() if "coverage" in line.get_label()]
    assert len(coverage) == 1
    assert list(coverage[0].get_xdata()) == STORED
    assert [round(y) for y in coverage[0].get_ydata()] == [92, 90, 88]  # never the 0 % of a run that measured nothing
    idle = [line for line in ax.get_lines() if line.get_label() == "nothing new stored"]
    assert len(idle) == 1 and list(idle[0].get_xdata()) == IDLE


def test_count_axes_have_whole_numbers_and_legends_leave_the_data_alone():
    for fig, axis in [
        (crawl_health(RUNS[1:4]), "y"),
        (items_per_period(_profile()), "y"),
        (top_counts(Counter({"Gaza": 1, "Iran": 2}), "tags"), "x"),
    ]:
        renderer = _drawn(fig)
        ax = fig.axes[0]
        ticks = ax.get_yticks() if axis == "y" else ax.get_xticks()
        low, high = ax.get_ylim() if axis == "y" else ax.get_xlim()
        shown = [t for t in ticks if low <= t <= high]
        assert len(shown) >= 2 and all(float(t).is_integer() for t in shown), shown
        legend = ax.get_legend()
        if legend is not None:
            assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))


def test_a_chart_that_cannot_be_drawn_is_a_warning(caplog):
    class Broken(Profile):
        @property
        def tags(self):
            return Counter({"a": "not a count"})

        @tags.setter
        def tags(self, value):
            pass

    with caplog.at_level(logging.WARNING, logger="mayadeen.export.report"):
        page = report_html(profile=Broken(), revisions_by_day=[], runs=RUNS, title="t", subtitle="s")
    assert [r.getMessage() for r in caplog.records] == [
        (
            "report.html: the top-tags chart could not be drawn (TypeError: bad operand type for unary -: 'str'); "
            "the export goes on without it"
        )
    ]
    assert page.count('<figure class="chart"') == page.count("<svg") == 6
    assert page.count("could not be drawn from this data") == 1


@pytest.mark.skipif(not __import__("os").path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_the_crawl_health_chart_as_a_reader_sees_it(tmp_path):
    from playwright.sync_api import sync_playwright

    page_html = report_html(
        profile=_profile(), revisions_by_day=[("2025-08-04", 1)], runs=RUNS, title="Report", subtitle="5 items"
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_context(offline=True, viewport={"width": 1100, "height": 900}).new_page()
            page.set_content(page_html, wait_until="load")
            for anchor in ("crawl-health", "items-over-time"):
                figure = page.locator(f"#{anchor}")
                box = figure.locator("svg").bounding_box()
                assert box["width"] > 500 and box["height"] > 200
                figure.screenshot(path=tmp_path / f"{anchor}.png")
        finally:
            browser.close()
    for anchor in ("crawl-health", "items-over-time"):
        shot = (tmp_path / f"{anchor}.png").read_bytes()
        assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000
