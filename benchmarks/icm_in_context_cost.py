"""What one evaluation of ICM's objective costs with in-context prediction on an embedded model.

Run:  python benchmarks/icm_in_context_cost.py [--model smollm2-135m] [--sizes 8,16]
          [--search 12,40]

ICM with the reference's predictor asks, for every labelled claim, P(label | all
the other labelled claims as demonstrations). For ``m`` ``cities`` statements
(``--sizes``), labelled with their *gold* labels, this builds the ``m`` prompts
(each the other ``m - 1`` statements followed by "I think this claim is True/False",
then the statement itself), scores " True" and " False" with the local generator's
``score_choices`` (the ``Generator`` interface), and prints the time of that one
evaluation, the in-context accuracy (gold demonstrations: the best case for the
search) and the 1-minute load average. The annealing needs one such evaluation
per proposal (the reference: 3000 proposals).

``--estimate`` prints, instead of running anything, ``sandwich plan``'s estimate of
the same evaluations and search (``runs/w2s/stage_plan.py``: ``icm_search_prompts``,
``icm_prompt_work``) at this machine's cached throughput (measured first if the store
has none):

    python benchmarks/icm_in_context_cost.py --sizes 8,16 --search 12,40 --estimate

``--search ITEMS,ITERATIONS`` (default 12,40; ``0,0`` skips it) then times one full
small search, ``icm`` with ``predictor: in-context`` (``initial: 4``) on ITEMS
``cities`` statements for ITERATIONS proposals and many-shot scoring of 8 more, with
the same generator (no response cache: every request is computed), and prints the
time, the claims labelled, the agreement of ICM's labels with gold (up to sign: the
weak/gold sign rule is not applied to this number), the accepted changes and the
load average.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from sandwich.elicit import ELICITORS
from sandwich.elicit.reporters.icm import ICMReporter
from sandwich.models.generation.base import ChoiceRequest, Message
from sandwich.models.generation.local import LocalGenerator
from sandwich.runs.cost import text_tokens
from sandwich.tasks import TASKS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--sizes", default="8,16", help="claims per evaluation")
    ap.add_argument("--search", default="12,40", help="items,iterations of one full search")
    ap.add_argument("--estimate", action="store_true", help="print the plan's estimate only")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    items, iterations = (int(s) for s in args.search.split(","))
    task = TASKS.build("cities", n_items=max(*sizes, items + 8) * 2)
    texts, y = task.texts(), task.labels()
    if args.estimate:
        estimate(args.model, texts, sizes, items, iterations)
        return
    gen = LocalGenerator(args.model)

    def claim(j: int) -> str:
        return f"{texts[j]}\nI think this claim is {'True' if y[j] else 'False'}\n\n"

    for m in sizes:
        reqs = [
            ChoiceRequest(
                (Message("user", "".join(claim(j) for j in range(m) if j != i)
                         + f"{texts[i]}\nI think this claim is"),),
                (" True", " False"),
            )
            for i in range(m)
        ]  # fmt: skip
        t0 = time.perf_counter()
        out = gen.score_choices(reqs)
        dt = time.perf_counter() - t0
        margin = np.array([o[" True"] - o[" False"] if o else 0.0 for o in out])
        acc = float(np.mean((margin > 0) == (y[:m] > 0.5)))
        print(f"{args.model}, {m} claims: one evaluation {dt:.1f} s, in-context accuracy with "
              f"gold demonstrations {acc:.2f}; load average {os.getloadavg()[0]:.1f}",
              flush=True)  # fmt: skip
    if items:
        search(gen, texts, y, items, iterations, args.model)


def estimate(model: str, texts: list[str], sizes: list[int], items: int, iterations: int) -> None:
    """The plan's seconds for one evaluation of each size and for the search (as timed)."""
    from sandwich.elicit.reporters.icm_context import DEMO, QUESTION
    from sandwich.models.generation.config import generator_config
    from sandwich.runs.cost import machine_throughput, model_arch, work_flops, work_seconds
    from sandwich.runs.w2s.stage_plan import icm_prompt_work, icm_search_prompts
    from sandwich.store import ArtifactStore

    store = ArtifactStore()
    tp, arch = machine_throughput(store), model_arch(model, store)
    gen = generator_config({"backend": "local", "model": model})

    def show(what: str, claims: list[str], prompts: float, demos: float) -> None:
        demo = float(np.mean(text_tokens([DEMO.format(text=t, label="False") for t in claims])))
        question = float(np.mean(text_tokens([QUESTION.format(text=t) for t in claims])))
        fwd = icm_prompt_work(gen, prompts, demos, demo, question)[-1]
        print(
            f"{model}, {what}: estimated {work_seconds(fwd, arch, tp):.1f} s "
            f"({work_flops(fwd, arch) / 1e12:.2f} TFLOP, model load aside; forward rate "
            f"{tp.forward_flops / 1e9:.0f} GFLOP/s); load average {os.getloadavg()[0]:.1f}"
        )

    for m in sizes:
        show(f"{m} claims, one evaluation", texts[:m], m, m * (m - 1))
    if items:
        prompts, demos = icm_search_prompts(items, 4, iterations)
        show(
            f"icm in context, {items} items x {iterations} proposals (+ T: 8 items)",
            texts[:items],
            prompts + 8,
            demos + 8 * items,
        )


def search(
    gen: LocalGenerator, texts: list[str], y: np.ndarray, items: int, iterations: int, model: str
) -> None:
    """One full in-context ICM search on ``items`` claims, then T = the next 8."""
    rep = ELICITORS.build("icm", predictor="in-context", max_items=items,
                          iterations=iterations, initial=4, max_demos=items)  # fmt: skip
    if not isinstance(rep, ICMReporter):
        raise TypeError(type(rep))
    t0 = time.perf_counter()
    rep.fit_texts(texts[:items], y[:items], gen, random_state=0)
    p = rep.predict_texts(texts[items : items + 8])
    dt = time.perf_counter() - t0
    known = rep.claim_labels_ >= 0
    match = float(np.mean(rep.claim_labels_[known] == y[:items][rep.items_][known]))
    acc = float(np.mean((p > 0.5) == (y[items : items + 8] > 0.5)))
    print(f"{model}, icm in context, {items} items x {iterations} proposals: {dt:.1f} s "
          f"(+ T: 8 items); {int(known.sum())} labelled, agreement with gold "
          f"{max(match, 1 - match):.2f} (up to sign), {rep.accepted_} accepted, T accuracy "
          f"{acc:.2f}; load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
