#!/usr/bin/env python3
"""The prompts of `make apar-model`: list- and paragraph-shaped requests, plus short questions.

    prompts.py OUT_DIR      writes OUT_DIR/train-prompts.jsonl and OUT_DIR/held-out-prompts.jsonl

Each line is {"id", "kind", "prompt"}; kind is "list", "paragraphs" or "short". Prompts are
templates over topics, so the set is the same on every machine. The held-out file holds 50
list-shaped prompts whose topics never appear in training: the APAR bench and the quality check
use them. Short questions have no structure to fork; their answers are part of the
unstructured half of the training mix, as APAR mixes in unstructured dialogues.
"""
import json
import os
import random
import sys

TIPS = [
    "staying healthy while working from home", "learning to cook", "saving money on groceries",
    "studying for exams", "starting a vegetable garden", "training for a first marathon",
    "keeping houseplants alive", "writing a good resume", "traveling on a budget", "sleeping better",
    "learning to play the guitar", "keeping a tidy home", "public speaking", "taking better photos",
    "staying focused while studying", "learning a new language", "moving to a new city",
    "preparing for a job interview", "reducing screen time", "camping for the first time",
    "keeping a dog happy", "running a productive meeting", "writing a short story",
    "staying safe while hiking", "managing a small team", "baking bread at home",
    "decorating a small apartment", "caring for a new kitten", "staying warm in winter",
    "planning a wedding", "learning to swim as an adult", "teaching a child to read",
    "starting to journal", "organizing a closet", "packing for a long trip", "driving in the rain",
    "making friends at a new school", "keeping a car in good condition", "eating more vegetables",
    "starting a book club",
]
BENEFITS = [
    "regular exercise", "reading books", "learning a second language", "drinking enough water",
    "meditation", "cycling to work", "volunteering", "public libraries", "solar energy",
    "team sports", "learning to code", "keeping a journal", "walking every day", "music lessons",
    "eating breakfast", "spending time in nature", "having a pet", "learning history",
    "recycling", "public transport", "cooking at home", "a good night's sleep",
    "online learning", "community gardens", "yoga", "playing chess", "travelling abroad",
    "working in a team", "saving money early", "learning to draw",
]
WAYS = [
    "reduce stress", "save energy at home", "make new friends in a new city",
    "be more productive in the morning", "reduce plastic waste", "improve your memory",
    "stay motivated when learning", "save water at home", "be kinder to others",
    "improve your handwriting", "spend less time on your phone", "help the environment",
    "improve your posture", "keep your mind sharp", "make a small room feel bigger",
    "support local businesses", "prepare for a power outage", "welcome a new neighbour",
    "make a long flight more comfortable", "get better at math", "celebrate a friend's success",
    "keep kids busy on a rainy day", "use less paper at work", "cheer up a friend",
    "make your commute more pleasant", "stay cool in summer", "learn new words",
    "keep a conversation going", "improve your cooking", "stay organized at work",
]
IDEAS = [
    "a birthday party for a ten-year-old", "a rainy weekend", "a school science fair project",
    "a healthy breakfast", "a small business", "a family picnic", "a date night at home",
    "a class presentation", "a summer holiday", "a gift for a teacher", "a short film",
    "a charity fundraiser", "a garden on a balcony", "a team-building day", "a themed dinner party",
    "a children's book", "a road trip", "a blog", "a board game night", "a weekend in the mountains",
    "a school club", "a new year's resolution", "a handmade gift", "a museum visit with kids",
    "a neighbourhood festival", "a quick lunch", "a photography project", "a camping trip menu",
    "a reading challenge", "an office party",
]
FACTS = [
    "the planet Mars", "honey bees", "the human heart", "volcanoes", "the Roman Empire",
    "the ocean", "the moon", "dolphins", "rainforests", "the Great Wall of China", "elephants",
    "the Sun", "ancient Egypt", "penguins", "the Internet", "coffee", "the Olympic Games",
    "trees", "earthquakes", "the printing press",
]
PARAGRAPHS = [
    "the history of bicycles", "how bees make honey", "the water cycle", "why people keep pets",
    "the invention of the telephone", "how trains changed travel", "life in a medieval village",
    "the importance of sleep", "how cities grow", "the life of a sea turtle", "how bread is made",
    "why the sky is blue", "the first moon landing", "how rainbows form", "the history of tea",
    "why forests matter", "how a library works", "the history of the Olympic Games",
    "how vaccines protect people", "why music matters",
]
SHORT = [
    "What is the capital of France?", "How many days are in a leap year?",
    "What is photosynthesis? Answer in one sentence.", "Who wrote Romeo and Juliet?",
    "What is the boiling point of water in Celsius?", "Translate 'good morning' into Spanish.",
    "What is 12 times 12?", "Name the largest planet in the solar system.",
    "What colour do you get when you mix blue and yellow?", "What is the opposite of 'ancient'?",
    "Write a haiku about autumn leaves.", "What does a thermometer measure?",
    "How many continents are there?", "What is the main language spoken in Brazil?",
    "What is a noun? Answer in one sentence.", "What gas do plants take in from the air?",
    "Write one sentence about the sea.", "Who painted the Mona Lisa?",
    "What is the freezing point of water in Fahrenheit?", "What is the plural of 'mouse'?",
    "Describe a cat in one sentence.", "What is the chemical symbol for gold?",
    "How many legs does a spider have?", "What is the tallest mountain in the world?",
    "Give a synonym for 'happy'.", "What is the square root of 81?",
    "Write a short greeting for a birthday card.", "What is the capital of Japan?",
    "Which animal is known as the king of the jungle?", "What do bees make?",
]
HELD_OUT = 50


def list_prompts():
    """(topic key, prompt) of every list-shaped prompt; 3 to 6 items asked."""
    out = []
    for i, t in enumerate(TIPS):
        out.append((f"tips:{t}", f"List {3 + i % 4} tips for {t}."))
    for i, t in enumerate(BENEFITS):
        out.append((f"benefits:{t}", f"What are {3 + (i + 1) % 4} benefits of {t}?"))
        out.append((f"benefits:{t}", f"Explain the main benefits of {t} as a numbered list."))
    for i, t in enumerate(WAYS):
        out.append((f"ways:{t}", f"Give me {3 + (i + 2) % 4} ways to {t}."))
    for i, t in enumerate(IDEAS):
        out.append((f"ideas:{t}", f"Suggest {3 + (i + 3) % 4} ideas for {t}."))
    for i, t in enumerate(FACTS):
        out.append((f"facts:{t}", f"Tell me {3 + i % 4} interesting facts about {t}."))
    return out


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    lists = list_prompts()
    topics = sorted({key for key, _ in lists})
    rng = random.Random(2401)
    rng.shuffle(topics)
    held_topics, held = set(), []
    for key in topics:  # whole topics are held out, so no held-out prompt's topic is trained on
        if len(held) >= HELD_OUT:
            break
        chosen = [p for k, p in lists if k == key]
        if len(held) + len(chosen) <= HELD_OUT:
            held_topics.add(key)
            held += chosen
    train = [("list", p) for k, p in lists if k not in held_topics]
    train += [("paragraphs", f"Write {3 + i % 2} short paragraphs about {t}.") for i, t in enumerate(PARAGRAPHS)]
    train += [("short", p) for p in SHORT]
    with open(os.path.join(out_dir, "train-prompts.jsonl"), "w") as f:
        for i, (kind, p) in enumerate(train):
            f.write(json.dumps({"id": f"train-{i:03d}", "kind": kind, "prompt": p}) + "\n")
    with open(os.path.join(out_dir, "held-out-prompts.jsonl"), "w") as f:
        for i, p in enumerate(held):
            f.write(json.dumps({"id": f"held-{i:02d}", "kind": "list", "prompt": p}) + "\n")
    print(f"{len(train)} training prompts, {len(held)} held out", file=sys.stderr)


if __name__ == "__main__":
    main()
