"""Problem types and per-dimension sentiment of a review, from bilingual phrase rules.

The rules live in YAML (rules/problems.yaml by default; a data engineer's file replaces it).
A type fires when a clause of the text complains about it, in one of four ways:

- one of its `phrases` occurs un-negated ("漏水", "stopped working");
- one of its `negated` words occurs negated ("没收到", "never arrived", "没有摄像头");
- a negative cue occurs un-negated ("差", "slow"), or a praise word negated ("不方便",
  "not easy"), and the nearest aspect word of the clause belongs to the type ("物流很慢");
  a clause that names no aspect borrows those of the clause before ("房间很大，就是太吵"), and
  words for the product as a whole (`general_aspects`: "这本书", "this player") are the last
  resort;
- with `model_fallback`, a clause that names aspects of that type only, and that no phrase or
  cue decided either way, scores at or below the threshold with the sentiment model ("屏幕有点
  灰蒙蒙": no list holds "灰蒙蒙").

So praise ("物流很快") never makes a tag, and negation works both ways: "不慢", "一点也不慢",
"not slow", "没有问题", "什么问题都没有" clear a complaint, "不好用", "not helpful" make one.
Aspects of no type (`other_aspects`, e.g. location) take the cues nearest them, so "位置很偏"
is not blamed on the room. Where phrases of two types overlap, the longer wins ("不值一看" is a
book's content, not its price). `ignore` phrases are never read ("出差" holds no "差").

`python -m repwatch.nlp.problems --evaluate` prints precision and recall per type on the
hand-checked set data/problem_eval.jsonl (all of it and per batch; see problem_sample.py for
how each batch was drawn).
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

from repwatch.nlp.sentiment import NEUTRAL_BAND, normalise

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
_PUNCTUATION_BREAKS = r"[，。！？；,;!?\n…~]|(?<!\d)\.(?!\d)"
_SENTENCE_BREAKS = re.compile(r"[。！？!?\n…]|(?<!\d)\.(?!\d)")
# Chinese reviews often separate clauses by a bare space ("内存小 硬盘也小").
_CJK_SPACE_BREAK = r"(?<=[\u4e00-\u9fff]) (?=[\u4e00-\u9fff])"
_HTML_TAG = re.compile(r"<[^>]{0,500}>")
# Words, with "n't" split off its verb ("doesn't" -> "does", "n't").
_ENGLISH_TOKEN = re.compile(r"n't|[a-z0-9]+?(?=n't)|[a-z0-9]+(?:'[a-z]+)?")
# Ignored text is overwritten with this private-use character: it keeps every position, matches
# no phrase and is no word, so "出差" holds no "差".
_MASK = "\ue000"


@dataclass(frozen=True)
class ProblemType:
    id: str
    names: dict[str, str]
    dimension: str | None
    phrases: dict[str, re.Pattern[str] | None]
    negated: dict[str, re.Pattern[str] | None]
    aspects: dict[str, re.Pattern[str] | None]
    general_aspects: dict[str, re.Pattern[str] | None]


@dataclass(frozen=True)
class Rules:
    version: str
    source: str
    types: tuple[ProblemType, ...]
    negators: dict[str, re.Pattern[str] | None]
    not_negating: dict[str, re.Pattern[str] | None]
    negation_window: dict[str, int]
    negation_after: dict[str, re.Pattern[str] | None]
    ignore: dict[str, re.Pattern[str] | None]
    clause_breaks: dict[str, re.Pattern[str]]
    negative_cues: dict[str, re.Pattern[str] | None]
    praise_words: dict[str, re.Pattern[str] | None]
    other_aspects: dict[str, re.Pattern[str] | None]
    model_threshold: float | None


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
    # Longest first, so "态度很差" wins over "态度" at the same position; then alphabetical, so
    # the pattern (and the rules' digest in the enrichment version) is the same in every process.
    ordered = sorted(
        {normalise(phrase) for phrase in phrases}, key=lambda phrase: (-len(phrase), phrase)
    )
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


def _compiled_lists(where: str, value: Any, *, allow_missing: bool = True) -> dict:
    lists = _phrase_lists(where, value, allow_missing=allow_missing)
    return {language: _compile(lists[language], language) for language in LANGUAGES}


def _per_language_counts(where: str, value: Any, default: dict[str, int]) -> dict[str, int]:
    counts = value or default
    if not isinstance(counts, dict) or not all(
        isinstance(counts.get(language), int) and counts[language] > 0 for language in LANGUAGES
    ):
        raise _RulesError(f"{where}: expected a positive whole number for zh and en")
    return {language: counts[language] for language in LANGUAGES}


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
    if not any(phrases.values()):
        raise _RulesError(f"{where}: phrases are empty in both languages")
    return ProblemType(
        id=type_id,
        names={language: names[language] for language in LANGUAGES},
        dimension=dimension,
        phrases={language: _compile(phrases[language], language) for language in LANGUAGES},
        negated=_compiled_lists(f"{where}: negated", spec.get("negated")),
        aspects=_compiled_lists(f"{where}: aspects", spec.get("aspects")),
        general_aspects=_compiled_lists(f"{where}: general_aspects", spec.get("general_aspects")),
    )


def _rules_from_dict(data: Any, source: str) -> Rules:
    if not isinstance(data, dict) or not isinstance(data.get("types"), dict):
        raise _RulesError("expected a mapping with a 'types' mapping")
    types = [_problem_type(str(type_id), spec) for type_id, spec in data["types"].items()]
    if not types:
        raise _RulesError("'types' is empty")
    negation = data.get("negation") or {}
    breaks = _phrase_lists("clause_breaks", data.get("clause_breaks"), allow_missing=True)
    clause_breaks = {}
    for language in LANGUAGES:
        words = _compile(breaks[language], language)
        pattern = _PUNCTUATION_BREAKS + (f"|{_CJK_SPACE_BREAK}" if language == "zh" else "")
        clause_breaks[language] = re.compile(pattern + (f"|{words.pattern}" if words else ""))
    return Rules(
        version=str(data.get("version", "unversioned")),
        source=source,
        types=tuple(sorted(types, key=lambda problem: TAXONOMY.index(problem.id))),
        negators=_compiled_lists("negation.words", negation.get("words"), allow_missing=False),
        not_negating=_compiled_lists("negation.not_negating", negation.get("not_negating")),
        negation_window=_per_language_counts(
            "negation.window", negation.get("window"), {"zh": 4, "en": 3}
        ),
        negation_after=_compiled_lists("negation.after", negation.get("after")),
        ignore=_compiled_lists("ignore", data.get("ignore")),
        clause_breaks=clause_breaks,
        negative_cues=_compiled_lists(
            "negative_cues", data.get("negative_cues"), allow_missing=False
        ),
        praise_words=_compiled_lists("praise_words", data.get("praise_words")),
        other_aspects=_compiled_lists("other_aspects", data.get("other_aspects")),
        model_threshold=_model_threshold(data.get("model_fallback")),
    )


def _model_threshold(value: Any) -> float | None:
    if value is None:
        return None
    threshold = value.get("threshold") if isinstance(value, dict) else None
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise _RulesError("model_fallback: expected a mapping with a number threshold")
    if not -1 <= threshold < 0:
        raise _RulesError("model_fallback.threshold: expected a number from -1 up to (not) 0")
    return float(threshold)


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
    # Typographic apostrophes survive NFKC; "doesn’t" must negate like "doesn't".
    return normalise(text.replace("\u2019", "'"))


def _masked(text: str, pattern: re.Pattern[str] | None) -> str:
    if pattern is None:
        return text
    return pattern.sub(lambda match: _MASK * len(match.group()), text)


@dataclass(frozen=True)
class _Text:
    """A normalised text, the same with ignored phrases masked (what rules read), and its
    clause boundaries, to place matches in clauses."""

    text: str
    masked: str
    language: str
    clause_starts: list[int]
    sentence_starts: list[int]

    def clause_of(self, position: int) -> int:
        return bisect.bisect_right(self.clause_starts, position) - 1

    def sentence_clauses(self, clause: int) -> range:
        """The clauses of the sentence holding `clause`."""
        position = self.clause_starts[clause]
        sentence = bisect.bisect_right(self.sentence_starts, position) - 1
        end = (
            self.sentence_starts[sentence + 1]
            if sentence + 1 < len(self.sentence_starts)
            else len(self.text)
        )
        return range(self.clause_of(self.sentence_starts[sentence]), self.clause_of(end - 1) + 1)

    def clause_bounds(self, index: int) -> tuple[int, int]:
        end = self.clause_starts[index + 1] if index + 1 < len(self.clause_starts) else None
        return self.clause_starts[index], len(self.text) if end is None else end


def _prepare(text: str | None, language: str, rules: Rules) -> _Text | None:
    cleaned = _clean(text)
    if not cleaned or language not in LANGUAGES:
        return None
    starts = [0] + [match.end() for match in rules.clause_breaks[language].finditer(cleaned)]
    sentences = [0] + [match.end() for match in _SENTENCE_BREAKS.finditer(cleaned)]
    masked = _masked(cleaned, rules.ignore[language])
    return _Text(cleaned, masked, language, starts, sentences)


def _negator_at(prepared: _Text, start: int, rules: Rules) -> int | None:
    """Where the nearest negator stands in the window (characters for zh, words for en) just
    before `start`, inside the same clause; None when there is none. `not_negating` words
    ("不错", "not only") do not count."""
    negators = rules.negators[prepared.language]
    if negators is None:
        return None
    clause_start = prepared.clause_starts[prepared.clause_of(start)]
    before = _masked(prepared.masked[clause_start:start], rules.not_negating[prepared.language])
    window = rules.negation_window[prepared.language]
    if prepared.language == "en":
        tokens = list(_ENGLISH_TOKEN.finditer(before))[-window:]
        positions = [token.start() for token in tokens]
        joined = " ".join(token.group() for token in tokens)
        # Offset of each token in `joined`, to map a match back to the text.
        offsets = [
            sum(len(token.group()) + 1 for token in tokens[:index]) for index in range(len(tokens))
        ]
        found = list(negators.finditer(joined))
        if not found:
            return None
        token_index = bisect.bisect_right(offsets, found[-1].start()) - 1
        return clause_start + positions[token_index]
    kept = [index for index, character in enumerate(before) if character != _MASK][-window:]
    found = list(negators.finditer("".join(before[index] for index in kept)))
    return clause_start + kept[found[-1].start()] if found else None


def _negated(prepared: _Text, start: int, rules: Rules) -> bool:
    return _negator_at(prepared, start, rules) is not None


def _negated_after(prepared: _Text, end: int, rules: Rules) -> bool:
    """A negation right after a complaint word, in the same clause ("问题都没有", "问题不大")."""
    after_words = rules.negation_after[prepared.language]
    if after_words is None:
        return False
    clause_end = prepared.clause_bounds(prepared.clause_of(max(end - 1, 0)))[1]
    return after_words.match(prepared.masked, end, clause_end) is not None


@dataclass(frozen=True)
class _Hit:
    """Evidence about one type in one clause: a complaint, or one cleared by negation."""

    type_index: int
    start: int
    end: int
    clause: int
    negated: bool = False

    def inside(self, other: _Hit) -> bool:
        return other.start <= self.start and self.end <= other.end and self != other


def _finditer(pattern: re.Pattern[str] | None, prepared: _Text) -> Iterable[re.Match[str]]:
    return pattern.finditer(prepared.masked) if pattern is not None else ()


def _direct_hits(prepared: _Text, rules: Rules) -> list[_Hit]:
    """Phrases (negated or not) and negated `negated` words, longest first, without hits that
    lie inside a longer one ("不值" inside "不值一看")."""
    language = prepared.language
    hits = []
    for index, problem in enumerate(rules.types):
        for match in _finditer(problem.phrases[language], prepared):
            negated = _negated(prepared, match.start(), rules) or _negated_after(
                prepared, match.end(), rules
            )
            hits.append(_hit(prepared, index, match, negated))
        for match in _finditer(problem.negated[language], prepared):
            if _negated(prepared, match.start(), rules):
                hits.append(_hit(prepared, index, match))
    hits.sort(key=lambda hit: (hit.start - hit.end, hit.start))
    kept: list[_Hit] = []
    for hit in hits:
        if not any(hit.inside(longer) for longer in kept):
            kept.append(hit)
    return kept


def _hit(prepared: _Text, type_index: int, match: re.Match[str], negated: bool = False) -> _Hit:
    return _Hit(type_index, match.start(), match.end(), prepared.clause_of(match.start()), negated)


_OTHER_ASPECT = -1  # an aspect of no type: it takes cues but tags nothing


@dataclass(frozen=True)
class _Aspect:
    type_index: int
    start: int
    end: int
    general: bool  # the product as a whole ("这本书", "this player"): the last resort

    def rank(self, cue: re.Match[str]) -> tuple:
        distance = max(self.start - cue.end(), cue.start() - self.end, 0)
        return (self.general, distance, self.type_index == _OTHER_ASPECT, self.type_index)


def _aspects_by_clause(prepared: _Text, rules: Rules) -> dict[int, list[_Aspect]]:
    language = prepared.language
    sources = [(_OTHER_ASPECT, rules.other_aspects[language], False)]
    for index, problem in enumerate(rules.types):
        sources.append((index, problem.aspects[language], False))
        sources.append((index, problem.general_aspects[language], True))
    found = [
        _Aspect(index, match.start(), match.end(), general)
        for index, pattern, general in sources
        for match in _finditer(pattern, prepared)
    ]
    # The longer of two overlapping aspects names the thing: "dvd player" is the product, not
    # its discs; "服务态度" is attitude, not a generic "服务".
    found.sort(key=lambda aspect: (aspect.start - aspect.end, aspect.start))
    by_clause: dict[int, list[_Aspect]] = {}
    kept: list[_Aspect] = []
    for aspect in found:
        if any(other.start <= aspect.start and aspect.end <= other.end for other in kept):
            continue
        kept.append(aspect)
        by_clause.setdefault(prepared.clause_of(aspect.start), []).append(aspect)
    return by_clause


def _cue_hits(prepared: _Text, rules: Rules, direct: list[_Hit]) -> list[_Hit]:
    """Negative cues (negated or not) and negated praise words, each given to the nearest aspect
    of its clause, or of the clause before in the same sentence when it names none
    ("房间很大，就是太吵")."""
    language = prepared.language
    cues = []  # (span start, match, negated); a negated praise word's span starts at its negator
    for match in _finditer(rules.negative_cues[language], prepared):
        negated = _negated(prepared, match.start(), rules) or _negated_after(
            prepared, match.end(), rules
        )
        cues.append((match.start(), match, negated))
    for match in _finditer(rules.praise_words[language], prepared):
        negator = _negator_at(prepared, match.start(), rules)
        if negator is not None:
            cues.append((negator, match, False))
    aspects_by_clause = _aspects_by_clause(prepared, rules)
    hits = []
    for span_start, cue, negated in cues:
        # A phrase already says what this cue is about ("质量差" holds "差", "没打扫好" holds "没").
        if any(hit.start < cue.end() and span_start < hit.end for hit in direct):
            continue
        clause = prepared.clause_of(cue.start())
        candidates = aspects_by_clause.get(clause)
        if not candidates and clause - 1 in prepared.sentence_clauses(clause):
            candidates = aspects_by_clause.get(clause - 1)
        if not candidates:
            continue
        nearest = min(candidates, key=lambda aspect: aspect.rank(cue))
        if nearest.type_index != _OTHER_ASPECT:
            hits.append(_hit(prepared, nearest.type_index, cue, negated))
    return hits


def _evidence(prepared: _Text, rules: Rules) -> list[_Hit]:
    direct = _direct_hits(prepared, rules)
    return direct + _cue_hits(prepared, rules, direct)


def _undecided_clauses(
    prepared: _Text, rules: Rules, evidence: list[_Hit]
) -> list[tuple[int, int]]:
    """(clause, type) for clauses the rules leave open: they name aspects of one type only
    (its specific aspects, or else its words for the whole product) and no location, and no
    phrase or cue decided them either way."""
    decided = {hit.clause for hit in evidence}
    undecided = []
    for clause, aspects in _aspects_by_clause(prepared, rules).items():
        if clause in decided or any(aspect.type_index == _OTHER_ASPECT for aspect in aspects):
            continue
        types = {aspect.type_index for aspect in aspects if not aspect.general} or {
            aspect.type_index for aspect in aspects
        }
        if len(types) == 1:
            undecided.append((clause, types.pop()))
    return undecided


def tag_problems(text: str | None, language: str, rules: Rules | None = None) -> list[str]:
    """Problem-type ids the text complains about, in taxonomy order (empty for praise)."""
    return tag_many([text], [language], rules)[0]


def tag_many(
    texts: Sequence[str | None], languages: Sequence[str], rules: Rules | None = None
) -> list[list[str]]:
    """tag_problems over a batch (languages as detected by repwatch.nlp.language).

    With `model_fallback` in the rules, a clause the rules leave open ("the reception is
    unpredictable" names an aspect but no listed cue) complains about its aspect's type when
    the sentiment model scores it at or below the threshold; all such clauses of the batch are
    scored at once.
    """
    rules = rules or shipped_rules()
    fired: list[set[int]] = []
    open_clauses: list[tuple[int, int, str, str]] = []  # (text number, type, clause, language)
    for number, (text, language) in enumerate(zip(texts, languages, strict=True)):
        prepared = _prepare(text, language, rules)
        if prepared is None:
            fired.append(set())
            continue
        evidence = _evidence(prepared, rules)
        fired.append({hit.type_index for hit in evidence if not hit.negated})
        if rules.model_threshold is not None:
            for clause, type_index in _undecided_clauses(prepared, rules, evidence):
                clause_text = prepared.text[slice(*prepared.clause_bounds(clause))]
                open_clauses.append((number, type_index, clause_text, language))
    if open_clauses:
        from repwatch.nlp.sentiment import shipped_model

        scores = shipped_model().scores(
            [clause for _, _, clause, _ in open_clauses],
            [language for _, _, _, language in open_clauses],
        )
        for (number, type_index, _, _), score in zip(open_clauses, scores, strict=True):
            if score <= rules.model_threshold:
                fired[number].add(type_index)
    return [[rules.types[index].id for index in sorted(types)] for types in fired]


# The rules know more than the model about a clause that complains ("漏水" is no word the model
# weighs) or denies a complaint ("物流不慢" reads negative to a bag of n-grams).
_COMPLAINT_CEILING = -0.5  # a clause with an un-negated complaint is at least this negative
_CLEARED_FLOOR = NEUTRAL_BAND  # a clause denying a complaint is at least mildly positive


def _mentions(prepared: _Text, rules: Rules, direct: list[_Hit]) -> Iterable[tuple[int, int]]:
    """(type, clause) for every word that names a type: its phrases and negated words (unless
    inside a longer phrase of another type) and its specific aspects."""
    for index, problem in enumerate(rules.types):
        for kind in (problem.phrases, problem.negated):
            for match in _finditer(kind[prepared.language], prepared):
                mention = _hit(prepared, index, match)
                if not any(mention.inside(hit) and hit.type_index != index for hit in direct):
                    yield index, mention.clause
    for clause, aspects in _aspects_by_clause(prepared, rules).items():
        for aspect in aspects:
            if aspect.type_index != _OTHER_ASPECT and not aspect.general:
                yield aspect.type_index, clause


@dataclass(frozen=True)
class _DimensionEvidence:
    """The clauses of one text that mention each dimension, and which of those complain about
    it or deny a complaint."""

    clause_texts: dict[int, str]
    mentions: dict[str, set[int]]
    complained: set[tuple[str, int]]
    cleared: set[tuple[str, int]]


def _dimension_evidence(text: str | None, language: str, rules: Rules) -> _DimensionEvidence:
    prepared = _prepare(text, language, rules)
    if prepared is None:
        return _DimensionEvidence({}, {}, set(), set())
    direct = _direct_hits(prepared, rules)
    evidence = direct + _cue_hits(prepared, rules, direct)
    mentions: dict[str, set[int]] = {}
    complained, cleared = set(), set()
    for hit in evidence:
        dimension = rules.types[hit.type_index].dimension
        if dimension is not None:
            (cleared if hit.negated else complained).add((dimension, hit.clause))
            mentions.setdefault(dimension, set()).add(hit.clause)
    for type_index, clause in _mentions(prepared, rules, direct):
        dimension = rules.types[type_index].dimension
        if dimension is not None:
            mentions.setdefault(dimension, set()).add(clause)
    clauses = sorted(set().union(*mentions.values())) if mentions else []
    clause_texts = {
        index: prepared.text[slice(*prepared.clause_bounds(index))] for index in clauses
    }
    return _DimensionEvidence(clause_texts, mentions, complained, cleared)


def _dimension_scores(
    evidence: _DimensionEvidence, clause_scores: dict[int, float]
) -> dict[str, float]:
    result = {}
    for dimension in DIMENSIONS:
        if dimension not in evidence.mentions:
            continue
        scores = []
        for clause in sorted(evidence.mentions[dimension]):
            score = float(clause_scores[clause])
            if (dimension, clause) in evidence.complained:
                score = min(score, _COMPLAINT_CEILING)
            elif (dimension, clause) in evidence.cleared:
                score = max(score, _CLEARED_FLOOR)
            scores.append(score)
        result[dimension] = round(max(-1.0, min(1.0, sum(scores) / len(scores))), 4)
    return result


def dimension_sentiments_many(
    texts: Sequence[str | None], languages: Sequence[str], rules: Rules | None = None
) -> list[dict[str, float]]:
    """Score in [-1, 1] per satisfaction dimension each text mentions; absent ones are left out.

    A dimension is mentioned in a clause by a phrase, negated word or aspect of one of its
    types, or by a complaint about it. Its score is the mean over those clauses of the sentiment
    model's clause score, capped at -0.5 where a complaint about the dimension fired, and raised
    to at least +0.25 where one was denied ("物流不慢", "no problems with the battery") and none
    fired. All clauses of all texts are scored in one batch: the model's cost is per call.
    """
    from repwatch.nlp.sentiment import shipped_model

    rules = rules or shipped_rules()
    evidence = [
        _dimension_evidence(text, language, rules)
        for text, language in zip(texts, languages, strict=True)
    ]
    clause_texts, clause_languages = [], []
    for found, language in zip(evidence, languages, strict=True):
        clause_texts.extend(found.clause_texts.values())
        clause_languages.extend([language] * len(found.clause_texts))
    scores = iter(shipped_model().scores(clause_texts, clause_languages))
    return [
        _dimension_scores(found, {clause: next(scores) for clause in found.clause_texts})
        for found in evidence
    ]


def dimension_sentiments(
    text: str | None, language: str, rules: Rules | None = None
) -> dict[str, float]:
    """`dimension_sentiments_many` for one text."""
    return dimension_sentiments_many([text], [language], rules)[0]


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


def format_report(per_type: Sequence[TypeScore], micro: TypeScore, title: str) -> str:
    def ratio(value: float | None) -> str:
        return "   -" if value is None else f"{value:.2f}"

    lines = [
        title,
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
    parser.add_argument(
        "--batch", type=int, action="append", help="only the items of this batch (repeatable)"
    )
    arguments = parser.parse_args(argv)
    if not arguments.evaluate:
        parser.error("nothing to do: pass --evaluate")
    items = load_eval_items(arguments.eval_file)
    if arguments.batch:
        items = [item for item in items if item.get("batch") in arguments.batch]
    rules = load_rules(arguments.rules)
    # All items first, then each batch on its own: a batch labelled after the rules were
    # written is the fairest measure of them.
    batches = sorted({item["batch"] for item in items if "batch" in item})
    groups = [("", items)]
    if len(batches) > 1:
        groups += [
            (f", batch {batch}", [item for item in items if item.get("batch") == batch])
            for batch in batches
        ]
    reports = []
    for label, group in groups:
        per_type, micro = evaluate(group, rules)
        source = f"{arguments.eval_file.name}{label}"
        title = f"Problem types on {len(group)} hand-checked reviews ({source})"
        reports.append(format_report(per_type, micro, title))
    print("\n\n".join(reports))


if __name__ == "__main__":
    main()
