"""Enrichment: what each review says, from its text (and its stars when it has some).

`classify` is the pure part (records in, annotations out) behind `repwatch classify`;
`enrich` stores annotations in `int_reviews_enriched` for reviews that have none yet, or
whose text, day or enrichment version changed, and redoes a range after a model or rule
change. Every stored row records the enrichment version that produced it, and the review's
published day: the marts read a period's annotations by it, so a run skips the rest of the
table. Reviews without a date belong to no period and are enriched once they have one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from repwatch.config import Config

ENRICHED_TABLE = "int_reviews_enriched"
_KEY = ("source", "target_id", "review_id")
ENRICHED_DDL = f"""
create table if not exists {ENRICHED_TABLE} (
    source varchar not null,
    target_id varchar not null,
    review_id varchar not null,
    -- the review's day in the report time zone (int_reviews.published_day)
    published_day date,
    enrichment_version varchar not null,
    text_hash varchar not null,
    language varchar not null,
    sentiment varchar not null,
    sentiment_score double not null,
    text_sentiment varchar not null,
    text_score double not null,
    rating_disagreement boolean not null,
    problems varchar[] not null,
    dimensions json,
    flags varchar[] not null,
    terms varchar[],
    enriched_at timestamptz not null,
    primary key (source, target_id, review_id)
);
-- Tables enriched before terms were stored gain the column (null until re-enriched).
alter table {ENRICHED_TABLE} add column if not exists terms varchar[];
"""


def ensure_enriched_table(con) -> None:
    """Create the table, or bring an older one up to date: one stored before annotations had
    a day gets each review's day, and loses the annotations of undated reviews, which no period
    reads and whose missing day would keep every scan from skipping old rows."""
    stored = {
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns where table_name = ?",
            [ENRICHED_TABLE],
        ).fetchall()
    }
    con.execute(ENRICHED_DDL)
    if not stored or "published_day" in stored:
        return
    con.execute(f"alter table {ENRICHED_TABLE} add column published_day date")
    con.execute(
        f"""
        update {ENRICHED_TABLE} as enriched
        set published_day = reviews.published_day
        from int_reviews as reviews
        where
            enriched.source = reviews.source
            and enriched.target_id = reviews.target_id
            and enriched.review_id = reviews.review_id
        """
    )
    con.execute(f"delete from {ENRICHED_TABLE} where published_day is null")


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def enrichment_version(rules_path: Path | None = None) -> str:
    """The sentiment model's version plus the rules in use; stored on every row."""
    from repwatch.nlp.sentiment import shipped_model

    parts = [shipped_model().version]
    if _available("repwatch.nlp.problems"):
        from repwatch.nlp.problems import load_rules

        parts.append(f"rules-{_digest(repr(load_rules(rules_path)))[:8]}")
    if _available("repwatch.nlp.flags"):
        parts.append("flags-1")
    parts.append("terms-1")
    return "+".join(parts)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text_of(item: dict) -> str:
    """Title and body together: a title often carries the verdict ("Terrible!")."""
    return " ".join(part for part in (item.get("title"), item.get("text")) if part)


def classify(items: Sequence[dict], *, rules_path: Path | None = None) -> list[dict]:
    """One annotation per item: language, sentiment (text combined with rating), the text's
    own sentiment, rating disagreement, problem types, per-dimension sentiment, flags and the
    terms the word clouds count."""
    from repwatch.nlp.language import detect_languages
    from repwatch.nlp.sentiment import analyse_many, combine_with_rating
    from repwatch.nlp.terms import terms

    texts = [_text_of(item) for item in items]
    languages = detect_languages(texts)
    sentiments = analyse_many(texts, languages)
    problems, dimensions = _problems(texts, languages, rules_path)
    flags = _flags(items, languages, sentiments)
    annotations = []
    for number, item in enumerate(items):
        text_sentiment = sentiments[number]
        label, score, disagreement = combine_with_rating(text_sentiment.score, item.get("rating"))
        annotations.append(
            {
                "language": languages[number],
                "sentiment": label,
                "sentiment_score": score,
                "text_sentiment": text_sentiment.label,
                "text_score": text_sentiment.score,
                "rating_disagreement": disagreement,
                "problems": problems[number],
                "dimensions": dimensions[number],
                "flags": flags[number],
                "terms": terms(texts[number], languages[number]),
            }
        )
    return annotations


def _problems(
    texts: list[str], languages: list[str], rules_path: Path | None
) -> tuple[list[list[str]], list[dict]]:
    if not _available("repwatch.nlp.problems"):
        return [[] for _ in texts], [{} for _ in texts]
    from repwatch.nlp.problems import dimension_sentiments_many, load_rules, tag_many

    rules = load_rules(rules_path)
    return tag_many(texts, languages, rules), dimension_sentiments_many(texts, languages, rules)


def _flags(items: Sequence[dict], languages: list[str], sentiments) -> list[list[str]]:
    if not _available("repwatch.nlp.flags"):
        return [[] for _ in items]
    from repwatch.nlp.flags import flag_batch

    enriched = [
        {**item, "language": language, "sentiment_score": sentiment.score}
        for item, language, sentiment in zip(items, languages, sentiments, strict=True)
    ]
    return flag_batch(enriched)


def read_items(lines: Iterable[str]) -> list[dict]:
    """`repwatch classify` input: JSON objects with `text` (and optional `title`, `rating`),
    or plain text lines. Blank lines are skipped."""
    items = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        try:
            value = json.loads(stripped) if stripped.startswith("{") else None
        except ValueError:
            value = None
        if isinstance(value, dict):
            rating = value.get("rating")
            value["rating"] = rating if isinstance(rating, int) and 1 <= rating <= 5 else None
            items.append(value)
        else:
            items.append({"text": stripped, "rating": None})
    return items


def _pending(
    con, version: str, *, start: date | None, end: date | None, everything: bool
) -> pd.DataFrame:
    """Dated reviews to enrich: in the period when given; else those never enriched, or whose
    text, day or enrichment version changed since. In day order, as they are stored."""
    where = "true"
    parameters: list = []
    if start is not None and end is not None:
        where = "reviews.published_day between ? and ?"
        parameters = [start, end]
    elif not everything:
        where = (
            "enriched.review_id is null or enriched.enrichment_version <> ? "
            "or enriched.published_day is distinct from reviews.published_day "
            "or enriched.text_hash <> sha256(coalesce(reviews.title, '') || chr(10) || "
            "coalesce(reviews.text, ''))"
        )
        parameters = [version]
    return con.execute(
        f"""
        select reviews.source, reviews.target_id, reviews.review_id, reviews.published_day,
            reviews.title, reviews.text, reviews.rating, reviews.author, reviews.published_at
        from int_reviews as reviews
        left join {ENRICHED_TABLE} as enriched
            using (source, target_id, review_id)
        where reviews.published_day is not null and ({where})
        order by reviews.published_day, reviews.source, reviews.target_id, reviews.review_id
        """,
        parameters,
    ).df()


def _store(con, rows: pd.DataFrame, annotations: list[dict], version: str) -> None:
    now = datetime.now(UTC)
    frame = pd.DataFrame(
        {
            "source": rows["source"],
            "target_id": rows["target_id"],
            "review_id": rows["review_id"],
            "published_day": rows["published_day"],
            "enrichment_version": version,
            "text_hash": [
                _digest(f"{title or ''}\n{text or ''}")
                for title, text in zip(rows["title"], rows["text"], strict=True)
            ],
            **{
                name: [annotation[name] for annotation in annotations]
                for name in (
                    "language",
                    "sentiment",
                    "sentiment_score",
                    "text_sentiment",
                    "text_score",
                    "rating_disagreement",
                    "problems",
                    "flags",
                    "terms",
                )
            },
            "dimensions": [json.dumps(a["dimensions"], sort_keys=True) for a in annotations],
            "enriched_at": now,
        }
    )
    con.register("batch_enriched", frame)
    con.execute(
        f"insert or replace into {ENRICHED_TABLE} by name "
        "select * replace (dimensions::json as dimensions) from batch_enriched"
    )
    con.unregister("batch_enriched")


def enrich(
    config: Config,
    *,
    start: date | None = None,
    end: date | None = None,
    everything: bool = False,
) -> int:
    """Annotate reviews and store them; returns how many were (re)enriched."""
    from repwatch.warehouse import connect, transaction

    with connect(config) as con, transaction(con):
        ensure_enriched_table(con)
        rules_path = config.nlp.problem_rules
        version = enrichment_version(rules_path)
        rows = _pending(con, version, start=start, end=end, everything=everything)
        if len(rows):
            records = rows.astype(object).where(rows.notna(), None).to_dict("records")
            for record in records:
                record["rating"] = int(record["rating"]) if record["rating"] else None
                published = record["published_at"]
                record["published_at"] = published.isoformat() if published else None
            _store(con, rows, classify(records, rules_path=rules_path), version)
    return len(rows)
