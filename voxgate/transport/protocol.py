"""uvicorn's httptools protocol, guarded against clients that send slowly or too much.

uvicorn bounds only the idle time between requests. A client that drips its headers, or its body a byte at
a time, holds a connection (and, for a body, the request's task) for as long as it likes, and httptools
keeps any amount of header bytes. Here, per connection:

- the request line and headers must arrive within `header_timeout_s` and fit in `max_header_bytes` (431);
- a body must keep arriving: no gap over `body_idle_timeout_s`, at least `body_min_rate` bytes/s on average after
  the first `body_idle_timeout_s`, all of it within `body_timeout_s`. Time the app spends not reading (uvicorn
  pauses the socket then) does not count against the client;
- a body the app did not read (a 401 or 413 answered early) is discarded for at most `linger_s`, then the
  connection is closed, so a refused upload cannot keep streaming into the server.

A connection that breaks a deadline is closed; the ASGI app sees a disconnect."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from voxgate.config import ConnectionSettings

TICK_S = 0.5


def _envelope(status: int, reason: str, message: str, code: str) -> bytes:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                 "code": code}}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n").encode()
    return head + body


class GuardedProtocol(HttpToolsProtocol):
    """One connection; `limits` is set on the subclass `guarded_protocol` makes."""

    limits: ClassVar[ConnectionSettings]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._phase = "idle"  # idle -> headers -> body -> done (the request's body is all in)
        self._header_bytes = 0
        self._headers_deadline = 0.0
        self._body_bytes = 0
        self._body_active_s = 0.0
        self._body_last_s = 0.0  # active seconds at the last body bytes
        self._too_large = False

    # -- the deadlines --------------------------------------------------------------------------------

    def _arm(self, delay: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _close(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.close()

    def _headers_late(self) -> None:
        if self._phase == "headers":
            self._close()

    def _body_tick(self) -> None:
        """Every TICK_S while a body is due: count only time the socket was being read."""
        if self._phase != "body":
            return
        if not self.flow.read_paused:
            self._body_active_s += TICK_S
            limits = self.limits
            active = self._body_active_s
            if (active - self._body_last_s > limits.body_idle_timeout_s or active > limits.body_timeout_s
                    or (active > limits.body_idle_timeout_s and self._body_bytes / active < limits.body_min_rate)):
                self._close()
                return
        self._arm(TICK_S, self._body_tick)

    # -- uvicorn's hooks --------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._begin_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _begin_headers(self) -> None:
        self._phase, self._header_bytes = "headers", 0
        self._arm(self.limits.header_timeout_s, self._headers_late)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase != "headers":  # the next request on a kept-alive connection
            self._begin_headers()

    def on_url(self, url: bytes) -> None:
        self._count_header(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header(len(name) + len(value))
        super().on_header(name, value)

    def _count_header(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.limits.max_header_bytes:
            self._too_large = True
            raise ValueError("request headers too large")  # httptools turns it into a parser error

    def on_headers_complete(self) -> None:
        if self.parser.should_upgrade():  # a WebSocket takes the connection over: its own protocol's rules
            self._phase = "upgraded"
            self._disarm()
        else:
            self._phase, self._body_bytes, self._body_active_s, self._body_last_s = "body", 0, 0.0, 0.0
            self._arm(TICK_S, self._body_tick)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        self._body_last_s = self._body_active_s
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._phase = "done"
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._phase == "body" and not self.transport.is_closing():  # answered before its body was read
            self._phase = "lingering"
            self._arm(self.limits.linger_s, self._close)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to an unparseable request, in the API's error envelope."""
        if self._too_large:
            payload = _envelope(431, "Request Header Fields Too Large",
                                f"the request line and headers exceed {self.limits.max_header_bytes} bytes",
                                "headers_too_large")
        else:
            payload = _envelope(400, "Bad Request", "the HTTP request could not be parsed", "invalid_http")
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(payload)
            self.transport.close()


def guarded_protocol(limits: ConnectionSettings) -> type[GuardedProtocol]:
    """The protocol class to hand to uvicorn (`http=`), with these limits."""
    return type("VoxgateHttpProtocol", (GuardedProtocol,), {"limits": limits})
