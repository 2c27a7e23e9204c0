"""self_instruct_filter: the self-instruct near-duplicate filter at the paper's size, new vs old vs rouge-score.

    python -m benchmarks.self_instruct_filter                 # 3,200 seeds + 4,000 generated, ~2 min on 2 CPU cores
    python -m benchmarks.self_instruct_filter --quick --repeats 1 --out /tmp/f.json   # seconds

The prompts stage's self-instruct filter drops a generated prompt whose ROUGE-L F-measure with a seed
or an already kept prompt is above 0.7 (Self-Instruct). The prompts are synthetic and deterministic
(a seeded RNG over the word lists below; some generated ones are edits of earlier prompts, so that
near duplicates occur). Three filters over the same sequence:

- new: `srlm.data.near_duplicates.NearDuplicateIndex` (rapidfuzz), timed over the whole sequence;
- rouge_score: Self-Instruct's loop, `RougeScorer(["rougeL"])` against every seen prompt, max > 0.7;
- sequence_matcher: the filter srlm had before (`difflib.SequenceMatcher` ratio on normalized text,
  stopping at the first match).

The two baselines take tens of minutes to hours at full size, so they run on the first generated
prompts only (each against all seeds and the prompts kept before it); their full-size times are
extrapolated as seconds per compared pair x the pairs of the full sequence, and say so. The new
filter runs on that subset too, giving a measured ratio beside the extrapolated one. rouge_score's
decisions on the subset must be the new filter's (`agrees_with_rouge_score`). Results go to
`benchmarks/results/<date>-self-instruct-filter-<machine>.json` unless `--out` says otherwise.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass
from datetime import date
from difflib import SequenceMatcher
from importlib.metadata import version
from pathlib import Path

from rouge_score import rouge_scorer

from benchmarks.common import summarize, timed
from benchmarks.machine import machine_info, machine_name
from srlm.core.io import write_json
from srlm.data.near_duplicates import SELF_INSTRUCT_THRESHOLD, NearDuplicateIndex
from srlm.data.prompt_sets import normalize

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SEED = 42

OPENERS = (
    "Write a short poem about",
    "Explain how",
    "Give me three tips for",
    "What is the difference between",
    "Describe",
    "How can I improve",
    "List five facts about",
    "Summarize the main ideas of",
    "Suggest a weekend plan for",
    "Compare",
    "Why do people care about",
    "Write an email to a friend about",
    "Tell me a story about",
    "Create a checklist for",
    "What are the pros and cons of",
    "Teach a beginner about",
    "Draft a polite complaint about",
    "Plan a budget for",
    "Which questions should I ask about",
    "Help me choose between",
)
ADJECTIVES = """
small quiet old new cheap healthy busy rainy modern simple local ancient remote noisy gentle electric wooden
shared public private fresh frozen green digital rural urban careful sudden seasonal weekly friendly broken
spare short long bright dark safe risky tiny
""".split()
NOUNS = """
garden library bicycle kitchen river market school teacher budget recipe holiday language museum neighbour
forest bridge computer password meeting train village festival coffee bakery hospital winter summer planet
telescope painting guitar orchestra election newspaper factory harbour island mountain desert storm battery
engine spreadsheet interview resume apartment landlord dentist vaccine habit routine exercise marathon
breakfast soup bread cheese tomato apple tea puppy cat parrot aquarium zoo farm tractor harvest wedding
birthday gift letter novel poem song movie camera photo map compass tent backpack hike city street parking
tax loan bank salary startup robot algorithm database network printer keyboard phone email calendar deadline
project team manager
""".split()
LINKS = ("and", "with", "for", "in", "without", "during", "after", "before", "using", "near", "of", "on", "about")
DETERMINERS = ("a", "the", "my", "our", "", "", "")
ENDINGS = ("", "", "?", ".", " in simple words.", " for a child.", " step by step.", " in under 100 words.")


@dataclass(frozen=True)
class FilterSizes:
    seeds: int
    generated: int
    subset: int  # first generated prompts the baselines run on
    near_duplicate_share: float = 0.2  # generated prompts that are edits of an earlier prompt


FULL = FilterSizes(seeds=3200, generated=4000, subset=32)
QUICK = FilterSizes(seeds=200, generated=250, subset=10)


def phrase(rng: random.Random) -> str:
    words = [rng.choice(DETERMINERS), rng.choice(ADJECTIVES) if rng.random() < 0.6 else "", rng.choice(NOUNS)]
    return " ".join(w for w in words if w)


def fresh_prompt(rng: random.Random) -> str:
    parts = [rng.choice(OPENERS), phrase(rng)]
    for _ in range(rng.randint(1, 4)):
        parts += [rng.choice(LINKS), phrase(rng)]
    return " ".join(parts) + rng.choice(ENDINGS)


def edited(text: str, rng: random.Random) -> str:
    """`text` with one to three small edits: a word dropped, swapped or replaced, a tail added, case or punctuation."""
    words = text.split()
    for _ in range(rng.randint(1, 3)):
        edit, i = rng.randrange(6), rng.randrange(len(words))
        if edit == 0 and len(words) > 3:
            del words[i]
        elif edit == 1 and i + 1 < len(words):
            words[i], words[i + 1] = words[i + 1], words[i]
        elif edit == 2:
            words[i] = rng.choice(NOUNS + ADJECTIVES)
        elif edit == 3:
            words += [rng.choice(LINKS), phrase(rng)]
        elif edit == 4:
            words[i] = words[i].upper() if rng.random() < 0.5 else words[i].capitalize()
        else:
            words[-1] = words[-1].rstrip(".?!") + rng.choice(("!", "?", "...", " :)", ""))
    return " ".join(words)


def synthetic_prompts(sizes: FilterSizes, seed: int = SEED) -> tuple[list[str], list[str]]:
    """(seed prompts, generated prompts), the same for the same sizes and seed."""
    rng = random.Random(seed)
    seeds = [fresh_prompt(rng) for _ in range(sizes.seeds)]
    generated: list[str] = []
    for _ in range(sizes.generated):
        if rng.random() < sizes.near_duplicate_share:
            generated.append(edited(rng.choice(seeds + generated), rng))
        else:
            generated.append(fresh_prompt(rng))
    return seeds, generated


def new_filter(seeds: list[str], generated: list[str], threshold: float) -> list[bool]:
    """Keep or not, per generated prompt, with srlm's index (seeds first, then every kept prompt)."""
    index = NearDuplicateIndex(threshold, seeds)
    keep = []
    for text in generated:
        keep.append(not index.is_near_duplicate(text))
        if keep[-1]:
            index.add(text)
    return keep


def rouge_score_filter(seeds: list[str], generated: list[str], threshold: float) -> list[bool]:
    """Self-Instruct's filter: rouge-score's ROUGE-L against every seen prompt, dropped when the max is above."""
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    seen, keep = list(seeds), []
    for text in generated:
        keep.append(max(scorer.score(text, s)["rougeL"].fmeasure for s in seen) <= threshold)
        if keep[-1]:
            seen.append(text)
    return keep


def sequence_matcher_filter(seeds: list[str], generated: list[str], threshold: float) -> tuple[list[bool], int]:
    """srlm's former filter (SequenceMatcher ratio of normalized texts, first match wins); also the pairs compared."""
    kept, keep, pairs = [], [], 0
    for text in generated:
        norm, similar = normalize(text), False
        for k in kept + seeds:
            pairs += 1
            if SequenceMatcher(None, norm, normalize(k)).ratio() > threshold:
                similar = True
                break
        keep.append(not similar)
        if not similar:
            kept.append(text)
    return keep, pairs


def pairs_compared(n_seeds: int, keep: list[bool]) -> int:
    """Pairs a filter scoring every generated prompt against all seeds and all prompts kept before it compares."""
    total = kept = 0
    for k in keep:
        total += n_seeds + kept
        kept += k
    return total


def one_run(seeds: list[str], generated: list[str], n_subset: int, threshold: float, repeat: int) -> dict:
    """Every filter once (in an order rotated by `repeat`, so that load drift hits all alike) and the ratios."""
    subset = generated[:n_subset]
    jobs = {
        "new_full": (new_filter, generated),
        "new_subset": (new_filter, subset),
        "rouge_score_subset": (rouge_score_filter, subset),
        "sequence_matcher_subset": (sequence_matcher_filter, subset),
    }
    names = list(jobs)
    names = names[repeat % len(names) :] + names[: repeat % len(names)]
    out, seconds = {}, {}
    for name in names:
        fn, texts = jobs[name]
        out[name], seconds[name] = timed(fn, seeds, texts, threshold)
    keep, (sm_keep, sm_pairs) = out["new_full"], out["sequence_matcher_subset"]
    pairs_full, pairs_subset = pairs_compared(len(seeds), keep), pairs_compared(len(seeds), out["new_subset"])
    rouge_full = seconds["rouge_score_subset"] / pairs_subset * pairs_full
    sm_full = seconds["sequence_matcher_subset"] / sm_pairs * pairs_full
    return {
        "keep": keep,
        "pairs_full": pairs_full,
        "pairs_subset": pairs_subset,
        "sm_pairs_subset": sm_pairs,
        "agrees_with_rouge_score": out["rouge_score_subset"] == out["new_subset"] == keep[:n_subset],
        "sm_same_decisions": sm_keep == out["new_subset"],
        "seconds": seconds,
        "rouge_full": rouge_full,
        "sm_full": sm_full,
        "ratios": {
            "subset_rouge_score_vs_new": seconds["rouge_score_subset"] / seconds["new_subset"],
            "subset_sequence_matcher_vs_new": seconds["sequence_matcher_subset"] / seconds["new_subset"],
            "full_rouge_score_vs_new": rouge_full / seconds["new_full"],
            "full_sequence_matcher_vs_new": sm_full / seconds["new_full"],
        },
    }


def measure(repeats: int = 3, quick: bool = False, seed: int = SEED) -> dict:
    """Time the three filters (see the module docstring): medians over `repeats` runs, ratios taken within a run."""
    sizes = QUICK if quick else FULL
    threshold = SELF_INSTRUCT_THRESHOLD
    seeds, generated = synthetic_prompts(sizes, seed)
    runs = []
    for r in range(repeats):
        print(f"[bench] self_instruct_filter: repeat {r + 1}/{repeats}", flush=True)
        runs.append(one_run(seeds, generated, sizes.subset, threshold, r))
    first = runs[0]

    def seconds(name: str) -> dict:
        return summarize([run["seconds"][name] for run in runs])

    def ratio(name: str) -> dict:
        return summarize([run["ratios"][name] for run in runs], digits=1)

    return {
        "seeds": len(seeds),
        "generated": len(generated),
        "threshold": threshold,
        "kept": sum(first["keep"]),
        "dropped_similar": len(first["keep"]) - sum(first["keep"]),
        "pairs_full": first["pairs_full"],
        "subset": {
            "generated": sizes.subset,
            "pairs_rouge_score": first["pairs_subset"],
            "pairs_sequence_matcher": first["sm_pairs_subset"],
            "agrees_with_rouge_score": all(run["agrees_with_rouge_score"] for run in runs),
            "sequence_matcher_same_decisions": first["sm_same_decisions"],
            "new_s": seconds("new_subset"),  # mostly indexing the seeds
            "rouge_score_s": seconds("rouge_score_subset"),
            "sequence_matcher_s": seconds("sequence_matcher_subset"),
            "rouge_score_vs_new": ratio("subset_rouge_score_vs_new"),
            "sequence_matcher_vs_new": ratio("subset_sequence_matcher_vs_new"),
        },
        "full": {
            "new_s": seconds("new_full"),
            "rouge_score_s_extrapolated": summarize([run["rouge_full"] for run in runs], digits=1),
            "sequence_matcher_s_extrapolated": summarize([run["sm_full"] for run in runs], digits=1),
            "rouge_score_vs_new": ratio("full_rouge_score_vs_new"),
            "sequence_matcher_vs_new": ratio("full_sequence_matcher_vs_new"),
            "extrapolation": (
                "baselines: seconds per compared pair on the subset x pairs_full (every generated prompt against "
                "all seeds and the prompts kept before it); sequence_matcher stops at its first match, so for it "
                "this is an upper bound (its dropped prompts compare fewer pairs). new: measured over all prompts."
            ),
        },
        "versions": {"rapidfuzz": version("rapidfuzz"), "rouge_score": version("rouge-score")},
    }


def run(bench) -> dict:
    """The benchmark as a `benchmarks.run` section: the run's repeats and quick setting."""
    return measure(bench.repeats, bench.quick, bench.seed)


def summary(figures: dict) -> str:
    """A few lines: the new filter's time at full size and each baseline's, with the ratios."""
    full, sub = figures["full"], figures["subset"]
    lines = [
        f"new filter, {figures['seeds']} seeds + {figures['generated']} generated: {full['new_s']['median']:.2f} s "
        f"({figures['kept']} kept, {figures['dropped_similar']} dropped as similar)"
    ]
    for name, label in (("rouge_score", "rouge-score"), ("sequence_matcher", "SequenceMatcher")):
        lines.append(
            f"{label}: {full[f'{name}_s_extrapolated']['median']:.0f} s extrapolated "
            f"({full[f'{name}_vs_new']['median']}x the new filter); on the first {sub['generated']} prompts, "
            f"measured: {sub[f'{name}_vs_new']['median']}x"
        )
    lines.append(f"same decisions as rouge-score on those prompts: {sub['agrees_with_rouge_score']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.self_instruct_filter", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median, min, max reported)")
    parser.add_argument("--quick", action="store_true", help="a few hundred prompts (a smoke run)")
    parser.add_argument("--out", type=Path, help="results file (default benchmarks/results/<date>-self-instruct-...)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    today = date.today().isoformat()
    out = args.out or RESULTS_DIR / f"{today}-self-instruct-filter-{machine_name()}.json"
    start = time.perf_counter()
    figures = measure(args.repeats, args.quick)
    results = {
        "benchmark": "srlm self_instruct_filter",
        "date": today,
        "machine": machine_info(),
        "options": {"repeats": args.repeats, "quick": args.quick, "seed": SEED},
        "duration_s": round(time.perf_counter() - start, 1),
        "self_instruct_filter": figures,
    }
    write_json(out, results)
    print(summary(figures))
    print(f"[bench] results: {out}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
