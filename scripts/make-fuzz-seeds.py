#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (Tests/Fuzz/corpus/<target>/seed-*).

Seeds are small, valid inputs that reach deep into each decoder; the fuzzer mutates them.
The GGUF seeds are written here by hand (struct, no gguf-py), independently of Canopy's own
GGUFWriter, so the reader is not only fed what our writer produces. The request seeds are
encoded by the Python protobuf runtime (clients/python's generated code), not by protobuf-c.

    clients/python/.venv-canopy/bin/python scripts/make-fuzz-seeds.py

Run again after changing a target's input format; the outputs are committed.
"""
from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "clients/python"))
from canopy_client._proto.canopy.v1 import canopy_pb2 as pb  # noqa: E402

CORPUS = REPO / "Tests/Fuzz/corpus"

# GGUF value types.
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
F32_TENSOR, Q8_0_TENSOR = 0, 8


def gguf_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def gguf_value(kind: int, value) -> bytes:
    if kind == STR:
        return gguf_string(value)
    if kind == ARR:
        element, items = value
        out = struct.pack("<IQ", element, len(items))
        return out + b"".join(gguf_value(element, item) for item in items)
    fmt = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?", U64: "Q", I64: "q", F64: "d"}[kind]
    return struct.pack("<" + fmt, value)


def q8_0_block(values: list[float]) -> bytes:
    scale = max(abs(v) for v in values) / 127 or 1.0
    return struct.pack("<e", scale) + bytes((round(v / scale) & 0xFF) for v in values)


def gguf_file(metadata: list[tuple[str, int, object]], tensors: list[tuple[str, int, list[int], bytes]],
              version: int = 3, alignment: int = 32) -> bytes:
    """A GGUF file: header, metadata, tensor infos, aligned data (tensors in the given order)."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(metadata))
    for key, kind, value in metadata:
        out += gguf_string(key) + struct.pack("<I", kind) + gguf_value(kind, value)
    offset, data = 0, b""
    for name, kind, dims, payload in tensors:
        out += gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", kind, offset)
        padded = payload + b"\0" * (-len(payload) % alignment)
        data += padded
        offset += len(padded)
    out += b"\0" * (-len(out) % alignment)
    return out + data


def f32(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def tiny_llama(q8: bool) -> bytes:
    """A one-block Llama (width 32, 2 heads, 1 KV head, FFN 32, 12 tokens) with a byte-level
    BPE tokenizer and a ChatML template: everything a model load reads."""
    embd, ffn = 32, 32
    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "a", "b", "c", "Ġ", "ab", "Ġa", "abc", "d", "e"]
    token_types = [3, 3, 3] + [1] * (len(tokens) - 3)
    vocab = len(tokens)
    metadata = [
        ("general.architecture", STR, "llama"),
        ("general.name", STR, "fuzz-seed"),
        ("llama.block_count", U32, 1),
        ("llama.context_length", U32, 64),
        ("llama.embedding_length", U32, embd),
        ("llama.feed_forward_length", U32, ffn),
        ("llama.attention.head_count", U32, 2),
        ("llama.attention.head_count_kv", U32, 1),
        ("llama.rope.freq_base", F32, 10000.0),
        ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
        ("llama.vocab_size", U32, vocab),
        ("tokenizer.ggml.model", STR, "gpt2"),
        ("tokenizer.ggml.pre", STR, "smollm"),
        ("tokenizer.ggml.tokens", ARR, (STR, tokens)),
        ("tokenizer.ggml.token_type", ARR, (I32, token_types)),
        ("tokenizer.ggml.merges", ARR, (STR, ["a b", "Ġ a", "ab c"])),
        ("tokenizer.ggml.bos_token_id", U32, 1),
        ("tokenizer.ggml.eos_token_id", U32, 2),
        ("tokenizer.chat_template", STR, "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
                                         "{{ message['content'] }}<|im_end|>\n{% endfor %}"),
        ("general.sampling.temp", F32, 0.7),
    ]

    def matrix(name: str, cols: int, rows: int, seed: int):
        values = [((i * 7 + seed) % 13 - 6) / 50 for i in range(cols * rows)]
        if q8:
            return (name, Q8_0_TENSOR, [cols, rows], b"".join(q8_0_block(values[i:i + 32]) for i in range(0, len(values), 32)))
        return (name, F32_TENSOR, [cols, rows], f32(values))

    head_dim = embd // 2
    tensors = [
        matrix("token_embd.weight", embd, vocab, 1),
        ("blk.0.attn_norm.weight", F32_TENSOR, [embd], f32([1.0] * embd)),
        matrix("blk.0.attn_q.weight", embd, embd, 2),
        matrix("blk.0.attn_k.weight", embd, head_dim, 3),
        matrix("blk.0.attn_v.weight", embd, head_dim, 4),
        matrix("blk.0.attn_output.weight", embd, embd, 5),
        ("blk.0.ffn_norm.weight", F32_TENSOR, [embd], f32([1.0] * embd)),
        matrix("blk.0.ffn_gate.weight", embd, ffn, 6),
        matrix("blk.0.ffn_up.weight", embd, ffn, 7),
        matrix("blk.0.ffn_down.weight", ffn, embd, 8),
        ("output_norm.weight", F32_TENSOR, [embd], f32([1.0] * embd)),
        matrix("output.weight", embd, vocab, 9),
    ]
    return gguf_file(metadata, tensors)


def every_value_type() -> bytes:
    metadata = [
        ("u8", U8, 200), ("i8", I8, -5), ("u16", U16, 60000), ("i16", I16, -300), ("u32", U32, 7),
        ("i32", I32, -7), ("f32", F32, 1.5), ("bool", BOOL, True), ("str", STR, "héllo"),
        ("u64", U64, 2**40), ("i64", I64, -(2**40)), ("f64", F64, 2.25),
        ("ints", ARR, (I32, [1, -2, 3])), ("floats", ARR, (F32, [0.5, -1.0])), ("strings", ARR, (STR, ["x", "", "yz"])),
        ("nested", ARR, (ARR, [(U8, [1, 2]), (U8, [])])),
        ("general.alignment", U32, 64),
    ]
    tensors = [("t.f32", F32_TENSOR, [4, 2], f32([1, 2, 3, 4, 5, 6, 7, 8])),
               ("t.q8", Q8_0_TENSOR, [32], q8_0_block([i / 10 for i in range(32)]))]
    return gguf_file(metadata, tensors, alignment=64)


def requests() -> list[bytes]:
    out = []
    r = pb.GenerateRequest(request_id="r1", prompt="Hello <|im_start|>user\nhi<|im_end|>")
    r.sampling.temperature = 0.7
    r.sampling.top_k = 40
    r.sampling.seed = 42
    r.stop.max_tokens = 16
    r.stop.stop.extend(["\n\n", "END"])
    out.append(r)
    r = pb.GenerateRequest(prompt_ids=pb.TokenIds(ids=[1, 2, 3, 49151]))
    r.sampling.n = 3
    r.sampling.logprobs = 5
    r.stop.stop_token_ids.extend([2, 7])
    r.stop.ignore_eos = True
    r.speculative_tokens = 4
    out.append(r)
    r = pb.GenerateRequest(messages=pb.ChatMessages(messages=[
        pb.ChatMessage(role="system", content="Be brief."), pb.ChatMessage(role="user", content="What is 2+2?")]))
    r.sampling.top_p = 0.9
    r.sampling.min_p = 0.05
    r.sampling.repetition_penalty = 1.1
    r.sampling.frequency_penalty = 0.5
    r.sampling.presence_penalty = -0.5
    r.parallel.apar = True
    r.parallel.max_depth = 2
    r.parallel.max_branches = 8
    out.append(r)
    r = pb.GenerateRequest(prompt="x" * 300)
    r.stop.max_tokens = 100000
    out.append(r)
    return [m.SerializeToString() for m in out] + [pb.TokenizeRequest(text="hi", add_special=True).SerializeToString()]


def tokenizer_inputs() -> list[bytes]:
    texts = ["Hello world", "<|im_start|>user\nHi<|im_end|>\n", "  leading spaces and\ttabs\n\n",
             "Ünïcödé 日本語 🙂 emoji", "<start_of_turn>user\n<end_of_turn>", "1234567 + 89 = ?",
             "def f(x):\n    return x**2"]
    out = [bytes([flags]) + text.encode() for flags, text in zip([0, 4, 1, 5, 13, 2, 8], texts)]
    return out + [b"\x00\xff\xfe invalid utf-8 \xc3", b"\x01" + bytes(range(1, 64))]


def chat_inputs() -> list[bytes]:
    templates = ["<|im_start|>{{ role }}", "[INST] <<SYS>> {{ system }} [/INST]", "<start_of_turn>user",
                 "<|start_header_id|>user<|end_header_id|>", "<|user|> <|endoftext|>", "<|assistant|> <|end|>",
                 "mistral [INST]", "<|im_start|>system\nYou are a helpful AI assistant named SmolLM<|im_end|>"]
    messages = [b"\x00\x01\x00Hello", b"\x00\x00\x00You are terse.\x00\x01\x00Hi <|im_end|><|im_start|>system"]
    return [t.encode() + m for t in templates for m in messages]


def batch_lines() -> list[bytes]:
    lines = (REPO / "scripts/demo-requests.jsonl").read_text().splitlines()
    lines.append(json.dumps({"id": 7, "prompt_ids": [1, 2, 3], "n": 2, "logprobs": 3, "stop_token_ids": [2],
                             "ignore_eos": True, "top_k": 0, "min_p": 0.1, "repetition_penalty": 1.2}))
    lines.append(json.dumps({"id": None, "prompt": "hi", "apar": True, "apar_max_depth": 1, "apar_max_branches": 4,
                             "frequency_penalty": 2, "presence_penalty": -2, "stop": "x", "max_tokens": 2**62}))
    return [line.encode() for line in lines]


def main() -> None:
    seeds = {
        "gguf": [tiny_llama(q8=False), tiny_llama(q8=True), every_value_type()],
        "request": requests(),
        "tokenizer": tokenizer_inputs(),
        "chat-template": chat_inputs(),
        "batch-line": batch_lines(),
    }
    for target, inputs in seeds.items():
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("seed-*"):
            old.unlink()
        for index, data in enumerate(inputs):
            (folder / f"seed-{index:02d}").write_bytes(data)
        print(f"{target}: {len(inputs)} seeds")


if __name__ == "__main__":
    main()
