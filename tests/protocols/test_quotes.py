from __future__ import annotations

from sandwich.protocols.quotes import Quote, find_quotes, mark_quotes

PASSAGE = "Dossier: Kuwait. Its capital is Kuwait City. Its currency is the Dinar."


def test_verified_and_unverified() -> None:
    text = 'See <quote>its  CAPITAL is kuwait city.</quote> and "its currency is the Euro"'
    assert find_quotes(text, PASSAGE) == [
        Quote("its  CAPITAL is kuwait city.", True),
        Quote("its currency is the Euro", False),
    ]


def test_no_passage_means_nothing_verified() -> None:
    assert find_quotes("<quote>Its capital is Kuwait City</quote>", None) == [
        Quote("Its capital is Kuwait City", False)
    ]


def test_short_double_quotes_are_not_quotes() -> None:
    assert find_quotes('the "best" answer', PASSAGE) == []


def test_marking_for_the_judge() -> None:
    out = mark_quotes('A <quote>the Dinar</quote> B "capital is Rome today"', PASSAGE)
    assert (
        out == "A <verified>the Dinar</verified> B <unverified>capital is Rome today</unverified>"
    )
