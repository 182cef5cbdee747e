"""Sentiment accuracy, speed and memory (issue 4), against SnowNLP (zh) and VADER (en).

Accuracy is binary (positive vs negative items) on the held-out split of repwatch.nlp.train,
which no model of ours trained on; for Chinese also on the hand-checked sample of that split,
whose labels say what each line itself says (the file labels are the whole review's).
SnowNLP's bundled model was trained on these very Chinese sentences, so its accuracy here is
flattering to it. VADER counts compound >= 0 as positive; our English model weighs VADER's
scores as features beside its n-grams, so that row shows what training adds to the lexicon.
Speed and memory come from a fresh process pinned to one core that loads the model and
classifies a large batch, reporting its own peak resident memory.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from repwatch.bench import Context, Row
from repwatch.nlp.train import (
    Example,
    binary_accuracy,
    load_examples,
    load_hand_checked,
    split,
)

ZH_ACCURACY_TARGET = 0.92
EN_ACCURACY_TARGET = 0.88
ITEMS_PER_SECOND_TARGET = 5_000
MEMORY_MB_TARGET = 500
LARGE_BATCH = 100_000  # texts repwatch classifies in the speed and memory run
SNOWNLP_BATCH = 1_000  # SnowNLP manages ~100 texts/s; more would only lengthen the run
SNOWNLP_PEER = "SnowNLP (trained on these zh texts)"


def held_out_polar(language: str, corpus: str | None = None) -> list[Example]:
    _training, held_out = split(load_examples(language))
    return [
        example
        for example in held_out
        if example.label in (0, 1) and (corpus is None or example.corpus == corpus)
    ]


def repwatch_scores(examples: Sequence[Example], language: str) -> list[float]:
    from repwatch.nlp.sentiment import shipped_model

    texts = [example.text for example in examples]
    return list(shipped_model().scores(texts, [language] * len(texts)))


def snownlp_scores(examples: Sequence[Example]) -> list[float]:
    from snownlp import SnowNLP

    return [SnowNLP(example.text).sentiments for example in examples]


def vader_scores(examples: Sequence[Example]) -> list[float]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return [analyzer.polarity_scores(example.text)["compound"] for example in examples]


def _classifier(engine: str) -> Callable[[list[str]], object]:
    if engine == "repwatch":
        from repwatch.nlp.sentiment import analyse_many

        return analyse_many
    from snownlp import SnowNLP

    return lambda texts: [SnowNLP(text).sentiments for text in texts]


def worker(engine: str, count: int) -> dict[str, float]:
    """Runs in the measured process: items/s over `count` held-out texts, and peak memory."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    languages = ("zh", "en") if engine == "repwatch" else ("zh",)
    pool = [example.text for language in languages for example in held_out_polar(language)]
    texts = [pool[index % len(pool)] for index in range(count)]
    classify = _classifier(engine)
    classify(texts[:10])  # loads the model outside the timing
    started = time.perf_counter()
    classify(texts)
    seconds = time.perf_counter() - started
    return {"items_per_second": count / seconds, "peak_mb": peak_resident_mb()}


def peak_resident_mb() -> float:
    """This process's peak resident memory. VmHWM starts afresh at exec; ru_maxrss does not
    (a child forked from a large parent reports the parent's size), so VmHWM comes first."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_in_subprocess(engine: str, count: int) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-m", "repwatch.bench.sentiment", engine, str(count)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.splitlines()[-1])


def _median_runs(engine: str, count: int, runs: int) -> dict[str, float]:
    results = [measure_in_subprocess(engine, count) for _ in range(runs)]
    return {
        key: statistics.median(result[key] for result in results)
        for key in ("items_per_second", "peak_mb")
    }


def accuracy_row(corpus: str, language: str, target: float, peer: str) -> Row:
    """Our binary accuracy next to the peer's on the same held-out items of one corpus."""
    examples = held_out_polar(language, None if language == "zh" else corpus)
    return compared_accuracy_row(f"held-out {corpus}", examples, language, target, peer)


def hand_checked_polar() -> list[Example]:
    return [example for example in load_hand_checked() if example.label in (0, 1)]


def compared_accuracy_row(
    name: str, examples: Sequence[Example], language: str, target: float, peer: str
) -> Row:
    if language == "zh":
        peer_accuracy = binary_accuracy(snownlp_scores(examples), examples, 0.5)
    else:
        peer_accuracy = binary_accuracy(vader_scores(examples), examples, 0.0)
    return Row(
        f"sentiment accuracy {language}, {name} (n={len(examples)})",
        binary_accuracy(repwatch_scores(examples, language), examples, 0.0),
        "share",
        target,
        ">=",
        peer,
        peer_accuracy,
    )


def benchmarks(context: Context) -> list[Row]:
    ours = _median_runs("repwatch", LARGE_BATCH, context.runs)
    snownlp = _median_runs("snownlp", SNOWNLP_BATCH, context.runs)
    return [
        accuracy_row("SnowNLP corpus", "zh", ZH_ACCURACY_TARGET, SNOWNLP_PEER),
        compared_accuracy_row(
            "hand-checked held-out sample",
            hand_checked_polar(),
            "zh",
            ZH_ACCURACY_TARGET,
            SNOWNLP_PEER,
        ),
        accuracy_row("amazon", "en", EN_ACCURACY_TARGET, "VADER"),
        accuracy_row("movie", "en", EN_ACCURACY_TARGET, "VADER"),
        Row(
            "sentiment items/s, one core, batches (zh+en)",
            ours["items_per_second"],
            "items/s",
            ITEMS_PER_SECOND_TARGET,
            ">=",
            "SnowNLP (zh)",
            snownlp["items_per_second"],
        ),
        Row(
            f"sentiment peak memory, load + classify {LARGE_BATCH:,} texts",
            ours["peak_mb"],
            "MB",
            MEMORY_MB_TARGET,
            "<=",
            f"SnowNLP, {SNOWNLP_BATCH:,} texts",
            snownlp["peak_mb"],
        ),
    ]


if __name__ == "__main__":
    print(json.dumps(worker(sys.argv[1], int(sys.argv[2]))))
