"""Every component of a crawl, in order: the downloader and spider middlewares, the scheduler, the
extensions, the item pipelines, the add-ons and the feed storages. Settings (``mayadeen.settings``
imports them), kept apart so that the order can be read in one place.
"""

# --- components: every downloader middleware, extension and pipeline, in order -----------------
# Scrapy's own are listed by name at their default positions (listing them changes nothing) so the
# order can be read in one place. Requests pass from low to high numbers towards the downloader,
# responses from high to low back to the spider.
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": 50,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": 100,
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": 300,
    "scrapy.downloadermiddlewares.downloadtimeout.DownloadTimeoutMiddleware": 350,
    "scrapy.downloadermiddlewares.defaultheaders.DefaultHeadersMiddleware": 400,
    "scrapy.downloadermiddlewares.useragent.UserAgentMiddleware": 500,
    # Replaced by BackoffRetryMiddleware at its position.
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    # A sitemap or RSS that could not be read after its retries: one ERROR naming it, a stat.
    "mayadeen.middlewares.sources.SourceHealthMiddleware": 545,
    # Scrapy's retries with exponential backoff between attempts; sees responses after every check below.
    "mayadeen.middlewares.retry.BackoffRetryMiddleware": 550,
    # Marks client-side listings for the browser, or drops them (said once) when there is none.
    "mayadeen.browser.render.RenderMiddleware": 560,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": 580,
    # After decompression (590), before retries (550) and meta refresh (580) could act on a
    # challenge page; before cookies (700) on requests, to hand them the browser's cookies.
    "mayadeen.browser.challenge.ChallengeMiddleware": 585,
    # Wrong Content-Type / charset: the body decides (on the decompressed body, after 590).
    "mayadeen.middlewares.sniff.ContentSniffMiddleware": 588,
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": 590,
    # Empty, cut-off or undecodable answers are retried, never parsed (on the raw body, before 590).
    "mayadeen.middlewares.integrity.ResponseIntegrityMiddleware": 595,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": 600,
    # A redirect back into its own chain is retried later (sees it before RedirectMiddleware, 600).
    "mayadeen.middlewares.redirect_loop.RedirectLoopMiddleware": 610,
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": 700,
    "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware": 750,
    # Drops discovery requests the spider does not want and asks for monthly sitemaps read before
    # conditionally (before DownloaderStats, 850, so a dropped request is not counted as sent).
    "mayadeen.middlewares.sitemap_requests.SitemapRequestsMiddleware": 840,
    "scrapy.downloadermiddlewares.stats.DownloaderStats": 850,
    "scrapy.downloadermiddlewares.httpcache.HttpCacheMiddleware": 900,
    # Only http(s) on the site or the mirror: never another host, a private address, file: or data:
    # (the last check of a request's final URL, after every redirect and rewrite above).
    "mayadeen.middlewares.url_guard.UrlGuardMiddleware": 940,
    # Archives each response as received (still compressed) with its public URL: the mirror is a
    # download handler (MirrorAddon), so no middleware ever sees the mirror's host.
    "mayadeen.archive.middleware.WarcArchiveMiddleware": 945,
    # Last before the downloader: a request that stopped being due on its way (a Retry-After came,
    # robots.txt held it up past its download delay) goes back to the scheduler instead of out.
    "mayadeen.middlewares.due_guard.DueGuardMiddleware": 990,
}
# Scrapy's spider middlewares at their default positions, and ours.
SPIDER_MIDDLEWARES = {
    # The failing items due again, on every worker: outside the distributed crawl's seeding (20).
    "mayadeen.middlewares.failing_retries.FailingRetriesMiddleware": 15,
    "scrapy.spidermiddlewares.start.StartSpiderMiddleware": 25,
    "scrapy.spidermiddlewares.httperror.HttpErrorMiddleware": 50,
    "scrapy.spidermiddlewares.referer.RefererMiddleware": 700,
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": 800,
    "scrapy.spidermiddlewares.depth.DepthMiddleware": 900,
    # Item requests Scrapy's SitemapSpider makes get the spider's item_failed errback (given-up items
    # are remembered); after Scrapy's own, so it sees every request a callback yields.
    "mayadeen.middlewares.item_errback.ItemErrbackMiddleware": 940,
    # The item requests Scrapy's SitemapSpider makes of a sitemap are judged by freshness (a store
    # lookup, off the reactor) before they go on.
    "mayadeen.middlewares.sitemap_freshness.SitemapFreshnessMiddleware": 930,
    # Archives the response an item came from and indexes it (warc_captures) in the item's
    # transaction; near the spider, so it sees the items exactly as the callback made them.
    "mayadeen.archive.middleware.ItemCaptureMiddleware": 950,
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": 1000,
}
# Requests wait for their retry deadline or a Retry-After in the scheduler, not in the downloader.
SCHEDULER = "mayadeen.scheduler.DueScheduler"
EXTENSIONS = {
    "scrapy.extensions.corestats.CoreStats": 0,
    # Counts log lines until the engine stops: lines logged as the spider closes count too.
    "scrapy.extensions.logcount.LogCount": None,
    "mayadeen.extensions.log_count.LogCountToTheEnd": 0,
    "scrapy.extensions.telnet.TelnetConsole": 0,
    "scrapy.extensions.memusage.MemoryUsage": 0,
    "scrapy.extensions.memdebug.MemoryDebugger": 0,
    "scrapy.extensions.closespider.CloseSpider": 0,
    "scrapy.extensions.feedexport.FeedExporter": 0,
    # Replaced by Progress (below), which says more than "Crawled N pages".
    "scrapy.extensions.logstats.LogStats": None,
    "scrapy.extensions.spiderstate.SpiderState": 0,
    "scrapy.extensions.throttle.AutoThrottle": 0,
    "scrapy.extensions.remote_control.RemoteControl": 0,
    # Alone decides whether an idle crawl failed (site_unreachable, errors_no_items, too_many_dropped,
    # lost_records, ...); the others report to it. After Scrapy's own, so their stats are complete.
    "mayadeen.extensions.run_outcome.RunOutcome": 500,
    # With JOBDIR: resumable after SIGKILL too, and a new crawl once a crawl has ended.
    "mayadeen.extensions.resume.ResumeAfterKill": 510,
    # Field coverage report at the end of every run; below MAYADEEN_COVERAGE_MIN it reports the run
    # as failed to RunOutcome.
    "mayadeen.extensions.coverage.FieldCoverage": 520,
    # Retry-After holds the site's download slot in the scheduler (wall-clock, kept in JOBDIR).
    "mayadeen.extensions.retry_after.RetryAfter": 530,
    # Given-up item pages: a warning, remembered in the store and retried by later runs.
    "mayadeen.extensions.failing_items.FailingItems": 540,
    # A download that failed on the network: its ERROR line without Twisted's traceback.
    "mayadeen.extensions.network_errors.NetworkErrorsInOneLine": 0,
    # A progress line (and the crawl_runs row updated) every MAYADEEN_PROGRESS_INTERVAL seconds.
    "mayadeen.extensions.progress.Progress": 550,
    # Flashes of every page a crawl fetches go to breaking_news (MAYADEEN_BREAKING_HARVEST).
    "mayadeen.breaking.harvest.TickerHarvest": 560,
    # Each stored article is linked to the flashes it covers.
    "mayadeen.breaking.linking.ArticleLinker": 570,
    # The item-count monitor's earlier runs, read off the reactor as the spider closes.
    "mayadeen.monitors.history.EarlierRuns": 590,
    # Spidermon runs the monitors (mayadeen.monitors) at spider close and periodically; after the
    # components above, so their stats, the coverage and the run's verdict are complete.
    "spidermon.contrib.scrapy.extensions.Spidermon": 600,
    # Sends the monitors' alerts off the reactor thread and waits for them at spider close (after Spidermon).
    "mayadeen.monitors.delivery.AlertDelivery": 610,
    # MAYADEEN_METRICS_FILE / MAYADEEN_METRICS_PORT: the run's figures for Prometheus (last: the verdict is known).
    "mayadeen.monitors.metrics.PrometheusMetrics": 620,
}
# Scrapy has no pipelines of its own. Each record is completed, checked, deduplicated, then stored.
ITEM_PIPELINES = {
    # scraped_at and content_hash.
    "mayadeen.pipelines.enrich.EnrichPipeline": 100,
    # Records that break the JSON Schema are dropped and counted.
    "mayadeen.pipelines.validate.ValidatePipeline": 200,
    # One record per url and per article_id in a run.
    "mayadeen.pipelines.dedupe.DedupePipeline": 300,
    # Last: only whole, valid, new records reach SQLite.
    "mayadeen.pipelines.store.StorePipeline": 800,
}
ADDONS = {
    # A WARNING for each -s NAME that neither Scrapy, its add-ons nor this project defines (a typo
    # such as DOWNLOAD_DELAI), with the closest name; the crawl goes on.
    "mayadeen.setting_names.SettingNamesAddon": 0,
    # JSON Lines to MAYADEEN_JSONL_PATH when the command line names no feed.
    "mayadeen.feeds.default_feed.DefaultFeedAddon": 0,
    # Puts the MAYADEEN_CHROMIUM_PATH executable into PLAYWRIGHT_LAUNCH_OPTIONS, or, when there is
    # no browser, the plain HTTP handlers back into DOWNLOAD_HANDLERS (no idle Playwright driver).
    "mayadeen.browser.chromium.BrowserAddon": 0,
    # MAYADEEN_REDIS_URL: the distributed scheduler, leased queue and shared politeness budget.
    "mayadeen.distributed.addon.DistributedAddon": 0,
    # base_url: the http(s) download handlers fetch the public URLs from the mirror (after
    # BrowserAddon has chosen the handlers).
    "mayadeen.mirror.MirrorAddon": 10,
}
# JSON Lines written unbuffered, a torn last line from a killed run cut before appending.
FEED_STORAGES = {
    "": "mayadeen.feeds.storage.KillSafeFileFeedStorage",
    "file": "mayadeen.feeds.storage.KillSafeFileFeedStorage",
}
