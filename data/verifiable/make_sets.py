"""Writes the project's verifiable prompt sets (IFEval's schema) from the tasks and instruction phrasings below.

    python data/verifiable/make_sets.py      (deterministic: the same files every time)

Each prompt is one short task plus one or two verifiable instructions (pairs that IFEval's conflict table allows).
The tasks are split first, so the training pool, the dev split and the held-out eval set share no task.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from if_verifiable.ifeval.instructions_registry import INSTRUCTION_CONFLICTS, conflict_make

HERE = Path(__file__).resolve().parent
SEED = 20
SPLITS = {"train": (60, 6), "dev": (12, 5), "eval": (24, 5)}  # tasks, prompts per task

TASKS = [
    "Write a short note to a neighbour asking them to water your plants while you are away.",
    "Describe how to make a cup of tea.",
    "Explain why the sky looks blue during the day.",
    "Give advice to someone starting to learn the guitar.",
    "Write a short story about a lost umbrella.",
    "Describe your ideal weekend morning.",
    "Explain how a bicycle stays upright.",
    "Suggest a plan for cleaning a messy garage.",
    "Write a product description for a reusable water bottle.",
    "Explain what a library card is for.",
    "Describe the view from a mountain top.",
    "Give tips for staying focused while studying.",
    "Write a thank-you message to a teacher.",
    "Explain how to plant a tomato seedling.",
    "Describe a busy train station at rush hour.",
    "Write a short review of a local bakery.",
    "Explain why people yawn.",
    "Give advice on packing a suitcase for a beach trip.",
    "Describe the smell of rain on a hot street.",
    "Write an invitation to a small garden party.",
    "Explain how to fold a paper airplane.",
    "Describe a cat watching birds through a window.",
    "Give tips for a first job interview.",
    "Write a short speech for a friend's birthday.",
    "Explain what recycling does for a town.",
    "Describe an old lighthouse on a windy coast.",
    "Suggest ways to save money on groceries.",
    "Write a diary entry about a snowy day.",
    "Explain how bees make honey.",
    "Give advice to a new dog owner.",
    "Describe the first day at a new school.",
    "Write a complaint letter about a late delivery.",
    "Explain how a rainbow forms.",
    "Suggest a menu for a simple picnic.",
    "Describe a quiet village market on a Sunday.",
    "Write a short poem about autumn leaves.",
    "Explain why we need sleep.",
    "Give tips for keeping houseplants alive.",
    "Describe a thunderstorm seen from a porch.",
    "Write a message welcoming a new colleague.",
    "Explain how to boil an egg.",
    "Suggest activities for a rainy afternoon with children.",
    "Describe a walk through a pine forest.",
    "Write a short advert for a second-hand bicycle.",
    "Explain what a volcano is.",
    "Give advice on writing a good email subject line.",
    "Describe the sounds of a kitchen at dinner time.",
    "Write a note apologising for missing a meeting.",
    "Explain how the moon changes shape over a month.",
    "Suggest ways to make a small room feel bigger.",
    "Describe a fishing boat returning to harbour.",
    "Write a short fable about a proud rooster.",
    "Explain why leaves change colour in autumn.",
    "Give tips for running a first five-kilometre race.",
    "Describe the inside of a cosy bookshop.",
    "Write a letter to a pen pal about your hometown.",
    "Explain how a refrigerator keeps food cold.",
    "Suggest a daily routine for learning new words.",
    "Describe a street musician playing at dusk.",
    "Write a short guide to making pancakes.",
    "Explain why ice floats on water.",
    "Give advice on sharing a flat with friends.",
    "Describe a child's first visit to the sea.",
    "Write a toast for a wedding dinner.",
    "Explain how a seed grows into a plant.",
    "Suggest ideas for a school science fair project.",
    "Describe an empty theatre after a show.",
    "Write a short note asking a shop for a refund.",
    "Explain what makes a good habit stick.",
    "Give tips for taking better photos with a phone.",
    "Describe a winter morning in a big city.",
    "Write a short biography of an imaginary inventor.",
    "Explain how clouds are made.",
    "Suggest ways to reduce plastic at home.",
    "Describe a garden after a long drought ends.",
    "Write a message congratulating a friend on a new job.",
    "Explain why the sea is salty.",
    "Give advice for a long car journey with children.",
    "Describe a lively night market.",
    "Write a short mystery about a missing key.",
    "Explain how a lock and key work.",
    "Suggest a simple weekly exercise plan.",
    "Describe the view from an aeroplane window.",
    "Write a note to a landlord about a broken heater.",
    "Explain what a budget is and why it helps.",
    "Give tips for learning to cook at home.",
    "Describe a farm at sunrise.",
    "Write a short story about a robot learning to paint.",
    "Explain why some animals hibernate.",
    "Suggest ways to welcome a new student to a class.",
    "Describe a crowded beach in summer.",
    "Write a review of an imaginary board game.",
    "Explain how a candle burns.",
    "Give advice on choosing a first pet.",
    "Describe a museum room full of old clocks.",
    "Write a short letter to your future self.",
]

KEYWORDS = ["morning", "friend", "simple", "water", "bright", "careful", "small", "light", "green", "quiet"]
FORBIDDEN = ["very", "really", "thing", "good", "nice", "just", "also", "like"]
PHRASES = ["Is there anything else I can help with?", "Have a great day.", "That is all for now."]
LANGUAGES = {"fr": "French", "es": "Spanish", "de": "German", "it": "Italian"}


def phrasings(rng: random.Random, task: str) -> dict:
    """instruction id -> (the instruction's words in the prompt, its kwargs), drawn for one prompt."""
    k1, k2 = rng.sample(KEYWORDS, 2)
    f1, f2 = rng.sample(FORBIDDEN, 2)
    n = rng.randint(2, 4)
    words = rng.choice([50, 80, 120])
    relation = rng.choice(["less than", "at least"])
    word = rng.choice(KEYWORDS)
    letter = rng.choice("aeiost")
    phrase = rng.choice(PHRASES)
    lang = rng.choice(sorted(LANGUAGES))
    return {
        "change_case:english_lowercase": (
            "Your entire response should be in English, and in all lowercase letters. No capital letters are allowed.",
            {},
        ),
        "change_case:english_capital": ("Your entire response should be in English, and in all capital letters.", {}),
        "punctuation:no_comma": ("In your entire response, refrain from the use of any commas.", {}),
        "keywords:existence": (f"Include the keywords {k1} and {k2} in the response.", {"keywords": [k1, k2]}),
        "keywords:forbidden_words": (
            f"Do not include the words {f1} or {f2} in the response.",
            {"forbidden_words": [f1, f2]},
        ),
        "keywords:frequency": (
            f"In your response, the word {word} should appear at least {n} times.",
            {"keyword": word, "frequency": n, "relation": "at least"},
        ),
        "keywords:letter_frequency": (
            f"In your response, the letter {letter} should appear at least {4 * n} times.",
            {"letter": letter, "let_frequency": 4 * n, "let_relation": "at least"},
        ),
        "length_constraints:number_words": (
            f"Answer with {relation} {words} words.",
            {"num_words": words, "relation": relation},
        ),
        "length_constraints:number_paragraphs": (
            f"There should be {n} paragraphs. Paragraphs are separated with the markdown divider: ***",
            {"num_paragraphs": n},
        ),
        "detectable_content:number_placeholders": (
            f"The response must contain at least {n - 1} placeholders represented by square brackets, such as "
            "[address].",
            {"num_placeholders": n - 1},
        ),
        "detectable_content:postscript": (
            "At the end of your response, please explicitly add a postscript starting with P.S.",
            {"postscript_marker": "P.S."},
        ),
        "detectable_format:number_bullet_lists": (
            f"Your answer must contain exactly {n} bullet points. Use the markdown bullet points such as:\n"
            "* This is point 1.\n* This is point 2",
            {"num_bullets": n},
        ),
        "detectable_format:number_highlighted_sections": (
            f"Highlight at least {n - 1} sections in your answer with markdown, i.e. *highlighted section*.",
            {"num_highlights": n - 1},
        ),
        "detectable_format:multiple_sections": (
            f"Your response must have {n} sections. Mark the beginning of each section with SECTION X, such as:\n"
            "SECTION 1\n[content of section 1]\nSECTION 2\n[content of section 2]",
            {"section_spliter": "SECTION", "num_sections": n},
        ),
        "detectable_format:json_format": (
            "Entire output should be wrapped in JSON format. You can use markdown ticks such as ```.",
            {},
        ),
        "detectable_format:title": (
            "Your answer must contain a title, wrapped in double angular brackets, such as <<poem of joy>>.",
            {},
        ),
        "combination:two_responses": (
            "Give two different responses. Responses and only responses should be separated by 6 asterisk "
            "symbols: ******.",
            {},
        ),
        "combination:repeat_prompt": (
            "First repeat the request word for word without change, then give your answer (1. do not say any words "
            "or characters before repeating the request; 2. the request you need to repeat does not include this "
            "sentence)",
            {"prompt_to_repeat": task},
        ),
        "startend:end_checker": (
            f"Finish your response with this exact phrase: {phrase} No other words should follow this phrase.",
            {"end_phrase": phrase},
        ),
        "startend:quotation": ("Wrap your entire response with double quotation marks.", {}),
        "language:response_language": (
            f"Your ENTIRE response should be in {LANGUAGES[lang]} language, no other language is allowed.",
            {"language": lang},
        ),
    }


def prompts_for(task: str, count: int, rng: random.Random, conflicts: dict, offset: int) -> list[dict]:
    rows = []
    for j in range(count):
        options = phrasings(rng, task)
        ids = [rng.choice(sorted(options))]
        if j % 2:  # every other prompt combines two instructions that do not conflict
            ids.append(rng.choice(sorted(i for i in options if i not in conflicts[ids[0]])))
        if "combination:repeat_prompt" in ids:  # the request to repeat comes first, as IFEval writes it
            ids.remove("combination:repeat_prompt")
            ids.append("combination:repeat_prompt")
        text = " ".join([task] + [options[i][0] for i in ids])
        rows.append(
            {"key": offset + j, "prompt": text, "instruction_id_list": ids, "kwargs": [options[i][1] for i in ids]}
        )
    return rows


def main() -> None:
    from copy import deepcopy

    conflicts = conflict_make(deepcopy(INSTRUCTION_CONFLICTS))
    rng = random.Random(SEED)
    tasks = TASKS[:]
    rng.shuffle(tasks)
    start = 0
    for split, (n_tasks, per_task) in SPLITS.items():
        rows = []
        for i, task in enumerate(tasks[start : start + n_tasks]):
            rows += prompts_for(
                task, per_task, rng, conflicts, offset=1000 * (1 + list(SPLITS).index(split)) + per_task * i
            )
        start += n_tasks
        with open(HERE / f"{split}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        print(f"{split}: {len(rows)} prompts from {n_tasks} tasks")


if __name__ == "__main__":
    main()
