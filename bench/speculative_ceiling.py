#!/usr/bin/env python3
"""How far prompt-lookup speculation can go on a set of greedy outputs, with no model run.

Input: the JSONL that `canopy-bench speculative --dump FILE` writes (each line a prompt's
token ids and its greedy output without speculation). A verification step of n tokens is
taken to cost 1 + COST x (n - 1) one-token steps (`canopy-bench single --windows 9` measures
COST; EngineConfig.speculativeTokenCost models it). For each output it replays:

- canopy: the engine's policy (Scheduler, SpeculationState, NGramProposer): the most recent
  earlier occurrence of the longest suffix of 4 down to 2 tokens, its continuation proposed
  while acceptance^j >= 0.3, acceptance a moving estimate (prior 0.8, rate 0.3, recovery 0.05);
- oracle: at every step the best any context-copying proposer could do: among all earlier
  occurrences of every suffix of MIN_N...8 tokens, the continuation that matches the output
  longest (up to MAX proposals), and nothing proposed when none matches.

Prints tokens per step and the modelled decode speed-up (tokens / cost) of each. The oracle's
figure bounds what choosing occurrences and lengths better could give at that step cost.

Usage: speculative_ceiling.py DUMP.jsonl [COST=0.32] [MAX=8]
"""
import json
import sys


def replay(outputs, cost, propose):
    tokens = steps = spent = 0.0
    for prompt, out in outputs:
        context = list(prompt) + [out[0]]  # the first token comes from the prefill
        state = {"a": 0.8}
        i = 1
        while i < len(out):
            proposal = propose(context, out, i, state)
            k = 0
            while k < len(proposal) and i + k < len(out) and proposal[k] == out[i + k]:
                k += 1
            if proposal:
                for _ in range(k):
                    state["a"] += 0.3 * (1 - state["a"])
                if k < len(proposal):
                    state["a"] -= 0.3 * state["a"]
            else:
                state["a"] += 0.05 * (0.8 - state["a"])
            gained = min(k + 1, len(out) - i)
            context += out[i:i + gained]
            i += gained
            steps += 1
            spent += 1 + cost * len(proposal)
        tokens += len(out) - 1
    return tokens / steps, tokens / spent


def canopy_policy(maximum):
    def propose(context, out, i, state):
        length, expected = 0, 1.0
        while length < maximum:
            expected *= state["a"]
            if expected < 0.3:
                break
            length += 1
        n_total = len(context)
        for n in range(min(4, n_total - 1), 1, -1):
            suffix = context[n_total - n:]
            for start in range(n_total - n - 1, -1, -1):
                if context[start:start + n] == suffix:
                    return context[start + n:start + n + length]
        return []
    return propose


def oracle(maximum, min_n):
    def propose(context, out, i, state):
        best = []
        n_total = len(context)
        for n in range(min_n, 9):
            if n >= n_total:
                break
            suffix = context[n_total - n:]
            for start in range(n_total - n - 1, -1, -1):
                if context[start:start + n] == suffix:
                    f, k = start + n, 0
                    while k < maximum and f + k < n_total and i + k < len(out) and context[f + k] == out[i + k]:
                        k += 1
                    if k > len(best):
                        best = context[f:f + k]
        return best
    return propose


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cost = float(sys.argv[2]) if len(sys.argv) > 2 else 0.32
    maximum = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    outputs = []
    for line in open(sys.argv[1]):
        if line.strip():
            row = json.loads(line)
            outputs.append((row["prompt"], row["output"]))
    print(f"{len(outputs)} outputs, {sum(len(o) for _, o in outputs)} tokens; step of n tokens = 1 + {cost} (n - 1); "
          f"at most {maximum} proposals")
    print("| proposer | tokens per step | modelled decode speed-up |")
    print("|---|---:|---:|")
    for name, propose in [("canopy (n-gram 4..2, adaptive length)", canopy_policy(maximum)),
                          ("oracle, suffixes of 2..8", oracle(maximum, 2)),
                          ("oracle, suffixes of 1..8", oracle(maximum, 1))]:
        per_step, speed_up = replay(outputs, cost, propose)
        print(f"| {name} | {per_step:.2f} | {speed_up:.2f}x |")


if __name__ == "__main__":
    main()
