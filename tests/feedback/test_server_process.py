"""ServerProcess hands extra environment variables to the child only."""

from __future__ import annotations

import os
from typing import Any

import pytest

from sandwich.errors import SandwichError
from sandwich.feedback.web import server as server_mod
from sandwich.feedback.web.server import ServerProcess


class _DeadChild:
    returncode = 1

    def poll(self) -> int:
        return 1


def test_env_goes_to_the_child_not_to_this_process(monkeypatch) -> None:
    seen: dict[str, Any] = {}

    def fake_popen(cmd: list[str], **kw: Any) -> _DeadChild:
        seen.update(kw)
        return _DeadChild()

    monkeypatch.setattr(server_mod.subprocess, "Popen", fake_popen)
    monkeypatch.delenv("SANDWICH_TEST_CHILD_ONLY", raising=False)
    monkeypatch.setenv("SANDWICH_TEST_PARENT", "kept")
    proc = ServerProcess("sqlite://", port=1, env={"SANDWICH_TEST_CHILD_ONLY": "127.0.0.1"})
    with pytest.raises(SandwichError, match="exited with code 1"):
        proc.start(timeout=1.0)
    assert seen["env"]["SANDWICH_TEST_CHILD_ONLY"] == "127.0.0.1"
    assert seen["env"]["SANDWICH_TEST_PARENT"] == "kept"  # the rest is inherited
    assert "SANDWICH_TEST_CHILD_ONLY" not in os.environ
