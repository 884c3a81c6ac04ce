"""What happens after the monitors ran: Spidermon ``Action`` classes.

``RecordMonitors`` (always): one log line per failed monitor (ERROR when it fails the run, else
WARNING), ``mayadeen/monitors/failed`` in the stats, ``crawl_runs.monitors_failed`` in the run's row,
the run's verdict (``RunOutcome.monitors_failed``) at the end of the run, and the alert the other
actions send (in Spidermon's ``data.meta``). ``WebhookAlert`` POSTs it as JSON to
``MAYADEEN_ALERT_WEBHOOK``; ``EmailAlert`` mails it through ``MAYADEEN_ALERT_SMTP_HOST``. Both send
through ``mayadeen.monitors.delivery.AlertDelivery``, off the reactor thread.
"""

from __future__ import annotations

import json
import logging
import smtplib
import socket
import ssl
import urllib.request
from email.message import EmailMessage
from typing import Any

from spidermon.core.actions import Action
from spidermon.exceptions import SkipAction

from mayadeen.extensions.run_outcome import RunOutcome
from mayadeen.monitors.delivery import AlertDelivery
from mayadeen.pipelines.store import StorePipeline, spider_arguments

logger = logging.getLogger(__name__)

ALERT = "mayadeen_alert"


class CrawlerAction(Action):
    def __init__(self, crawler):
        super().__init__()
        self.crawler = crawler

    @classmethod
    def from_crawler_kwargs(cls, crawler):
        return {"crawler": crawler}


def failure_of(result) -> dict[str, Any]:
    """A failed monitor's result as stored and sent: its name, message, figures, whether it fails the run."""
    monitor = result.item
    message = getattr(monitor, "message", None) or (result.error or "").strip().splitlines()[-1]
    return {
        "monitor": monitor.monitor_name,
        "message": message,
        "figures": getattr(monitor, "figures", {}),
        "fails_run": bool(getattr(monitor, "fails_run", False)),
    }


class RecordMonitors(CrawlerAction):
    def run_action(self):
        failures = [failure_of(r) for r in self.result.monitors_failed_results]
        closing = "finish_reason" in self.data.stats  # set once the spider closed
        stats = self.crawler.stats
        for f in failures:
            (logger.error if f["fails_run"] else logger.warning)(
                "Monitor %s failed (%s): %s", f["monitor"], "the run fails" if f["fails_run"] else "alert", f["message"]
            )
        stats.set_value("mayadeen/monitors/failed", ", ".join(f["monitor"] for f in failures))
        failing_run = [f["monitor"] for f in failures if f["fails_run"]]
        judge = self.crawler.get_extension(RunOutcome)
        if closing and failing_run and judge is not None:
            judge.monitors_failed(", ".join(failing_run))
        if closing or failures:
            self.store(failures)
        delivery = self.crawler.get_extension(AlertDelivery)
        new = delivery.to_alert(failures, closing) if delivery is not None else []
        self.alert = alert(self.crawler, failures, new, closing) if new else None

    def store(self, failures: list[dict[str, Any]]) -> None:
        """Into the run's row, by the store pipeline's writer (off the reactor, after the run's figures)."""
        run_id = self.crawler.stats.get_value("mayadeen/run_id")
        pipeline = self.crawler.get_item_pipeline(StorePipeline)
        if not run_id or pipeline is None or pipeline.writer is None:
            return
        written = pipeline.write(lambda store: store.update_run(run_id, {"monitors_failed": store.json(failures)}))
        written.addErrback(
            lambda failure: logger.warning("Could not store the failed monitors of run %s: %s", run_id, failure.value)
        )

    def get_meta(self):
        return {ALERT: getattr(self, "alert", None)}


def alert(crawler, failures: list[dict[str, Any]], new: list[dict[str, Any]], closing: bool) -> dict[str, Any]:
    """The alert as JSON: who (spider, run, host), when, the failed monitors with their figures, and
    ``text`` for chat tools (``&``, ``<``, ``>`` escaped as Slack wants them)."""
    spider, run_id = crawler.spider, crawler.stats.get_value("mayadeen/run_id")
    when = "at the end of the run" if closing else "during the run"
    lines = [
        (
            f"mayadeen: spider {spider.name}, run {run_id or '?'} on {socket.gethostname()}:"
            f" {len(new)} monitor(s) failed {when}"
        )
    ]
    lines += [f"- {f['monitor']} ({'fails the run' if f['fails_run'] else 'alert'}): {f['message']}" for f in new]
    text = "\n".join(lines)
    return {
        "text": text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
        "plain_text": text,
        "spider": spider.name,
        "run_id": run_id,
        "arguments": spider_arguments(spider),
        "host": socket.gethostname(),
        "run_ended": closing,
        "finish_reason": crawler.stats.get_value("finish_reason"),
        "monitors": new,
        "failing": [f["monitor"] for f in failures],
    }


class _Alert(CrawlerAction):
    #: The setting without which this action does nothing.
    required = ""

    def run_action(self):
        payload = self.data.meta.get(ALERT)
        if not payload:
            raise SkipAction("nothing new to alert")
        if not self.crawler.settings.get(self.required):
            raise SkipAction(f"{self.required} is not set")
        delivery = self.crawler.get_extension(AlertDelivery)
        if delivery is None:
            raise SkipAction("AlertDelivery is off")
        self.deliver(delivery, payload)

    def deliver(self, delivery: AlertDelivery, payload: dict[str, Any]) -> None:
        raise NotImplementedError


class WebhookAlert(_Alert):
    """``MAYADEEN_ALERT_WEBHOOK``: the alert as a JSON POST (Slack incoming webhooks show ``text``)."""

    required = "MAYADEEN_ALERT_WEBHOOK"

    def deliver(self, delivery, payload):
        delivery.send("webhook", post_json, self.crawler.settings.get(self.required), payload)


def post_json(url: str, payload: dict[str, Any], timeout: float) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # the operator's URL
        response.read()


class EmailAlert(_Alert):
    """``MAYADEEN_ALERT_SMTP_HOST``/``_PORT``/``_FROM``/``_TO`` (a list)/``_TLS`` (``starttls``, ``ssl``
    or empty)/``_USER``/``_PASSWORD``: the alert as a plain-text e-mail."""

    required = "MAYADEEN_ALERT_SMTP_HOST"

    def deliver(self, delivery, payload):
        s = self.crawler.settings
        server = {
            "host": s.get("MAYADEEN_ALERT_SMTP_HOST"),
            "port": s.getint("MAYADEEN_ALERT_SMTP_PORT", 25),
            "tls": (s.get("MAYADEEN_ALERT_SMTP_TLS") or "").lower(),
            "user": s.get("MAYADEEN_ALERT_SMTP_USER"),
            "password": s.get("MAYADEEN_ALERT_SMTP_PASSWORD"),
        }
        message = EmailMessage()
        message["Subject"] = (
            f"[mayadeen] {payload['spider']} run {payload['run_id']}:"
            f" {', '.join(f['monitor'] for f in payload['monitors'])} failed"
        )
        message["From"] = s.get("MAYADEEN_ALERT_SMTP_FROM") or f"mayadeen@{socket.gethostname()}"
        message["To"] = ", ".join(s.getlist("MAYADEEN_ALERT_SMTP_TO"))
        message.set_content(payload["plain_text"] + "\n\n" + json.dumps(payload["monitors"], indent=2) + "\n")
        delivery.send("e-mail", send_mail, server, message)


def send_mail(server: dict[str, Any], message: EmailMessage, timeout: float) -> None:
    if server["tls"] == "ssl":
        smtp = smtplib.SMTP_SSL(server["host"], server["port"], timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(server["host"], server["port"], timeout=timeout)
    with smtp:
        if server["tls"] == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if server["user"]:
            smtp.login(server["user"], server["password"] or "")
        smtp.send_message(message)
