"""The Spidermon suites: which monitors run when (``SPIDERMON_SPIDER_CLOSE_MONITORS``,
``SPIDERMON_PERIODIC_MONITORS``), and the actions after them."""

from __future__ import annotations

from spidermon import MonitorSuite

from mayadeen.monitors.actions import EmailAlert, RecordMonitors, WebhookAlert
from mayadeen.monitors.monitors import (
    ErrorCountMonitor,
    FieldCoverageMonitor,
    FinishReasonMonitor,
    ItemCountMonitor,
    TickerMonitor,
    UnwantedStatusMonitor,
    ValidationMonitor,
)


class CloseSuite(MonitorSuite):
    """At the end of every run: the data (fails the run), then the trends and the run's end (alerts)."""

    monitors = [
        FieldCoverageMonitor,
        ValidationMonitor,
        ItemCountMonitor,
        UnwantedStatusMonitor,
        ErrorCountMonitor,
        FinishReasonMonitor,
        TickerMonitor,
    ]
    monitors_finished_actions = [RecordMonitors]
    monitors_failed_actions = [WebhookAlert, EmailAlert]


class PeriodicSuite(MonitorSuite):
    """During long runs and watch mode: what can be judged before the end (the item count cannot)."""

    monitors = [FieldCoverageMonitor, ValidationMonitor, UnwantedStatusMonitor, ErrorCountMonitor, TickerMonitor]
    monitors_finished_actions = [RecordMonitors]
    monitors_failed_actions = [WebhookAlert, EmailAlert]
