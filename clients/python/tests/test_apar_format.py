"""scripts/apar/apar_format.py, the conversion of `make apar-model`'s training answers into
APAR's form: a structured answer splits into pieces and streams that reassemble to it, with the
structures THUDM/APAR's filter recognises, and everything else stays unstructured."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts" / "apar"))

from apar_format import split_answer  # noqa: E402

LIST = ("Here are 3 tips:\n\n"
        "1. Stay hydrated: Drink water through the day, more when it is hot.\n\n"
        "2. Eat well: Regular meals with vegetables keep energy steady.\n\n"
        "3. Sleep: Seven to eight hours a night helps memory and mood.\n\n"
        "In summary, small habits add up.")

PARAGRAPHS = ("Bicycles began as wooden running machines. Riders pushed them along with their feet.\n\n"
              "Pedals came in the 1860s. They were fixed to the front wheel, which grew very large.\n\n"
              "The safety bicycle changed everything. Its chain drive and equal wheels made it easy to ride.")


def reassemble(pieces, streams):
    return "".join(p + s for p, s in zip(pieces, streams + [""]))


def test_a_numbered_list_forks_at_each_items_details_and_reassembles():
    pieces, streams = split_answer(LIST)
    assert reassemble(pieces, streams) == LIST
    assert pieces[:3] == ["Here are 3 tips:\n\n1. Stay hydrated:", "\n\n2. Eat well:", "\n\n3. Sleep:"]
    assert streams[0] == " Drink water through the day, more when it is hot."
    # The last item's details end at its paragraph: the conclusion stays in the main branch.
    assert streams[2] == " Seven to eight hours a night helps memory and mood."
    assert pieces[3] == "\n\nIn summary, small habits add up."


def test_paragraphs_fork_after_their_first_sentence_and_reassemble():
    pieces, streams = split_answer(PARAGRAPHS)
    assert reassemble(pieces, streams) == PARAGRAPHS
    assert pieces[0] == "Bicycles began as wooden running machines. "
    assert streams[0] == "Riders pushed them along with their feet."
    assert pieces[1] == "\n\nPedals came in the 1860s. "
    assert len(streams) == 3


def test_answers_without_usable_structure_stay_unstructured():
    two_items = "1. Water: Drink it through the day.\n\n2. Food: Eat vegetables at every meal."
    assert split_answer(two_items) is None                      # fewer than 3 items
    assert split_answer(LIST.replace("2. Eat", "4. Eat")) is None    # numbering not 1, 2, 3
    assert split_answer(LIST.replace("Eat well:", "Eat well")) is None   # an item without a summary
    assert split_answer(LIST + "\n\nSee https://example.org") is None  # APAR's confusing patterns
    assert split_answer(LIST.replace("hot.", "hot, x = 1.")) is None
    assert split_answer("Paris is the capital of France.") is None
    assert split_answer(PARAGRAPHS.replace("Riders", "Dr. Smith's riders")) is None
