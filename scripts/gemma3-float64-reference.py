#!/usr/bin/env python3
"""An independent float64 forward pass of Gemma 3 (numpy, weights dequantized by gguf-py),
written from the model's definition (Hugging Face `Gemma3ForCausalLM` / llama.cpp's
`src/models/gemma3.cpp`), not from Canopy's code: the exact reference the f32 path of
`Gemma3Model` is checked against.

For record RECORD of Tests/Fixtures/gemma3-270m/greedy.jsonl it writes the first-step logits
(after the last prompt token) as little-endian f16 to
Tests/Fixtures/gemma3-270m/float64-logits-RECORD.f16.

Needs numpy and gguf (e.g. `pip install numpy gguf==0.19.0`) and the model from
`make model MODEL=gemma3-270m`.

Usage: python3 scripts/gemma3-float64-reference.py RECORD [MODEL]
"""
import json
import os
import sys

import gguf
import numpy as np

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
record = int(sys.argv[1])
model = sys.argv[2] if len(sys.argv) > 2 else os.path.join(repo, "models/gemma-3-270m-q4_k_m.gguf")
fixtures = os.path.join(repo, "Tests/Fixtures/gemma3-270m")

reader = gguf.GGUFReader(model)
tensors = {t.name: t for t in reader.tensors}
meta = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("tokenizer.")}


def weight(name):
    t = tensors[name]
    values = np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float64)
    return values.reshape([int(n) for n in reversed(t.shape)]) if len(t.shape) > 1 else values.reshape(-1)


E = meta["gemma3.embedding_length"]
H = meta["gemma3.attention.head_count"]
KV = meta["gemma3.attention.head_count_kv"]
D = meta["gemma3.attention.key_length"]
L = meta["gemma3.block_count"]
EPS = meta["gemma3.attention.layer_norm_rms_epsilon"]
WINDOW = meta["gemma3.attention.sliding_window"]
BASE_GLOBAL = meta["gemma3.rope.freq_base"]
BASE_LOCAL = 10000.0  # no rope.freq_base_swa key in the file
PATTERN = 6  # no sliding_window_pattern key: every 6th layer is global

ids = json.loads(open(os.path.join(fixtures, "greedy.jsonl")).readlines()[record])["prompt_ids"]
n = len(ids)
embedding = weight("token_embd.weight")
x = embedding[ids] * np.sqrt(float(E))


def rms_norm(v, w):
    return v / np.sqrt((v * v).mean(-1, keepdims=True) + EPS) * w


def rope_neox(v, base):  # v: (tokens, heads, D); dimension i pairs with i + D/2
    half = D // 2
    angles = np.arange(n)[:, None] * (base ** (-np.arange(half) * 2.0 / D))[None, :]
    c, s = np.cos(angles)[:, None, :], np.sin(angles)[:, None, :]
    a, b = v[..., :half], v[..., half:]
    return np.concatenate([a * c - b * s, a * s + b * c], -1)


def gelu_tanh(v):
    return 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v ** 3)))


positions = np.arange(n)
for layer in range(L):
    p = f"blk.{layer}."
    is_global = layer % PATTERN == PATTERN - 1
    h = rms_norm(x, weight(p + "attn_norm.weight"))
    q = rms_norm((h @ weight(p + "attn_q.weight").T).reshape(n, H, D), weight(p + "attn_q_norm.weight"))
    k = rms_norm((h @ weight(p + "attn_k.weight").T).reshape(n, KV, D), weight(p + "attn_k_norm.weight"))
    v = (h @ weight(p + "attn_v.weight").T).reshape(n, KV, D)
    base = BASE_GLOBAL if is_global else BASE_LOCAL
    q, k = rope_neox(q, base), rope_neox(k, base)
    masked = positions[None, :] > positions[:, None]
    if not is_global:
        masked |= positions[:, None] - positions[None, :] >= WINDOW
    mixed = np.zeros((n, H, D))
    for head in range(H):
        kv = head // (H // KV)
        scores = np.where(masked, -np.inf, q[:, head] @ k[:, kv].T / np.sqrt(D))
        probabilities = np.exp(scores - scores.max(-1, keepdims=True))
        probabilities /= probabilities.sum(-1, keepdims=True)
        mixed[:, head] = probabilities @ v[:, kv]
    attention = mixed.reshape(n, H * D) @ weight(p + "attn_output.weight").T
    x = x + rms_norm(attention, weight(p + "post_attention_norm.weight"))
    h = rms_norm(x, weight(p + "ffn_norm.weight"))
    gated = gelu_tanh(h @ weight(p + "ffn_gate.weight").T) * (h @ weight(p + "ffn_up.weight").T)
    x = x + rms_norm(gated @ weight(p + "ffn_down.weight").T, weight(p + "post_ffw_norm.weight"))

logits = embedding @ rms_norm(x[-1], weight("output_norm.weight"))
out = os.path.join(fixtures, f"float64-logits-{record}.f16")
logits.astype("<f2").tofile(out)
print(f"record {record}: {n} prompt tokens, top-5 {np.argsort(-logits)[:5].tolist()}, wrote {out}")
