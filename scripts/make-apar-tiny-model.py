#!/usr/bin/env python3
"""Trains a tiny APAR-style forking Llama and writes it, with float64 reference outputs, for Canopy's tests.

Usage (from the repository root; needs numpy==2.4.6, gguf==0.19.0, jax==0.10.2 and
jaxlib==0.10.2 from PyPI; runs on the CPU, single-threaded, in a few minutes):

    python3 scripts/make-apar-tiny-model.py Tests/Fixtures/apar-tiny

APAR (arXiv 2401.06761) teaches a model to write a fork token `[SplitMask]` where an answer
has independent parts: the engine starts a child whose next token is forced to `[SplitSop]` and
which writes that part's detail while the parent goes on. The data here is a tiny grammar:

    prompt  "list 3 fruits from pear:\n"
    main    "1. pear[SplitMask]\n2. plum[SplitMask]\n3. fig[SplitMask]<|endoftext|>"
    child   <prompt> "1. pear[SplitMask]" "[SplitSop]" " is green and soft.<|endoftext|>"

Items follow each other in a fixed cycle per category (3 categories of 6 items, 1 to 5 items
asked), so a prompt determines its answer; 3 prompts per category (distinct starts, 2 to 5
items) are held out of training to measure generalisation. A main example's loss covers the
answer; a child example's only what follows its `[SplitSop]`. Weights and batches come from
seeded numpy generators and XLA runs on one CPU thread, so a rerun on the same machine writes
the same bytes (a different CPU may round differently inside XLA).

Outputs, in the given directory:
  apar-tiny.gguf   architecture `llama`, F32 weights, GPT-2 byte-level tokenizer + control tokens
  reference.json   sequences, the fork's greedy tokens, accuracies, margins, seed, sha256
  logits-<i>.f32   for sequence i: logits at every position, positions x vocab, little-endian f32

The reference forward pass (`reference_forward`) is plain float64 numpy written from llama.cpp's
`llama` graph (RMSNorm, normal RoPE rotating adjacent pairs, grouped-query attention, SwiGLU),
independent of Canopy; every reference number comes from it, run on the exported f32 weights.
"""
import os
import sys

os.environ["JAX_PLATFORMS"] = "cpu"
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import hashlib  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import gguf  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

SEED = 1234
N_EMBD, N_HEAD, N_HEAD_KV, N_LAYER, N_FF = 64, 4, 2, 2, 128
HEAD_DIM = N_EMBD // N_HEAD
CONTEXT = 128
ROPE_BASE = 10000.0
RMS_EPS = 1e-5
STEPS, BATCH, LR, WARMUP, WEIGHT_DECAY = 1500, 16, 3e-3, 100, 0.1

CATEGORIES = {
    "fruits": [("apple", "red and sweet"), ("pear", "green and soft"), ("plum", "purple and sour"),
               ("fig", "brown and soft"), ("lime", "green and sour"), ("kiwi", "brown and hairy")],
    "animals": [("cat", "small and quiet"), ("dog", "loyal and loud"), ("owl", "wise and silent"),
                ("fox", "quick and sly"), ("bee", "busy and small"), ("cow", "big and calm")],
    "colors": [("red", "warm like fire"), ("blue", "cool like sea"), ("gold", "bright like sun"),
               ("gray", "dull like ash"), ("pink", "soft like rose"), ("teal", "deep like a lake")],
}
COUNTS = [1, 2, 3, 4, 5]
HELD_OUT_PER_CATEGORY = 3


def byte_symbols():
    """GPT-2's printable stand-in character for each byte."""
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    codes, n = printable[:], 256
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(n)
            n += 1
    symbols = [""] * 256
    for b, c in zip(printable, codes):
        symbols[b] = chr(c)
    return symbols


SYMBOLS = byte_symbols()
# Bytes 0-255 are tokens 0-255; one merge (two spaces, never in the data: GGUF needs a non-empty
# merge list) and the three control tokens follow.
TOKENS = SYMBOLS + [SYMBOLS[32] * 2, "[SplitMask]", "[SplitSop]", "<|endoftext|>"]
TYPES = [1] * 257 + [3, 3, 3]
MERGES = [SYMBOLS[32] + " " + SYMBOLS[32]]
MASK, SOP, EOS = 257, 258, 259
VOCAB = len(TOKENS)
SPECIAL = {"[SplitMask]": MASK, "[SplitSop]": SOP, "<|endoftext|>": EOS}


def encode(text):
    """Byte tokens, with control-token texts as their ids (what the BPE tokenizer gives here)."""
    ids, i = [], 0
    while i < len(text):
        for name, tid in SPECIAL.items():
            if text.startswith(name, i):
                ids.append(tid)
                i += len(name)
                break
        else:
            assert not text.startswith("  ", i), "two spaces would merge"
            ids.extend(text[i].encode())
            i += 1
    return ids


def decode(ids):
    return "".join(TOKENS[t] if t >= 256 else chr(t) for t in ids)


def task(category, start, count):
    """(prompt text, [(item, detail)]) of one prompt."""
    items = CATEGORIES[category]
    first = [name for name, _ in items].index(start)
    chosen = [items[(first + k) % len(items)] for k in range(count)]
    return f"list {count} {category} from {start}:\n", chosen


def examples(category, start, count):
    """The main example and one child example per item, as (tokens, loss-from index)."""
    prompt, chosen = task(category, start, count)
    p = encode(prompt)
    main = encode("\n".join(f"{k + 1}. {name}[SplitMask]" for k, (name, _) in enumerate(chosen))
                  + "<|endoftext|>")
    out = [(p + main, len(p))]
    masks = [i for i, t in enumerate(main) if t == MASK]
    for (_, detail), m in zip(chosen, masks):
        child = p + main[:m + 1] + [SOP]
        out.append((child + encode(f" is {detail}.<|endoftext|>"), len(child)))
    return out


def all_tasks():
    return [(c, name, n) for c, items in CATEGORIES.items() for name, _ in items for n in COUNTS]


def init_weights(rng):
    def mat(rows, cols, scale=1.0):
        return (rng.standard_normal((rows, cols)) * scale / np.sqrt(cols)).astype(np.float32)

    w = {"token_embd.weight": (rng.standard_normal((VOCAB, N_EMBD)) * 0.5).astype(np.float32),
         "output_norm.weight": np.ones(N_EMBD, np.float32),
         "output.weight": mat(VOCAB, N_EMBD, 0.5)}
    for i in range(N_LAYER):
        p = f"blk.{i}."
        w[p + "attn_norm.weight"] = np.ones(N_EMBD, np.float32)
        w[p + "attn_q.weight"] = mat(N_HEAD * HEAD_DIM, N_EMBD)
        w[p + "attn_k.weight"] = mat(N_HEAD_KV * HEAD_DIM, N_EMBD)
        w[p + "attn_v.weight"] = mat(N_HEAD_KV * HEAD_DIM, N_EMBD)
        w[p + "attn_output.weight"] = mat(N_EMBD, N_HEAD * HEAD_DIM, 0.5)
        w[p + "ffn_norm.weight"] = np.ones(N_EMBD, np.float32)
        w[p + "ffn_gate.weight"] = mat(N_FF, N_EMBD)
        w[p + "ffn_up.weight"] = mat(N_FF, N_EMBD)
        w[p + "ffn_down.weight"] = mat(N_EMBD, N_FF, 0.5)
    return w


def rope_tables(xp, length):
    """cos, sin of shape (length, HEAD_DIM/2): pair i of position t turns by t * base^(-2i/d)."""
    inv = 1.0 / (ROPE_BASE ** (np.arange(0, HEAD_DIM, 2, dtype=np.float64) / HEAD_DIM))
    ang = np.outer(np.arange(length, dtype=np.float64), inv)
    return xp.asarray(np.cos(ang)), xp.asarray(np.sin(ang))


def forward_generic(xp, w, tokens, cos, sin):
    """llama forward for tokens of shape (batch, T); `xp` is numpy or jax.numpy."""
    B, T = tokens.shape
    group = N_HEAD // N_HEAD_KV

    def norm(x, weight):
        return x / xp.sqrt(xp.mean(x * x, axis=-1, keepdims=True) + RMS_EPS) * weight

    def rope(x):  # (B, T, heads, HEAD_DIM), llama.cpp's normal mode: pairs (2i, 2i+1)
        x0, x1 = x[..., 0::2], x[..., 1::2]
        c, s = cos[None, :T, None, :], sin[None, :T, None, :]
        return xp.stack([x0 * c - x1 * s, x0 * s + x1 * c], axis=-1).reshape(x.shape)

    causal = xp.asarray(np.triu(np.full((T, T), -1e30), k=1))
    h = w["token_embd.weight"][tokens]
    for i in range(N_LAYER):
        p = f"blk.{i}."
        x = norm(h, w[p + "attn_norm.weight"])
        q = rope((x @ w[p + "attn_q.weight"].T).reshape(B, T, N_HEAD, HEAD_DIM))
        k = rope((x @ w[p + "attn_k.weight"].T).reshape(B, T, N_HEAD_KV, HEAD_DIM))
        v = (x @ w[p + "attn_v.weight"].T).reshape(B, T, N_HEAD_KV, HEAD_DIM)
        k, v = xp.repeat(k, group, axis=2), xp.repeat(v, group, axis=2)
        scores = xp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(HEAD_DIM) + causal
        scores = xp.exp(scores - scores.max(axis=-1, keepdims=True))
        scores = scores / scores.sum(axis=-1, keepdims=True)
        att = xp.einsum("bhqk,bkhd->bqhd", scores, v).reshape(B, T, N_HEAD * HEAD_DIM)
        h = h + att @ w[p + "attn_output.weight"].T
        x = norm(h, w[p + "ffn_norm.weight"])
        g = x @ w[p + "ffn_gate.weight"].T
        h = h + ((g / (1 + xp.exp(-g))) * (x @ w[p + "ffn_up.weight"].T)) @ w[p + "ffn_down.weight"].T
    return norm(h, w["output_norm.weight"]) @ w["output.weight"].T


def reference_forward(w64, tokens):
    """Float64 logits (T, vocab) of one sequence."""
    cos, sin = rope_tables(np, len(tokens))
    return forward_generic(np, w64, np.asarray([tokens]), cos, sin)[0]


def greedy(w64, context, limit=64):
    """Float64 greedy continuation up to and including an end token; also the smallest top-2 gap."""
    seq, out, margin = list(context), [], np.inf
    for _ in range(limit):
        logits = reference_forward(w64, seq)[-1]
        top = np.argsort(-logits, kind="stable")[:2]
        margin = min(margin, logits[top[0]] - logits[top[1]])
        out.append(int(top[0]))
        seq.append(int(top[0]))
        if top[0] == EOS:
            break
    return out, float(margin)


def fork(w64, prompt):
    """APAR decoding: the main branch, then one child per `[SplitMask]` it wrote."""
    main, margin = greedy(w64, prompt)
    children = []
    for i, t in enumerate(main):
        if t == MASK:
            context = prompt + main[:i + 1] + [SOP]
            tokens, m = greedy(w64, context)
            children.append({"context": context, "greedy": tokens})
            margin = min(margin, m)
    return {"prompt": prompt, "main": main, "children": children}, margin


def expected_fork(category, start, count):
    exs = examples(category, start, count)
    (main, lp), kids = exs[0], exs[1:]
    return main[lp:], [(c[:lc], c[lc:]) for c, lc in kids]


def fork_correct(w64, c, s, n):
    got, _ = fork(w64, encode(task(c, s, n)[0]))
    main, kids = expected_fork(c, s, n)
    return got["main"] == main and [(k["context"], k["greedy"]) for k in got["children"]] == kids


def train(w, data):
    """Adam on next-token cross-entropy with per-token weights; returns float32 weights."""
    L = max(len(t) for t, _ in data)
    x = np.zeros((len(data), L), np.int32)
    y = np.zeros((len(data), L), np.int32)
    m = np.zeros((len(data), L), np.float32)
    for r, (toks, start) in enumerate(data):
        x[r, :len(toks) - 1], y[r, :len(toks) - 1] = toks[:-1], toks[1:]
        m[r, start - 1:len(toks) - 1] = 1
    cos, sin = rope_tables(jnp, L)
    cos, sin = cos.astype(jnp.float32), sin.astype(jnp.float32)

    def loss_fn(params, xb, yb, mb):
        logits = forward_generic(jnp, params, xb, cos, sin)
        logp = jax.nn.log_softmax(logits, axis=-1)
        nll = -jnp.take_along_axis(logp, yb[..., None], axis=-1)[..., 0]
        return (nll * mb).sum() / mb.sum()

    @jax.jit
    def step(params, mom, vel, t, xb, yb, mb):
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb, mb)
        lr = LR * jnp.minimum(1.0, t / WARMUP) * (0.55 + 0.45 * jnp.cos(jnp.pi * t / STEPS))
        mom = jax.tree.map(lambda a, g: 0.9 * a + 0.1 * g, mom, grads)
        vel = jax.tree.map(lambda a, g: 0.99 * a + 0.01 * g * g, vel, grads)
        params = {k: p - lr * (mom[k] / (1 - 0.9 ** t) / (jnp.sqrt(vel[k] / (1 - 0.99 ** t)) + 1e-8)
                              + (WEIGHT_DECAY * p if p.ndim == 2 else 0.0))
                  for k, p in params.items()}
        return params, mom, vel, loss

    params = {k: jnp.asarray(v) for k, v in w.items()}
    mom = jax.tree.map(jnp.zeros_like, params)
    vel = jax.tree.map(jnp.zeros_like, params)
    rng = np.random.default_rng(SEED + 1)
    order, cursor = rng.permutation(len(data)), 0
    for t in range(1, STEPS + 1):
        if cursor + BATCH > len(order):
            order, cursor = rng.permutation(len(data)), 0
        idx = np.sort(order[cursor:cursor + BATCH])
        cursor += BATCH
        params, mom, vel, loss = step(params, mom, vel, jnp.float32(t), x[idx], y[idx], m[idx])
        if t % 250 == 0 or t == 1:
            print(f"step {t}: loss {float(loss):.4f}", flush=True)
    return {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}


def write_gguf(path, w):
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("canopy-test-apar-tiny")
    writer.add_block_count(N_LAYER)
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(N_EMBD)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_rope_freq_base(ROPE_BASE)
    writer.add_layer_norm_rms_eps(RMS_EPS)
    writer.add_vocab_size(VOCAB)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt2")
    writer.add_token_list(TOKENS)
    writer.add_token_types(TYPES)
    writer.add_token_merges(MERGES)
    writer.add_eos_token_id(EOS)
    writer.add_add_bos_token(False)
    for name, value in w.items():
        writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/apar-tiny"
    os.makedirs(out_dir, exist_ok=True)
    tasks = all_tasks()
    rng = np.random.default_rng(SEED)
    # Held out: per category, a few prompts with distinct starts and counts of 2 or more, so
    # every start and every successor is still seen in training (with other counts).
    held = []
    for c, items in CATEGORIES.items():
        starts = rng.choice(len(items), HELD_OUT_PER_CATEGORY, replace=False)
        counts = rng.choice(COUNTS[1:], HELD_OUT_PER_CATEGORY, replace=False)
        held += [(c, items[s][0], int(n)) for s, n in zip(starts, counts)]
    held.sort()
    trained = [t for t in tasks if t not in held]
    data = [ex for t in trained for ex in examples(*t)]
    print(f"{len(trained)} training prompts ({len(data)} sequences), {len(held)} held out", flush=True)
    began = time.time()
    w = train(init_weights(rng), data)
    seconds = time.time() - began
    w64 = {k: v.astype(np.float64) for k, v in w.items()}
    train_ok = sum(fork_correct(w64, *t) for t in trained)
    held_ok = sum(fork_correct(w64, *t) for t in held)
    print(f"trained in {seconds:.0f} s; forks exactly right: training {train_ok}/{len(trained)}, "
          f"held out {held_ok}/{len(held)}", flush=True)

    gguf_path = os.path.join(out_dir, "apar-tiny.gguf")
    write_gguf(gguf_path, w)
    with open(gguf_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    # The fork demo: the first held-out prompt of 3 items or more that the model gets exactly
    # right (else the first such training prompt), decoded by the float64 reference.
    candidates = [t for t in held if t[2] >= 3 and fork_correct(w64, *t)]
    demo_task = (candidates or [t for t in trained if t[2] >= 3])[0]
    demo, margin = fork(w64, encode(task(*demo_task)[0]))
    sequences = [demo["prompt"] + demo["main"],
                 demo["children"][0]["context"] + demo["children"][0]["greedy"],
                 encode(task(*trained[0])[0])]
    for i, s in enumerate(sequences):
        reference_forward(w64, s).astype("<f4").tofile(os.path.join(out_dir, f"logits-{i}.f32"))
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump({
            "seed": SEED, "steps": STEPS, "train_seconds": round(seconds, 1), "vocab": VOCAB,
            "gguf_sha256": digest,
            "tokens": {"split_mask": MASK, "split_sop": SOP, "eos": EOS},
            "held_out": [list(t) for t in held],
            "fork_accuracy": {"training": [train_ok, len(trained)], "held_out": [held_ok, len(held)]},
            "sequences": sequences,
            "sequence_texts": [decode(s) for s in sequences],
            "fork": {**demo, "prompt_text": task(*demo_task)[0], "min_top2_margin": margin,
                     "held_out": demo_task in held, "expected_correct": fork_correct(w64, *demo_task)},
            "logit_abs_max": [float(np.abs(reference_forward(w64, s)).max()) for s in sequences],
        }, f, indent=1)
        f.write("\n")
    print(f"sha256 {digest}\nfork demo margin {margin:.3f}; wrote {out_dir}")


if __name__ == "__main__":
    main()
