"""A tiny OpenAI-compatible HTTP server in a thread, scripted to misbehave (for fault tests).

Each POST takes the next behaviour from ``script`` (then ``"ok"`` forever):
``ok`` (a chat completion echoing the last message), ``500``, ``429``, ``400``,
``badjson`` (200 with a body that is not JSON), ``nochoices`` (200, JSON without
``choices``), ``timeout`` (sleeps ``delay`` seconds before answering).
``/completions`` answers in the legacy text-completion format (``text``; log-probs
as ``token_logprobs`` and a ``{token: log-prob}`` map per token).
Every request's path, headers and body are recorded in ``received``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    steps: list[str] = field(default_factory=list)
    delay: float = 1.0
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    max_in_flight: int = 0  # most requests the server was answering at once

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def next(self) -> str:
        with self.lock:
            return self.steps.pop(0) if self.steps else "ok"


def _completion(body: dict[str, Any]) -> dict[str, Any]:
    last = body["messages"][-1]["content"]
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": f"echo: {last}"},
        "finish_reason": "stop",
    }
    if body.get("logprobs"):
        top = [
            {"token": " A", "logprob": -0.4},
            {"token": "A", "logprob": -2.0},
            {"token": " B", "logprob": -1.5},
        ]
        choice["logprobs"] = {"content": [{"token": " A", "logprob": -0.4, "top_logprobs": top}]}
    return {"id": "x", "object": "chat.completion", "choices": [choice], "usage": {}}


def _text_completion(body: dict[str, Any]) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "text": f"echo: {body['prompt']}",
                              "finish_reason": "stop"}  # fmt: skip
    if body.get("logprobs"):
        top = {" A": -0.4, "A": -2.0, " B": -1.5}
        choice["logprobs"] = {"tokens": [" A"], "token_logprobs": [-0.4], "top_logprobs": [top]}
    return {"id": "x", "object": "text_completion", "choices": [choice], "usage": {}}


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(self, code: int, payload: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)

        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(n))
            script.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            step = script.next()
            if step == "timeout":
                script.enter()
                try:
                    time.sleep(script.delay)
                finally:
                    script.leave()
                step = "ok"
            if step == "ok":
                reply = _text_completion if self.path.endswith("/v1/completions") else _completion
                self._send(200, json.dumps(reply(body)).encode())
            elif step in {"500", "429", "400"}:
                self._send(int(step), b'{"error": "scripted"}')
            elif step == "badjson":
                self._send(200, b'{"choices": [ {"message": ')
            elif step == "nochoices":
                self._send(200, b'{"id": "x"}')
            else:
                raise AssertionError(step)

    return Handler


@contextmanager
def scripted_server(script: Script) -> Iterator[str]:
    """Serve on 127.0.0.1 (a free port); yields the base URL (``http://127.0.0.1:PORT/v1``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
