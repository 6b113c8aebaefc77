"""Country tasks: ``capitals``, ``continents``, ``currencies``, ``borders``.

Each country (or bordering pair) gives one true statement and one false
statement with a distractor of the same type, drawn so that a distractor is
about as frequent as it is as a true answer (a name alone says nothing about
the label). Difficulty: 1 - normalised log population of the country
(:func:`country_difficulty`); for ``borders`` the larger of the two countries'
difficulties. Only ~245 countries exist, so these tasks default to fewer
items than the city tasks; asking for more raises ConfigError with the maximum.

Groups (``metadata["group"]``, kept together by :meth:`Task.split`): the
two or three countries whose capitals are swapped for ``capitals`` (see
:func:`capitals_task`); the country for ``continents`` and ``currencies``, whose true and
false statements about one country would otherwise land in different splits
(for ``continents`` the true one gives the false one away); the unordered
country pair for ``borders`` (each pair is stated once, so these groups are
single items: a guard, not a change).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from sandwich.registry import takes
from sandwich.tasks.builtin.common import balanced, pick, registered_task, rng_for, task_params
from sandwich.tasks.geo import CONTINENTS, Country, countries, country_difficulty, country_phrase
from sandwich.tasks.item import Item
from sandwich.tasks.task import Task

# continents a country could reasonably be said to be in besides its geonames one
_ALSO = {
    "RU": {"AS"}, "TR": {"EU"}, "KZ": {"EU"}, "AZ": {"EU"}, "GE": {"EU"}, "AM": {"EU"},
    "CY": {"AS", "EU"}, "EG": {"AS"}, "ID": {"OC"}, "PG": {"AS"}, "TL": {"OC"},
    "PA": {"SA"}, "TT": {"SA"}, "GL": {"EU"}, "IS": {"NA"},
}  # fmt: skip
_NEAR = {  # plausible wrong continents, nearest first
    "AF": ("AS", "EU", "SA"), "AS": ("EU", "OC", "AF"), "EU": ("AS", "AF", "NA"),
    "NA": ("SA", "EU"), "SA": ("NA", "AF"), "OC": ("AS", "SA", "NA"),
}  # fmt: skip


def _same_continent(c: Country, pool: list[Country]) -> list[Country]:
    same = [o for o in pool if o.code != c.code and o.continent == c.continent]
    return same or [o for o in pool if o.code != c.code]


def _finish(name: str, n_items: int, seed: int, items: list[Item]) -> Task:
    return registered_task(name, balanced(name, rng_for(name, seed), items, n_items), n_items, seed)


def _swap_groups(rng: np.random.Generator, pool: list[Country]) -> list[list[Country]]:
    """The countries of each continent, shuffled and cut into groups of two (the last
    group of an odd count has three; a continent's lone country is a group of one)."""
    groups: list[list[Country]] = []
    for k in sorted(CONTINENTS):
        members = [c for c in pool if c.continent == k]
        members = [members[i] for i in rng.permutation(len(members))]
        chunks = [members[i : i + 2] for i in range(0, len(members) - 1, 2)]
        if len(members) % 2:
            if chunks:
                chunks[-1].append(members[-1])
            else:
                chunks = [members]
        groups += chunks
    return groups


@takes(task_params(400))
def capitals_task(n_items: int, seed: int) -> Task:
    """True: the country's capital. False: the capital of another country of the same
    continent, from a swap within a group of two or three countries.

    The countries of each continent are cut at random into groups of two (or
    three): Ghana and Tunisia give "Accra is the capital of Ghana.", "Tunis is
    the capital of Tunisia." (true) and "Tunis is the capital of Ghana.",
    "Accra is the capital of Tunisia." (false). Each capital is thus named
    once in a true and once in a false statement, and the group (kept together
    by :meth:`Task.split`) holds every statement that names its capitals or
    countries: a split never puts "Accra is the capital of Ghana." in A or B
    and "Accra is the capital of Tunisia." in T, where the first would give
    the second away to anyone who knows a city is the capital of one country.
    """
    rng = rng_for("capitals-distractors", seed)
    diff = country_difficulty()
    pool = [c for c in countries().values() if c.capital]
    items: list[Item] = []
    for members in _swap_groups(rng, pool):
        group = " / ".join(sorted(c.name for c in members))
        for pos, c in enumerate(members):
            other = members[(pos + 1) % len(members)]
            for truth, owner in ((True, c), (False, other)):
                city = owner.capital
                if not truth and city == c.capital:
                    continue
                items.append(
                    Item.make(
                        f"{city} is the capital of {country_phrase(c.name)}.",
                        truth,
                        diff[c.code],
                        group=group,
                        country=c.name,
                        capital=c.capital,
                        stated_capital=city,
                        capital_of=owner.name,
                        population=c.population,
                    )
                )
    return _finish("capitals", n_items, seed, items)


@takes(task_params(400))
def continents_task(n_items: int, seed: int) -> Task:
    """False: a nearby wrong continent (never one the country straddles)."""
    rng = rng_for("continents-distractors", seed)
    diff = country_difficulty()
    items: list[Item] = []
    for c in countries().values():
        wrong = [k for k in _NEAR[c.continent] if k not in _ALSO.get(c.code, set())]
        stated = pick(rng, wrong, [1.0 / (r + 1) for r in range(len(wrong))])
        for truth, k in ((True, c.continent), (False, stated)):
            items.append(
                Item.make(
                    f"{country_phrase(c.name, start=True)} is in {CONTINENTS[k]}.",
                    truth,
                    diff[c.code],
                    group=c.name,
                    country=c.name,
                    continent=CONTINENTS[c.continent],
                    stated_continent=CONTINENTS[k],
                    population=c.population,
                )
            )
    return _finish("continents", n_items, seed, items)


@takes(task_params(400))
def currencies_task(n_items: int, seed: int) -> Task:
    """False: a currency name used on the same continent, weighted by use, never the true name."""
    rng = rng_for("currencies-distractors", seed)
    diff = country_difficulty()
    pool = [c for c in countries().values() if c.currency_name]
    items: list[Item] = []
    for c in pool:
        names = Counter(o.currency_name for o in _same_continent(c, pool))
        del names[c.currency_name]
        if not names:  # all neighbours share the currency: look worldwide
            names = Counter(o.currency_name for o in pool if o.currency_name != c.currency_name)
        options = sorted(names)
        stated = pick(rng, options, [names[k] for k in options])
        for truth, cur in ((True, c.currency_name), (False, stated)):
            items.append(
                Item.make(
                    f"The currency of {country_phrase(c.name)} is the {cur}.",
                    truth,
                    diff[c.code],
                    group=c.name,
                    country=c.name,
                    currency=c.currency_name,
                    currency_code=c.currency_code,
                    stated_currency=cur,
                    population=c.population,
                )
            )
    return _finish("currencies", n_items, seed, items)


@takes(task_params(600))
def borders_task(n_items: int, seed: int) -> Task:
    """True: a land border (geonames neighbours). False: for each side of each
    true pair, the other side replaced by a non-neighbour on the same continent,
    drawn in proportion to its number of neighbours (so the countries named in
    false statements are as border-rich as those in true ones)."""
    rng = rng_for("borders-distractors", seed)
    cs, diff = countries(), country_difficulty()
    nb: dict[str, set[str]] = {k: set() for k in cs}
    for k, c in cs.items():
        for o in c.neighbours:
            if o in cs:
                nb[k].add(o)
                nb[o].add(k)
    pairs = sorted({tuple(sorted((a, b))) for a in nb for b in nb[a]})
    fakes: set[tuple[str, ...]] = set()
    for pair in pairs:
        for keep in pair:
            options = [
                o for o in sorted(cs)
                if o != keep and o not in nb[keep] and nb[o]
                and cs[o].continent == cs[keep].continent
            ]  # fmt: skip
            if options:
                other = pick(rng, options, [len(nb[o]) for o in options])
                fakes.add(tuple(sorted((keep, other))))
    items: list[Item] = []
    for truth, group in ((True, pairs), (False, sorted(fakes))):
        for a, b in group:
            if rng.integers(2):
                a, b = b, a
            items.append(
                Item.make(
                    f"{country_phrase(cs[a].name, start=True)} shares a border with "
                    f"{country_phrase(cs[b].name)}.",
                    truth,
                    max(diff[a], diff[b]),
                    group=" / ".join(sorted((cs[a].name, cs[b].name))),
                    country_a=cs[a].name,
                    country_b=cs[b].name,
                )
            )
    return _finish("borders", n_items, seed, items)
