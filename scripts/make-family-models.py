#!/usr/bin/env python3
"""Writes tiny random models of four llama.cpp architectures (qwen2, qwen3, llama with Llama 3.1
RoPE factors, phi3) as GGUF files, for Canopy's llama.cpp reference fixtures
(Tests/Fixtures/families/<family>/, made by scripts/make-family-fixtures.sh).

Each model is small enough to commit (under 1 MB) yet carries what sets its family apart in
llama.cpp, so a Swift implementation can be checked against llama.cpp's own outputs for it:

  qwen2   arch `qwen2`: q/k/v biases, NeoX RoPE, base 1e6, a separate output.weight,
          byte-level BPE (pre-tokenizer `qwen2`: digits one by one), ChatML, no BOS.
  qwen3   arch `qwen3`: per-head RMS norms on q and k (attn_q_norm / attn_k_norm, before RoPE),
          head dim 64 set by qwen3.attention.key_length / value_length (4 heads x 64 = 256 !=
          n_embd 128), no biases, output tied to token_embd, NeoX RoPE, base 1e6, the qwen2
          pre-tokenizer, ChatML, user-defined <think> / </think> tokens, no BOS.
  llama3  arch `llama`: rope_freqs.weight (Llama 3.1 rope_scaling: factor 8, low_freq_factor 1,
          high_freq_factor 4, original context 8192, computed as llama.cpp's
          conversion/llama.py does; with head dim 32 and base 500000 it holds 8 ones, one
          smoothed factor and 7 eights), normal (GPT-J style, adjacent pairs) RoPE, output tied
          to token_embd, byte-level BPE with pre-tokenizer `llama-bpe` (digits in groups of 3),
          BOS <|begin_of_text|>, EOS <|eot_id|>, a Llama 3 chat template.
  phi3    arch `phi3`: fused attn_qkv.weight (rows: q, then k, then v), fused ffn_up.weight of
          2 x n_ff rows (llama.cpp's swiglu: silu(first half) * second half, so the first half
          is the gate), NeoX RoPE, base 10000, no rope factor tensors, a separate output.weight,
          a SentencePiece vocabulary (`llama`: <unk>, <s>, </s>, byte fallback <0x00>..<0xFF>,
          "▁" pieces with scores) with BOS, Phi-3 chat template with control tokens <|user|>,
          <|assistant|>, <|end|>, <|system|>, <|endoftext|>.

All: n_embd 128, 4 query heads, 2 KV heads, 3 layers, n_ff 256, context 2048, SiLU-gated FFN,
RMS norms. Every 2-D matrix (token_embd and output included) is Q8_0 (gguf-py's
`gguf.quants.quantize`, bit-exact with ggml's reference quantizer), norms / biases / rope_freqs
F32. The BPE merges and SentencePiece pieces are trained here, deterministically, on TRAIN_TEXT.

Weights are random (numpy default_rng(seed)) with some structure, so that the fixtures can tell
right from wrong:
  - the last layer's ffn_down columns each add PRED_GAIN x one random token's (unit) output row,
    so an active FFN neuron promotes one token and greedy runs are decisive (top-1 well clear
    of top-2) without collapsing into one repeated token;
  - llama3: the q/k rows of the two rotary pairs whose RoPE factor is > 1 and that turn most
    within a 300-token prompt are scaled by LOW_FREQ_QK_GAIN, so ignoring rope_freqs (or
    multiplying by it) moves the long prompt's logits well beyond llama.cpp's rounding noise;
  - qwen3: the q/k projections are QK_NORM_PRE_GAIN times larger and the q/k norm weights vary
    by QK_NORM_SPREAD, so a missing norm, or one applied after RoPE, shows.
Random weights still reach near ties (top-1 and top-2 logits within rounding of each other,
where two correct engines may part), and llama.cpp's logits differ from exact ones by up to
~1 here (Q8_0-rounded activations, f16 K/V), so for each family the script tries seeds
0..N_SEEDS-1 and keeps the one whose greedy runs on the fixture's own prompts (tokenized by
tokenize() below, which --check compares with llama.cpp's ids) stay decisive longest: steps
whose top-1 token is the same and SELECT_GAP ahead both in an exact float64 numpy forward pass
(forward(), written from llama.cpp's graph code) and in one rounding as llama.cpp's CPU path
does. The choice (most prompts with >= SELECT_MIN such steps, then the smallest count, then
the sum) is printed and written to model.json.

Usage (the venv with numpy and gguf==0.19.0: ~/.cache/canopy/venv-apar/bin/python):
  make-family-models.py OUT_ROOT                      models, model.json, prompts.jsonl
  make-family-models.py --tokenizer OUT_ROOT BIN_DIR  tokenizer.jsonl from BIN_DIR/llama-tokenize
  make-family-models.py --check OUT_ROOT              compares the numpy forward pass over each
        model.gguf with llama.cpp's greedy.jsonl / logits-<i>.f16 (and the same for wrong
        readings of each architecture), prints per-prompt counts of leading greedy tokens
        before the first near tie (top-1 - top-2 < 0.25), and checks tokenize() against
        llama.cpp's ids
"""
import json
import os
import re
import sys
from collections import Counter

import numpy as np
import gguf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_tokenize_records import llama_tokenize_records  # noqa: E402

N_EMBD = 128
N_HEAD = 4
N_HEAD_KV = 2
N_LAYER = 3
N_FF = 256
N_CTX = 2048
N_SEEDS = 64
N_PREDICT = 24
NEAR_TIE = 0.25
SELECT_GAP = 0.5  # above NEAR_TIE, for llama.cpp's rounding (its logits differ from exact ones by up to ~1 here)
SELECT_STEPS = N_PREDICT
SELECT_MIN = 8

FAMILIES = {
    "qwen2": dict(arch="qwen2", head_dim=32, rope_base=1e6, neox=True, eps=1e-6, qkv_bias=True,
                  tied=False, vocab="qwen", n_merges=400),
    "qwen3": dict(arch="qwen3", head_dim=64, rope_base=1e6, neox=True, eps=1e-6, qk_norm=True,
                  tied=True, vocab="qwen3", n_merges=400),
    "llama3": dict(arch="llama", head_dim=32, rope_base=500000.0, neox=False, eps=1e-5,
                   rope_freqs=True, tied=True, vocab="llama3", n_merges=480),
    "phi3": dict(arch="phi3", head_dim=32, rope_base=10000.0, neox=True, eps=1e-5, fused=True,
                 tied=False, vocab="phi3", n_merges=420),
}
# weight scales (see the header): logits of std ~ LOGIT_STD, attention scores of std ~ ATTN_GAIN^2
LOGIT_STD = 10.0
ATTN_GAIN = 1.0
FFN_GAIN = 1.0
DOWN_GAIN = 0.5
PRED_GAIN = 6.0
QK_NORM_PRE_GAIN = 3.0
QK_NORM_SPREAD = 0.5
LOW_FREQ_QK_GAIN = 3.5

# ---------------------------------------------------------------- training text for the vocabularies

TRAIN_TEXT = """\
The old harbour town woke slowly. Fishermen pulled their boats onto the shingle, gulls argued
over the morning catch, and the baker on the corner set out trays of warm bread. It was the kind
of place where everyone knew the weather before the radio did, and where the lighthouse keeper's
daughter could tell you the name of every ship that had passed the point in the last twenty years.

She kept a notebook for them. On the first page, in careful handwriting, she had written: "Ships
are like people: they come and go, but the sea remembers." Her father laughed at that, but he
didn't tell her to stop. He said it was good to write things down, because memory is a tide that
goes out further than you think.

In the spring of 1998 a storm came in from the west. The wind rose to 110 kilometres per hour,
the rain fell sideways, and the lamp at the top of the tower burned through the night. Three
boats were out. Two came home before midnight; the third, a small trawler called the Morning
Star, was not seen again until dawn, when it limped into the harbour with a broken mast and a
crew of four who were cold, tired and very glad to be alive.

"We saw the light," the captain said. "We'd lost the compass, we'd lost the radio, but we saw
the light, and we knew where the rocks were." The keeper's daughter wrote that down too.

Why do we tell stories? Perhaps because they help us remember what matters. Perhaps because a
good story is a map: it shows where others have been, where the danger is, and where the safe
water lies. A story can be short or long, true or invented, but it always has a beginning, a
middle and an end. People have told them around fires, in kitchens, on trains and at the edge
of the sea, and they will go on telling them for as long as there are people to listen.

Numbers tell stories as well. The town has 4,312 residents, 3 schools, 2 churches and 1 harbour.
Its tower is 42 metres tall and was built in 1871 for 12,500 pounds. On a clear night the lamp
can be seen 23 miles away. In 2024 the council counted 58,000 visitors, up 7.5% on the year
before, and the average visitor stayed 2.4 nights. The tide rises 5.6 metres at its highest.

Here is a small program that counts the words in a text:

def count_words(text):
    counts = {}
    for word in text.lower().split():
        word = word.strip(".,;:!?\\"'()")
        if word:
            counts[word] = counts.get(word, 0) + 1
    return counts

if __name__ == "__main__":
    sample = "the sea, the sea, the endless sea"
    for word, n in sorted(count_words(sample).items()):
        print(f"{word}: {n}")

And here is the same idea in another language:

int count(const char *s) {
    int n = 0, in_word = 0;
    for (; *s; ++s) {
        if (*s == ' ' || *s == '\\n') { in_word = 0; }
        else if (!in_word) { in_word = 1; n++; }
    }
    return n;
}

Questions are how we learn. What is the capital of France? It's Paris. How many days are there
in a week? There are seven. Who wrote the notebook? The keeper's daughter did, and she's still
writing it today. They're going to print it as a book next year, and we'll all read it. I'm sure
you'd enjoy it; you've got the patience for long stories, haven't you?

The weather today: sunny in the morning, clouds by noon, light rain in the evening. Temperature
between 12 and 18 degrees. Wind from the south-west at 15 to 20 kilometres per hour. Tomorrow
will be warmer and drier, with a high of 21 degrees and a gentle breeze from the east. A quiet
fox jumps over the lazy dog; five boxing wizards jump quickly.
"""

# ---------------------------------------------------------------- prompts and tokenizer texts

LONG_PROMPT = (
    "The lighthouse at the end of the harbour wall was built in 1871 by a stonemason who "
    "quarried the granite himself and hauled it to the point on a cart pulled by two grey "
    "horses. The tower is forty-two metres tall, and its lamp was first lit on a night in "
    "November, during a storm so fierce that the keeper wrote only three words in the logbook: "
    "wind, rain, light. For thirty years the lamp burned whale oil; in 1952 it was converted to "
    "electricity. The last keeper left in 1989, when the light was automated, and the house is "
    "now a small museum. Question: who built the lighthouse, and in which year? Answer:"
)

CHAT_PROMPT = {
    "qwen": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            "What is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "llama3": "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "phi3": "<|system|>\nYou are a helpful assistant.<|end|>\n<|user|>\nWhat is the capital of "
            "France?<|end|>\n<|assistant|>\n",
}


def prompts_for(vocab_kind):
    chat = CHAT_PROMPT["qwen" if vocab_kind.startswith("qwen") else vocab_kind]
    return [
        "The quick brown fox jumps over the lazy dog. It was the best of times,",
        "def count_words(text):\n    counts = {}\n    for word in text.split():\n",
        chat,
        LONG_PROMPT,
        "In 1969, 3 astronauts flew 384400 km; pi is 3.14159 and 12 * 34 = 408.",
        "Zürich café, naïve façade — 東京 and 北京 🎉 ¡olé!",
        "Hello",
        "Once upon a time, there was a little robot who",
    ]


TOKENIZER_TEXTS = [
    "Hello world",
    " Hello world",
    "It's, don't, we're, they've, I'm, you'll, he'd",
    "IT'S DON'T WE'RE THEY'VE I'M YOU'LL HE'D",
    "1 12 123 1234 12345 123456",
    "Groups: 1312000 99500 10000 3121000",
    "Version 3.14.159, 2024-06-01, $1,000,000.99 and 0x1F",
    "Wait... what?!?! (yes) [no] {maybe} --- *** ==>",
    "Hello  world   three spaces",
    "line one\nline two\n\nline four\n\n\n",
    "\ttabs\tand trailing spaces   ",
    "    indented four\n        indented eight",
    "Zürich café naïve façade — ½ ¡olé!",
    "Ελληνικά, Русский, العربية",
    "日本語のテキストと中文文本，还有한국어。",
    "Emoji: 🇫🇷 👩‍💻 🎉🎉🎉",
    "def f(x):\n    return x ** 2  # square\n",
    "Mixed\r\nline\rendings\n",
    "CamelCaseIdentifiers and snake_case_names",
    "▁ already escaped ▁▁",
    "a",
    " ",
]
SPECIAL_TEXTS = {
    "qwen": ["<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
             "Text mentioning <|im_end|> and <|endoftext|> literally"],
    "qwen3": ["<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nEasy.\n</think>\n\n4",
              "Text mentioning <|im_end|> and <think> literally"],
    "llama3": ["<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
               "Text mentioning <|eot_id|> and <|begin_of_text|> literally"],
    "phi3": ["<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n",
             "Text mentioning <|end|> and </s> literally"],
}

CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
PHI3_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ '<|system|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% elif message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\\n' + message['content'] + '<|end|>\\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
)

# token types (llama.cpp's LLAMA_TOKEN_TYPE_*)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, BYTE = 1, 2, 3, 4, 6

# ---------------------------------------------------------------- vocabularies


def gpt2_byte_symbols():
    """GPT-2's bytes_to_unicode, in its order (printable bytes first): [(byte, symbol)]."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [(b, chr(c)) for b, c in zip(bs, cs)]


def train_bpe(words, base, n_merges):
    """Plain BPE over words (Counter of symbol tuples): the most frequent adjacent pair first,
    ties broken by the pair's text. Returns (merges, new tokens in merge order); a merge whose
    result is already a token adds no new token."""
    seqs = {w: list(w) for w in words}
    known = set(base)
    merges, new_tokens = [], []
    for _ in range(n_merges):
        counts = Counter()
        for w, freq in words.items():
            s = seqs[w]
            for a, b in zip(s, s[1:]):
                counts[(a, b)] += freq
        if not counts:
            break
        (a, b), c = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        merges.append((a, b))
        if a + b not in known:
            known.add(a + b)
            new_tokens.append(a + b)
        for w in words:
            s = seqs[w]
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return merges, new_tokens


def byte_level_vocab(kind, n_merges):
    """A GPT-2 style byte-level BPE vocabulary: 256 byte symbols, merged tokens, special tokens."""
    syms = gpt2_byte_symbols()
    byte_sym = dict(syms)
    pieces = re.findall(r"'(?:s|t|re|ve|m|ll|d)| ?[A-Za-z]+|[0-9]{1,3}| ?[^\sA-Za-z0-9]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+", TRAIN_TEXT)
    words = Counter(tuple(byte_sym[b] for b in p.encode("utf-8")) for p in pieces)
    base = [s for _, s in syms]
    merges, new_tokens = train_bpe(words, base, n_merges)
    tokens = base + new_tokens
    types = [NORMAL] * len(tokens)
    if kind in ("qwen", "qwen3"):
        specials = [("<|endoftext|>", CONTROL), ("<|im_start|>", CONTROL), ("<|im_end|>", CONTROL)]
        if kind == "qwen3":
            specials += [("<think>", USER_DEFINED), ("</think>", USER_DEFINED)]
    else:
        specials = [("<|begin_of_text|>", CONTROL), ("<|end_of_text|>", CONTROL),
                    ("<|start_header_id|>", CONTROL), ("<|end_header_id|>", CONTROL), ("<|eot_id|>", CONTROL)]
    for text, t in specials:
        tokens.append(text)
        types.append(t)
    ids = {t: i for i, t in enumerate(tokens)}
    v = dict(model="gpt2", tokens=tokens, types=types, merges=[f"{a} {b}" for a, b in merges])
    if kind in ("qwen", "qwen3"):
        v.update(pre="qwen2", bos=ids["<|endoftext|>"], eos=ids["<|im_end|>"], pad=ids["<|endoftext|>"],
                 add_bos=False, template=CHATML_TEMPLATE)
    else:
        v.update(pre="llama-bpe", bos=ids["<|begin_of_text|>"], eos=ids["<|eot_id|>"],
                 add_bos=True, template=LLAMA3_TEMPLATE)
    v["eog"] = [i for i, t in enumerate(tokens) if t in ("<|endoftext|>", "<|im_end|>", "<|end_of_text|>", "<|eot_id|>")]
    return v


def sentencepiece_vocab(n_merges):
    """A Llama / Phi-3 style SentencePiece vocabulary: <unk> <s> </s>, 256 byte-fallback tokens,
    "▁" pieces trained by BPE (score -rank), single characters (lower scores), then Phi-3's
    added control tokens."""
    words = Counter()
    for line in TRAIN_TEXT.split("\n"):
        if not line:
            continue
        text = "▁" + line.replace(" ", "▁")
        for w in re.findall(r"▁*[^▁]+|▁+", text):
            words[tuple(w)] += 1
    chars = sorted({c for w in words for c in w})
    merges, new_tokens = train_bpe(words, chars, n_merges)
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [UNKNOWN, CONTROL, CONTROL] + [BYTE] * 256
    scores = [0.0] * len(tokens)
    for rank, piece in enumerate(new_tokens):
        tokens.append(piece)
        types.append(NORMAL)
        scores.append(-float(rank))
    for k, c in enumerate(chars):
        tokens.append(c)
        types.append(NORMAL)
        scores.append(-float(len(new_tokens) + k))
    for text in ["<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>"]:
        tokens.append(text)
        types.append(CONTROL)
        scores.append(0.0)
    ids = {t: i for i, t in enumerate(tokens)}
    # llama.cpp (llama-vocab.cpp, "phi-3"/"phi3" in general.name) strips the whitespace after
    # every control token but <unk>, <s> and <|endoftext|>, and after </s>
    rstrip = {t for t, ty in zip(tokens, types) if ty in (CONTROL, UNKNOWN)} - {"<unk>", "<s>", "<|endoftext|>"}
    return dict(model="llama", tokens=tokens, types=types, scores=scores, unk=0, bos=1, rstrip=rstrip,
                eos=ids["<|endoftext|>"], pad=ids["<|endoftext|>"], add_bos=True, add_eos=False,
                template=PHI3_TEMPLATE,
                eog=[i for i, t in enumerate(tokens) if t in ("</s>", "<|endoftext|>", "<|end|>")])


def make_vocab(fam):
    kind = fam["vocab"]
    if kind == "phi3":
        return sentencepiece_vocab(fam["n_merges"])
    return byte_level_vocab(kind, fam["n_merges"])

# ---------------------------------------------------------------- a Python tokenizer (for the seed choice)

_L, _NOT_LN_RN, _NOT_S_LN = r"[^\W\d_]", r"(?:[^\r\n\w]|_)", r"(?:[^\s\w]|_)"
PRE_REGEX = {  # llama.cpp's regexes (llama-vocab.cpp), with \p{L} ~ [^\W\d_] and \p{N} ~ \d
    "qwen2": re.compile(rf"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|{_NOT_LN_RN}?{_L}+|\d| ?{_NOT_S_LN}+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
    "llama-bpe": re.compile(rf"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|{_NOT_LN_RN}?{_L}+|\d{{1,3}}| ?{_NOT_S_LN}+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
}


def tokenize(vocab, text):
    """The token ids llama.cpp gives `text` with add_special and parse_special, as far as the
    seed choice needs (checked against llama.cpp's prompt_ids by --check)."""
    tokens = vocab["tokens"]
    ids = {t: i for i, t in enumerate(tokens)}
    special = [t for t, ty in zip(tokens, vocab["types"]) if ty in (CONTROL, USER_DEFINED)]
    parts = re.split("(" + "|".join(re.escape(t) for t in sorted(special, key=len, reverse=True)) + ")", text)
    out = [vocab["bos"]] if vocab["add_bos"] else []
    prev_special = True
    strip = False
    for part in parts:
        if part in special:
            out.append(ids[part])
            prev_special = True
            strip = part in vocab.get("rstrip", ())
            continue
        if strip:
            part = part.lstrip(" \t\n\v\f\r")
        if not part:
            continue
        if vocab["model"] == "llama":
            syms = list(("▁" if prev_special else "") + part.replace(" ", "▁"))
            score = dict(zip(tokens, vocab["scores"]))
            while True:
                best = None
                for k in range(len(syms) - 1):
                    cand = syms[k] + syms[k + 1]
                    if cand in ids and (best is None or score[cand] > best[0]):
                        best = (score[cand], k)
                if best is None:
                    break
                k = best[1]
                syms[k:k + 2] = [syms[k] + syms[k + 1]]
            for sym in syms:
                out += [ids[sym]] if sym in ids else [ids[f"<0x{b:02X}>"] for b in sym.encode("utf-8")]
        else:
            byte_sym = dict(gpt2_byte_symbols())
            rank = {tuple(m.split(" ")): r for r, m in enumerate(vocab["merges"])}
            for word in PRE_REGEX[vocab["pre"]].findall(part):
                syms = [byte_sym[b] for b in word.encode("utf-8")]
                if vocab["pre"] == "llama-bpe" and "".join(syms) in ids:  # llama.cpp's ignore_merges
                    syms = ["".join(syms)]
                while len(syms) > 1:
                    r, k = min((rank.get((syms[k], syms[k + 1]), 1 << 30), k) for k in range(len(syms) - 1))
                    if r == 1 << 30:
                        break
                    syms[k:k + 2] = [syms[k] + syms[k + 1]]
                out += [ids[sym] for sym in syms]
        prev_special = False
    return out

# ---------------------------------------------------------------- weights


def llama3_rope_factors(head_dim, base, factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, old_context_len=8192):
    """As llama.cpp's conversion/llama.py (LlamaModel.generate_extra_tensors) for rope_type llama3."""
    freqs = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    out = []
    for freq in freqs:
        wavelen = 2 * np.pi / freq
        if wavelen < high_freq_wavelen:
            out.append(1.0)
        elif wavelen > low_freq_wavelen:
            out.append(factor)
        else:
            smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def make_weights(fam, n_vocab, seed):
    rng = np.random.default_rng(seed)
    hd = fam["head_dim"]
    nq, nkv = N_HEAD * hd, N_HEAD_KV * hd

    def mat(rows, cols, gain=1.0):
        return (rng.standard_normal((rows, cols)) * gain / np.sqrt(cols)).astype(np.float32)

    def norm(n, spread=0.1):
        return (1 + spread * rng.standard_normal(n)).astype(np.float32)

    w = {}
    if fam["tied"]:
        w["token_embd.weight"] = (rng.standard_normal((n_vocab, N_EMBD)) * LOGIT_STD / np.sqrt(N_EMBD)).astype(np.float32)
    else:
        w["token_embd.weight"] = rng.standard_normal((n_vocab, N_EMBD)).astype(np.float32)
    w["output_norm.weight"] = norm(N_EMBD)
    if not fam["tied"]:
        w["output.weight"] = mat(n_vocab, N_EMBD, LOGIT_STD)
    if fam.get("rope_freqs"):
        w["rope_freqs.weight"] = llama3_rope_factors(hd, fam["rope_base"])
    # q/k gain per head dimension: llama3 weights its rotary pairs with RoPE factors > 1 up, so
    # that attention depends on them and a misapplied rope_freqs shows; qwen3's q/k norms undo
    # the projection's scale, so a larger one shows a missing norm
    qk_gain = np.full(hd, ATTN_GAIN * (QK_NORM_PRE_GAIN if fam.get("qk_norm") else 1.0))
    if fam.get("rope_freqs"):
        # the first two rotary pairs with a factor > 1 (wavelengths ~4400 and ~10000 positions)
        # are the ones a factor turns most within a prompt of a few hundred tokens
        boosted = np.nonzero(w["rope_freqs.weight"] > 1)[0][:2]
        pair_gain = np.full(hd // 2, ATTN_GAIN)
        pair_gain[boosted] = LOW_FREQ_QK_GAIN
        qk_gain = np.repeat(pair_gain, 2)  # normal RoPE: pair i is dimensions 2i and 2i + 1
    for i in range(N_LAYER):
        p = f"blk.{i}."
        w[p + "attn_norm.weight"] = norm(N_EMBD)
        q = mat(nq, N_EMBD) * np.tile(qk_gain, N_HEAD)[:, None].astype(np.float32)
        k = mat(nkv, N_EMBD) * np.tile(qk_gain, N_HEAD_KV)[:, None].astype(np.float32)
        v = mat(nkv, N_EMBD)
        if fam.get("fused"):
            w[p + "attn_qkv.weight"] = np.concatenate([q, k, v])
        else:
            w[p + "attn_q.weight"], w[p + "attn_k.weight"], w[p + "attn_v.weight"] = q, k, v
        if fam.get("qkv_bias"):
            w[p + "attn_q.bias"] = (0.5 * rng.standard_normal(nq)).astype(np.float32)
            w[p + "attn_k.bias"] = (0.5 * rng.standard_normal(nkv)).astype(np.float32)
            w[p + "attn_v.bias"] = (0.3 * rng.standard_normal(nkv)).astype(np.float32)
        if fam.get("qk_norm"):
            w[p + "attn_q_norm.weight"] = norm(hd, QK_NORM_SPREAD)
            w[p + "attn_k_norm.weight"] = norm(hd, QK_NORM_SPREAD)
        w[p + "attn_output.weight"] = mat(N_EMBD, nq, DOWN_GAIN)
        w[p + "ffn_norm.weight"] = norm(N_EMBD)
        gate, up = mat(N_FF, N_EMBD, FFN_GAIN), mat(N_FF, N_EMBD, FFN_GAIN)
        if fam.get("fused"):
            w[p + "ffn_up.weight"] = np.concatenate([gate, up])  # gate first: silu(first half) * second half
        else:
            w[p + "ffn_gate.weight"], w[p + "ffn_up.weight"] = gate, up
        down = mat(N_EMBD, N_FF, DOWN_GAIN)
        if i == N_LAYER - 1 and PRED_GAIN > 0:
            # the last FFN's neurons each push one token's output row (unit norm, times PRED_GAIN)
            out_w = w["token_embd.weight"] if fam["tied"] else w["output.weight"]
            picks = rng.choice(n_vocab, size=N_FF)
            rows = out_w[picks] / np.linalg.norm(out_w[picks], axis=1, keepdims=True)
            down = down + (PRED_GAIN * rows.T).astype(np.float32)
        w[p + "ffn_down.weight"] = down
    return w


def quantized(w):
    """name -> (array to write, ggml type, the float64 values llama.cpp reads)."""
    out = {}
    for name, x in w.items():
        if x.ndim == 2:
            q = gguf.quants.quantize(x, gguf.GGMLQuantizationType.Q8_0)
            out[name] = (q, gguf.GGMLQuantizationType.Q8_0,
                         gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0).astype(np.float64))
        else:
            out[name] = (x, gguf.GGMLQuantizationType.F32, x.astype(np.float64))
    return out

# ---------------------------------------------------------------- float64 forward pass (llama.cpp's graphs)


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, positions, fam, factors):
    """ggml_rope_ext: theta_i = pos * base^(-2i/d) / factors[i]; NeoX rotates (i, i + d/2),
    normal mode rotates (2i, 2i + 1). x: (tokens, heads, head_dim)."""
    d = x.shape[-1]
    inv = fam["rope_base"] ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    if factors is not None:
        inv = inv / factors
    theta = np.outer(positions, inv)[:, None, :]
    cos, sin = np.cos(theta), np.sin(theta)
    if fam["neox"]:
        x1, x2 = x[..., : d // 2], x[..., d // 2:]
        return np.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x1 * cos - x2 * sin
    out[..., 1::2] = x1 * sin + x2 * cos
    return out


def silu(x):
    return x / (1 + np.exp(-x))


def q8_0_round(x):
    """x rounded as ggml rounds a matrix product's activations for a Q8_0 weight (blocks of 32
    along the last axis, scale max|x| / 127 stored as f16, values to the nearest integer)."""
    b = x.reshape(-1, 32)
    d = np.abs(b).max(axis=1, keepdims=True) / 127
    q = np.round(b / np.where(d == 0, 1, d))
    return (q * d.astype(np.float16).astype(np.float64)).reshape(x.shape)


def f16_round(x):
    return x.astype(np.float16).astype(np.float64)


def forward(fam, W, tokens, cache=None, llama_rounding=False):
    """Logits after each of `tokens` (float64). `cache`, when given, is a list that holds each
    layer's RoPE'd keys and values of the tokens before (it is extended in place).
    llama_rounding: round as llama.cpp's CPU path does (activations to Q8_0 before each product
    with a Q8_0 matrix; q, k, v to f16 in attention: f16 KV cache, flash attention), to tell its
    rounding noise from a real difference."""
    hd, eps = fam["head_dim"], fam["eps"]
    nq, nkv = N_HEAD * hd, N_HEAD_KV * hd
    act = q8_0_round if llama_rounding else (lambda a: a)
    att = f16_round if llama_rounding else (lambda a: a)

    def mm(h, name):
        return act(h) @ W[name].T

    if cache is None:
        cache = []
    past = cache[0][0].shape[0] if cache else 0
    T = len(tokens)
    pos = np.arange(past, past + T)
    factors = W.get("rope_freqs.weight")
    group = N_HEAD // N_HEAD_KV
    mask = np.triu(np.full((T, past + T), -np.inf), k=past + 1)
    x = W["token_embd.weight"][tokens]
    for i in range(N_LAYER):
        p = f"blk.{i}."
        h = rms_norm(x, W[p + "attn_norm.weight"], eps)
        if fam.get("fused"):
            qkv = mm(h, p + "attn_qkv.weight")
            q, k, v = qkv[:, :nq], qkv[:, nq:nq + nkv], qkv[:, nq + nkv:]
        else:
            q, k, v = mm(h, p + "attn_q.weight"), mm(h, p + "attn_k.weight"), mm(h, p + "attn_v.weight")
        if fam.get("qkv_bias"):
            q, k, v = q + W[p + "attn_q.bias"], k + W[p + "attn_k.bias"], v + W[p + "attn_v.bias"]
        q, k, v = q.reshape(T, N_HEAD, hd), k.reshape(T, N_HEAD_KV, hd), v.reshape(T, N_HEAD_KV, hd)
        if fam.get("qk_norm") and not fam.get("qk_norm_after_rope"):
            q = rms_norm(q, W[p + "attn_q_norm.weight"], eps)
            k = rms_norm(k, W[p + "attn_k_norm.weight"], eps)
        q, k = rope(q, pos, fam, factors), rope(k, pos, fam, factors)
        if fam.get("qk_norm_after_rope"):  # a wrong reading, for --check's comparison
            q = rms_norm(q, W[p + "attn_q_norm.weight"], eps)
            k = rms_norm(k, W[p + "attn_k_norm.weight"], eps)
        q, k, v = att(q), att(k), att(v)
        if len(cache) <= i:
            cache.append((k, v))
        else:
            cache[i] = (np.concatenate([cache[i][0], k]), np.concatenate([cache[i][1], v]))
        k, v = cache[i]
        out = np.empty((T, N_HEAD, hd))
        for head in range(N_HEAD):
            s = q[:, head] @ k[:, head // group].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            out[:, head] = (s / s.sum(axis=-1, keepdims=True)) @ v[:, head // group]
        x = x + mm(out.reshape(T, nq), p + "attn_output.weight")
        h = rms_norm(x, W[p + "ffn_norm.weight"], eps)
        if fam.get("fused"):
            gu = mm(h, p + "ffn_up.weight")
            g, u = gu[:, :N_FF], gu[:, N_FF:]
        else:
            g, u = mm(h, p + "ffn_gate.weight"), mm(h, p + "ffn_up.weight")
        x = x + mm(silu(g) * u, p + "ffn_down.weight")
    x = rms_norm(x, W["output_norm.weight"], eps)
    return mm(x, "token_embd.weight" if fam["tied"] else "output.weight")


def greedy_leading(fam, W, prompt, steps, eog, min_gap):
    """Greedy steps, from the first, whose top-1 token is the same and at least min_gap ahead of
    the second both in the exact forward pass and with llama.cpp's rounding (stopping after an
    end-of-generation token)."""
    caches = ([], [])
    logits = [forward(fam, W, list(prompt), c, r)[-1] for c, r in zip(caches, (False, True))]
    n = 0
    while n < steps:
        tops = [np.argsort(-l, kind="stable")[:2] for l in logits]
        if tops[0][0] != tops[1][0] or any(l[t[0]] - l[t[1]] < min_gap for l, t in zip(logits, tops)):
            break
        n += 1
        tok = int(tops[0][0])
        if tok in eog:
            break
        logits = [forward(fam, W, [tok], c, r)[-1] for c, r in zip(caches, (False, True))]
    return n


# ---------------------------------------------------------------- GGUF


def write_gguf(path, name, fam, vocab, q):
    hd = fam["head_dim"]
    writer = gguf.GGUFWriter(path, fam["arch"])
    # the name matters to llama.cpp for phi3: "phi3" in it turns on Phi-3's whitespace stripping
    # after special tokens, as in Microsoft's own Phi-3 GGUFs (general.name "Phi3")
    writer.add_name(f"canopy-test-{name}-tiny")
    writer.add_block_count(N_LAYER)
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_freq_base(fam["rope_base"])
    writer.add_layer_norm_rms_eps(fam["eps"])
    if name == "qwen3":
        writer.add_key_length(hd)
        writer.add_value_length(hd)
    if name in ("llama3", "phi3"):
        writer.add_rope_dimension_count(hd)
    if name == "llama3":
        writer.add_vocab_size(len(vocab["tokens"]))
    if name == "phi3":
        writer.add_rope_scaling_orig_ctx_len(N_CTX)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_tokenizer_model(vocab["model"])
    if "pre" in vocab:
        writer.add_tokenizer_pre(vocab["pre"])
    writer.add_token_list(vocab["tokens"])
    if "scores" in vocab:
        writer.add_token_scores(vocab["scores"])
    writer.add_token_types(vocab["types"])
    if "merges" in vocab:
        writer.add_token_merges(vocab["merges"])
    writer.add_bos_token_id(vocab["bos"])
    writer.add_eos_token_id(vocab["eos"])
    if "unk" in vocab:
        writer.add_unk_token_id(vocab["unk"])
    if "pad" in vocab:
        writer.add_pad_token_id(vocab["pad"])
    writer.add_add_bos_token(vocab["add_bos"])
    if "add_eos" in vocab:
        writer.add_add_eos_token(vocab["add_eos"])
    writer.add_chat_template(vocab["template"])
    for tname, (data, qtype, _) in q.items():
        if qtype == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(tname, data)
        else:
            writer.add_tensor(tname, data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

# ---------------------------------------------------------------- modes


def make_models(out_root):
    for name, fam in FAMILIES.items():
        vocab = make_vocab(fam)
        n_vocab = len(vocab["tokens"])
        eog = set(vocab["eog"])
        prompts = [tokenize(vocab, text) for text in prompts_for(fam["vocab"])]
        best = None
        for seed in range(N_SEEDS):
            q = quantized(make_weights(fam, n_vocab, seed))
            W = {k: v[2] for k, v in q.items()}
            leads = [greedy_leading(fam, W, p, SELECT_STEPS, eog, SELECT_GAP) for p in prompts]
            score = (sum(l >= SELECT_MIN for l in leads), min(leads), sum(min(l, 16) for l in leads))
            print(f"  {name} seed {seed}: leading decisive steps {leads}", flush=True)
            if best is None or score > best[0]:
                best = (score, seed, leads, q)
        score, seed, leads, q = best
        out_dir = os.path.join(out_root, name)
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, "model.gguf")
        write_gguf(path, name, fam, vocab, q)
        with open(os.path.join(out_dir, "prompts.jsonl"), "w", encoding="utf-8") as f:
            for text in prompts_for(fam["vocab"]):
                f.write(json.dumps({"prompt": text}, ensure_ascii=True) + "\n")
        info = {
            "family": name, "arch": fam["arch"], "seed": seed, "seeds_tried": N_SEEDS,
            "scales": {"logit_std": LOGIT_STD, "attn_gain": ATTN_GAIN, "ffn_gain": FFN_GAIN,
                       "down_gain": DOWN_GAIN, "pred_gain": PRED_GAIN, "qk_norm_pre_gain": QK_NORM_PRE_GAIN,
                       "qk_norm_spread": QK_NORM_SPREAD, "low_freq_qk_gain": LOW_FREQ_QK_GAIN},
            "n_vocab": n_vocab, "n_merges": len(vocab.get("merges", [])), "n_embd": N_EMBD,
            "n_head": N_HEAD, "n_head_kv": N_HEAD_KV, "head_dim": fam["head_dim"], "n_layer": N_LAYER,
            "n_ff": N_FF, "rope_base": fam["rope_base"], "rms_eps": fam["eps"], "tied_output": fam["tied"],
            "selection": {"prompt_lengths": [len(p) for p in prompts], "steps": SELECT_STEPS,
                          "gap": SELECT_GAP, "min_steps": SELECT_MIN, "leading_decisive_steps": leads},
        }
        if fam.get("rope_freqs"):
            info["rope_freqs"] = [float(x) for x in q["rope_freqs.weight"][0]]
        with open(os.path.join(out_dir, "model.json"), "w") as f:
            json.dump(info, f, indent=1)
            f.write("\n")
        print(f"{name}: seed {seed}, vocab {n_vocab}, {os.path.getsize(path)} bytes, "
              f"leading decisive steps {leads}")


def tokenizer_fixture(out_root, bin_dir):
    for name, fam in FAMILIES.items():
        out_dir = os.path.join(out_root, name)
        model = os.path.join(out_dir, "model.gguf")
        specials = SPECIAL_TEXTS[fam["vocab"]]
        cases = [(t, ps, True) for t in TOKENIZER_TEXTS + specials for ps in (True, False)]
        cases += [(t, True, False) for t in specials] + [(TOKENIZER_TEXTS[0], True, False)]
        records = llama_tokenize_records(bin_dir, model, cases)
        with open(os.path.join(out_dir, "tokenizer.jsonl"), "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(f"{name}: {len(records)} tokenizer records")


def load_gguf_weights(path):
    reader = gguf.GGUFReader(path)
    W = {}
    for t in reader.tensors:
        data = gguf.quants.dequantize(np.array(t.data), t.tensor_type)
        W[t.name] = data.reshape([int(x) for x in reversed(t.shape)]).astype(np.float64)
    return W


def wrong_readings(name, fam, W):
    """(label, family settings, weights) for plausible misreadings of a family's llama.cpp graph."""
    out = [("the other RoPE pairing", dict(fam, neox=not fam["neox"]), W)]
    if fam.get("qkv_bias"):
        out.append(("no q/k/v biases", fam, {k: (v * 0 if k.endswith(".bias") else v) for k, v in W.items()}))
    if fam.get("qk_norm"):
        out.append(("no q/k norms", dict(fam, qk_norm=False), W))
        out.append(("q/k norms after RoPE", dict(fam, qk_norm_after_rope=True), W))
    if "rope_freqs.weight" in W:
        out.append(("rope_freqs ignored", fam, {k: v for k, v in W.items() if k != "rope_freqs.weight"}))
        out.append(("rope_freqs multiplying the angle", fam, dict(W, **{"rope_freqs.weight": 1 / W["rope_freqs.weight"]})))
    if fam.get("fused"):
        nq, nkv = N_HEAD * fam["head_dim"], N_HEAD_KV * fam["head_dim"]
        swap_up = {k: np.concatenate([v[N_FF:], v[:N_FF]]) for k, v in W.items() if k.endswith("ffn_up.weight")}
        out.append(("gate as the second half of ffn_up", fam, dict(W, **swap_up)))
        swap_kv = {k: np.concatenate([v[:nq], v[nq + nkv:], v[nq:nq + nkv]]) for k, v in W.items() if k.endswith("attn_qkv.weight")}
        out.append(("attn_qkv as q, v, k", fam, dict(W, **swap_kv)))
    return out


def check(out_root):
    """Prints, per prompt, how llama.cpp's reference compares with the script's numpy forward
    pass over the same model.gguf (exact, and with llama.cpp's rounding), and whether the
    script's tokenizer gives llama.cpp's ids; fails when a first-step cosine is under 0.999 or
    the script's tokenizer disagrees with llama.cpp on a prompt."""
    ok = True
    for name, fam in FAMILIES.items():
        out_dir = os.path.join(out_root, name)
        W = load_gguf_weights(os.path.join(out_dir, "model.gguf"))
        vocab = make_vocab(fam)
        records = [json.loads(l) for l in open(os.path.join(out_dir, "greedy.jsonl"), encoding="utf-8")]
        print(f"{name}: model.gguf {os.path.getsize(os.path.join(out_dir, 'model.gguf'))} bytes, "
              f"{len(vocab['tokens'])} tokens")
        for i, r in enumerate(records):
            gaps = [s[0][1] - s[1][1] for s in r["top5_per_step"]]
            lead = next((k for k, g in enumerate(gaps) if g < NEAR_TIE), len(gaps))
            # numpy over llama.cpp's prompt + greedy tokens: is each greedy token numpy's argmax too?
            ids = r["prompt_ids"] + r["greedy_ids"][:-1]
            n_prompt = len(r["prompt_ids"])
            exact = forward(fam, W, ids)[n_prompt - 1:]
            rounded = forward(fam, W, ids, llama_rounding=True)[n_prompt - 1:]
            agree = [next((k for k, (row, tok) in enumerate(zip(steps, r["greedy_ids"])) if int(np.argmax(row)) != tok),
                          len(r["greedy_ids"])) for steps in (exact, rounded)]
            top5 = [max(abs(steps[k][tok] - val) for k, top in enumerate(r["top5_per_step"]) for tok, val in top)
                    for steps in (exact, rounded)]
            same = tokenize(vocab, r["prompt"]) == r["prompt_ids"]
            ok &= same
            line = (f"  prompt {i}: {n_prompt} prompt tokens (script's tokenizer {'agrees' if same else 'DIFFERS'}), "
                    f"{len(r['greedy_ids'])} generated, first gap {gaps[0]:.3f}, {lead} tokens before a near tie; "
                    f"numpy argmax = llama.cpp's for the first {agree[0]} (exact) / {agree[1]} (llama rounding) tokens, "
                    f"max |top-5 logit - numpy| {top5[0]:.3f} / {top5[1]:.3f}")
            f16 = os.path.join(out_dir, f"logits-{i}.f16")
            if os.path.exists(f16):
                ref = np.fromfile(f16, dtype="<f2").astype(np.float64)
                cos = [float(ref @ s[0] / np.linalg.norm(ref) / np.linalg.norm(s[0])) for s in (exact, rounded)]
                diff = [np.abs(ref - s[0]).max() for s in (exact, rounded)]
                line += (f"; first-step logits: cosine {cos[0]:.6f} / {cos[1]:.6f}, "
                         f"max diff {diff[0]:.3f} / {diff[1]:.3f}")
                ok &= cos[0] > 0.999
            print(line)
        # wrong readings of the architecture, to show that the first-step logits tell them apart
        refs = [(r["prompt_ids"], np.fromfile(os.path.join(out_dir, f"logits-{i}.f16"), dtype="<f2").astype(np.float64))
                for i, r in enumerate(records) if os.path.exists(os.path.join(out_dir, f"logits-{i}.f16"))]
        for label, wrong_fam, wrong_W in wrong_readings(name, fam, W):
            cos = [float(ref @ l / np.linalg.norm(ref) / np.linalg.norm(l))
                   for ids, ref in refs for l in [forward(wrong_fam, wrong_W, ids)[-1]]]
            print(f"  wrong reading, {label}: first-step cosine to llama.cpp {' '.join(f'{c:.4f}' for c in cos)}")
        tok_path = os.path.join(out_dir, "tokenizer.jsonl")
        if os.path.exists(tok_path):
            recs = [json.loads(l) for l in open(tok_path, encoding="utf-8")]
            recs = [r for r in recs if r["parse_special"] and r["add_special"]]
            differ = [r["text"] for r in recs if tokenize(vocab, r["text"]) != r["ids"]]
            print(f"  tokenizer.jsonl: the script's tokenizer gives llama.cpp's ids for "
                  f"{len(recs) - len(differ)} of the {len(recs)} records with parse_special and add_special"
                  + (f"; differs on {differ}" if differ else ""))
    return ok


def main():
    args = sys.argv[1:]
    if len(args) == 1 and not args[0].startswith("-"):
        make_models(args[0])
    elif len(args) == 3 and args[0] == "--tokenizer":
        tokenizer_fixture(args[1], args[2])
    elif len(args) == 2 and args[0] == "--check":
        sys.exit(0 if check(args[1]) else 1)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
