"""uvicorn's httptools protocol with the two timeouts it lacks: headers and body (slowloris).

uvicorn closes an idle keep-alive connection (`timeout_keep_alive`), but not one that dribbles its
request line and headers, or its body, a byte at a time: such a connection holds a socket and a
task for as long as the client likes. This subclass arms a timer

- for the headers when a connection opens and when a new request starts on a kept-alive one,
  disarmed once the headers are complete (`SENTIMENT_HEADER_TIMEOUT_S`);
- for the body when the headers are complete and a body follows, disarmed once the body is in
  (`SENTIMENT_BODY_TIMEOUT_S`).

A request uvicorn cannot parse (malformed request line or header, ...) gets a JSON 400
`invalid_http_request` instead of uvicorn's plain text. When a timer fires, the client gets a
JSON 408 (unless an answer has started) and the connection is closed; the app sees
`http.disconnect`. Each close is counted, by phase, in `sentiment_http_timeouts_total`
(process-wide, like the sockets). A client that keeps its connection alive between requests is
never cut: the header timer starts with the next request's first byte, and idle time is
uvicorn's `timeout_keep_alive`.
"""

from __future__ import annotations

import asyncio

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.errors import error_body
from service.metrics import HTTP_TIMEOUTS
from service.middleware import new_request_id


def closing_response(status: bytes, code: str, message: str) -> bytes:
    """A JSON error with a fresh request id, then `connection: close` (no app has seen the request)."""
    request_id = new_request_id()
    body = orjson.dumps(error_body(code, message, request_id))
    head = (
        b"HTTP/1.1 %s\r\ncontent-type: application/json\r\nx-request-id: %s\r\nconnection: close\r\n"
        b"content-length: %d\r\n\r\n" % (status, request_id.encode(), len(body))
    )
    return head + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol plus header and body read timeouts (see the module docstring)."""

    header_timeout_s: float | None = None  # None: read from Settings on first use (uvicorn's workers)
    body_timeout_s: float | None = None

    @classmethod
    def configure(cls, header_timeout_s: float, body_timeout_s: float) -> None:
        cls.header_timeout_s, cls.body_timeout_s = header_timeout_s, body_timeout_s

    @classmethod
    def _timeouts(cls) -> tuple[float, float]:
        if cls.header_timeout_s is None or cls.body_timeout_s is None:
            from service.config import Settings

            settings = Settings()
            cls.configure(settings.header_timeout_s, settings.body_timeout_s)
        assert cls.header_timeout_s is not None and cls.body_timeout_s is not None
        return cls.header_timeout_s, cls.body_timeout_s

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._read_timer: asyncio.TimerHandle | None = None
        self._headers_done = False
        super().connection_made(transport)
        self._arm("headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._headers_done = False
        if self._read_timer is None:
            self._arm("headers")

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self._disarm()
        super().on_headers_complete()
        if self.parser is not None and not self._bodyless():
            self._arm("body")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """What uvicorn answers for a request it cannot parse (a malformed request line or header),
        in the API's JSON error shape instead of plain text."""
        self.transport.write(closing_response(b"400 Bad Request", "invalid_http_request", msg))
        self.transport.close()

    def _bodyless(self) -> bool:
        for name, value in self.headers:
            if name == b"content-length":
                return value.strip() == b"0"
            if name == b"transfer-encoding":
                return False
        return True

    def _arm(self, phase: str) -> None:
        self._disarm()
        header_s, body_s = self._timeouts()
        self._read_timer = self.loop.call_later(header_s if phase == "headers" else body_s, self._expired, phase)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _expired(self, phase: str) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        HTTP_TIMEOUTS[phase] += 1
        started = self.cycle is not None and self._headers_done and self.cycle.response_started
        if not started:
            self.transport.write(
                closing_response(
                    b"408 Request Timeout", "request_timeout", f"the request {phase} did not arrive in time"
                )
            )
        self.transport.close()
