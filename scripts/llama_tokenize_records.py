"""llama.cpp's token ids for texts, as the tokenizer fixtures record them: one
{"text", "parse_special", "add_special", "ids"} dict per case, from `llama-tokenize -f TEXT --ids`
(the text read verbatim from a file; --no-parse-special / --no-bos when the case asks).

Used by scripts/make-gemma3-tokenizer-fixture.py and scripts/make-family-models.py.
"""
import json
import os
import subprocess
import tempfile


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
