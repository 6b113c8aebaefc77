"""The researcher dashboard shows the numbers of the quality functions."""

from __future__ import annotations

import re

from sandwich.feedback.analysis.quality import condition_summary, krippendorff_alpha, rater_quality
from sandwich.feedback.analysis.study_status import fmt, labels_frame
from sandwich.feedback.store.studies import get_study

from .conftest import truth_of  # type: ignore[import-not-found]


def _fill(lab, study: str, n: int) -> None:
    for k, token in enumerate(lab.invite(study, n)):
        # rater k is right except on every (k+2)-th item: different skills
        counter = iter(range(100))
        lab.finish(token, lambda text, k=k, c=counter: truth_of(text) ^ (next(c) % (k + 2) == 0))


def test_dashboard_numbers_match_the_quality_functions(lab, researcher) -> None:
    study = lab.study()
    _fill(lab, study, 6)
    page = researcher.get(f"/dashboard/{study}").text
    with lab.Sessions() as s:
        frame = labels_frame(s, get_study(s, study), include_training=False)
    summary = condition_summary(frame).set_index("condition")
    for cond in ("assisted", "unassisted"):
        row = re.search(
            rf"<tr><td>{cond}</td><td>(\d+)</td>.*?</tr>", page.split('id="conditions"')[1]
        )
        assert row is not None
        cells = re.findall(r"<td>([^<]*)</td>", row.group(0))
        assert cells[5] == fmt(summary.loc[cond, "alpha"], 3)
        assert cells[5] == fmt(krippendorff_alpha(frame, cond), 3)
        assert cells[7] == fmt(summary.loc[cond, "accuracy"], 3)
        assert cells[6] == fmt(summary.loc[cond, "median_seconds"], 1)
    quality = rater_quality(frame, pass_threshold=0.5)
    raters = page.split('id="raters"')[1].split("</table>")[0]
    for q in quality.to_dict("records"):
        assert f"<td>{q['rater_id']}</td>" in raters
        assert f"<td>{q['gold_correct']} / {q['n_gold']}</td>" in raters
    progress = page.split('id="progress"')[1].split("</table>")[0]
    assert (
        "<td>unassisted</td><td>none</td><td>24</td><td>12</td><td>12</td><td>0</td><td>3</td>"
        in progress
    )
    assert 'id="aggregate"' in page and "assisted:dawid-skene" in page
    assert "Sandwich gap closed" in page
    png = researcher.get(f"/dashboard/{study}/plot.png")
    assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    listing = researcher.get("/dashboard").text
    assert f'href="/dashboard/{study}"' in listing and "6 / 6 / 6" in listing


def test_dashboard_without_labels(lab, researcher) -> None:
    study = lab.study()
    page = researcher.get(f"/dashboard/{study}").text
    assert "No labels yet." in page
    assert researcher.get("/dashboard/no-such-study").status_code == 404
    assert researcher.get(f"/dashboard/{study}/plot.png").content[:4] == b"\x89PNG"


def test_conditions_that_labelled_different_items_are_said_in_the_notes(lab, researcher) -> None:
    """The sandwich metric compares conditions item by item: when they labelled
    different items, status and dashboard say so (not only a Python warning)."""
    from sandwich.feedback.analysis.study_status import study_status

    study = lab.study()
    first, second = lab.invite(study, 2)  # one rater per condition (between design)
    lab.finish(first)
    csrf = lab.start(second)
    for _ in range(3):  # the other condition answers only a few items
        cur = lab.current(second)
        assert cur is not None
        lab.answer(second, csrf, cur[0], truth_of(cur[1]))
    with lab.Sessions() as s:
        notes = study_status(s, get_study(s, study)).notes
    said = [n for n in notes if "did not label the same items" in n]
    assert said and said[0].startswith("sandwich metric: ")
    assert "did not label the same items" in researcher.get(f"/dashboard/{study}").text
