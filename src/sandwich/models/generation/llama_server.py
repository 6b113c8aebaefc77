"""Start a real OpenAI-compatible server (llama-cpp-python's) on 127.0.0.1 for a GGUF file.

Used by the integration test and the HTTP benchmark against the embedded
SmolLM2 GGUF; handy for trying the ``openai`` backend without a GPU server.
Needs the optional extra ``pip install 'sandwich[server]'`` (compiles llama.cpp
once). Only loopback is used; the process is stopped when the context exits.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

from sandwich.errors import SandwichError


class ServerError(SandwichError):
    """The local server could not be started."""


def server_available() -> bool:
    """True when llama-cpp-python's server extra is importable."""
    return all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "uvicorn", "fastapi"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def llama_server(
    gguf: Path,
    *,
    model_alias: str = "local-gguf",
    n_ctx: int = 2048,
    n_threads: int | None = None,
    startup_timeout: float = 120.0,
) -> Iterator[str]:
    """Serve ``gguf`` on a free 127.0.0.1 port; yields the base URL (``http://127.0.0.1:P/v1``).

    ``logits_all`` is on so that chat completions can return log-probs.
    """
    if not server_available():
        raise ServerError(
            "llama-cpp-python's server is not installed; install it with: "
            "pip install 'sandwich[server]'"
        )
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--model_alias",
        model_alias,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--logits_all",
        "true",
        "--n_threads",
        str(n_threads or os.cpu_count() or 1),
    ]
    url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(proc, log, url, startup_timeout)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(proc: subprocess.Popen[bytes], log: IO[bytes], url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-2000:]
            raise ServerError(f"llama_cpp.server exited with {proc.returncode}:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/models", timeout=2.0).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise ServerError(f"llama_cpp.server did not answer on {url} in {timeout}s")
        time.sleep(0.25)
