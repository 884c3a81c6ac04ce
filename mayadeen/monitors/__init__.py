"""Monitors, alerts and metrics: the operator learns of a bad run from an alert, not from the data.

Spidermon (``SPIDERMON_*`` settings) runs the suites of ``mayadeen.monitors.suites`` at the end of
every run and every few minutes during it; each monitor (``mayadeen.monitors.monitors``) judges one
thing, with thresholds from ``MAYADEEN_MONITOR_*`` settings:

Fail the run (the data is wrong; exit status 1, ``crawl_runs.result``):
    field coverage below its floor; records dropped as invalid above ``MAYADEEN_MAX_DROPPED_SHARE``.
Alert only (a trend, or a run that already says why it failed):
    items seen against the median of earlier runs; unwanted HTTP statuses (403, 429, 5xx); ERROR
    lines; the finish reason; no ticker read for too long (the ``breaking`` spider, its watch mode).

What follows a check (``mayadeen.monitors.actions``): a log line per failed monitor and the run's
``crawl_runs.monitors_failed`` always; a webhook and an e-mail when set (``MAYADEEN_ALERT_*``), sent
off the reactor thread (``mayadeen.monitors.delivery``). ``mayadeen.monitors.metrics`` writes the
run's figures for Prometheus.
"""
