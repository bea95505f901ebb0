#!/usr/bin/env python3
"""Writes a tiny random Qwen2-MoE model and its reference logits for Canopy's tests.

Usage (from the repository root; needs numpy and the PyPI package gguf==0.19.0):

    python3 scripts/make-qwen2moe-model.py Tests/Fixtures/qwen2moe-tiny

Outputs, in the given directory:
  qwen2moe-tiny.gguf   architecture `qwen2moe`, F32 weights, a byte-level tokenizer
  reference.json       prompts, shapes and routing margins
  logits-<i>.f32       for prompt i: logits at every position, positions × vocab, little-endian f32

The reference forward pass below is written independently of Canopy, following the Hugging Face
Qwen2-MoE definition (`modeling_qwen2_moe.py`): attention with q/k/v biases, `rotate_half` RoPE,
softmax routing over all experts, top-k without renormalisation (`norm_topk_prob = False`), and a
shared expert scaled by `sigmoid(shared_expert_gate(x))`. It runs in float64 so it stands for the
exact result; the model's weights are float32 values.
"""
import json
import os
import sys

import numpy as np
import gguf

VOCAB_BYTES = 256
N_EMBD = 64
N_HEAD = 4
N_HEAD_KV = 2
HEAD_DIM = N_EMBD // N_HEAD
N_LAYER = 2
N_EXPERT = 4
N_EXPERT_USED = 2
N_FF_EXP = 32
N_FF_SHEXP = 48
N_FF = 64  # dense width, unused by the blocks (all are MoE) but required metadata
ROPE_BASE = 1_000_000.0
RMS_EPS = 1e-6
PROMPTS = [
    [104, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100],  # "hello world"
    [257, 115, 121, 115, 116, 101, 109, 10],  # <|im_start|>system\n
    [84, 256, 104, 101],  # T, " t", h, e
]
MIN_ROUTING_MARGIN = 1e-3


def byte_symbols():
    """GPT-2's printable stand-in character for each byte."""
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    codes = printable[:]
    n = 256
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(n)
            n += 1
    symbols = [""] * 256
    for b, c in zip(printable, codes):
        symbols[b] = chr(c)
    return symbols


def vocabulary():
    symbols = byte_symbols()
    tokens = symbols + [symbols[32] + "t", "<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    types = [1] * 257 + [3, 3, 3]  # normal, then control tokens
    merges = [symbols[32] + " t"]
    return tokens, types, merges


def make_weights(rng, vocab):
    def mat(*shape, scale=None):
        fan_in = shape[-1]
        s = scale if scale is not None else 1.0 / np.sqrt(fan_in)
        return (rng.standard_normal(shape) * s).astype(np.float32)

    w = {
        "token_embd.weight": mat(vocab, N_EMBD, scale=1.0),
        "output_norm.weight": (1 + 0.1 * rng.standard_normal(N_EMBD)).astype(np.float32),
        "output.weight": mat(vocab, N_EMBD, scale=0.5),
    }
    for i in range(N_LAYER):
        p = f"blk.{i}."
        w[p + "attn_norm.weight"] = (1 + 0.1 * rng.standard_normal(N_EMBD)).astype(np.float32)
        w[p + "attn_q.weight"] = mat(N_HEAD * HEAD_DIM, N_EMBD)
        w[p + "attn_k.weight"] = mat(N_HEAD_KV * HEAD_DIM, N_EMBD)
        w[p + "attn_v.weight"] = mat(N_HEAD_KV * HEAD_DIM, N_EMBD)
        w[p + "attn_q.bias"] = mat(N_HEAD * HEAD_DIM, scale=0.5)
        w[p + "attn_k.bias"] = mat(N_HEAD_KV * HEAD_DIM, scale=0.5)
        w[p + "attn_v.bias"] = mat(N_HEAD_KV * HEAD_DIM, scale=0.5)
        w[p + "attn_output.weight"] = mat(N_EMBD, N_HEAD * HEAD_DIM)
        w[p + "ffn_norm.weight"] = (1 + 0.1 * rng.standard_normal(N_EMBD)).astype(np.float32)
        w[p + "ffn_gate_inp.weight"] = mat(N_EXPERT, N_EMBD, scale=0.5)
        w[p + "ffn_gate_exps.weight"] = mat(N_EXPERT, N_FF_EXP, N_EMBD)
        w[p + "ffn_up_exps.weight"] = mat(N_EXPERT, N_FF_EXP, N_EMBD)
        w[p + "ffn_down_exps.weight"] = mat(N_EXPERT, N_EMBD, N_FF_EXP)
        w[p + "ffn_gate_inp_shexp.weight"] = mat(N_EMBD, scale=0.3)
        w[p + "ffn_gate_shexp.weight"] = mat(N_FF_SHEXP, N_EMBD)
        w[p + "ffn_up_shexp.weight"] = mat(N_FF_SHEXP, N_EMBD)
        w[p + "ffn_down_shexp.weight"] = mat(N_EMBD, N_FF_SHEXP)
    return w


def rms_norm(x, weight):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + RMS_EPS) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def rope(x, positions):
    """HF Qwen2 rotary embedding on x of shape (tokens, heads, head_dim)."""
    inv_freq = 1.0 / (ROPE_BASE ** (np.arange(0, HEAD_DIM, 2, dtype=np.float64) / HEAD_DIM))
    freqs = np.outer(positions, inv_freq)
    emb = np.concatenate([freqs, freqs], axis=-1)
    cos, sin = np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]
    return x * cos + rotate_half(x) * sin


def silu(x):
    return x / (1 + np.exp(-x))


def forward(w, tokens):
    """Logits at every position of `tokens` (float64), plus the smallest routing margin."""
    W = {k: v.astype(np.float64) for k, v in w.items()}
    T = len(tokens)
    h = W["token_embd.weight"][tokens]
    positions = np.arange(T)
    margin = np.inf
    group = N_HEAD // N_HEAD_KV
    mask = np.triu(np.full((T, T), -np.inf), k=1)
    for i in range(N_LAYER):
        p = f"blk.{i}."
        x = rms_norm(h, W[p + "attn_norm.weight"])
        q = (x @ W[p + "attn_q.weight"].T + W[p + "attn_q.bias"]).reshape(T, N_HEAD, HEAD_DIM)
        k = (x @ W[p + "attn_k.weight"].T + W[p + "attn_k.bias"]).reshape(T, N_HEAD_KV, HEAD_DIM)
        v = (x @ W[p + "attn_v.weight"].T + W[p + "attn_v.bias"]).reshape(T, N_HEAD_KV, HEAD_DIM)
        q, k = rope(q, positions), rope(k, positions)
        out = np.zeros((T, N_HEAD, HEAD_DIM))
        for head in range(N_HEAD):
            kv = head // group
            scores = q[:, head, :] @ k[:, kv, :].T / np.sqrt(HEAD_DIM) + mask
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            out[:, head, :] = scores @ v[:, kv, :]
        h = h + out.reshape(T, -1) @ W[p + "attn_output.weight"].T

        x = rms_norm(h, W[p + "ffn_norm.weight"])
        logits = x @ W[p + "ffn_gate_inp.weight"].T
        probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probs /= probs.sum(axis=-1, keepdims=True)
        moe = np.zeros_like(x)
        for t in range(T):
            order = sorted(range(N_EXPERT), key=lambda e: (-probs[t, e], e))
            margin = min(margin, probs[t, order[N_EXPERT_USED - 1]] - probs[t, order[N_EXPERT_USED]])
            for e in order[:N_EXPERT_USED]:
                g = W[p + "ffn_gate_exps.weight"][e] @ x[t]
                u = W[p + "ffn_up_exps.weight"][e] @ x[t]
                moe[t] += probs[t, e] * (W[p + "ffn_down_exps.weight"][e] @ (silu(g) * u))
        shared_gate = 1 / (1 + np.exp(-(x @ W[p + "ffn_gate_inp_shexp.weight"])))
        shared = (silu(x @ W[p + "ffn_gate_shexp.weight"].T) * (x @ W[p + "ffn_up_shexp.weight"].T)) @ W[p + "ffn_down_shexp.weight"].T
        h = h + moe + shared_gate[:, None] * shared
    h = rms_norm(h, W["output_norm.weight"])
    return h @ W["output.weight"].T, margin


def write_gguf(path, w, tokens, types, merges):
    writer = gguf.GGUFWriter(path, "qwen2moe")
    writer.add_name("canopy-test-qwen2moe-tiny")
    writer.add_block_count(N_LAYER)
    writer.add_context_length(256)
    writer.add_embedding_length(N_EMBD)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_freq_base(ROPE_BASE)
    writer.add_layer_norm_rms_eps(RMS_EPS)
    writer.add_expert_count(N_EXPERT)
    writer.add_expert_used_count(N_EXPERT_USED)
    writer.add_expert_feed_forward_length(N_FF_EXP)
    writer.add_expert_shared_feed_forward_length(N_FF_SHEXP)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_eos_token_id(len(tokens) - 1)
    writer.add_add_bos_token(False)
    for name, value in w.items():
        writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/qwen2moe-tiny"
    os.makedirs(out_dir, exist_ok=True)
    tokens, types, merges = vocabulary()
    # Random weights can route a token to experts whose probabilities nearly tie, where f32
    # rounding could flip the choice; take the first seed whose routing is clear everywhere.
    for seed in range(100):
        rng = np.random.default_rng(seed)
        w = make_weights(rng, len(tokens))
        results = [forward(w, prompt) for prompt in PROMPTS]
        margin = min(m for _, m in results)
        if margin >= MIN_ROUTING_MARGIN:
            break
    else:
        sys.exit("no seed gave clear routing")
    write_gguf(os.path.join(out_dir, "qwen2moe-tiny.gguf"), w, tokens, types, merges)
    for i, (logits, _) in enumerate(results):
        logits.astype("<f4").tofile(os.path.join(out_dir, f"logits-{i}.f32"))
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump({
            "seed": seed,
            "vocab": len(tokens),
            "prompts": PROMPTS,
            "min_routing_margin": float(margin),
            "logit_abs_max": [float(np.abs(l).max()) for l, _ in results],
            "logit_std": [float(l.std()) for l, _ in results],
        }, f, indent=1)
        f.write("\n")
    print(f"seed {seed}, min routing margin {margin:.4g}, wrote {out_dir}")


if __name__ == "__main__":
    main()
