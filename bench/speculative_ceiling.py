#!/usr/bin/env python3
"""How far prompt-lookup speculation can go on a set of greedy outputs, with no model run.

Input: the JSONL that `canopy-bench speculative --dump FILE` writes (each line a prompt's
token ids and its greedy output without speculation). STEPS gives what a verification step of
n tokens costs, in one-token steps: either a table, comma-separated, for n = 1...MAX + 1 (what
`canopy-bench single --windows` prints as one_token_steps, and what the engine measures for
itself: VerificationCostModel), or one number COST for the line 1 + COST x (n - 1). For each
output it replays:

- canopy: the engine's policy for one sequence decoding alone (Scheduler, SpeculationState,
  NGramProposer): the most recent earlier occurrence of the longest suffix of 4 down to 2
  tokens, extended back to how far it matches (L, at most 64), its continuation proposed up to
  the length p that maximises the expected tokens 1 + a0 + a0 a1 + ... + a0 ... a(p-1) over
  the step's cost, where a_j is the smaller of the sequence's acceptance estimate (a moving
  estimate: prior 0.8, rate 0.3, recovery 0.05) and 1 - 1 / (L + j);
- canopy before 1101a43: the same with a_j the estimate alone (no match length);
- canopy's occurrence, perfect length: the occurrence the engine would copy, proposed for
  exactly as many tokens as it gets right (nothing when its first is wrong): what a perfect
  choice of length alone would give;
- oracle: at every step the best any context-copying proposer could do: among all earlier
  occurrences of every suffix of MIN_N...8 tokens, the continuation that matches the output
  longest (up to MAX proposals), and nothing proposed when none matches.

Prints tokens per step and the modelled decode speed-up (tokens / cost) of each. The oracle's
figure bounds what choosing occurrences and lengths better could give at that step cost.

Usage: speculative_ceiling.py DUMP.jsonl [STEPS=0.32] [MAX=8]
"""
import json
import sys


def replay(outputs, steps_cost, propose):
    tokens = steps = spent = 0.0
    for prompt, out in outputs:
        context = list(prompt) + [out[0]]  # the first token comes from the prefill
        state = {"a": 0.8}
        i = 1
        while i < len(out):
            proposal = propose(context, out, i, state, steps_cost)
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
            spent += steps_cost[len(proposal)]
        tokens += len(out) - 1
    return tokens / steps, tokens / spent


def match(context, longest=4, shortest=2, cap=64):
    """NGramProposer.match: (index the continuation starts at, match length L), or None."""
    n_total = len(context)
    for n in range(min(longest, n_total - 1), shortest - 1, -1):
        suffix = context[n_total - n:]
        for start in range(n_total - n - 1, -1, -1):
            if context[start:start + n] == suffix:
                f, length = start + n, n
                while length < cap and f - length - 1 >= 0 and context[f - length - 1] == context[n_total - length - 1]:
                    length += 1
                return f, length
    return None


def canopy_policy(maximum, by_match=True):
    def propose(context, out, i, state, steps_cost):
        found = match(context)
        if found is None:
            return []
        f, matched = found
        length, best, expected, power = 0, 1 / steps_cost[0], 1.0, 1.0
        for p in range(1, maximum + 1):
            a = state["a"]
            if by_match:
                a = min(a, max(0.0, 1 - 1 / max(1, matched + p - 1)))
            power *= a
            expected += power
            if expected / steps_cost[p] > best:
                length, best = p, expected / steps_cost[p]
        return context[f:f + length]
    return propose


def occurrences(context, sizes):
    """Every earlier occurrence of the context's suffix of each size n in `sizes` (in that
    order, most recent first): the index its continuation starts at."""
    n_total = len(context)
    for n in sizes:
        if n < 1 or n >= n_total:
            continue
        suffix = context[n_total - n:]
        for start in range(n_total - n - 1, -1, -1):
            if context[start:start + n] == suffix:
                yield start + n


def agreeing(context, f, out, i, maximum):
    """The continuation at f, for as many tokens (at most `maximum`) as it equals the output from i."""
    k = 0
    while k < maximum and f + k < len(context) and i + k < len(out) and context[f + k] == out[i + k]:
        k += 1
    return context[f:f + k]


def canopy_occurrence_perfect_length(maximum):
    def propose(context, out, i, state, steps_cost):
        for f in occurrences(context, range(4, 1, -1)):
            return agreeing(context, f, out, i, maximum)
        return []
    return propose


def oracle(maximum, min_n):
    def propose(context, out, i, state, steps_cost):
        best = []
        for f in occurrences(context, range(min_n, 9)):
            candidate = agreeing(context, f, out, i, maximum)
            if len(candidate) > len(best):
                best = candidate
        return best
    return propose


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    steps_arg = sys.argv[2] if len(sys.argv) > 2 else "0.32"
    maximum = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    if "," in steps_arg:
        steps_cost = [float(x) for x in steps_arg.split(",")]
        if len(steps_cost) < maximum + 1:
            sys.exit(f"speculative_ceiling: STEPS has {len(steps_cost)} sizes, MAX {maximum} needs {maximum + 1}")
        described = "step of n tokens = " + ", ".join(f"{t:.2f}" for t in steps_cost[:maximum + 1]) + " one-token steps (n = 1, 2, ...)"
    else:
        cost = float(steps_arg)
        steps_cost = [1 + cost * n for n in range(maximum + 1)]
        described = f"step of n tokens = 1 + {cost} (n - 1)"
    outputs = []
    for line in open(sys.argv[1]):
        if line.strip():
            row = json.loads(line)
            outputs.append((row["prompt"], row["output"]))
    print(f"{len(outputs)} outputs, {sum(len(o) for _, o in outputs)} tokens; {described}; at most {maximum} proposals")
    print("| proposer | tokens per step | modelled decode speed-up |")
    print("|---|---:|---:|")
    for name, propose in [("canopy (n-gram 4..2, length for most tokens per step time, by match length)", canopy_policy(maximum)),
                          ("canopy before 1101a43 (length by the acceptance estimate alone)", canopy_policy(maximum, by_match=False)),
                          ("canopy's occurrence, perfect length", canopy_occurrence_perfect_length(maximum)),
                          ("oracle, suffixes of 2..8", oracle(maximum, 2)),
                          ("oracle, suffixes of 1..8", oracle(maximum, 1))]:
        per_step, speed_up = replay(outputs, steps_cost, propose)
        print(f"| {name} | {per_step:.2f} | {speed_up:.2f}x |")


if __name__ == "__main__":
    main()
