"""Real receivers of alerts on 127.0.0.1: a webhook (HTTP server in a thread) and an SMTP server
(aiosmtpd), each on a free port, keeping what they received."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebhookReceiver:
    """``with WebhookReceiver() as hook: hook.url``; ``hook.posts``: the JSON bodies POSTed to it."""

    def __init__(self, status: int = 200):
        self.posts: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class MailReceiver:
    """``with MailReceiver() as smtp: smtp.port``; ``smtp.messages``: the e-mails it took."""

    def __init__(self):
        self.messages: list[Message] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def settings(self) -> dict[str, str]:
        """The crawl settings that send alerts here."""
        return {
            "MAYADEEN_ALERT_SMTP_HOST": "127.0.0.1",
            "MAYADEEN_ALERT_SMTP_PORT": str(self.port),
            "MAYADEEN_ALERT_SMTP_FROM": "crawler@example.org",
            "MAYADEEN_ALERT_SMTP_TO": "ops@example.org",
        }

    def __enter__(self) -> MailReceiver:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
