"""llama.cpp's greedy references for the default model (Tests/Fixtures/smollm2-greedy, see its
README), one set per machine they were made on, and the rule that judges our tokens against
them. The same rule as Tests/CanopyTestFixtures/LlamaCppReference.swift.

llama.cpp's own output moves between instruction sets (the AVX-512 and AVX2 runs part at near
ties after 3 to 32 tokens), so a record is judged against every set: against the one it follows
longest, passing when the rule holds there against any set that follows it that long."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures"

# (what made the set, its folder under Tests/Fixtures), the AVX-512 set first.
MACHINES = [
    ("llama.cpp on AVX-512 VNNI (AMD EPYC Zen 5)", "smollm2-greedy"),
    ("llama.cpp on AVX2 (AMD EPYC Zen 3)", "smollm2-greedy/avx2"),
]

# The largest gap to llama.cpp's top-1 logit at which a different choice is a near tie.
TIE_MARGIN = 0.25


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_sets() -> list[tuple[str, list[dict]]]:
    """Every machine's records; the prompts are the same in each."""
    sets = [(name, load_jsonl(FIXTURES / folder / "greedy.jsonl")) for name, folder in MACHINES]
    prompts = [[r["prompt_ids"] for r in records] for _, records in sets]
    assert all(p == prompts[0] for p in prompts), "the reference sets hold different prompts"
    return sets


def records() -> list[dict]:
    """The records as the first set holds them (for prompts; judge tokens with `judge`)."""
    return load_sets()[0][1]


def identical_prefix(got: list[int], reference: list[int]) -> int:
    n = 0
    for ours, theirs in zip(got, reference):
        if ours != theirs:
            break
        n += 1
    return n


def check_record(got: list[int], record: dict) -> tuple[int, str | None]:
    """The fixtures' rule against one set's record: identical up to the first differing step,
    where our token must be in llama.cpp's top-5 within TIE_MARGIN of its top-1. Returns the
    number of identical leading tokens and, when the rule fails, why."""
    reference = record["greedy_ids"]
    step = identical_prefix(got, reference)
    if step == min(len(got), len(reference)):
        return step, None
    top5 = {int(tid): logit for tid, logit in record["top5_per_step"][step]}
    best = max(top5.values())
    ours = got[step]
    if ours not in top5 or best - top5[ours] > TIE_MARGIN:
        return step, (f"step {step}: chose {ours}, llama.cpp chose {reference[step]}; "
                      f"top5 {record['top5_per_step'][step]}")
    return step, None


def judge(got: list[int], index: int, sets: list[tuple[str, list[dict]]] | None = None) -> int:
    """Asserts the rule for record `index` against the set(s) our tokens follow longest and
    returns how many leading tokens are identical to it."""
    sets = sets if sets is not None else load_sets()
    followed = [identical_prefix(got, records_[index]["greedy_ids"]) for _, records_ in sets]
    longest = max(followed)
    failures = []
    for (name, records_), length in zip(sets, followed):
        if length != longest:
            continue
        identical, failure = check_record(got, records_[index])
        if failure is None:
            return identical
        failures.append(f"against {name}: {failure}")
    raise AssertionError(f"record {index}: " + "; ".join(failures))
