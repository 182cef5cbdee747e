"""Problem types and per-dimension sentiment of a review, from bilingual phrase rules.

The rules live in YAML (rules/problems.yaml by default; a data engineer's file replaces it).
A type fires in a clause when one of its complaint phrases occurs there un-negated, or when
an un-negated negative cue ("差", "slow") occurs there and the nearest aspect word of the
clause ("物流", "shipping") belongs to the type. So praise ("物流很快") never makes a problem
tag: only negative-leaning mentions do. Negation looks a few characters (zh) or words (en)
back inside the clause: "不慢", "一点也不慢", "not slow", "no problems", "never late".

`python -m repwatch.nlp.problems --evaluate` prints precision and recall per type on the
hand-checked set data/problem_eval.jsonl.
"""

from __future__ import annotations

import argparse
import bisect
import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from repwatch.nlp.sentiment import normalise

RULES_PATH = Path(__file__).parent / "rules" / "problems.yaml"
EVAL_PATH = Path(__file__).parent / "data" / "problem_eval.jsonl"
TAXONOMY = (
    "product_quality",
    "product_function",
    "service_attitude",
    "slow_feedback",
    "service_process",
    "delivery_logistics",
    "price",
    "false_advertising",
    "fake_or_malicious",
)
DIMENSIONS = ("quality", "service", "delivery", "price", "function")
LANGUAGES = ("zh", "en")
_PUNCTUATION_BREAKS = r"[，。！？；,;!?\n…]|(?<!\d)\.(?!\d)"
_HTML_TAG = re.compile(r"<[^>]{0,500}>")
_ENGLISH_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|n't")


@dataclass(frozen=True)
class ProblemType:
    id: str
    names: dict[str, str]
    dimension: str | None
    phrases: dict[str, re.Pattern[str] | None]
    aspects: dict[str, re.Pattern[str] | None]


@dataclass(frozen=True)
class Rules:
    version: str
    source: str
    types: tuple[ProblemType, ...]
    negators: dict[str, re.Pattern[str] | None]
    not_negating: dict[str, re.Pattern[str] | None]
    negation_window: dict[str, int]
    clause_breaks: dict[str, re.Pattern[str]]
    negative_cues: dict[str, re.Pattern[str] | None]


class _RulesError(ValueError):
    pass


def _phrase_pattern(phrase: str, language: str) -> str:
    """Regex for one phrase; a trailing * lets an English word continue."""
    stem, open_ended = (phrase[:-1], True) if phrase.endswith("*") else (phrase, False)
    body = re.escape(stem)
    if language != "en":
        return body
    start = r"\b" if stem[:1].isalnum() else ""
    end = r"\w*" if open_ended else (r"\b" if stem[-1:].isalnum() else "")
    return start + body + end


def _compile(phrases: Sequence[str], language: str) -> re.Pattern[str] | None:
    if not phrases:
        return None
    # Longest first, so "态度很差" wins over "态度" at the same position.
    ordered = sorted({normalise(phrase) for phrase in phrases}, key=len, reverse=True)
    return re.compile("|".join(_phrase_pattern(phrase, language) for phrase in ordered))


def _phrase_lists(where: str, value: Any, *, allow_missing: bool = False) -> dict[str, list[str]]:
    """{"zh": [...], "en": [...]} checked: both languages, lists of non-empty strings."""
    if value is None and allow_missing:
        return {language: [] for language in LANGUAGES}
    if not isinstance(value, dict):
        raise _RulesError(f"{where}: expected a mapping with keys zh and en")
    lists = {}
    for language in LANGUAGES:
        phrases = value.get(language) or []
        if not isinstance(phrases, list) or not all(
            isinstance(phrase, str) and phrase.strip("* ") for phrase in phrases
        ):
            raise _RulesError(f"{where}.{language}: expected a list of non-empty strings")
        lists[language] = phrases
    return lists


def _problem_type(type_id: str, spec: Any) -> ProblemType:
    where = f"type {type_id!r}"
    if type_id not in TAXONOMY:
        raise _RulesError(f"{where}: unknown type; known types: {', '.join(TAXONOMY)}")
    if not isinstance(spec, dict):
        raise _RulesError(f"{where}: expected a mapping with names, dimension, phrases, aspects")
    names = spec.get("names")
    if not isinstance(names, dict) or not all(
        isinstance(names.get(language), str) and names[language] for language in LANGUAGES
    ):
        raise _RulesError(f"{where}: names needs a zh and an en display name")
    dimension = spec.get("dimension")
    if dimension is not None and dimension not in DIMENSIONS:
        raise _RulesError(
            f"{where}: dimension {dimension!r} is not one of {', '.join(DIMENSIONS)} (or null)"
        )
    phrases = _phrase_lists(f"{where}: phrases", spec.get("phrases"))
    aspects = _phrase_lists(f"{where}: aspects", spec.get("aspects"), allow_missing=True)
    if not any(phrases.values()):
        raise _RulesError(f"{where}: phrases are empty in both languages")
    return ProblemType(
        id=type_id,
        names={language: names[language] for language in LANGUAGES},
        dimension=dimension,
        phrases={language: _compile(phrases[language], language) for language in LANGUAGES},
        aspects={language: _compile(aspects[language], language) for language in LANGUAGES},
    )


def _rules_from_dict(data: Any, source: str) -> Rules:
    if not isinstance(data, dict) or not isinstance(data.get("types"), dict):
        raise _RulesError("expected a mapping with a 'types' mapping")
    types = [_problem_type(str(type_id), spec) for type_id, spec in data["types"].items()]
    if not types:
        raise _RulesError("'types' is empty")
    negation = data.get("negation") or {}
    window = negation.get("window") or {"zh": 4, "en": 3}
    if not all(
        isinstance(window.get(language), int) and window[language] > 0 for language in LANGUAGES
    ):
        raise _RulesError("negation.window: expected a positive whole number for zh and en")
    negators = _phrase_lists("negation.words", negation.get("words"))
    not_negating = _phrase_lists(
        "negation.not_negating", negation.get("not_negating"), allow_missing=True
    )
    breaks = _phrase_lists("clause_breaks", data.get("clause_breaks"), allow_missing=True)
    cues = _phrase_lists("negative_cues", data.get("negative_cues"))
    clause_breaks = {}
    for language in LANGUAGES:
        words = _compile(breaks[language], language)
        pattern = _PUNCTUATION_BREAKS + (f"|{words.pattern}" if words else "")
        clause_breaks[language] = re.compile(pattern)
    return Rules(
        version=str(data.get("version", "unversioned")),
        source=source,
        types=tuple(sorted(types, key=lambda problem: TAXONOMY.index(problem.id))),
        negators={language: _compile(negators[language], language) for language in LANGUAGES},
        not_negating={
            language: _compile(not_negating[language], language) for language in LANGUAGES
        },
        negation_window={language: window[language] for language in LANGUAGES},
        clause_breaks=clause_breaks,
        negative_cues={language: _compile(cues[language], language) for language in LANGUAGES},
    )


def load_rules(path: Path | None = None) -> Rules:
    """Rules from a YAML file (the shipped rules/problems.yaml by default).

    A wrong file raises ValueError naming the file, the type and what is wrong.
    """
    path = Path(path) if path is not None else RULES_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot read problem rules: {error}") from error
    try:
        return _rules_from_dict(data, str(path))
    except _RulesError as error:
        raise ValueError(f"{path}: {error}") from None
    except re.error as error:
        raise ValueError(f"{path}: a phrase does not compile: {error}") from None


@cache
def shipped_rules() -> Rules:
    return load_rules()


def _clean(text: str | None) -> str:
    if not text:
        return ""
    if "<" in text or "&" in text:
        text = html.unescape(_HTML_TAG.sub(" ", text))
    return normalise(text)


@dataclass(frozen=True)
class _Text:
    """A normalised text with its clause boundaries, to place matches in clauses."""

    text: str
    language: str
    clause_starts: list[int]

    def clause_of(self, position: int) -> int:
        return bisect.bisect_right(self.clause_starts, position) - 1

    def clause_bounds(self, index: int) -> tuple[int, int]:
        end = self.clause_starts[index + 1] if index + 1 < len(self.clause_starts) else None
        return self.clause_starts[index], len(self.text) if end is None else end


def _prepare(text: str | None, language: str, rules: Rules) -> _Text | None:
    cleaned = _clean(text)
    if not cleaned or language not in LANGUAGES:
        return None
    starts = [0] + [match.end() for match in rules.clause_breaks[language].finditer(cleaned)]
    return _Text(cleaned, language, starts)


def _negated(prepared: _Text, start: int, rules: Rules) -> bool:
    """A negator in the window just before `start`, inside the same clause."""
    negators = rules.negators[prepared.language]
    if negators is None:
        return False
    clause_start = prepared.clause_starts[prepared.clause_of(start)]
    before = prepared.text[clause_start:start]
    window = rules.negation_window[prepared.language]
    if prepared.language == "en":
        words = _ENGLISH_WORD.findall(before.replace("n't", " n't"))
        before = " ".join(words[-window:])
    else:
        before = before[-window:]
    exceptions = rules.not_negating[prepared.language]
    if exceptions is not None:
        before = exceptions.sub(" ", before)
    return negators.search(before) is not None


@dataclass(frozen=True)
class _Hit:
    type_index: int
    start: int
    end: int
    clause: int


def _matches(prepared: _Text, rules: Rules, kind: str, *, skip_negated: bool) -> Iterable[_Hit]:
    for type_index, problem in enumerate(rules.types):
        pattern = getattr(problem, kind)[prepared.language]
        if pattern is None:
            continue
        for match in pattern.finditer(prepared.text):
            if skip_negated and _negated(prepared, match.start(), rules):
                continue
            yield _Hit(type_index, match.start(), match.end(), prepared.clause_of(match.start()))


def _complaint_hits(prepared: _Text, rules: Rules) -> list[_Hit]:
    """Un-negated complaint phrases, and un-negated cues given to the nearest aspect."""
    hits = list(_matches(prepared, rules, "phrases", skip_negated=True))
    cues = rules.negative_cues[prepared.language]
    if cues is None:
        return hits
    aspects_by_clause: dict[int, list[_Hit]] = {}
    for aspect in _matches(prepared, rules, "aspects", skip_negated=False):
        aspects_by_clause.setdefault(aspect.clause, []).append(aspect)
    for cue in cues.finditer(prepared.text):
        clause = prepared.clause_of(cue.start())
        candidates = aspects_by_clause.get(clause)
        if not candidates or _negated(prepared, cue.start(), rules):
            continue
        nearest = min(
            candidates,
            key=lambda aspect: (
                max(aspect.start - cue.end(), cue.start() - aspect.end, 0),
                aspect.type_index,
            ),
        )
        hits.append(_Hit(nearest.type_index, cue.start(), cue.end(), clause))
    return hits


def tag_problems(text: str | None, language: str, rules: Rules | None = None) -> list[str]:
    """Problem-type ids the text complains about, in taxonomy order (empty for praise)."""
    rules = rules or shipped_rules()
    prepared = _prepare(text, language, rules)
    if prepared is None:
        return []
    fired = {hit.type_index for hit in _complaint_hits(prepared, rules)}
    return [rules.types[index].id for index in sorted(fired)]


def tag_many(
    texts: Sequence[str | None], languages: Sequence[str], rules: Rules | None = None
) -> list[list[str]]:
    """tag_problems over a batch (languages as detected by repwatch.nlp.language)."""
    rules = rules or shipped_rules()
    return [
        tag_problems(text, language, rules) for text, language in zip(texts, languages, strict=True)
    ]


_COMPLAINT_CEILING = -0.5  # a clause with an un-negated complaint is at least this negative


def dimension_sentiments(
    text: str | None, language: str, rules: Rules | None = None
) -> dict[str, float]:
    """Score in [-1, 1] per satisfaction dimension the text mentions; absent ones are left out.

    A dimension's score is the mean over the clauses that mention it (by a phrase or an aspect
    word of one of its types) of the sentiment model's clause score, capped at -0.5 for clauses
    where a complaint about that dimension fired (the model misses "漏水" as a complaint).
    """
    from repwatch.nlp.sentiment import shipped_model

    rules = rules or shipped_rules()
    prepared = _prepare(text, language, rules)
    if prepared is None:
        return {}
    mentions: dict[str, set[int]] = {}
    for kind in ("phrases", "aspects"):
        for hit in _matches(prepared, rules, kind, skip_negated=False):
            dimension = rules.types[hit.type_index].dimension
            if dimension is not None:
                mentions.setdefault(dimension, set()).add(hit.clause)
    if not mentions:
        return {}
    complained = {
        (rules.types[hit.type_index].dimension, hit.clause)
        for hit in _complaint_hits(prepared, rules)
    }
    clauses = sorted(set().union(*mentions.values()))
    clause_texts = [prepared.text[slice(*prepared.clause_bounds(index))] for index in clauses]
    clause_scores = dict(
        zip(clauses, shipped_model().scores(clause_texts, [language] * len(clauses)), strict=True)
    )
    result = {}
    for dimension in DIMENSIONS:
        if dimension not in mentions:
            continue
        scores = [
            min(float(clause_scores[clause]), _COMPLAINT_CEILING)
            if (dimension, clause) in complained
            else float(clause_scores[clause])
            for clause in sorted(mentions[dimension])
        ]
        result[dimension] = round(max(-1.0, min(1.0, sum(scores) / len(scores))), 4)
    return result


# Evaluation on the hand-checked set.


@dataclass(frozen=True)
class TypeScore:
    type_id: str
    expected: int
    predicted: int
    correct: int

    @property
    def precision(self) -> float | None:
        return self.correct / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.correct / self.expected if self.expected else None


def load_eval_items(path: Path = EVAL_PATH) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def evaluate(
    items: Sequence[dict[str, Any]], rules: Rules | None = None
) -> tuple[list[TypeScore], TypeScore]:
    """(score per type in taxonomy order, micro-averaged score)."""
    predictions = tag_many(
        [item["text"] for item in items], [item["language"] for item in items], rules
    )
    per_type = []
    for type_id in TAXONOMY:
        expected = [type_id in item["tags"] for item in items]
        predicted = [type_id in tags for tags in predictions]
        per_type.append(
            TypeScore(
                type_id,
                expected=sum(expected),
                predicted=sum(predicted),
                correct=sum(e and p for e, p in zip(expected, predicted, strict=True)),
            )
        )
    micro = TypeScore(
        "micro",
        expected=sum(score.expected for score in per_type),
        predicted=sum(score.predicted for score in per_type),
        correct=sum(score.correct for score in per_type),
    )
    return per_type, micro


def format_report(per_type: Sequence[TypeScore], micro: TypeScore, item_count: int) -> str:
    def ratio(value: float | None) -> str:
        return "   -" if value is None else f"{value:.2f}"

    lines = [
        f"Problem types on {item_count} hand-checked reviews ({EVAL_PATH.name})",
        f"{'type':<20} {'expected':>8} {'tagged':>7} {'correct':>7} {'precision':>9} {'recall':>7}",
    ]
    for score in [*per_type, micro]:
        lines.append(
            f"{score.type_id:<20} {score.expected:>8} {score.predicted:>7} {score.correct:>7}"
            f" {ratio(score.precision):>9} {ratio(score.recall):>7}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m repwatch.nlp.problems")
    parser.add_argument("--evaluate", action="store_true", help="print precision and recall")
    parser.add_argument("--rules", type=Path, help="a rules file instead of the shipped one")
    parser.add_argument("--eval-file", type=Path, default=EVAL_PATH)
    arguments = parser.parse_args(argv)
    if not arguments.evaluate:
        parser.error("nothing to do: pass --evaluate")
    items = load_eval_items(arguments.eval_file)
    per_type, micro = evaluate(items, load_rules(arguments.rules))
    print(format_report(per_type, micro, len(items)))


if __name__ == "__main__":
    main()
