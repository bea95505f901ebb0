#!/usr/bin/env python3
"""Writes Tests/Fixtures/gemma3-tokenizer/tokenizer.jsonl: llama.cpp's token ids for a set of
texts under Gemma 3's SentencePiece vocabulary, the reference CanopyTokenizerTests compares
with.

llama.cpp is the copy vendored in the PyPI sdist llama-cpp-python==0.3.36, built by
scripts/build-llama-cpp.sh; its `llama-tokenize` reads each text verbatim from a file (-f).
The model is gemma-3-270m-q4_k_m.gguf from `make model MODEL=gemma3-270m` (only its
vocabulary matters).

Usage: python3 scripts/make-gemma3-tokenizer-fixture.py [MODEL] [LLAMA_BIN_DIR]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_tokenize_records import write_fixture  # noqa: E402

texts = [
    "Hello world",
    " Hello world",
    "Hello  world   three spaces",
    "The quick brown fox jumps over the lazy dog.",
    "line one\nline two\n\nline four\n\n\n",
    "\ttabs\tand trailing spaces   ",
    "Zürich 2024: ½ price — ¡olé! naïve café",
    "日本語のテキストと中文文本，还有한국어。",
    "Emoji: 🇫🇷 👩‍💻 🎉🎉🎉",
    "def f(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "URLs: https://example.com/a?b=c&d=e#frag",
    "Numbers 3.14159, 1e-9, 1,000,000 and 0x1F",
    "Rare characters byte-fall back: \U0001D54F \U00010400 \u0378 \x01\x02",
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
    "Text mentioning <start_of_turn> and <eos> literally",
    "<b>bold</b> and <h1>heading</h1>",
    "a",
    " ",
    "▁ already escaped ▁▁",
    "ﬁ ligature, Ⅻ roman, ١٢٣ arabic digits, ９ fullwidth",
    "Mixed\r\nline\rendings\n",
    "CamelCaseIdentifiersAndsnake_case_names",
    "    indented four\n        indented eight",
    "Repeated words words words words words words words words",
]
cases = []
for text in texts:
    cases.append((text, True, True))
    cases.append((text, False, True))
for text in texts[14:17]:
    cases.append((text, True, False))

write_fixture("models/gemma-3-270m-q4_k_m.gguf", "Tests/Fixtures/gemma3-tokenizer/tokenizer.jsonl", cases)
