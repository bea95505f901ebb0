#!/usr/bin/env python3
"""Writes a random-weight Llama GGUF of a chosen size, for offloading benchmarks (issue 13).

The weights are random (seeded), so the text is nonsense, but every tensor has the shape,
type and file layout of a real model: what weight streaming, placement and memory caps are
measured on. The tokenizer (vocabulary, merges, special ids, chat template) is copied from
another GGUF (default: the default model), so Canopy and llama.cpp load the file as they
would a real one. Never commit the output.

Defaults: TinyLlama's shape (22 layers, n_embd 2048, 32 heads, 4 KV heads, FFN 5632),
Q8_0 matrices: about 1.1 GB.

    python3 scripts/make-synthetic-llama.py --out /tmp/synthetic-1b.gguf

Needs the PyPI packages gguf and numpy (`pip install gguf numpy`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

try:
    import gguf
except ImportError:
    sys.exit("make-synthetic-llama: the PyPI package gguf is missing: pip install gguf numpy")

REPO = Path(__file__).resolve().parents[1]
QUANT_TYPES = {"q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0,
               "f16": gguf.GGMLQuantizationType.F16}


def tensor_plan(args, vocab: int) -> list[tuple[str, tuple[int, ...], bool]]:
    """(name, numpy shape (rows, cols) or (count,), quantized?) in file order, as llama.cpp
    writes Llama models: embeddings, each block's tensors, final norm, output."""
    e, f, head_dim = args.embd, args.ffn, args.embd // args.heads
    kv = args.heads_kv * head_dim
    plan = [("token_embd.weight", (vocab, e), True)]
    for i in range(args.layers):
        p = f"blk.{i}."
        plan += [
            (p + "attn_norm.weight", (e,), False),
            (p + "attn_q.weight", (e, e), True),
            (p + "attn_k.weight", (kv, e), True),
            (p + "attn_v.weight", (kv, e), True),
            (p + "attn_output.weight", (e, e), True),
            (p + "ffn_norm.weight", (e,), False),
            (p + "ffn_gate.weight", (f, e), True),
            (p + "ffn_up.weight", (f, e), True),
            (p + "ffn_down.weight", (e, f), True),
        ]
    plan += [("output_norm.weight", (e,), False), ("output.weight", (vocab, e), True)]
    return plan


def copy_tokenizer(reader: gguf.GGUFReader, writer: gguf.GGUFWriter) -> int:
    """Copies every tokenizer.* key; returns the vocabulary size."""
    vocab = 0
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        value = field.contents()
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, vtype, sub_type=sub_type)
        if key == "tokenizer.ggml.tokens":
            vocab = len(value)
    if vocab == 0:
        sys.exit("make-synthetic-llama: the tokenizer source has no tokenizer.ggml.tokens")
    return vocab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--tokenizer-from", type=Path, default=REPO / "models/SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--layers", type=int, default=22)
    parser.add_argument("--embd", type=int, default=2048)
    parser.add_argument("--ffn", type=int, default=5632)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--heads-kv", type=int, default=4)
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--type", choices=sorted(QUANT_TYPES), default="q8_0")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.embd % args.heads or args.heads % args.heads_kv or args.embd % 32 or args.ffn % 32:
        sys.exit("make-synthetic-llama: need embd % heads == 0, heads % heads-kv == 0, embd and ffn multiples of 32")

    qtype = QUANT_TYPES[args.type]
    reader = gguf.GGUFReader(args.tokenizer_from)
    writer = gguf.GGUFWriter(args.out, "llama")
    vocab = copy_tokenizer(reader, writer)
    writer.add_name(f"synthetic-llama-{args.layers}x{args.embd}-{args.type}")
    writer.add_vocab_size(vocab)
    writer.add_context_length(args.context)
    writer.add_embedding_length(args.embd)
    writer.add_block_count(args.layers)
    writer.add_feed_forward_length(args.ffn)
    writer.add_head_count(args.heads)
    writer.add_head_count_kv(args.heads_kv)
    writer.add_rope_dimension_count(args.embd // args.heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type({"q8_0": gguf.LlamaFileType.MOSTLY_Q8_0, "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0,
                          "f16": gguf.LlamaFileType.MOSTLY_F16}[args.type])

    # Tensor infos first, then each tensor made and written in turn: memory holds one tensor.
    plan = tensor_plan(args, vocab)
    for name, shape, quantized in plan:
        if quantized:
            rows, cols = shape
            row_bytes = gguf.quant_shape_to_byte_shape((cols,), qtype)[0]
            writer.add_tensor_info(name, (rows, row_bytes), np.dtype(np.uint8), rows * row_bytes, raw_dtype=qtype)
        else:
            writer.add_tensor_info(name, shape, np.dtype(np.float32), shape[0] * 4)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()

    rng = np.random.default_rng(args.seed)
    total = 0
    for index, (name, shape, quantized) in enumerate(plan):
        if quantized:
            # Scaled so activations stay in range through the layers (as trained weights do).
            values = rng.standard_normal(shape, dtype=np.float32) * np.float32(1 / np.sqrt(shape[1]))
            data = gguf.quants.quantize(values, qtype)
        else:
            data = np.ones(shape, dtype=np.float32)
        writer.write_tensor_data(data)
        total += data.nbytes
        print(f"\r{index + 1}/{len(plan)} tensors, {total / 1e9:.2f} GB", end="", file=sys.stderr, flush=True)
    writer.close()
    print(f"\nwrote {args.out}: {sum(1 for _ in plan)} tensors, {args.out.stat().st_size / 1e9:.2f} GB", file=sys.stderr)


if __name__ == "__main__":
    main()
