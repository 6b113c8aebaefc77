"""A rater in a real browser: headless Chromium (Debian's package, driven by
Playwright through ``executable_path``; no browser download) against the real
server (uvicorn in a child process).

The rater opens an invite link, completes training, answers items with the
assistance shown (the confidence must be chosen: the form has no default),
and finishes with the completion code. The model
explanation holds a ``<script>`` and an ``onerror=`` image: the test checks
that neither runs. A screenshot of the rater page is saved under
``test-artifacts/``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from sandwich.feedback.store.db import Item
from sandwich.feedback.web.server import ServerProcess

from .conftest import XSS, Lab, truth_of  # type: ignore[import-not-found]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.integration


@pytest.fixture
def browser_page(tmp_path: Path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's chromium is not installed ({CHROMIUM}); run scripts/system-deps.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh user-data dir
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1000, "height": 900},
        )
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.dialogs = dialogs  # type: ignore[attr-defined]
        yield page
        context.close()


def test_rater_completes_study_in_chromium(tmp_path: Path, browser_page) -> None:
    lab = Lab(tmp_path)
    study = lab.study(explanation="Looked up. " + XSS + " <b>not bold</b>", design="within")
    token = lab.invite(study)[0]
    page = browser_page
    with ServerProcess(lab.url, log=tmp_path / "server.log") as server:
        page.goto(f"{server.url}/r/{token}")
        page.click("#start")
        seen_assistance = 0
        training_feedback = 0
        for _ in range(30):
            if page.locator("#completion-code").count():
                break
            statement = page.locator("#item-text").inner_text()
            if page.locator("#assistance").count():
                seen_assistance += 1
                explanation = page.locator("#explanation").inner_text()
                # shown as text, literally: the markup did not become elements
                assert "<script>window.__xss = 1</script>" in explanation
                assert "<b>not bold</b>" in explanation
                assert (
                    page.locator("#assistance script, #assistance img, #assistance b").count() == 0
                )
                if seen_assistance == 1:
                    ARTIFACTS.mkdir(exist_ok=True)
                    page.screenshot(path=str(ARTIFACTS / "rater-page.png"), full_page=True)
            page.check("#answer-true" if truth_of(statement) else "#answer-false")
            assert page.locator("input[name=confidence]:checked").count() == 0  # no anchor
            page.click("#submit")  # without a confidence the browser does not send the form
            assert page.locator("#item-text").inner_text() == statement
            page.check("#confidence-90")  # set deliberately
            left = int(page.locator("#timer").get_attribute("data-left") or -1)
            assert 0 < left <= 90 and "s left" in page.locator("#timer").inner_text()  # app.js ran
            page.fill("#reason", "I know this one")
            page.click("#submit")
            page.wait_for_load_state()
            if page.locator("#feedback").count():
                assert "the correct answer is" in page.locator("#feedback").inner_text()
                training_feedback += 1
                page.click("#continue")
        assert re.fullmatch(
            r"DONE-1234-[A-Z2-7]{10}", page.locator("#completion-code").inner_text()
        )
        assert page.evaluate("window.__xss") is None  # neither the script nor onerror ran
        assert page.dialogs == []  # type: ignore[attr-defined]
    assert seen_assistance >= 2  # within design: some items with the model's answer
    assert training_feedback == 1  # the training item only: gold checks get no feedback
    labels = lab.labels()
    assert len(labels) == 7
    assert all(x.confidence == 0.9 and x.reason == "I know this one" for x in labels)
    with lab.Sessions() as s:  # the rater answered every item right, and the server agrees
        gold = dict(s.execute(select(Item.id, Item.gold)).all())
    assert all(x.answer == gold[x.item_id] for x in labels)
    assert (ARTIFACTS / "rater-page.png").stat().st_size > 10_000


def test_rater_completes_a_pairwise_study_in_chromium(tmp_path: Path, browser_page) -> None:
    """A rater picks the better completion (the fruit) on every pair, shown in
    the rater's own order; the stored labels say "A is better" exactly when A
    is the fruit, with the order shown recorded."""
    lab = Lab(tmp_path)
    study = lab.pair_study(n_items=4, items_per_rater=2, gold={"n": 1, "pass_threshold": 0.5})
    token = lab.invite(study)[0]
    page = browser_page
    shown_first: list[str] = []
    with ServerProcess(lab.url, log=tmp_path / "server.log") as server:
        page.goto(f"{server.url}/r/{token}")
        page.click("#start")
        for _ in range(10):
            if page.locator("#completion-code").count():
                break
            assert page.locator("#item-text").count() == 0 and page.locator("#pair-prompt").count()
            first = page.locator("#completion-1-text").inner_text()
            second = page.locator("#completion-2-text").inner_text()
            shown_first.append(first)
            good = (
                "#answer-first" if first.startswith(("Banana", "Pineapple")) else "#answer-second"
            )
            assert second.startswith(("Banana", "Pineapple")) != (good == "#answer-first")
            page.check(good)
            page.check("#confidence-70")
            page.click("#submit")
            page.wait_for_load_state()
            if page.locator("#feedback").count():
                assert "the better one is" in page.locator("#feedback").inner_text()
                page.click("#continue")
        assert re.fullmatch(
            r"PAIR-1234-[A-Z2-7]{10}", page.locator("#completion-code").inner_text()
        )
    labels = lab.labels()
    assert len(labels) == len(shown_first) == 1 + 1 + 2 + 1  # training, gold, main, attention
    with lab.Sessions() as s:
        pairs = dict(s.execute(select(Item.id, Item.pair)).all())
    for x in labels:
        fruit_is_a = pairs[x.item_id]["completion_a"].startswith(("Banana", "Pineapple"))
        assert x.answer == fruit_is_a and x.confidence == 0.7
    assert {x.swapped for x in labels} == {True, False}  # both orders were shown
    # what the browser showed first is A unless the label says swapped
    shown = {pairs[x.item_id]["completion_b" if x.swapped else "completion_a"] for x in labels}
    assert shown == set(shown_first)
