#!/usr/bin/env python3
"""Writes Tests/Fixtures/smollm2-tokenizer/missing-bytes.jsonl: llama.cpp's token ids for texts
with bytes that SmolLM2's byte-level vocabulary has no token for.

A byte-level BPE vocabulary need not hold all 256 byte tokens: SmolLM2's has none for six C0
control bytes (0x04, 0x06, 0x13, 0x14, 0x16, 0x1D) nor for the UTF-8 lead bytes 0xF1 and 0xF2 (code
points U+40000-U+BFFFF). llama.cpp
drops such bytes, so these texts do not round-trip; CanopyTokenizerTests checks that we produce
the same ids, and the fuzz tokenizer target's round-trip invariant leaves such texts out.

llama.cpp is the copy vendored in the PyPI sdist llama-cpp-python==0.3.36, built by
scripts/build-llama-cpp.sh; its `llama-tokenize` reads each text verbatim from a file (-f).
The model is SmolLM2-135M-Instruct.Q4_1.gguf from `make model`.

Usage: python3 scripts/make-smollm2-missing-bytes-fixture.py [MODEL] [LLAMA_BIN_DIR]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_tokenize_records import write_fixture  # noqa: E402

texts = [
    "a\x14b",
    "x\x01\x02\x1b[0my",
    "\U000984d3",
    "a\U000984d3b",
    "\U00040000 and \U00100000",
    "plane 14 has tokens: x\U000e0001y",
    # The text the fuzz tokenizer target stopped on in CI (its invalid UTF-8 already replaced).
    "\ufffd" * 44 + "\U000984d3" + "\ufffd" * 4 + "r)lrfr)lrf(d",
]
write_fixture("models/SmolLM2-135M-Instruct.Q4_1.gguf", "Tests/Fixtures/smollm2-tokenizer/missing-bytes.jsonl",
              [(text, False, False) for text in texts])
