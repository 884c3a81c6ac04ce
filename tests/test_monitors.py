"""Monitors and alerts: a real webhook receiver and a real SMTP server hear of a layer of every page
gone (the run fails) and of a run that saw half the usual items (an alert), and of nothing over
normal runs, incremental ones included. A webhook that is down is a warning, never a failed run."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from mayadeen.store.engines import StoreTarget, connect
from mayadeen.urls import PUBLIC_URL, item_kind
from tests.alert_receivers import MailReceiver, WebhookReceiver, free_port
from tests.fixture_server import Answer, FixtureServer, FixtureSite, write_answer
from tests.inprocess import crawl as crawl_in_process
from tests.scheduled import runs, wait_for

ARGS = {"js": "0"}
_SHARES = re.compile(rb'<li class="article-info__shares">.*?</li>', re.S)


class NoShareCounters(FixtureServer):
    """The site with the share counter gone from every item page (a layer of the layout removed)."""

    def handle(self, handler, answer: Answer) -> None:
        if item_kind(PUBLIC_URL + urlsplit(handler.path).path):
            answer = Answer(answer.status, answer.content_type, _SHARES.sub(b"", answer.body), answer.headers)
        write_answer(handler, answer)


def alerting(hook: WebhookReceiver, smtp: MailReceiver, **more: str) -> dict[str, str]:
    return {"MAYADEEN_ALERT_WEBHOOK": hook.url, **smtp.settings(), **more}


def test_the_variant_site_really_loses_the_share_counters():
    page = FixtureSite().body("/news/economy/opec-agrees-to-another-large-oil-output-hike-for-september")
    assert b"article-info__shares" in page and not _SHARES.sub(b"", page).count(b"article-info__shares")


def test_normal_runs_alert_nobody_and_record_no_failed_monitor(tmp_path):
    with FixtureServer(FixtureSite()) as srv, WebhookReceiver() as hook, MailReceiver() as smtp:
        settings = alerting(hook, smtp, MAYADEEN_MONITOR_HISTORY_MIN_RUNS="1")
        first = crawl_in_process("feed", srv.url, tmp_path, args=ARGS, settings=settings)
        quiet = crawl_in_process("feed", srv.url, tmp_path, args=ARGS, settings=settings)  # nothing new: normal
    assert first.returncode == quiet.returncode == 0
    assert "Item count/items seen near the usual count... OK" in quiet.log  # compared with run 1: 14 seen each
    assert hook.posts == [] and smtp.messages == []
    rows = runs(tmp_path / "mayadeen.sqlite")
    assert [(r["items_new"], r["items_unchanged"], r["items_seen"]) for r in rows] == [(14, 0, 14), (0, 0, 14)]
    assert [json.loads(r["monitors_failed"]) for r in rows] == [[], []]


def test_a_layer_gone_from_every_page_fails_the_run_and_alerts(tmp_path):
    with NoShareCounters(FixtureSite()) as srv, WebhookReceiver() as hook, MailReceiver() as smtp:
        result = crawl_in_process("sitemap", srv.url, tmp_path, args=ARGS, settings=alerting(hook, smtp), check=False)
        wait_for(lambda: hook.posts and smtp.messages, timeout=30)
    assert result.returncode == 1, result.log[-3000:]
    assert (
        "Monitor Field coverage failed (the run fails): field coverage below the floor: shares 0% < 80%" in result.log
    )
    (post,) = hook.posts
    run = runs(tmp_path / "mayadeen.sqlite")[-1]
    assert post["spider"] == "sitemap" and post["run_id"] == run["id"] and post["run_ended"] is True
    coverage = next(m for m in post["monitors"] if m["monitor"] == "Field coverage")
    assert coverage["fails_run"] is True and coverage["figures"]["below"] == ["shares 0% < 80%"]
    assert coverage["figures"]["records"] == 14
    assert "Field coverage (fails the run): field coverage below the floor: shares 0% &lt; 80%" in post["text"]
    (mail,) = smtp.messages
    assert "Field coverage" in mail["Subject"] and mail["To"] == "ops@example.org"
    assert "shares 0% < 80%" in mail.get_payload()
    assert run["result"] == "coverage_below_minimum"
    assert "Field coverage" in [m["monitor"] for m in json.loads(run["monitors_failed"])]


def _seed_history(sqlite_path, items_seen: int, count: int) -> None:
    """``count`` earlier runs that worked, with the spider and arguments of the store's first run."""
    with connect(StoreTarget("sqlite", str(sqlite_path))) as store:
        first = store.runs()[0]
        for _ in range(count):
            run = store.start_run(first["spider"], first["arguments"])
            store.finish_run(run, finish_reason="finished", items_seen=items_seen, items_new=items_seen)
            store.record_result(run, "ok")


def test_a_run_that_sees_half_the_usual_items_alerts_but_does_not_fail(tmp_path):
    with FixtureServer(FixtureSite()) as srv, WebhookReceiver() as hook, MailReceiver() as smtp:
        crawl_in_process("feed", srv.url, tmp_path, args=ARGS)
        _seed_history(tmp_path / "mayadeen.sqlite", items_seen=28, count=3)
        # The feed lists the 14 items it always listed (all unchanged now); earlier runs saw 28.
        result = crawl_in_process("feed", srv.url, tmp_path, args=ARGS, settings=alerting(hook, smtp))
        wait_for(lambda: hook.posts and smtp.messages, timeout=30)
    assert result.returncode == 0, result.log[-3000:]
    (post,) = hook.posts
    (count,) = post["monitors"]
    assert count["monitor"] == "Item count" and count["fails_run"] is False
    assert count["figures"] == {"items_seen": 14, "median": 28, "runs": 4, "ratio": 0.7}
    assert "Item count (alert): 14 items seen, the last 4 runs saw 28 (median)" in post["text"]
    assert "Item count" in smtp.messages[0]["Subject"]
    row = runs(tmp_path / "mayadeen.sqlite")[-1]
    assert row["result"] == "ok" and [m["monitor"] for m in json.loads(row["monitors_failed"])] == ["Item count"]
    assert "WARNING: Monitor Item count failed (alert)" in result.log


def test_a_webhook_that_is_down_is_a_warning_not_a_failed_run(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/hook"
    # Every 200 counted as unwanted: an alert on every run.
    settings = {
        "MAYADEEN_ALERT_WEBHOOK": dead,
        "MAYADEEN_MONITOR_UNWANTED_STATUSES": "200",
        "MAYADEEN_ALERT_TIMEOUT": "5",
    }
    with FixtureServer(FixtureSite()) as srv:
        result = crawl_in_process("sitemap", srv.url, tmp_path, args=ARGS, settings=settings, check=False)
    assert result.returncode == 0, result.log[-3000:]
    assert re.search(r"WARNING: Could not send the webhook alert: .*(refused|Connection)", result.log)
    assert result.stat("log_count/ERROR") is None and " ERROR: " not in result.log and "Traceback" not in result.log
    assert "result=ok" in result.log


def test_a_run_stopped_at_a_limit_with_a_layer_gone_fails_through_the_monitors(tmp_path):
    # Stopped by CLOSESPIDER_ITEMCOUNT, the crawl never runs out of work: its coverage is judged by the
    # monitors at spider close, and the run fails all the same (monitors_failed).
    with NoShareCounters(FixtureSite()) as srv:
        result = crawl_in_process(
            "sitemap",
            srv.url,
            tmp_path,
            args=ARGS,
            check=False,
            settings={"CLOSESPIDER_ITEMCOUNT": "11", "CONCURRENT_REQUESTS": "1"},
        )
    assert result.returncode == 1, result.log[-3000:]
    summary = result.log.strip().splitlines()[-1]
    assert "result=FAILED (monitors_failed) finish_reason=closespider_itemcount" in summary
    assert runs(tmp_path / "mayadeen.sqlite")[-1]["result"] == "monitors_failed"
