"""JOBDIR crawls killed (SIGKILL) or stopped (SIGTERM) mid-way, then started again with the same command."""

import json
import os
import signal

import pytest

from mayadeen.extensions.resume import JOURNAL_FILE, read_journal
from mayadeen.pages.article import ArticlePage
from mayadeen.preflight import JOB_FILE
from mayadeen.spiders.feed import FeedSpider
from mayadeen.store.sqlite import ArticleStore
from tests.conftest import expected_records, run_crawl
from tests.inprocess import crawl as crawl_in_process
from tests.scheduled import SlowServer, integrity, item_paths, runs, start_crawl, stored, wait_for

P = "https://english.almayadeen.net"
PMF_NEW = "/news/politics/iraqs-pmf-law-seen-as-test-of-sovereignty-amid-us-objections"
ALL_ITEMS = sorted(u.removeprefix(P) for u in expected_records())
# Two requests at a time against item pages that take 0.15 s: a crawl of the 14 items lasts about
# a second, and a kill always finds requests in flight.
SLOW = {"CONCURRENT_REQUESTS": "2", "CONCURRENT_REQUESTS_PER_DOMAIN": "2"}


def check_complete(result, killed_jsonl_lines: int | None = None) -> None:
    expected = expected_records()
    rows = stored(result.sqlite)
    assert sorted(rows) == sorted(expected)
    for url, row in rows.items():
        assert row["headline"] == expected[url]["headline"] and row["body"] == expected[url]["body"]
        assert row["revision"] == 1
    assert integrity(result.sqlite) == "ok"
    records = result.records()  # both runs appended to the same file: every line parses
    urls = [r["url"] for r in records]
    assert sorted(urls) == sorted(expected), "a record is missing or was written twice"


def exported(feed) -> set[str]:
    """The urls of the whole records in a JSON Lines feed (a kill can leave a torn last line)."""
    lines = feed.read_bytes().splitlines(True) if feed.exists() else []
    return {json.loads(line)["url"] for line in lines if line.endswith(b"\n")}


def kill_when(proc, srv, condition, sig=signal.SIGKILL) -> None:
    try:
        wait_for(lambda: condition(srv.paths()) or proc.poll() is not None, timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, sig)
        proc.wait(timeout=60)


@pytest.mark.parametrize(
    "spider, moment, max_lines",
    [
        # Soak: the process is the point. The quick set resumes the states a kill leaves, built in
        # process (the tests below), and keeps the journal's rewrite (test_a_paused_job_…).
        pytest.param("sitemap", "discovery", None, marks=pytest.mark.soak),  # while the sitemaps are fetched
        pytest.param("sitemap", 5, None, marks=pytest.mark.soak),  # after 5 item pages were requested
        pytest.param("feed", 11, None, marks=pytest.mark.soak),
        # a journal kept to 4 lines (plus the one that made it rewrite itself)
        pytest.param("sitemap", 9, 4, marks=pytest.mark.soak),
    ],
)
def test_sigkill_then_resume_finishes_the_same_crawl(tmp_path, spider, moment, max_lines):
    jobdir = tmp_path / "job"
    settings = {**SLOW, "JOBDIR": str(jobdir)}
    if max_lines:
        settings["MAYADEEN_JOURNAL_MAX_LINES"] = str(max_lines)
    with SlowServer(delay=0.15) as srv:
        proc = start_crawl(spider, srv.url, tmp_path, settings=settings)
        if moment == "discovery":
            kill_when(proc, srv, lambda paths: any(p.startswith("/sitemaps/all/") for p in paths))
        else:
            kill_when(proc, srv, lambda paths: len(item_paths(paths)) >= moment)
        assert proc.returncode == -signal.SIGKILL
        killed = srv.paths()
        stored_at_kill = {u.removeprefix(P) for u in stored(tmp_path / "mayadeen.sqlite")}
        journal_at_kill = read_journal(jobdir)
        exported_at_kill = exported(tmp_path / "articles.jsonl")
        assert json.loads((jobdir / JOB_FILE).read_text())["state"] == "running"
        if max_lines:
            assert len((jobdir / JOURNAL_FILE).read_text().splitlines()) <= max_lines + 1
        assert len(stored_at_kill) < 14, "the crawl finished before the kill"

        result = crawl_in_process(spider, srv.url, tmp_path, settings=settings)
        resumed = srv.paths()[len(killed) :]

    assert "was killed" in result.log
    check_complete(result)
    # Exactly the items not finished before the kill were fetched again: those in flight, and any
    # stored in the instant before the kill but not yet exported (the store keeps one row); not one
    # exported in the instant before its journal's done mark.
    unfinished = {u.removeprefix(P) for u in journal_at_kill.fetched - journal_at_kill.done - exported_at_kill}
    done = stored_at_kill - unfinished
    assert sorted(item_paths(resumed)) == sorted(set(ALL_ITEMS) - done)
    assert {u.removeprefix(P) for u in journal_at_kill.done} <= stored_at_kill
    first, second = runs(result.sqlite)
    # The killed run never got to file its figures: the next run marked it.
    assert first["finish_reason"] == first["result"] == "killed" and first["finished_at"] is not None
    assert second["items_new"] == 14 - len(stored_at_kill) and second["finish_reason"] == "finished"
    assert second["items_unchanged"] == len(stored_at_kill - done)
    assert not (jobdir / JOB_FILE).exists() and not (jobdir / JOURNAL_FILE).exists()  # the job is over


def test_a_kill_between_a_record_and_its_done_mark_exports_it_once(tmp_path):
    """The state a SIGKILL leaves right after the JSON Lines storage wrote an item's record and before
    the journal noted it done (built from a paused run): the resumed run neither fetches nor exports
    that item again."""
    jobdir, feed = tmp_path / "job", tmp_path / "articles.jsonl"
    settings = {"JOBDIR": str(jobdir)}
    with SlowServer(delay=0) as srv:
        paused = crawl_in_process(
            "feed", srv.url, tmp_path, settings={**settings, "CLOSESPIDER_ITEMCOUNT": "3"}, check=False
        )
        assert json.loads((jobdir / JOB_FILE).read_text())["state"] == "paused", paused.log[-3000:]
        last = json.loads(feed.read_bytes().splitlines()[-1])["url"]
        journal = jobdir / JOURNAL_FILE
        journal.write_text("".join(line for line in journal.read_text().splitlines(True) if line != f"done {last}\n"))
        job = json.loads((jobdir / JOB_FILE).read_text())
        (jobdir / JOB_FILE).write_text(json.dumps({**job, "state": "running"}))
        assert last in read_journal(jobdir).fetched - read_journal(jobdir).done
        n = len(srv.paths())

        result = crawl_in_process("feed", srv.url, tmp_path, settings=settings)
        resumed = srv.paths()[n:]
    assert "was killed" in result.log
    assert last.removeprefix(P) not in item_paths(resumed)
    check_complete(result)


def test_a_record_written_before_the_killed_run_does_not_mark_its_item_done(tmp_path):
    """The feed's last record is an earlier job's; the killed run had fetched that item again and not
    written it yet: the resumed run fetches it again."""
    jobdir, feed = tmp_path / "job", tmp_path / "articles.jsonl"
    with SlowServer(delay=0) as srv:
        crawl_in_process("feed", srv.url, tmp_path)
        last = json.loads(feed.read_bytes().splitlines()[-1])["url"]
        # A run of a new job, killed once it had opened the feed and received that item's page.
        jobdir.mkdir()
        job = {"spider": "feed", "state": "running", "started_at": "2026-12-07T00:00:00Z", "runs": 1}
        (jobdir / JOB_FILE).write_text(json.dumps({**job, "feeds": {str(feed): feed.stat().st_size}}))
        (jobdir / JOURNAL_FILE).write_text(f"fetched {last}\n")
        n = len(srv.paths())

        result = crawl_in_process("feed", srv.url, tmp_path, settings={"JOBDIR": str(jobdir)})
        resumed = srv.paths()[n:]
    assert item_paths(resumed) == [last.removeprefix(P)]
    assert [r["url"] for r in result.records()].count(last) == 2  # its record again, as fetched again


def test_a_record_exported_before_a_kill_is_done_under_its_old_url_too(tmp_path):
    """The window between a record and its done marks, for an item reached through its old URL (a
    redirect): the killed run had fetched the related article that links to the old URL, and the item
    through it; the item's record (under its new URL) was the last line written. The resumed run
    fetches the related article again, and not the item under its old URL: the store knows it is the
    same item."""
    old, new = P + "/news/politics/iraqs-pmf-law-a-test-of-sovereignty-amid-us-objections", P + PMF_NEW
    linking = P + "/news/technology/notorious-palantir-lands-record-10bln-contract-with-the-us-army"
    jobdir, feed = tmp_path / "job", tmp_path / "articles.jsonl"
    with SlowServer(delay=0) as srv:
        crawl_in_process("sections", srv.url, tmp_path, args={"js": "0"})
        lines = feed.read_bytes().splitlines(True)
        (last,) = [line for line in lines if json.loads(line)["url"] == new]
        feed.write_bytes(b"".join(line for line in lines if line is not last) + last)
        # That run came to the item first through its listing: as the killed run did, through the old URL.
        with ArticleStore(tmp_path / "mayadeen.sqlite") as store:
            assert store.upsert(json.loads(last), run_id=1, aliases=[old]) == "unchanged"
        jobdir.mkdir()
        job = {"spider": "sections", "state": "running", "started_at": "2026-12-07T00:00:00Z", "runs": 1}
        job |= {"run_ids": [1], "feeds": {str(feed): feed.stat().st_size - len(last)}}
        (jobdir / JOB_FILE).write_text(json.dumps(job))
        (jobdir / JOURNAL_FILE).write_text(f"fetched {linking}\nfetched {old}\nfetched {new}\n")
        n = len(srv.paths())

        result = crawl_in_process("sections", srv.url, tmp_path, args={"js": "0"}, settings={"JOBDIR": str(jobdir)})
        resumed = srv.paths()[n:]
    assert old.removeprefix(P) not in resumed  # (the links to pages the site lacks are fetched every run)
    assert set(item_paths(resumed)) & set(ALL_ITEMS) == {linking.removeprefix(P)}
    assert [r["url"] for r in result.records()].count(new) == 1


@pytest.mark.soak  # the process is the point; in the quick set: test_a_full_crawl_resumed_skips_what_…
def test_full_crawl_resumed_after_sigkill_skips_what_it_already_did(tmp_path):
    jobdir = tmp_path / "job"
    settings = {**SLOW, "JOBDIR": str(jobdir)}
    with SlowServer(delay=0.15) as srv:
        crawl_in_process(
            "sitemap", srv.url, tmp_path, settings=SLOW, jsonl=tmp_path / "before.jsonl"
        )  # the store has it all
        n = len(srv.paths())
        proc = start_crawl("sitemap", srv.url, tmp_path, args={"full": "1"}, settings=settings)
        kill_when(proc, srv, lambda paths: len(item_paths(paths[n:])) >= 6)
        killed = srv.paths()[n:]
        done = {u.removeprefix(P) for u in read_journal(jobdir).done}
        assert done and len(done) < 14

        result = crawl_in_process("sitemap", srv.url, tmp_path, args={"full": "1"}, settings=settings)
        resumed = srv.paths()[n + len(killed) :]
    assert sorted(item_paths(resumed)) == sorted(set(ALL_ITEMS) - done)
    check_complete(result)
    assert runs(result.sqlite)[-1]["items_unchanged"] == 14 - len(done)


def test_a_full_crawl_resumed_skips_what_the_killed_run_did(tmp_path):
    """The state a SIGKILL leaves in a ``-a full=1`` job, built in process: its run had stored 6 items
    (they are done: the store says so) and was fetching a seventh. The resumed run fetches every item
    again but those 6."""
    jobdir, before = tmp_path / "job", tmp_path / "before.jsonl"
    with SlowServer(delay=0) as srv:
        crawl_in_process("sitemap", srv.url, tmp_path, jsonl=before)  # the store has it all
        records = [json.loads(line) for line in before.read_text().splitlines()]
        with ArticleStore(tmp_path / "mayadeen.sqlite") as store:
            killed_run = store.start_run("sitemap", {"full": "1"})
            for record in records[:6]:
                assert store.upsert(record, run_id=killed_run) == "unchanged"
        done = {r["url"].removeprefix(P) for r in records[:6]}
        jobdir.mkdir()
        job = {"spider": "sitemap", "state": "running", "started_at": "2026-12-07T00:00:00Z", "runs": 1}
        (jobdir / JOB_FILE).write_text(json.dumps({**job, "run_ids": [killed_run]}))
        (jobdir / JOURNAL_FILE).write_text(f"fetched {records[6]['url']}\n")
        n = len(srv.paths())

        result = crawl_in_process("sitemap", srv.url, tmp_path, args={"full": "1"}, settings={"JOBDIR": str(jobdir)})
        resumed = srv.paths()[n:]
    assert "was killed" in result.log
    assert sorted(item_paths(resumed)) == sorted(set(ALL_ITEMS) - done)
    assert runs(result.sqlite)[-1]["items_unchanged"] == 14 - len(done)


def test_a_paused_job_keeps_its_journal_short_and_the_same_command_resumes(tmp_path):
    """A JOBDIR run stopped part-way (CLOSESPIDER_ITEMCOUNT, as a first SIGTERM stops it): paused, its
    journal rewritten past MAYADEEN_JOURNAL_MAX_LINES, and the same command finishes the crawl."""
    jobdir = tmp_path / "job"
    settings = {**SLOW, "JOBDIR": str(jobdir), "MAYADEEN_JOURNAL_MAX_LINES": "4"}
    with SlowServer(delay=0) as srv:
        paused = crawl_in_process("sitemap", srv.url, tmp_path, settings={**settings, "CLOSESPIDER_ITEMCOUNT": "5"})
        assert json.loads((jobdir / JOB_FILE).read_text())["state"] == "paused", paused.log[-3000:]
        assert len((jobdir / JOURNAL_FILE).read_text().splitlines()) <= 4 + 1
        before = srv.paths()
        stored_at_pause = {u.removeprefix(P) for u in stored(tmp_path / "mayadeen.sqlite")}
        assert 5 <= len(stored_at_pause) < 14

        result = crawl_in_process("sitemap", srv.url, tmp_path, settings=settings)
        resumed = srv.paths()[len(before) :]
    assert "resuming the job" in result.log
    check_complete(result)
    # Scrapy's own queue carried on: no sitemap fetched twice, only the items left.
    sitemaps = [p for p in before + resumed if p.startswith("/sitemaps/")]
    assert len(sitemaps) == len(set(sitemaps)) == 9
    assert sorted(item_paths(resumed)) == sorted(set(ALL_ITEMS) - stored_at_pause)
    assert not (jobdir / JOB_FILE).exists() and not (jobdir / JOURNAL_FILE).exists()  # the job is over


@pytest.mark.soak  # the signal is the point; in the quick set: test_a_paused_job_keeps_its_journal_short_…
def test_sigterm_pauses_and_the_same_command_resumes(tmp_path):
    jobdir = tmp_path / "job"
    settings = {**SLOW, "JOBDIR": str(jobdir)}
    with SlowServer(delay=0.15) as srv:
        proc = start_crawl("sitemap", srv.url, tmp_path, settings=settings)
        kill_when(proc, srv, lambda paths: len(item_paths(paths)) >= 4, sig=signal.SIGTERM)
        assert proc.returncode == 3  # paused (signal with JOBDIR): the same command resumes it
        log = (tmp_path / "killed.log").read_text()
        assert "finish_reason=shutdown" in log.strip().splitlines()[-1]
        assert json.loads((jobdir / JOB_FILE).read_text())["state"] == "paused"
        paused = srv.paths()
        stored_at_pause = {u.removeprefix(P) for u in stored(tmp_path / "mayadeen.sqlite")}
        assert {u.removeprefix(P) for u in read_journal(jobdir).done} == stored_at_pause

        result = crawl_in_process("sitemap", srv.url, tmp_path, settings=settings)
        resumed = srv.paths()[len(paused) :]
    assert "resuming the job" in result.log
    check_complete(result)
    # Scrapy's own queue carried on: no sitemap fetched twice, only the items left.
    sitemaps = [p for p in paused + resumed if p.startswith("/sitemaps/")]
    assert len(sitemaps) == len(set(sitemaps)) == 9
    assert sorted(item_paths(resumed)) == sorted(set(ALL_ITEMS) - stored_at_pause)


def test_a_finished_job_does_not_stop_the_next_run(tmp_path):
    jobdir = tmp_path / "job"
    settings = {"JOBDIR": str(jobdir)}
    with SlowServer(delay=0) as srv:
        crawl_in_process("feed", srv.url, tmp_path, settings=settings)
        n = len(srv.paths())
        again = crawl_in_process("feed", srv.url, tmp_path, settings=settings)
        paths = srv.paths()[n:]
        # The second run found nothing new (its feed opened only at the close): its job ended too.
        assert not (jobdir / JOB_FILE).exists(), (jobdir / JOB_FILE).read_text()
        third = crawl_in_process("feed", srv.url, tmp_path, settings=settings)
    # Scrapy alone would filter every request of the second run as already seen in the JOBDIR.
    assert {"/rss", "/sitemaps/news.xml"} <= set(paths) and item_paths(paths) == []
    assert "Run summary: spider=feed result=ok" in again.log.strip().splitlines()[-1]
    assert "was killed" not in third.log and third.stat("mayadeen/job/runs") == 1, third.log[-3000:]
    assert "result=ok" in third.log.strip().splitlines()[-1] and "warnings=0" in third.log.strip().splitlines()[-1]


def killed_job(jobdir, extracting: list[str], earlier: dict[str, int], fetched: list[str] = ()) -> None:
    """A feed job as a SIGKILL leaves it: ``extracting`` being extracted (and fetched), ``fetched`` fetched
    and not done, ``earlier`` the job's kills each page was being extracted at before this one."""
    jobdir.mkdir()
    job = {"spider": "feed", "state": "running", "started_at": "2026-12-07T00:00:00Z", "runs": 3}
    (jobdir / JOB_FILE).write_text(json.dumps({**job, "killed_in_flight": earlier}))
    lines = [f"fetched {url}\n" for url in [*extracting, *fetched]] + [f"extracting {url}\n" for url in extracting]
    (jobdir / JOURNAL_FILE).write_text("".join(lines))


def resume_of(jobdir):
    from scrapy.utils.test import get_crawler

    from mayadeen.extensions.resume import ResumeAfterKill

    crawler = get_crawler(FeedSpider, {"JOBDIR": str(jobdir), "MAYADEEN_SQLITE_PATH": ""})
    return ResumeAfterKill.from_crawler(crawler)


def test_kills_in_a_row_are_counted_for_the_page_being_extracted(tmp_path):
    poison, before, fetched = (P + path for path in ALL_ITEMS[:3])
    # ``fetched`` (beside the killer, or a 404, a page that is no item): fetched, not done, not extracted.
    killed_job(tmp_path / "job", [poison], {poison: 2, before: 2, fetched: 2}, fetched=[fetched])
    resume = resume_of(tmp_path / "job")
    assert resume.given_up == resume.untold == {poison} and resume.inflight == {fetched}  # its third kill
    # The others keep their counts (another page that kills the crawler, extracted first in other runs).
    job = json.loads((tmp_path / "job" / JOB_FILE).read_text())
    assert job["killed_in_flight"] == {before: 2, fetched: 2} and job["given_up"] == job["untold"] == [poison]
    assert read_journal(tmp_path / "job").extracting == frozenset()  # counted once: the mark is gone
    # Killed again before it closed (its give-up maybe not recorded yet): the next run tells it again.
    for fd in (resume._lock_fd, resume._journal_fd):  # what the kernel closes at a kill
        os.close(fd)
    resume = resume_of(tmp_path / "job")
    assert resume.untold == {poison}
    resume.spider_closed(None, "shutdown")  # a run that was not killed: told; the counts start again
    job = json.loads((tmp_path / "job" / JOB_FILE).read_text())
    assert "killed_in_flight" not in job and "untold" not in job and job["given_up"] == [poison]
    # The job's next runs, after a pause or a kill: it stays given up, told no more.
    for resumed in ("paused", "running"):
        (tmp_path / "job" / JOB_FILE).write_text(json.dumps({**job, "state": resumed}))
        resume = resume_of(tmp_path / "job")
        assert resume.given_up == {poison} and resume.untold == frozenset()
        resume.spider_closed(None, "shutdown")


@pytest.mark.parametrize("earlier", [None, [], "x", {"u": "2"}])
def test_kill_counts_edited_by_hand_are_counted_anew(tmp_path, earlier):
    killed_job(tmp_path / "job", [P + ALL_ITEMS[0]], {})
    job = json.loads((tmp_path / "job" / JOB_FILE).read_text())
    (tmp_path / "job" / JOB_FILE).write_text(json.dumps({**job, "killed_in_flight": earlier}))
    resume = resume_of(tmp_path / "job")
    assert resume.given_up == frozenset()
    assert json.loads((tmp_path / "job" / JOB_FILE).read_text())["killed_in_flight"] == {P + ALL_ITEMS[0]: 1}
    resume.spider_closed(None, "shutdown")
    job = json.loads((tmp_path / "job" / JOB_FILE).read_text())
    (tmp_path / "job" / JOB_FILE).write_text(json.dumps({**job, "state": "running", "given_up": earlier}))
    resume = resume_of(tmp_path / "job")
    assert resume.given_up == frozenset()  # a given_up list edited by hand: none
    resume.spider_closed(None, "shutdown")


def test_a_page_being_extracted_at_three_kills_in_a_row_is_given_up(tmp_path):
    """The job's third kill with the same page being extracted (a page that kills the crawler):
    the run gives it up as a failing item, does not fetch it, and crawls the rest."""
    poison = P + ALL_ITEMS[0]
    killed_job(tmp_path / "job", [poison], {poison: 2})
    with SlowServer(delay=0) as srv:
        result = crawl_in_process("feed", srv.url, tmp_path, settings={"JOBDIR": str(tmp_path / "job")}, check=False)
        fetched = item_paths(srv.paths())
    assert f"Gave up on {poison} (being extracted when 3 of the job's runs were killed: a page that kills" in result.log
    assert result.stat("mayadeen/given_up") == 1 and ALL_ITEMS[0] not in fetched
    assert sorted(stored(result.sqlite)) == sorted(set(expected_records()) - {poison})
    with ArticleStore(result.sqlite) as store:  # remembered: later runs try it after the failing interval
        assert [row["url"] for row in store.rows("SELECT url FROM failing_items")] == [poison]


@pytest.mark.parametrize("spider", ["feed", "sections"])
def test_the_journal_names_one_page_at_a_time_while_it_is_extracted(tmp_path, spider):
    """Each item page's extraction is marked, and no other mark comes between its two (a kill then
    names that page alone), whatever else the crawl does meanwhile (WARC captures, store lookups)."""
    jobdir = tmp_path / "job"
    settings = {"JOBDIR": str(jobdir), "MAYADEEN_JOURNAL_MAX_LINES": "100000", "CLOSESPIDER_ITEMCOUNT": "6"}
    with SlowServer(delay=0) as srv:
        crawl_in_process(spider, srv.url, tmp_path, args={"js": "0"}, settings=settings, check=False)
    lines = (jobdir / JOURNAL_FILE).read_text().splitlines()
    marks = [line.split(" ", 1) for line in lines if line.startswith(("extracting ", "extracted "))]
    assert len(marks) >= 12 and len(marks) % 2 == 0
    for (opened, url), (closed, same) in zip(marks[::2], marks[1::2], strict=True):
        assert (opened, closed, same) == ("extracting", "extracted", url)
    assert read_journal(jobdir).extracting == frozenset()


class KillingPage(ArticlePage):
    """The site parser, killing its process (as an OOM kill would) while it extracts ``KILLER``."""

    def to_item(self):
        if self.url == P + ALL_ITEMS[0]:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().to_item()


class KillingFeed(FeedSpider):
    name = "feed_killed_by_a_page"
    page_class = KillingPage


@pytest.mark.soak
def test_a_page_that_kills_every_run_is_given_up_at_the_third_kill(tmp_path):
    """Real processes: three runs of a job die extracting the same page; the fourth gives it up (and only
    it) and finishes the crawl; the next job does not fetch it (it keeps failing, not due yet)."""
    killer = P + ALL_ITEMS[0]
    settings = {"JOBDIR": str(tmp_path / "job"), "SPIDER_MODULES": f"mayadeen.spiders,{__name__}"}
    with SlowServer(delay=0) as srv:
        codes = [run_crawl(KillingFeed.name, srv.url, tmp_path, settings=settings, check=False) for _ in range(4)]
        n = len(srv.paths())
        after = run_crawl(KillingFeed.name, srv.url, tmp_path, settings=settings, check=False)
        again = item_paths(srv.paths()[n:])
    assert [c.returncode for c in codes[:3]] == [-9, -9, -9]
    last = codes[3]
    assert last.returncode == 0, last.log[-3000:]
    assert (
        last.log.count("Gave up on ") == 1
        and f"Gave up on {killer} (being extracted when 3 of the job's runs" in last.log
    )
    assert sorted(stored(last.sqlite)) == sorted(set(expected_records()) - {killer})
    assert after.returncode == 0 and ALL_ITEMS[0] not in again and f"Not fetching {killer} before" in after.log


def test_without_a_store_the_journal_is_rewritten_as_it_doubles(tmp_path):
    """Without a store the journal keeps every done item: rewritten at each note past the limit, a job
    of n items would cost n rewrites of a growing file (quadratic). Rewrites are counted by the files
    the journal's path names (each kept open, so that no inode is reused)."""
    from scrapy.utils.test import get_crawler

    from mayadeen.extensions.resume import ResumeAfterKill

    settings = {"JOBDIR": str(tmp_path / "job"), "MAYADEEN_SQLITE_PATH": "", "MAYADEEN_JOURNAL_MAX_LINES": "4"}
    resume = ResumeAfterKill.from_crawler(get_crawler(FeedSpider, settings))
    journal = tmp_path / "job" / JOURNAL_FILE
    files = [open(journal, "rb")]  # noqa: SIM115 - held open on purpose
    try:
        for n in range(200):
            resume.note_done(f"{P}/news/politics/item-{n}")
            if os.stat(journal).st_ino != os.fstat(files[-1].fileno()).st_ino:
                files.append(open(journal, "rb"))  # noqa: SIM115
        assert len(read_journal(tmp_path / "job").done) == 200  # every done item kept
        assert len(files) - 1 <= 8, len(files)  # rewritten as it doubled: 5, 10, 20, ... lines
    finally:
        for file in files:
            file.close()
        resume.spider_closed(None, "shutdown")
