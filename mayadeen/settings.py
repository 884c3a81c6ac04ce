"""Settings of the mayadeen crawler.

Every knob is a setting; the ``MAYADEEN_*`` ones are ours and documented in the README. Defaults are
polite to the live site; tests and benchmarks override them with ``-s``.
"""

from mayadeen import urls as _urls  # lowercase: not read as a setting

BOT_NAME = "mayadeen"
SPIDER_MODULES = ["mayadeen.spiders"]
NEWSPIDER_MODULE = "mayadeen.spiders"

# --- ours ---------------------------------------------------------------------------------------
# The public origin: records always carry URLs on it, whatever host was actually fetched.
MAYADEEN_PUBLIC_URL = "https://english.almayadeen.net"
# Fetch from a mirror instead (e.g. http://127.0.0.1:8000); the spider argument base_url sets it too.
MAYADEEN_BASE_URL = ""
# The SQLite store; an empty string turns it off.
MAYADEEN_SQLITE_PATH = "data/mayadeen.sqlite"
# Query parameters that never make a different page (besides every utm_* parameter).
MAYADEEN_TRACKING_PARAMS = list(_urls.DEFAULT_TRACKING_PARAMS)

# --- politeness ---------------------------------------------------------------------------------
USER_AGENT = "mayadeen/0.1 (+https://github.com/mayadeen/mayadeen; news archive crawler)"
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]

# --- components ---------------------------------------------------------------------------------
DOWNLOADER_MIDDLEWARES = {
    # Closest to the downloader: rewrites the public host to the mirror on the way out and back on
    # the way in, so every other component only ever sees public URLs.
    "mayadeen.middlewares.mirror.MirrorMiddleware": 950,
}
ITEM_PIPELINES = {
    "mayadeen.pipelines.enrich.EnrichPipeline": 100,
    "mayadeen.pipelines.validate.ValidatePipeline": 200,
    "mayadeen.pipelines.dedupe.DedupePipeline": 300,
    "mayadeen.pipelines.store.SQLiteStorePipeline": 800,
}
# JSON Lines appended to this file when the command line names no feed (`-o`/`-O` replace it);
# empty: none.
MAYADEEN_JSONL_PATH = "data/articles.jsonl"
ADDONS = {"mayadeen.feeds.default_feed.DefaultFeedAddon": 0}
FEED_EXPORT_ENCODING = "utf-8"

# --- scheduled, incremental, resumable runs (issue 3) --------------------------------------------
# `scrapy crawl` exits 1 when the run failed and ends its log with a one-line summary.
COMMANDS_MODULE = "mayadeen.commands"
# A run fails when more than this share (0-1) of its records is dropped as invalid (duplicates aside).
MAYADEEN_MAX_DROPPED_SHARE = 0.2
EXTENSIONS = {
    # Judges an idle crawl (site_unreachable, errors_no_items, too_many_dropped become its finish reason).
    "mayadeen.extensions.run_outcome.RunOutcome": 500,
    # With JOBDIR: resumable after SIGKILL too, and a new crawl once a crawl has ended.
    "mayadeen.extensions.resume.ResumeAfterKill": 510,
}
# JSON Lines written unbuffered, a torn last line from a killed run cut before appending.
FEED_STORAGES = {
    "": "mayadeen.feeds.storage.KillSafeFileFeedStorage",
    "file": "mayadeen.feeds.storage.KillSafeFileFeedStorage",
}

# --- the browser: client-side listings and challenge pages (issue 4) -----------------------------
# Only requests with meta playwright=True go to headless Chromium (scrapy-playwright): the client-side
# listings (/videos, /videos/<section>, /in-pictures; RenderMiddleware) and the one retry of a
# Cloudflare challenge (ChallengeMiddleware). Everything else stays plain HTTP. `-a js=0` turns the
# browser off for a crawl.
# The Chromium executable: "auto" = Playwright's own Chromium when `playwright install chromium` was
# run, else Debian's /usr/lib/chromium/chromium; or a path; "" = no browser (the listings are skipped).
MAYADEEN_CHROMIUM_PATH = "auto"
# Seconds a rendered listing may take to fill its grid, and a challenge to clear in the browser.
MAYADEEN_RENDER_TIMEOUT = 15
MAYADEEN_CHALLENGE_TIMEOUT = 20
DOWNLOADER_MIDDLEWARES.update({
    # Marks client-side listings for the browser, or drops them (said once) when there is none.
    "mayadeen.browser.render.RenderMiddleware": 560,
    # After decompression (590), before RetryMiddleware (550) and MetaRefreshMiddleware (580) could
    # act on a challenge page; before CookiesMiddleware (700) on requests, to hand it browser cookies.
    "mayadeen.browser.challenge.ChallengeMiddleware": 585,
})
# Puts the MAYADEEN_CHROMIUM_PATH executable into PLAYWRIGHT_LAUNCH_OPTIONS, or, when there is no
# browser, the plain HTTP handlers back into DOWNLOAD_HANDLERS (no idle Playwright driver).
ADDONS["mayadeen.browser.chromium.BrowserAddon"] = 0
DOWNLOAD_HANDLERS = {
    "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
    "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
}
PLAYWRIGHT_BROWSER_TYPE = "chromium"
PLAYWRIGHT_LAUNCH_OPTIONS = {
    "headless": True,
    # No background traffic of the browser's own (updates, sync, field trials, safe browsing...).
    "args": ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-default-apps",
             "--disable-extensions", "--disable-domain-reliability", "--metrics-recording-only",
             "--mute-audio", "--no-default-browser-check"],
}
# Documents, scripts and XHR/fetch of the page's own host only: no images, fonts, media, stylesheets,
# third-party requests.
PLAYWRIGHT_ABORT_REQUEST = "mayadeen.browser.chromium.should_abort_request"
# One context (shared cookies), at most 4 pages at once: more gives nothing on 2 cores. Pages are
# closed by scrapy-playwright after each response (no request keeps its page).
PLAYWRIGHT_MAX_CONTEXTS = 1
PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 4
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 30_000

# --- faults, bad input and layout drift (issue 5) ------------------------------------------------
# Retries wait MAYADEEN_RETRY_BACKOFF_BASE * 2**(n-1) seconds before the n-th retry (at most
# MAYADEEN_RETRY_BACKOFF_MAX, spread by ±MAYADEEN_RETRY_BACKOFF_JITTER as a share).
MAYADEEN_RETRY_BACKOFF_BASE = 2.0
MAYADEEN_RETRY_BACKOFF_MAX = 60.0
MAYADEEN_RETRY_BACKOFF_JITTER = 0.25
# A 429/503 Retry-After pauses every request to the site until it expires, but at most this long (s).
MAYADEEN_RETRY_AFTER_MAX = 300.0
# Least share of records (per field, or {kind: share}) in which a field must be present and non-empty;
# a run below fails with finish reason coverage_below_minimum. "record" = item pages that gave a record.
# Derived from the fixtures (every item has the 1.0 fields; summary/read time are articles only).
MAYADEEN_COVERAGE_MIN = {
    "record": 0.9, "url": 1.0, "article_id": 1.0, "kind": 1.0, "section_group": 1.0, "section": 1.0,
    "headline": 1.0, "body": 1.0, "authors": 1.0, "date_published": 1.0, "language": 1.0,
    "date_modified": 0.8, "tags": 0.8, "shares": 0.8, "image": 0.8, "images": 0.8, "related": 0.5,
    "summary": {"article": 0.8}, "read_time_minutes": {"article": 0.8}, "video": {"video": 0.8},
}
# Shares below 1.0 are judged only from this many item pages (of the kind) on: a few pages say little.
MAYADEEN_COVERAGE_MIN_PAGES = 10
# Off switches: retrying incomplete answers, honouring Retry-After, the coverage report and check.
MAYADEEN_INTEGRITY_ENABLED = True
MAYADEEN_RETRY_AFTER_ENABLED = True
MAYADEEN_COVERAGE_ENABLED = True
DOWNLOADER_MIDDLEWARES.update({
    # Scrapy's retries, with exponential backoff between attempts.
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "mayadeen.middlewares.retry.BackoffRetryMiddleware": 550,
    # Wrong Content-Type / charset: the body decides (after decompression at 590).
    "mayadeen.middlewares.sniff.ContentSniffMiddleware": 588,
    # Empty, cut-off or undecodable answers are retried, never parsed (raw body, before 590).
    "mayadeen.middlewares.integrity.ResponseIntegrityMiddleware": 595,
    # A redirect back into its own chain is retried later (before RedirectMiddleware, 600).
    "mayadeen.middlewares.redirect_loop.RedirectLoopMiddleware": 610,
    # Only http(s) on the site or the mirror: never another host, a private address, file: or data:.
    "mayadeen.middlewares.url_guard.UrlGuardMiddleware": 940,
    # Retry-After pauses the site's download slot (after the mirror, 950, to see the real slot).
    "mayadeen.middlewares.retry_after.RetryAfterMiddleware": 960,
})
EXTENSIONS.update({
    # Field coverage report at the end of every run; fails a run below MAYADEEN_COVERAGE_MIN (after
    # RunOutcome, 500: when both fail an idle crawl, the last one's reason is the finish reason).
    "mayadeen.extensions.coverage.FieldCoverage": 520,
})

# --- months of scheduled runs: one identity per item, a store shared by crawls (issue 10) ----------
# Crawls share the store: seconds one store write waits for another crawl's transaction on the file.
MAYADEEN_SQLITE_BUSY_TIMEOUT = 60
# The JOBDIR journal is rewritten with only the items in flight once it holds more lines than this.
MAYADEEN_JOURNAL_MAX_LINES = 10_000
DOWNLOADER_MIDDLEWARES.update({
    # Drops discovery requests the spider does not want and asks for monthly sitemaps read before
    # conditionally (before the mirror, 950, so it sees the public URLs; before DownloaderStats, 850,
    # so a dropped request is not counted as sent).
    "mayadeen.middlewares.sitemap_requests.SitemapRequestsMiddleware": 840,
})

# Off: it opens a local HTTP port and writes job files we do not use.
REMOTE_CONTROL_ENABLED = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
