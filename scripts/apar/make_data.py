#!/usr/bin/env python3
"""Builds the APAR training set from the default model's own answers, through a running canopyd.

    make_data.py SOCKET PROMPTS.jsonl OUT_DIR

Every training prompt is answered twice by the served (base) model over gRPC, once greedily and
once sampled (temperature 0.7, top-p 0.9, fixed seed), both with a mild repetition penalty.
Answers that ran out of tokens are dropped. Structured answers (`apar_format.split_answer`)
become one main example plus one example per stream, as APAR's `as_apar_format.py` does:

    main    prompt | piece0 [SplitMask] piece1 [SplitMask] ... pieceN <end>
    child k prompt | piece0 [SplitMask] ... piece_k [SplitMask] [SplitSop] | stream_k <end>

where `|` marks where the loss starts. The other answers are the unstructured half, kept as
prompt | answer <end>, and the two halves are balanced 50/50 by answers (the larger half is
sampled down, seeded). Token ids: the prompt's are the ones canopyd rendered with the chat
template (the summary returns them), the texts' come from canopyd's Tokenize, and the two
control tokens take the ids after the base vocabulary, as finetune.py adds them.

Writes OUT_DIR/answers.jsonl (every answer and its structure), OUT_DIR/train.jsonl
({"ids", "loss_from", "kind"}) and OUT_DIR/data-summary.json.
"""
import json
import os
import random
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python"))
sys.path.insert(0, os.path.dirname(__file__))

from apar_format import split_answer  # noqa: E402
from canopy_client import CanopyClient  # noqa: E402

MAX_TOKENS = 300
VARIANTS = [
    {"temperature": 0.0, "repetition_penalty": 1.1},
    {"temperature": 0.7, "top_p": 0.9, "seed": 7, "repetition_penalty": 1.1},
]


def answer(client, prompt, variant):
    s = client.chat([{"role": "user", "content": prompt["prompt"]}], max_tokens=MAX_TOKENS,
                    timeout=600, **variant)
    sample = s.samples[0]
    return {**prompt, "variant": variant, "prompt_ids": s.prompt_token_ids, "token_ids": sample.token_ids,
            "text": sample.text, "finish_reason": sample.finish_reason}


def main():
    socket, prompts_path, out_dir = sys.argv[1:4]
    os.makedirs(out_dir, exist_ok=True)
    prompts = [json.loads(line) for line in open(prompts_path)]
    with CanopyClient(socket) as client:
        vocab = client.info().vocab_size
        fork, child = vocab, vocab + 1
        jobs = [(p, v) for p in prompts for v in VARIANTS]
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda job: answer(client, *job), jobs))
        print(f"{len(answers)} answers", file=sys.stderr)

        structured, unstructured = [], []
        for a in answers:
            if a["finish_reason"] != "stop":
                a["structure"] = "truncated"
                continue
            end = a["token_ids"][-1]
            split = split_answer(a["text"])
            if split is None:
                a["structure"] = "none"
                unstructured.append([{"ids": a["prompt_ids"] + a["token_ids"], "loss_from": len(a["prompt_ids"]),
                                      "kind": "unstructured"}])
                continue
            pieces, streams = split
            a["structure"], a["pieces"], a["streams"] = "forked", pieces, streams
            main_ids, mask_at = list(a["prompt_ids"]), []
            for k, piece in enumerate(pieces):
                main_ids += client.tokenize(piece) if piece else []
                if k < len(streams):
                    main_ids.append(fork)
                    mask_at.append(len(main_ids))
            examples = [{"ids": main_ids + [end], "loss_from": len(a["prompt_ids"]), "kind": "main"}]
            for k, stream in enumerate(streams):
                context = main_ids[:mask_at[k]] + [child]
                examples.append({"ids": context + client.tokenize(stream) + [end], "loss_from": len(context),
                                 "kind": "child"})
            structured.append(examples)

    rng = random.Random(1401)
    n = min(len(structured), len(unstructured))
    mix = rng.sample(structured, n) + rng.sample(unstructured, n)
    rows = [ex for group in mix for ex in group]
    with open(os.path.join(out_dir, "answers.jsonl"), "w") as f:
        for a in answers:
            f.write(json.dumps(a) + "\n")
    with open(os.path.join(out_dir, "train.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    summary = {
        "answers": len(answers),
        "structured_answers": len(structured), "unstructured_answers": len(unstructured),
        "truncated_answers": sum(a["structure"] == "truncated" for a in answers),
        "answers_per_half": n, "examples": len(rows),
        "examples_by_kind": {k: sum(r["kind"] == k for r in rows) for k in ("main", "child", "unstructured")},
        "fork_token": fork, "child_token": child,
    }
    with open(os.path.join(out_dir, "data-summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary), file=sys.stderr)


if __name__ == "__main__":
    main()
