"""Settings of the mayadeen crawler.

Every knob is a setting; the ``MAYADEEN_*`` ones are ours and documented in the README. Defaults are
polite to the live site; tests and benchmarks override them with ``-s``.
"""

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
# Seconds a crawl waits for another crawl's writer lock on the store before closing with store_locked.
MAYADEEN_SQLITE_LOCK_TIMEOUT = 0
# Query parameters that never make a different page (besides every utm_* parameter).
MAYADEEN_TRACKING_PARAMS = ["fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "ref", "s_src"]

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
    "mayadeen.pipelines.sqlite_store.SQLiteStorePipeline": 800,
}
# JSON Lines under data/; `-o`/`-O` on the command line replace this.
FEEDS = {
    "data/articles.jsonl": {"format": "jsonlines", "encoding": "utf8", "overwrite": False},
}
FEED_EXPORT_ENCODING = "utf-8"

# Off: it opens a local HTTP port and writes job files we do not use.
REMOTE_CONTROL_ENABLED = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
