"""``report.html``'s charts say what happened: coverage only where a run stored items (a run with
nothing new is marked, not drawn as 0 %), whole numbers on count axes, legends off the bars; a chart
that cannot be drawn is a WARNING and a note, never a failed export. The page as a reader sees it, in
headless Chromium, is test_export's ``test_report_renders_offline_with_every_chart`` (a real export's
report, every chart)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg

from mayadeen.export.profile import Profile
from mayadeen.export.report import crawl_health, items_per_period, report_html, top_counts


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
ROOT = Path(__file__).resolve().parent.parent
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


def test_the_profile_reads_only_the_keys_it_names():
    """The export leaves every JSON column the profile does not name as JSON text
    (``datasets.ARTICLES.encoded``): a key read but not named would be counted as text."""
    read = set()

    class Watched(dict):
        def __getitem__(self, key):
            read.add(key)
            return super().__getitem__(key)

        def get(self, key, default=None):
            read.add(key)
            return super().get(key, default)

    record = json.loads(next((ROOT / "fixtures" / "expected").glob("*.json")).read_text("utf-8"))
    Profile().add(Watched(record))
    assert read == Profile.READS
