#!/usr/bin/env python3
"""Quality check of the APAR model against the base model on the held-out prompts.

    evaluate.py answer SOCKET HELD_OUT.jsonl OUT.jsonl   answers of the model canopyd serves
    evaluate.py report BASE.jsonl APAR.jsonl             markdown comparison on stdout

Answers are greedy with the same mild repetition penalty the training answers used; APAR is
on by default for a model with the two tokens, so the APAR model's answers fork where it
decides to. Per answer: whether it forked (branches > 1), the numbered items it has (a run
1., 2., 3. ... at line starts), whether that covers what the prompt asked (the number in it,
or 3 when it names none), the share of word 4-grams that repeat an earlier one, its length,
and whether it ended by itself (not at max_tokens).
"""
import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python"))
sys.path.insert(0, os.path.dirname(__file__))

from apar_format import ITEM  # noqa: E402
from canopy_client import CanopyClient  # noqa: E402

MAX_TOKENS = 400


def items(text):
    """Length of the run 1, 2, 3, ... of numbered lines."""
    n = 0
    for m in ITEM.finditer(text):
        if int(m.group(1)) == n + 1:
            n += 1
    return n


def asked(prompt):
    m = re.search(r"\b(\d+)\b", prompt)
    return int(m.group(1)) if m else 3


def repetition(text):
    words = re.findall(r"\w+", text.lower())
    grams = [tuple(words[i:i + 4]) for i in range(len(words) - 3)]
    seen, repeats = set(), 0
    for g in grams:
        repeats += g in seen
        seen.add(g)
    return repeats / len(grams) if grams else 0.0


def answer(args):
    socket, prompts_path, out_path = args
    prompts = [json.loads(line) for line in open(prompts_path)]
    with CanopyClient(socket) as client:
        def one(p):
            s = client.chat([{"role": "user", "content": p["prompt"]}], max_tokens=MAX_TOKENS,
                            temperature=0.0, repetition_penalty=1.1, timeout=900)
            sample = s.samples[0]
            return {**p, "text": sample.text, "finish_reason": sample.finish_reason,
                    "completion_tokens": s.completion_tokens, "branches": s.branches}
        with ThreadPoolExecutor(8) as pool:
            rows = list(pool.map(one, prompts))
    with open(out_path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def stats(rows):
    n = len(rows)
    return {
        "answers": n,
        "forked": sum(r["branches"] > 1 for r in rows) / n,
        "branches": sum(r["branches"] for r in rows) / n,
        "covered": sum(items(r["text"]) >= asked(r["prompt"]) for r in rows) / n,
        "items": sum(items(r["text"]) for r in rows) / n,
        "repetition": sum(repetition(r["text"]) for r in rows) / n,
        "tokens": sum(r["completion_tokens"] for r in rows) / n,
        "ended": sum(r["finish_reason"] == "stop" for r in rows) / n,
    }


def report(args):
    base = [json.loads(line) for line in open(args[0])]
    apar = [json.loads(line) for line in open(args[1])]
    b, a = stats(base), stats(apar)
    print(f"Held-out prompts: {b['answers']} list-shaped prompts on topics not trained on; greedy, "
          f"repetition penalty 1.1, max_tokens {MAX_TOKENS}.\n")
    print("| | base (SmolLM2-135M-Instruct) | APAR fine-tune |")
    print("|---|---|---|")
    print(f"| answers that fork | {b['forked']:.0%} | {a['forked']:.0%} |")
    print(f"| branches per answer | {b['branches']:.2f} | {a['branches']:.2f} |")
    print(f"| numbered items per answer | {b['items']:.2f} | {a['items']:.2f} |")
    print(f"| answers covering the items asked | {b['covered']:.0%} | {a['covered']:.0%} |")
    print(f"| repeated word 4-grams | {b['repetition']:.1%} | {a['repetition']:.1%} |")
    print(f"| completion tokens per answer (all branches) | {b['tokens']:.0f} | {a['tokens']:.0f} |")
    print(f"| answers that ended by themselves | {b['ended']:.0%} | {a['ended']:.0%} |")
    forked = [r for r in apar if r["branches"] > 1]
    if forked:
        r = forked[0]
        print(f"\nA forked answer ({r['branches']} branches), assembled, to \"{r['prompt']}\":\n")
        print("\n".join("> " + line for line in r["text"].splitlines()))


def main():
    command, rest = sys.argv[1], sys.argv[2:]
    {"answer": answer, "report": report}[command](rest)


if __name__ == "__main__":
    main()
