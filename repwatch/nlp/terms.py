"""Terms for the word cloud and the "what people talk about" tables.

Chinese is cut by jieba (precise mode, its shipped dictionary); everything else by a regex
over lower-cased text. Stop words (stopwords/*.txt), numbers, punctuation and one-letter
Latin tokens are dropped. Two English content words that stand next to each other become
one phrase ("battery life") when the pair is in PHRASES, or, in `top_terms`, when it occurs
in at least PHRASE_MIN_TEXTS of the texts counted.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import jieba

STOPWORDS_DIR = Path(__file__).parent / "stopwords"
MAX_CHARS = 20_000  # longer texts are cut: keeps one pasted novel from stalling a batch
PHRASE_MIN_TEXTS = 5
PHRASES = frozenset(
    {
        ("battery", "life"),
        ("customer", "service"),
        ("customer", "support"),
        ("sound", "quality"),
        ("build", "quality"),
        ("picture", "quality"),
        ("screen", "size"),
        ("user", "interface"),
        ("delivery", "time"),
        ("money", "back"),
        ("value", "money"),
        ("front", "desk"),
        ("room", "service"),
        ("credit", "card"),
        ("phone", "call"),
        ("return", "policy"),
        ("gift", "card"),
    }
)

# Punctuation is a token too, so that a phrase never spans two clauses.
_LATIN_TOKEN = re.compile(r"[a-z][a-z']*[a-z]|[a-z]|[^\w\s']")
_HTML_TAG = re.compile(r"<[^<>]{0,200}>")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@cache
def _stop_words() -> frozenset[str]:
    words: set[str] = set()
    for path in sorted(STOPWORDS_DIR.glob("*.txt")):
        words.update(path.read_text(encoding="utf-8").split())
    return frozenset(words)


@cache
def _tokenizer() -> jieba.Tokenizer:
    logging.getLogger("jieba").setLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def _prepare(text: str) -> str:
    return _HTML_TAG.sub(" ", unicodedata.normalize("NFKC", text[:MAX_CHARS]).lower())


def _keep(token: str) -> bool:
    if not _HAS_LETTER.search(token) or token in _stop_words():
        return False
    # One Latin letter says nothing; one Han character ("贵", "慢") may.
    return len(token) > 1 or bool(_HAN.match(token))


def _content_runs(text: str | None, language: str) -> list[list[str]]:
    """Content tokens in text order, split wherever a dropped token stood between them."""
    if not text:
        return []
    prepared = _prepare(text)
    if language == "zh":
        tokens = [token.strip().strip("'") for token in _tokenizer().lcut(prepared, HMM=True)]
    else:
        tokens = [token.strip("'") for token in _LATIN_TOKEN.findall(prepared)]
    runs: list[list[str]] = [[]]
    for token in tokens:
        if not token:
            continue
        if _keep(token):
            runs[-1].append(token)
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _merge_phrases(run: list[str], phrases: Iterable[tuple[str, str]]) -> list[str]:
    merged: list[str] = []
    position = 0
    while position < len(run):
        pair = tuple(run[position : position + 2])
        if len(pair) == 2 and pair in phrases:
            merged.append(" ".join(pair))
            position += 2
        else:
            merged.append(run[position])
            position += 1
    return merged


def _bigrams(run: list[str]) -> set[tuple[str, str]]:
    return {
        (first, second)
        for first, second in zip(run, run[1:], strict=False)
        if first.isascii() and second.isascii()
    }


def terms(text: str | None, language: str) -> list[str]:
    """Terms of one text in order: content words, and listed two-word phrases as one term."""
    return [term for run in _content_runs(text, language) for term in _merge_phrases(run, PHRASES)]


def top_terms(
    texts: Sequence[str | None], languages: Sequence[str], n: int = 50
) -> list[tuple[str, int]]:
    """The n most frequent terms over texts (ties by term), counting frequent phrases too."""
    runs_per_text = [
        _content_runs(text, language) for text, language in zip(texts, languages, strict=True)
    ]
    pair_texts: Counter[tuple[str, str]] = Counter()
    for runs in runs_per_text:
        pair_texts.update(set().union(*(_bigrams(run) for run in runs)))
    phrases = PHRASES | {pair for pair, count in pair_texts.items() if count >= PHRASE_MIN_TEXTS}
    counts: Counter[str] = Counter()
    for runs in runs_per_text:
        for run in runs:
            counts.update(_merge_phrases(run, phrases))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]
