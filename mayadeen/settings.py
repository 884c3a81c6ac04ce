"""Settings of the mayadeen crawler.

Every knob is a setting; the ``MAYADEEN_*`` ones are ours and documented in the README. Defaults are
polite to the live site; tests and benchmarks override them with ``-s``.
"""

from mayadeen import __version__ as _version  # lowercase: not read as settings
from mayadeen import urls as _urls

BOT_NAME = "mayadeen"
SPIDER_MODULES = ["mayadeen.spiders"]
NEWSPIDER_MODULE = "mayadeen.spiders"

# --- ours ---------------------------------------------------------------------------------------
# The site's identity, fixed (any other value is refused): every URL requested, stored and written is
# on it, whatever host pages are fetched from (that is MAYADEEN_BASE_URL).
MAYADEEN_PUBLIC_URL = "https://english.almayadeen.net"
# Fetch from a mirror instead (e.g. http://127.0.0.1:8000); the spider argument base_url sets it too.
MAYADEEN_BASE_URL = ""
# The SQLite store; an empty string turns it off.
MAYADEEN_SQLITE_PATH = "data/mayadeen.sqlite"
# Crawls share the store: seconds one store write waits for another crawl's transaction on the file.
MAYADEEN_SQLITE_BUSY_TIMEOUT = 60
# The JOBDIR journal is rewritten with only the items in flight once it holds more lines than this.
MAYADEEN_JOURNAL_MAX_LINES = 10_000
# A run whose JOBDIR another run has held longer than this many seconds fails (jobdir_stuck, exit 1)
# instead of being skipped (exit 75): that run may be hung. 0: never.
MAYADEEN_JOBDIR_STUCK_AFTER = 0
# A JOBDIR job whose runs were killed this many times while the same item page was being extracted
# (since its last run that ended without a kill) gives that page up as a failing item (with a store,
# tried again by later jobs after MAYADEEN_FAILING_RETRY_INTERVAL): a page that kills the crawler would
# otherwise kill every run. 0: never.
MAYADEEN_MAX_KILLS_IN_FLIGHT = 3
# Query parameters that never make a different page (besides every utm_* parameter).
MAYADEEN_TRACKING_PARAMS = list(_urls.DEFAULT_TRACKING_PARAMS)

# --- scrapy export ------------------------------------------------------------------------------
# CSV text cells that start with =, +, -, @, a tab, a carriage return or ' get a leading ' so that a
# spreadsheet shows them instead of running them as formulas (the card says so). Default True; False
# writes cells as they are (for programs that read CSV, never a spreadsheet).
MAYADEEN_EXPORT_CSV_ESCAPE_FORMULAS = True

# --- politeness ---------------------------------------------------------------------------------
USER_AGENT = f"mayadeen/{_version} (+https://github.com/mayadeen/mayadeen; news archive crawler)"
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

# --- bounds on what one crawl takes in (a hostile or broken site must not exhaust the machine) ------
# Each is counted (mayadeen/capped/<bound>), logged as a WARNING and named in the run summary
# (capped=...); the run still ends normally with what it fetched. 0 turns a bound off.
# URLs read from one sitemap (50,000: the sitemap protocol's own limit); the rest of it is ignored.
MAYADEEN_MAX_SITEMAP_URLS = 50_000
# Requests waiting in the scheduler (about 4 kB of memory each without JOBDIR): while this many wait,
# newly discovered ones are dropped (retries and redirects of requests already taken are not).
MAYADEEN_MAX_QUEUED_REQUESTS = 100_000
# Flashes read from one ticker (the site shows about ten): a longer ticker is broken; its first ones are kept.
MAYADEEN_MAX_TICKER_FLASHES = 200
# `scrapy reextract` skips an archived response whose body is larger than DOWNLOAD_MAXSIZE.

# The components of a crawl, in order: their own module, one place to read the order in.
from mayadeen.components import (  # noqa: E402, F401 - settings: Scrapy reads them from this module
    ADDONS,
    DOWNLOADER_MIDDLEWARES,
    EXTENSIONS,
    FEED_STORAGES,
    ITEM_PIPELINES,
    SCHEDULER,
    SPIDER_MIDDLEWARES,
)

# --- records in flight and the default feed ------------------------------------------------------
# Outputs of one callback processed at once. Scrapy starts this many tasks for every response,
# whatever it yields (an item page yields one record; its writes queue in one store thread anyway):
# 100, Scrapy's default, cost about 0.5 ms a page (bench/sections_vs_bare.py).
CONCURRENT_ITEMS = 16
# JSON Lines appended to this file when the command line names no feed (`-o`/`-O` replace it);
# empty: none.
MAYADEEN_JSONL_PATH = "data/articles.jsonl"
FEED_EXPORT_ENCODING = "utf-8"

# --- scheduled, incremental, resumable runs --------------------------------------------------------
# `scrapy crawl` exits 1 when the run failed and ends its log with a one-line summary.
COMMANDS_MODULE = "mayadeen.commands"
# A run fails when more than this share (0-1) of its records is dropped as invalid (duplicates aside).
MAYADEEN_MAX_DROPPED_SHARE = 0.2

# --- the browser: client-side listings and challenge pages ------------------------------------------
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
# scrapy-playwright's handler, accepting a render only when its page stayed on the origin it was sent
# to (mayadeen.browser.confine); plain requests go through it as plain HTTP.
DOWNLOAD_HANDLERS = {
    "http": "mayadeen.browser.confine.ConfinedPlaywrightHandler",
    "https": "mayadeen.browser.confine.ConfinedPlaywrightHandler",
}
PLAYWRIGHT_BROWSER_TYPE = "chromium"
PLAYWRIGHT_LAUNCH_OPTIONS = {
    "headless": True,
    # No background traffic of the browser's own (updates, sync, field trials, safe browsing...).
    "args": [
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-domain-reliability",
        "--metrics-recording-only",
        "--mute-audio",
        "--no-default-browser-check",
        # No WebRTC over UDP (no route sees it: without the second flag a page's STUN request
        # reaches any host; Chromium 156 ignores the first, kept for other builds) and no
        # prerendering. BrowserAddon adds the flags that let Chromium connect to and resolve the
        # site's origin only (a proxy that answers nothing for every other host and port), which
        # stops the preconnects and DNS prefetches no route sees.
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--webrtc-ip-handling-policy=disable_non_proxied_udp",
        # Chromium keeps only the last --disable-features: Playwright's (1.65) own list first, which
        # ours would otherwise replace (media router discovery, optimization hints, network time
        # queries... back on), then ours.
        "--disable-features=AvoidUnnecessaryBeforeUnloadCheckSync,DestroyProfileOnBrowserClose,HttpsUpgrades,"
        "HttpsFirstBalancedModeAutoEnable,LensOverlay,MediaRouter,PaintHolding,ThirdPartyStoragePartitioning,"
        "AvoidCorsURLLoaderRestartOnRedirect,TcpPortRandomizationWin,OptimizationHints,NetworkTimeServiceQuerying,"
        "AimEnabled,PreconnectToSearch,msForceBrowserSignIn,msEdgeUpdateLaunchServicesPreferredVersion,"
        "Prerender2",
        # No image is loaded at all, not even one Chromium fetched before a page's routes saw it
        # (seen under load: a lazy image's placeholder); a listing needs none.
        "--blink-settings=imagesEnabled=false",
    ],
}
# Documents, scripts and XHR/fetch of the exact origin (scheme, host, port) the page was sent to, and
# nothing else: no images, fonts, media, stylesheets, third-party requests, navigation elsewhere
# (mayadeen.browser.confine; the page init callback that confines each page is in browser_meta).
PLAYWRIGHT_ABORT_REQUEST = "mayadeen.browser.confine.should_abort_request"
# One context (shared cookies), at most 2 pages at once: each page is a renderer process of its own
# (about 0.5 s of CPU to start), and a crawl renders few pages (one per client-side listing, a
# challenge's retry); 7 renders took 4.5 s of CPU in 2 pages against 5.5 s in 4, in no more time. A
# listing render leaves its page on about:blank for the next one (mayadeen.browser.pages); a failed
# one closes it.
PLAYWRIGHT_MAX_CONTEXTS = 1
PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 2
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 30_000
# Playwright's driver starts with the first render, not with every crawl (which waited a second or
# more for it, rendering nothing in most runs).
PLAYWRIGHT_BROWSER_PROVIDER = "mayadeen.browser.provider.OnDemandPlaywright"

# --- faults, bad input and layout drift -----------------------------------------------------------
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
    "record": 0.9,
    "url": 1.0,
    "article_id": 1.0,
    "kind": 1.0,
    "section_group": 1.0,
    "section": 1.0,
    "headline": 1.0,
    "body": 1.0,
    "authors": 1.0,
    "date_published": 1.0,
    "language": 1.0,
    "date_modified": 0.8,
    "tags": 0.8,
    "shares": 0.8,
    "image": 0.8,
    "images": 0.8,
    "related": 0.5,
    "summary": {"article": 0.8},
    "read_time_minutes": {"article": 0.8},
    "video": {"video": 0.8},
}
# Shares below 1.0 are judged only from this many item pages (of the kind) on: a few pages say little.
MAYADEEN_COVERAGE_MIN_PAGES = 10
# Off switches: retrying incomplete answers, honouring Retry-After, the coverage report and check.
MAYADEEN_INTEGRITY_ENABLED = True
MAYADEEN_RETRY_AFTER_ENABLED = True
MAYADEEN_COVERAGE_ENABLED = True

# --- outcomes, given-up items, progress -------------------------------------------------------------
# A run fails (too_many_given_up) when more than this share (0-1) of its item pages is given up after
# its retries; fewer is a warning, and those items are retried by later runs.
MAYADEEN_MAX_GIVEN_UP_SHARE = 0.2
# On: a crawl that skips client-side listings for want of a browser fails (browser_missing); off: a warning.
MAYADEEN_REQUIRE_BROWSER = False
# An item page given up is not requested again before this many seconds (doubled with each further
# failed run, at most the _MAX): one page that keeps failing costs later runs nothing.
MAYADEEN_FAILING_RETRY_INTERVAL = 900
MAYADEEN_FAILING_RETRY_INTERVAL_MAX = 86400
# Seconds between progress lines (and crawl_runs updates) during a run; 0: none.
MAYADEEN_PROGRESS_INTERVAL = 60

# --- monitors, alerts and metrics (mayadeen.monitors; see the README's "Monitoring") ----------------
# Spidermon runs mayadeen.monitors.suites: CloseSuite when the spider closes, PeriodicSuite every
# N seconds during the run (the keys are Spidermon's).
SPIDERMON_ENABLED = True
SPIDERMON_SPIDER_CLOSE_MONITORS = ["mayadeen.monitors.suites.CloseSuite"]
SPIDERMON_PERIODIC_MONITORS = {"mayadeen.monitors.suites.PeriodicSuite": 300}
# Item count: a run that ran out of work is compared with the median items seen (fetched or skipped as
# unchanged) of the last _HISTORY_RUNS runs of the spider with the same arguments that worked, once
# there are _HISTORY_MIN_RUNS of them; fewer than _ITEM_COUNT_RATIO of it is an alert.
MAYADEEN_MONITOR_HISTORY_RUNS = 7
MAYADEEN_MONITOR_HISTORY_MIN_RUNS = 3
MAYADEEN_MONITOR_ITEM_COUNT_RATIO = 0.7
# Responses with these statuses ("5xx": any 5..) above this share of all responses, and at least
# _MIN_UNWANTED of them, are an alert (a block by the site).
MAYADEEN_MONITOR_UNWANTED_STATUSES = ["403", "429", "5xx"]
MAYADEEN_MONITOR_MAX_UNWANTED_SHARE = 0.1
MAYADEEN_MONITOR_MIN_UNWANTED = 3
# More ERROR log lines than this are an alert.
MAYADEEN_MONITOR_MAX_ERRORS = 0
# A spider that reads the breaking ticker and has not read it for this many seconds: an alert.
MAYADEEN_MONITOR_TICKER_MAX_AGE = 1800
# Alerts: a JSON POST to this URL (Slack-compatible "text"); "" = none.
MAYADEEN_ALERT_WEBHOOK = ""
# Alerts by e-mail through this SMTP server ("" = none); TLS: "starttls", "ssl" or "" (plain).
MAYADEEN_ALERT_SMTP_HOST = ""
MAYADEEN_ALERT_SMTP_PORT = 25
MAYADEEN_ALERT_SMTP_TLS = ""
MAYADEEN_ALERT_SMTP_USER = ""
MAYADEEN_ALERT_SMTP_PASSWORD = ""
MAYADEEN_ALERT_SMTP_FROM = ""
MAYADEEN_ALERT_SMTP_TO = []
# Seconds one alert may take to send.
MAYADEEN_ALERT_TIMEOUT = 10
# The Prometheus text file ("{spider}" = the spider's name; "" = none), written at every progress interval
# and at the end; a port (0 = none) serving the same at /metrics, on this address.
MAYADEEN_METRICS_FILE = ""
MAYADEEN_METRICS_PORT = 0
MAYADEEN_METRICS_ADDRESS = "127.0.0.1"

# --- the breaking-news ticker ---------------------------------------------------------------------
# `scrapy crawl breaking` appends the flashes it has never seen before here when no -o/-O is given.
MAYADEEN_BREAKING_JSONL_PATH = "data/breaking.jsonl"
# Other crawls store the ticker of every page they fetch anyway (no extra request); False turns it off.
MAYADEEN_BREAKING_HARVEST = True
# A flash links to the stored article whose headline is at least this alike (Dice coefficient of the
# content words, 0-1; 0 turns linking off) and published up to this many seconds after the flash.
MAYADEEN_BREAKING_LINK_SIMILARITY = 0.5
MAYADEEN_BREAKING_LINK_WINDOW = 24 * 3600
# `-a watch=SECONDS`: a long-running watch reads robots.txt again this often (seconds).
MAYADEEN_BREAKING_ROBOTS_REFRESH = 3600

# --- the WARC archive and re-extraction -------------------------------------------------------------
# Item-page responses the crawl used, archived as WARC 1.1 (request + response records, revisits for
# identical payloads), so `scrapy reextract` can rebuild records after an extraction fix; "" = off.
MAYADEEN_WARC_DIR = "data/warc"
# Archive every response (listings, sitemaps, feeds, errors) too, not only those that gave an item.
MAYADEEN_WARC_ALL = False
# A WARC file is closed at this many bytes and the next one opened (1 GB, the WARC guidelines' size).
MAYADEEN_WARC_MAX_SIZE = 1_000_000_000
# `scrapy reextract --warc FILES` (CC-NEWS, others' WARC files) logs its progress this often (seconds; 10).
MAYADEEN_WARC_PROGRESS_SECONDS = 10
# A crawl does not start (exit 1, archive_not_writable) when the WARC folder's file system has less
# free space than this, in MB; 0 turns the check off. A response that cannot be archived during the
# crawl fails the run (lost_archive).
MAYADEEN_MIN_FREE_SPACE_MB = 100

# --- several machines: one crawl spread over workers through Redis ---------------------------------
# redis://host:port/db: every worker started with the same spider and -a crawl_id joins one crawl
# (a leased queue and duplicate filter in Redis, one politeness budget for the site). A crawl that has
# ended stays ended: a worker started later does nothing, unless given -a restart=1.
MAYADEEN_REDIS_URL = ""
# Seconds a worker's leases and budget slots live without its heartbeat (every 1/5 of this): a killed
# worker's requests go back to the queue after this long.
MAYADEEN_REDIS_LEASE_TTL = 30.0
# Seconds between two looks at the queue of a worker that has nothing to do (or waits for a free slot).
MAYADEEN_REDIS_POLL_INTERVAL = 0.2
# Seconds a worker retries an unreachable Redis (with backoff) before it stops with exit status 1.
# None: the longest the lease TTL allows (TTL - 2 heartbeat intervals - 2 socket timeouts: 15 s at
# the default TTL); a longer value is refused at start, as nothing renews the leases meanwhile.
MAYADEEN_REDIS_RETRY_TIMEOUT = None
# Times a request's lease may expire (each worker that held it killed or lost) before the crawl gives
# it up instead of queuing it again: a page that kills its worker would take the workers down one after
# another. An item page given up is remembered as failing and retried by later runs; 0: never give up.
MAYADEEN_REDIS_MAX_LEASE_EXPIRIES = 3

# --- several machines: one store that many crawlers write and many readers query -------------------
# sqlite:///path or postgresql://user@host:port/db; when set it replaces MAYADEEN_SQLITE_PATH (the
# SQLite shorthand), so several machines can store into one PostgreSQL database.
MAYADEEN_STORE_URL = ""
# Seconds a crawl retries a PostgreSQL store that went away (restart, network), with backoff, before
# the write fails (the item is then counted lost and the run fails); once per outage: after it, each
# write tries the server once (one connection attempt) and fails if it does not answer. A server that stops
# answering (hung, packets dropped) counts as gone once it answers neither a call nor a new connection
# (about 4-6 s), or a call has had no answer for this plus MAYADEEN_SQLITE_BUSY_TIMEOUT (its longest
# lock wait) seconds: its connection is cut, then retried.
MAYADEEN_STORE_RETRY_TIMEOUT = 60.0
# Seconds a store read (freshness lookups, sitemap reads, WARC revisit lookups, the item-count
# monitor's earlier runs at the end of a run; made off the reactor thread, as every write is) may wait
# for a lock or retry a server that went away. A distributed crawl refuses to start when this is not
# below MAYADEEN_REDIS_LEASE_TTL.
MAYADEEN_STORE_REACTOR_TIMEOUT = 10.0

# Off: it opens a local HTTP port and writes job files we do not use.
REMOTE_CONTROL_ENABLED = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
