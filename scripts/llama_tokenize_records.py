"""llama.cpp's token ids for texts, as the tokenizer fixtures record them: one
{"text", "parse_special", "add_special", "ids"} dict per case, from `llama-tokenize -f TEXT --ids`
(the text read verbatim from a file; --no-parse-special / --no-bos when the case asks).

Used by scripts/make-gemma3-tokenizer-fixture.py, scripts/make-smollm2-missing-bytes-fixture.py
and scripts/make-family-models.py.
"""
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BIN_DIR = os.path.expanduser("~/.cache/canopy/llama.cpp-0.3.36/build/bin")


def llama_tokenize_records(bin_dir, model, cases):
    """cases: (text, parse_special, add_special) triples; returns the records in order."""
    records = []
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "text.txt")
        for text, parse_special, add_special in cases:
            with open(path, "wb") as f:
                f.write(text.encode("utf-8"))
            cmd = [os.path.join(bin_dir, "llama-tokenize"), "-m", model, "-f", path, "--ids", "--log-disable"]
            if not parse_special:
                cmd.append("--no-parse-special")
            if not add_special:
                cmd.append("--no-bos")
            result = subprocess.run(cmd, capture_output=True, text=True, check=True)
            line = [l for l in result.stdout.splitlines() if l.startswith("[")][-1]
            records.append({"text": text, "parse_special": parse_special, "add_special": add_special,
                            "ids": json.loads(line)})
    return records


def write_fixture(default_model, out, cases):
    """The command line of the tokenizer fixture scripts: `[MODEL] [LLAMA_BIN_DIR]` (defaults:
    default_model and the build of scripts/build-llama-cpp.sh, both relative to the repository);
    writes llama.cpp's records for cases to out as JSON lines."""
    model = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, default_model)
    bin_dir = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_BIN_DIR
    records = llama_tokenize_records(bin_dir, model, cases)
    path = os.path.join(REPO, out)
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} records to {path}")
