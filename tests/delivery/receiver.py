"""A real webhook receiver on 127.0.0.1 for tests: verifies signatures with `standardwebhooks`."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

# (status, extra headers, seconds to wait before answering)
Reply = tuple[int, dict[str, str], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    msg_id: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass
class Receiver:
    """Answers each POST with `reply(n)` (n = 0-based request number) after verifying it."""

    secret: str
    port: int = field(default_factory=free_port)
    reply: Callable[[int], Reply] = lambda _n: (200, {}, 0.0)
    received: list[Received] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/emotion"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload = Webhook(receiver.secret).verify(body, headers)
                except WebhookVerificationError as exc:
                    receiver.rejected.append(str(exc))
                    self._answer(401, {}, 0.0)
                    return
                with receiver._lock:
                    n = len(receiver.received)
                    receiver.received.append(Received(headers["webhook-id"], payload, headers, time.time()))
                self._answer(*receiver.reply(n))

            def _answer(self, status: int, extra: dict[str, str], delay: float) -> None:
                time.sleep(delay)
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default backlog of 5 resets concurrent senders' connections

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def unique(self) -> dict[str, Received]:
        """What a de-duplicating receiver keeps: the first copy of each webhook-id."""
        seen: dict[str, Received] = {}
        for item in self.received:
            seen.setdefault(item.msg_id, item)
        return seen

    def count(self, msg_id: str) -> int:
        return sum(1 for item in self.received if item.msg_id == msg_id)

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()
