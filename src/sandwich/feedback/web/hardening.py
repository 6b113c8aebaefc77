"""The outermost layer of the app (pure ASGI): a request-body cap, security
headers on every response, and a plain error page for any unhandled error.

- Body cap: a request whose ``Content-Length`` is over the limit is answered
  413 before anything reads it; a body without a length (chunked) is counted
  as it streams and cut off (413) as soon as it passes the limit, so no form
  parser ever sees more than ``max_body`` bytes.
- Headers: :data:`SECURITY_HEADERS` (and ``Strict-Transport-Security`` when
  the app runs HTTPS-only) are added to every response, including error
  pages, redirects, static files and the 500 page.
- Errors: an exception that no handler caught becomes a plain 500 page (no
  traceback, logged to the ``sandwich.feedback`` logger) instead of the
  server's bare "Internal Server Error".
"""

from __future__ import annotations

import logging

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("sandwich.feedback")

DEFAULT_MAX_BODY = 64 * 1024

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # rater tokens live in URLs: never leak them
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
HSTS = ("Strict-Transport-Security", "max-age=31536000")

ERROR_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>error</title></head>'
    '<body><h1>Sorry</h1><p id="error">{message}</p></body></html>'
)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the cap: an
    HTTPException, so FastAPI's body parsing lets it through to the 413 page."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request is too large (at most {limit} bytes)")


class Hardening:
    def __init__(self, app: ASGIApp, max_body: int = DEFAULT_MAX_BODY, https_only: bool = False):
        self.app = app
        self.max_body = max_body
        headers = dict(SECURITY_HEADERS)
        if https_only:
            headers[HSTS[0]] = HSTS[1]
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        length = _content_length(scope)
        if length is not None and length > self.max_body:
            await self._error(send_with_headers, 413, BodyTooLarge(self.max_body).detail)
            return
        seen = 0

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        try:
            await self.app(scope, counted_receive, send_with_headers)
        except BodyTooLarge as exc:
            if not started:
                await self._error(send_with_headers, 413, exc.detail)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await self._error(
                    send_with_headers, 500, "something went wrong on the server; try again later"
                )

    @staticmethod
    async def _error(send: Send, status: int, message: str) -> None:
        from html import escape

        body = ERROR_PAGE.format(message=escape(message)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for k, v in scope.get("headers", []):
        if k.lower() == b"content-length":
            try:
                return int(v)
            except ValueError:
                return None
    return None
