#!/usr/bin/env python3
"""Fine-tunes the default model (SmolLM2-135M-Instruct, a `llama` GGUF) into an APAR model, on the CPU.

Usage (scripts/make-apar-model.sh runs it; needs scripts/apar/requirements.txt):

    finetune.py train  --base BASE.gguf --data train.jsonl --work DIR --steps N [--batch B]
    finetune.py export --base BASE.gguf --work DIR --out APAR.gguf
    finetune.py requantize --base BASE.gguf --out BASE.Q8_0.gguf   (the bench's AR baseline)

`train` reads the base model's weights with gguf-py (dequantized to float32), adds two rows to
the (tied) embedding for the control tokens `[SplitMask]` and `[SplitSop]`, and runs a full
fine-tune with optax's AdamW on next-token cross-entropy, where each example's loss covers only
the tokens from its `loss_from` index on (the answer; for a child example, what follows its
`[SplitSop]`, as APAR's `as_apar_format.py` masks it). Every `--checkpoint-every` steps the
weights and optimizer state go to DIR/checkpoint.pkl, and a rerun resumes from there, so a long
run can be stopped and continued. The batch order is fixed by the seed.

`export` writes the APAR model: the base file's metadata with the two tokens appended to the
vocabulary (type CONTROL), norms in F32 and every matrix in Q8_0 (gguf-py's quantizer):
re-quantizing to the base's Q4_1 would round the fine-tune away (see `--quant`).

The forward pass is llama.cpp's `llama` graph on GGUF weights (RMSNorm, RoPE rotating adjacent
pairs as GGUF's permuted Q/K expect, grouped-query attention, SwiGLU), written with jax.numpy.
"""
import argparse
import json
import os
import pickle
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import gguf  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

CONTROL_TOKENS = ["[SplitMask]", "[SplitSop]"]
# Parameter name of the control tokens' embedding rows (tied: also their output rows).
NEW_ROWS = "control_token_embd"
SEED = 20240114


class Config:
    """Hyperparameters of a `llama` GGUF, from its metadata."""

    def __init__(self, reader):
        def get(key):
            return reader.fields[key].contents()

        self.n_layer = int(get("llama.block_count"))
        self.n_embd = int(get("llama.embedding_length"))
        self.n_head = int(get("llama.attention.head_count"))
        self.n_head_kv = int(get("llama.attention.head_count_kv"))
        self.rope_base = float(get("llama.rope.freq_base"))
        self.eps = float(get("llama.attention.layer_norm_rms_epsilon"))
        self.head_dim = self.n_embd // self.n_head
        self.vocab = len(get("tokenizer.ggml.tokens"))


def base_weights(reader):
    """float32 weights of the base file by tensor name, each shaped (rows, columns) as numpy sees it."""
    out = {}
    for t in reader.tensors:
        w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        out[t.name] = w.reshape([int(d) for d in reversed(t.shape)]) if w.ndim > 1 else w.reshape(-1)
    return out


def forward(cfg, w, tokens):
    """Logits (B, T, vocab) of `tokens` (B, T) under causal attention."""
    B, T = tokens.shape
    group = cfg.n_head // cfg.n_head_kv
    inv = 1.0 / (cfg.rope_base ** (np.arange(0, cfg.head_dim, 2, dtype=np.float64) / cfg.head_dim))
    ang = np.outer(np.arange(T, dtype=np.float64), inv)
    cos = jnp.asarray(np.cos(ang), jnp.float32)[None, :, None, :]
    sin = jnp.asarray(np.sin(ang), jnp.float32)[None, :, None, :]
    causal = jnp.asarray(np.triu(np.full((T, T), -1e30, np.float32), k=1))

    def norm(x, weight):
        return x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + cfg.eps) * weight

    def rope(x):
        x0, x1 = x[..., 0::2], x[..., 1::2]
        return jnp.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], axis=-1).reshape(x.shape)

    # The control tokens' rows live apart so that they can learn at their own rate.
    emb = jnp.concatenate([w["token_embd.weight"], w[NEW_ROWS]]) if NEW_ROWS in w else w["token_embd.weight"]
    h = emb[tokens]
    for i in range(cfg.n_layer):
        p = f"blk.{i}."
        x = norm(h, w[p + "attn_norm.weight"])
        q = rope((x @ w[p + "attn_q.weight"].T).reshape(B, T, cfg.n_head, cfg.head_dim))
        k = rope((x @ w[p + "attn_k.weight"].T).reshape(B, T, cfg.n_head_kv, cfg.head_dim))
        v = (x @ w[p + "attn_v.weight"].T).reshape(B, T, cfg.n_head_kv, cfg.head_dim)
        q = q.reshape(B, T, cfg.n_head_kv, group, cfg.head_dim)
        scores = jnp.einsum("bqkgd,bskd->bkgqs", q, k) / np.sqrt(cfg.head_dim) + causal
        att = jnp.einsum("bkgqs,bskd->bqkgd", jax.nn.softmax(scores, axis=-1), v)
        h = h + att.reshape(B, T, cfg.n_embd) @ w[p + "attn_output.weight"].T
        x = norm(h, w[p + "ffn_norm.weight"])
        ff = jax.nn.silu(x @ w[p + "ffn_gate.weight"].T) * (x @ w[p + "ffn_up.weight"].T)
        h = h + ff @ w[p + "ffn_down.weight"].T
    out = w.get("output.weight", emb)
    return norm(h, w["output_norm.weight"]) @ out.T


def load_examples(path, max_len):
    """(ids, loss_from) pairs from a JSONL file, dropping those longer than max_len tokens."""
    kept, dropped = [], 0
    with open(path) as f:
        for line in f:
            ex = json.loads(line)
            if len(ex["ids"]) > max_len:
                dropped += 1
                continue
            kept.append((ex["ids"], ex["loss_from"]))
    return kept, dropped


def batch_plan(examples, batch, steps, seed):
    """Example indices for every step: shuffled, then grouped by length inside windows of 16
    batches so padding stays small; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    plan = []
    while len(plan) < steps:
        order = rng.permutation(len(examples))
        window = batch * 16
        batches = []
        for s in range(0, len(order) - batch + 1, window):
            chunk = sorted(order[s:s + window], key=lambda i: len(examples[i][0]))
            batches += [chunk[j:j + batch] for j in range(0, len(chunk) - batch + 1, batch)]
        rng.shuffle(batches)
        plan += batches
    return plan[:steps]


def make_batch(examples, idx, bucket=64):
    """Padded inputs, targets and loss mask for the examples at `idx`."""
    longest = max(len(examples[i][0]) for i in idx) - 1
    T = -(-longest // bucket) * bucket
    x = np.zeros((len(idx), T), np.int32)
    y = np.zeros((len(idx), T), np.int32)
    m = np.zeros((len(idx), T), np.float32)
    for r, i in enumerate(idx):
        ids, start = examples[i]
        n = len(ids) - 1
        x[r, :n], y[r, :n] = ids[:-1], ids[1:]
        m[r, start - 1:n] = 1
    return x, y, m


def train(args):
    reader = gguf.GGUFReader(args.base)
    cfg = Config(reader)
    examples, dropped = load_examples(args.data, args.max_len)
    print(f"{len(examples)} examples ({dropped} longer than {args.max_len} tokens dropped)", flush=True)
    schedule = optax.warmup_cosine_decay_schedule(0.0, args.lr, args.warmup, args.steps, args.lr * 0.1)
    # The new rows start from nothing the model knows, and the fork token is the target of
    # only about one position in eight of a main example: at the base rate its logit would
    # not climb above the detail's first token in a few hundred steps, so the rows get a
    # rate of their own.
    new_schedule = optax.warmup_cosine_decay_schedule(0.0, args.new_token_lr, args.warmup, args.steps,
                                                      args.new_token_lr * 0.1)
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.multi_transform(
        {"base": optax.adamw(schedule, b1=0.9, b2=0.95, weight_decay=0.0),
         "new": optax.adamw(new_schedule, b1=0.9, b2=0.95, weight_decay=0.0)},
        lambda p: {k: "new" if k == NEW_ROWS else "base" for k in p}))
    ckpt = os.path.join(args.work, "checkpoint.pkl")
    if os.path.exists(ckpt):
        with open(ckpt, "rb") as f:
            state = pickle.load(f)
        params = jax.tree.map(jnp.asarray, state["params"])
        opt_state = jax.tree.map(jnp.asarray, state["opt_state"])
        first, log = state["step"] + 1, state["log"]
        print(f"resuming after step {state['step']}", flush=True)
    else:
        w = base_weights(reader)
        emb = w["token_embd.weight"]
        # New rows start at the mean embedding (the usual choice when resizing a vocabulary):
        # their logits start near the average token's instead of at random.
        w[NEW_ROWS] = np.repeat(emb.mean(0, keepdims=True), len(CONTROL_TOKENS), 0)
        params = {k: jnp.asarray(v) for k, v in w.items()}
        opt_state = optimizer.init(params)
        first, log = 1, []

    def loss_fn(p, x, y, m):
        logp = jax.nn.log_softmax(forward(cfg, p, x), axis=-1)
        nll = -jnp.take_along_axis(logp, y[..., None], axis=-1)[..., 0]
        return (nll * m).sum() / jnp.maximum(m.sum(), 1.0)

    @jax.jit
    def step(p, s, x, y, m):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y, m)
        updates, s = optimizer.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    def save(at):
        tmp = ckpt + ".tmp"
        with open(tmp, "wb") as f:
            pickle.dump({"step": at, "log": log, "params": jax.tree.map(np.asarray, params),
                         "opt_state": jax.tree.map(np.asarray, opt_state)}, f)
        os.replace(tmp, ckpt)

    plan = batch_plan(examples, args.batch, args.steps, SEED)
    began = time.time()
    for t in range(first, args.steps + 1):
        x, y, m = make_batch(examples, plan[t - 1])
        t0 = time.time()
        params, opt_state, loss = step(params, opt_state, x, y, m)
        loss = float(loss)
        log.append({"step": t, "loss": round(loss, 4), "tokens": int(m.sum()), "width": x.shape[1],
                    "seconds": round(time.time() - t0, 2)})
        print(json.dumps(log[-1]), flush=True)
        if not np.isfinite(loss):
            sys.exit("loss is not finite: lower --lr")
        if t % args.checkpoint_every == 0 or t == args.steps:
            save(t)
    print(f"trained steps {first}..{args.steps} in {time.time() - began:.0f} s", flush=True)
    recall = fork_recall(cfg, params, examples, cfg.vocab)
    print(f"fork recall on training main examples: {recall}", flush=True)
    with open(os.path.join(args.work, "train-log.json"), "w") as f:
        json.dump({"examples": len(examples), "dropped": dropped, "batch": args.batch, "lr": args.lr,
                   "new_token_lr": args.new_token_lr, "steps": args.steps, "fork_recall": recall,
                   "log": log}, f)


def fork_recall(cfg, params, examples, fork, limit=24):
    """Of the fork positions in up to `limit` main examples (loss from the prompt, containing the
    fork token), how many the model's argmax puts the fork token at, and how many other
    positions it predicts the fork token at (false forks)."""
    mains = [e for e in examples if fork in e[0][e[1]:]][:limit]
    hit = total = false = 0
    for i in range(0, len(mains), 4):
        x, y, m = make_batch(mains, list(range(i, min(i + 4, len(mains)))))
        guess = np.asarray(jnp.argmax(forward(cfg, params, x), axis=-1))
        at_fork = (y == fork) & (m > 0)
        hit += int((at_fork & (guess == fork)).sum())
        total += int(at_fork.sum())
        false += int(((y != fork) & (m > 0) & (guess == fork)).sum())
    return {"main_examples": len(mains), "fork_positions": total, "predicted": hit, "false_forks": false}


def write_gguf(reader, out, weights, quant, control_tokens=()):
    """Writes `weights` (float32 by tensor name, the base file's tensors) to `out` with the base
    file's metadata: norms (F32 in the base) stay F32, every other tensor is quantized to
    `quant` ("base": its type in the base file). `control_tokens` are appended to the
    vocabulary as CONTROL tokens, and `weights["token_embd.weight"]` must have their rows."""
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(out, arch)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        value = field.contents()
        if control_tokens:
            if key == "tokenizer.ggml.tokens":
                value = value + list(control_tokens)
            elif key == "tokenizer.ggml.token_type":
                value = value + [int(gguf.TokenType.CONTROL)] * len(control_tokens)
            elif key == f"{arch}.vocab_size":
                value = value + len(control_tokens)
            elif key == "general.name":
                value = f"{value} APAR"
        sub = field.types[1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, field.types[0], sub_type=sub)
    for t in reader.tensors:
        w = np.asarray(weights[t.name], np.float32)
        if t.tensor_type == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(t.name, w)
        else:
            qtype = t.tensor_type if quant == "base" else gguf.GGMLQuantizationType[quant.upper()]
            q = gguf.quants.quantize(w, qtype)
            writer.add_tensor(t.name, q, raw_shape=q.shape, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def export(args):
    reader = gguf.GGUFReader(args.base)
    with open(os.path.join(args.work, "checkpoint.pkl"), "rb") as f:
        state = pickle.load(f)
    weights = dict(state["params"])
    weights["token_embd.weight"] = np.concatenate([weights["token_embd.weight"], weights.pop(NEW_ROWS)])
    write_gguf(reader, args.out, weights, args.quant, CONTROL_TOKENS)
    print(f"wrote {args.out} (steps {state['step']})", flush=True)


def requantize(args):
    """The base model with every matrix in `--quant`'s type and nothing else changed: the
    sequential baseline the APAR model is benched against, at the same quantization."""
    reader = gguf.GGUFReader(args.base)
    write_gguf(reader, args.out, base_weights(reader), args.quant)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--base", required=True)
    t.add_argument("--data", required=True)
    t.add_argument("--work", required=True)
    t.add_argument("--steps", type=int, required=True)
    t.add_argument("--batch", type=int, default=4)
    t.add_argument("--max-len", type=int, default=320)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--new-token-lr", type=float, default=3e-3)
    t.add_argument("--warmup", type=int, default=12)
    t.add_argument("--checkpoint-every", type=int, default=20)
    e = sub.add_parser("export")
    e.add_argument("--base", required=True)
    e.add_argument("--work", required=True)
    e.add_argument("--out", required=True)
    # A fine-tune moves weights by far less than a Q4_1 step (a 16th of a block's range), so
    # re-quantizing to the base types rounds most of what was learned away: measured, the fork
    # token's logit at a trained fork position fell from 26.4 (the top) to 8.8 (below 11.7).
    # Q8_0 keeps it; "base" re-quantizes every tensor to its type in the base file.
    e.add_argument("--quant", choices=["q8_0", "base"], default="q8_0")
    b = sub.add_parser("requantize")
    b.add_argument("--base", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--quant", choices=["q8_0"], default="q8_0")
    args = ap.parse_args()
    os.makedirs(getattr(args, "work", "."), exist_ok=True)
    {"train": train, "export": export, "requantize": requantize}[args.command](args)


if __name__ == "__main__":
    main()
