"""Text sentiment for Chinese and English reviews: a label and a score in [-1, 1].

The model is one regularised, naive-Bayes-weighted logistic regression (NB-LR) per
language over TF-IDF n-grams (characters for Chinese; negation-marked words and characters
for English). The English model also weighs VADER's lexicon scores as four extra features
(stacking): the lexicon knows sentiment words our small training set never saw. It is
trained by `repwatch.nlp.train` and shipped as plain numbers in models/sentiment.json.gz,
so nothing is unpickled or downloaded at run time.
"""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from repwatch.nlp.language import detect_languages

MODEL_PATH = Path(__file__).parent / "models" / "sentiment.json.gz"
LANGUAGES = ("zh", "en")
NEUTRAL_BAND = 0.25  # |score| below this is neutral
BATCH_SIZE = 4096  # texts featurised at once: bounds memory on large inputs
MAX_CHARS = 2000  # longer texts are cut: the opening carries the verdict, and it bounds cost

_WORD_OR_SCOPE_END = re.compile(r"\w[\w']*|[.,:;!?]")
_NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "cannot",
        "nothing",
        "none",
        "nobody",
        "neither",
        "nor",
        "without",
        "hardly",
        "barely",
        "nowhere",
    ]
)
# A negation reaches to the next punctuation or contrast word: "not cheap, but good".
_SCOPE_ENDS = frozenset(".,:;!?") | {"but", "however", "although", "though"}


def mark_negation(text: str) -> str:
    """Words after a negation, up to the end of its scope, get a "neg_" prefix, so "not
    good" and "good" never share a feature (Das & Chen 2001, Pang et al. 2002)."""
    tokens = []
    negated = False
    for token in _WORD_OR_SCOPE_END.findall(text):
        if token in _SCOPE_ENDS:
            negated = False
            tokens.append(token)
            continue
        tokens.append("neg_" + token if negated else token)
        if token in _NEGATIONS or token.endswith("n't"):
            negated = True
    return " ".join(tokens)


@cache
def vader_analyser() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


VADER_SCORES = ("compound", "pos", "neg", "neu")


def vader_features(normalised_texts: Sequence[str]) -> np.ndarray:
    """VADER's scores per text (Hutto & Gilbert 2014): its lexicon with negation, booster and
    contrast rules, one row of VADER_SCORES per text."""
    analyser = vader_analyser()
    rows = [analyser.polarity_scores(text) for text in normalised_texts]
    return np.array(
        [[row[name] for name in VADER_SCORES] for row in rows], dtype=np.float64
    ).reshape(len(rows), len(VADER_SCORES))


# Feature extractors per language; training and inference build them from these two tables.
VECTORIZER_SETTINGS: dict[str, tuple[dict[str, Any], ...]] = {
    "zh": ({"analyzer": "char", "ngram_range": (1, 3)},),
    "en": (
        {
            "analyzer": "word",
            "ngram_range": (1, 3),
            "preprocessor": mark_negation,
            "token_pattern": r"\S+",
        },
        {"analyzer": "char_wb", "ngram_range": (2, 4)},
    ),
}
# Dense features beside the n-grams, weighed by the same regression.
LEXICON_FEATURES: dict[str, Callable[[Sequence[str]], np.ndarray]] = {"en": vader_features}


def normalise(text: str | None) -> str:
    """The form a text is featurised, deduplicated and split by: NFKC, lower case, one space."""
    if not text:
        return ""
    return " ".join(unicodedata.normalize("NFKC", text[:MAX_CHARS]).lower().split())


def make_vectorizer(settings: dict[str, Any], **overrides: Any) -> TfidfVectorizer:
    return TfidfVectorizer(
        lowercase=False, sublinear_tf=True, dtype=np.float32, **settings, **overrides
    )


def lexicon_features(language: str, normalised_texts: Sequence[str]) -> np.ndarray:
    """The dense features of a language; no columns for a language without a lexicon."""
    extract = LEXICON_FEATURES.get(language)
    if extract is None:
        return np.zeros((len(normalised_texts), 0))
    return extract(normalised_texts)


@dataclass(frozen=True)
class LanguageModel:
    language: str
    vectorizers: tuple[TfidfVectorizer, ...]
    coefficients: np.ndarray
    lexicon_coefficients: np.ndarray
    intercept: float

    def scores(self, normalised_texts: Sequence[str]) -> np.ndarray:
        features = scipy.sparse.hstack(
            [vectorizer.transform(normalised_texts) for vectorizer in self.vectorizers],
            format="csr",
        )
        margin = (
            features @ self.coefficients
            + lexicon_features(self.language, normalised_texts) @ self.lexicon_coefficients
            + self.intercept
        )
        # 2p - 1 of the logistic probability, i.e. tanh of half the margin.
        return np.tanh(margin / 2.0)


def language_model_from_dict(language: str, data: dict[str, Any]) -> LanguageModel:
    vectorizers = []
    for settings, part in zip(VECTORIZER_SETTINGS[language], data["parts"], strict=True):
        vectorizer = make_vectorizer(settings)
        vectorizer.vocabulary_ = {term: index for index, term in enumerate(part["terms"])}
        vectorizer.idf_ = np.asarray(part["idf"], dtype=np.float32)
        vectorizers.append(vectorizer)
    return LanguageModel(
        language=language,
        vectorizers=tuple(vectorizers),
        coefficients=np.asarray(data["coefficients"], dtype=np.float32),
        lexicon_coefficients=np.asarray(data["lexicon_coefficients"], dtype=np.float64),
        intercept=float(data["intercept"]),
    )


@dataclass(frozen=True)
class SentimentModel:
    version: str
    languages: dict[str, LanguageModel]

    def scores(
        self, texts: Sequence[str | None], languages: Sequence[str] | None = None
    ) -> np.ndarray:
        """Score in [-1, 1] per text; 0 for empty text and languages without a model."""
        languages = list(languages) if languages is not None else detect_languages(texts)
        normalised = [normalise(text) for text in texts]
        result = np.zeros(len(normalised), dtype=np.float64)
        for language, model in self.languages.items():
            positions = [
                index
                for index, (text, text_language) in enumerate(
                    zip(normalised, languages, strict=True)
                )
                if text_language == language and text
            ]
            for start in range(0, len(positions), BATCH_SIZE):
                batch = positions[start : start + BATCH_SIZE]
                result[batch] = model.scores([normalised[index] for index in batch])
        return result


def load_model(path: Path = MODEL_PATH) -> SentimentModel:
    data = json.loads(gzip.decompress(path.read_bytes()))
    return SentimentModel(
        version=data["version"],
        languages={
            language: language_model_from_dict(language, data["languages"][language])
            for language in LANGUAGES
        },
    )


@cache
def shipped_model() -> SentimentModel:
    return load_model()


def label_for(score: float) -> str:
    if score >= NEUTRAL_BAND:
        return "positive"
    if score <= -NEUTRAL_BAND:
        return "negative"
    return "neutral"


@dataclass(frozen=True)
class Sentiment:
    label: str
    score: float


def analyse_many(
    texts: Sequence[str | None], languages: Sequence[str] | None = None
) -> list[Sentiment]:
    """Sentiment per text with the shipped model; pass languages if already detected."""
    scores = shipped_model().scores(texts, languages)
    return [Sentiment(label_for(score), round(float(score), 4)) for score in scores]


def analyse(text: str | None) -> Sentiment:
    return analyse_many([text])[0]


# A rating this far from the text's verdict is a disagreement worth showing in the report.
_RATING_SCORES = {1: -1.0, 2: -0.5, 3: 0.0, 4: 0.5, 5: 1.0}
_TEXT_WEIGHT = 0.5
_CLEAR_TEXT = 0.5  # text score needed before the text may contradict the stars


def combine_with_rating(score: float, rating: int | None) -> tuple[str, float, bool]:
    """(label, combined score, disagreement) from a text score and an optional 1-5 star rating.

    Disagreement: a good rating (4-5) with a clearly negative text, or a poor one (1-2) with
    clearly positive text.
    """
    score = max(-1.0, min(1.0, float(score)))
    if rating not in _RATING_SCORES:
        return label_for(score), score, False
    rating_score = _RATING_SCORES[rating]
    combined = _TEXT_WEIGHT * score + (1 - _TEXT_WEIGHT) * rating_score
    disagreement = (rating >= 4 and score <= -_CLEAR_TEXT) or (rating <= 2 and score >= _CLEAR_TEXT)
    if disagreement:
        # The words are more specific than the stars (wrong-button ratings, sarcasm in stars).
        combined = score
    return label_for(combined), round(combined, 4), disagreement
