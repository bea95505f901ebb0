"""Turns a structured answer into APAR's training form (THUDM/APAR `data/filter_structured.py`
and `as_apar_format.py`, rewritten here from their description).

A numbered list of 3 or more items written `N. Summary: details` becomes a main answer in which
each item's details are replaced by the fork token, and one stream per item holding its details.
Failing that, an answer of 3 or more paragraphs whose paragraphs have more than one sentence
becomes a main answer of first sentences, each followed by the fork token, and one stream per
paragraph with the rest of it. Anything else, and anything with code, maths, markup or links
(APAR's "confusing patterns"), stays unstructured.

`split_answer(text)` returns (pieces, streams) with len(pieces) == len(streams) + 1, such that
the main answer is pieces[0] + FORK + pieces[1] + FORK + ... and the answer reassembles as
pieces[0] + streams[0] + pieces[1] + streams[1] + ... == text; or None when unstructured.
"""
import re

CONFUSING = ["```", "$$", ">", "<", "=", "---", "http"]
ITEM = re.compile(r"(?m)^[ \t]*(\d+)\.[ \t]+")
MIN_STREAM = 10
MIN_PARAGRAPH_PIECE = 20


def split_answer(text):
    if any(c in text for c in CONFUSING):
        return None
    return _split_list(text) or _split_paragraphs(text)


def _split_list(text):
    starts = list(ITEM.finditer(text))
    if len(starts) < 3 or [int(m.group(1)) for m in starts] != list(range(1, len(starts) + 1)):
        return None
    pieces, streams, cursor = [], [], 0
    for k, m in enumerate(starts):
        end = starts[k + 1].start() if k + 1 < len(starts) else len(text)
        item = text[m.start():end]
        first_line = item.split("\n", 1)[0]
        colon = first_line.find(":")
        if colon < 0 or colon > 100:
            return None
        detail_from = m.start() + colon + 1
        if k + 1 < len(starts):
            detail_to = m.start() + len(item.rstrip("\n"))
        else:  # the last item's details end at its paragraph's end; a conclusion may follow
            blank = text.find("\n\n", detail_from)
            detail_to = len(text) if blank < 0 else blank
        detail = text[detail_from:detail_to]
        if len(detail.strip()) < MIN_STREAM or ITEM.search(detail):
            return None
        pieces.append(text[cursor:detail_from])
        streams.append(detail)
        cursor = detail_to
    pieces.append(text[cursor:])
    return pieces, streams


def _split_paragraphs(text):
    paragraphs = text.split("\n\n")
    if sum(1 for p in paragraphs if p.strip()) < 3:
        return None
    lowered = text.lower()
    if any(t in lowered for t in ("mr.", "mrs.", "dr.", "e.g.", "i.e.")):
        return None
    pieces, streams, pending = [], [], ""
    for i, p in enumerate(paragraphs):
        sep = "\n\n" if i + 1 < len(paragraphs) else ""
        cut = p.find(". ")
        if cut < 0 or not p[cut + 2:].strip():
            pending += p + sep
            continue
        head = p[:cut + 2]
        if len(head.strip()) < MIN_PARAGRAPH_PIECE:
            return None
        pieces.append(pending + head)
        streams.append(p[cut + 2:])
        pending = sep
    if len(streams) < 3:
        return None
    pieces.append(pending)
    return pieces, streams
