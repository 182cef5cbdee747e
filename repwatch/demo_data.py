"""`repwatch demo-data`: a realistic warehouse of any size, generated straight into DuckDB.

For load tests, benchmarks and backfill rehearsals: N items over D days ending on a given
day, for the brands, competitors and sources of a config, written through the same models a
real load runs (`stg_reviews` → `int_reviews`, `dim_targets`) plus `int_reviews_enriched`
with the annotations `repwatch.enrich.classify` gives each distinct text, so every table has
exactly the schema the pipeline produces.

What makes it look real:
- texts are real labelled reviews (the demo site's cleaned selection of repwatch/nlp/data:
  Chinese for JD, the Chinese App Store and call-centre complaints, English elsewhere), and
  the stars of each item follow its text's human label (a few off by one, as people are);
- volume follows a weekly rhythm (weekends busiest), a yearly one (November shopping peak),
  growth over the range, day-to-day noise, and a few 3-day incidents per brand in which
  negative reviews and mentions triple;
- each brand's share of poor ratings drifts slowly; competitors have their own profile;
- JD, Trustpilot and schema.org pages carry merchant replies: most negative reviews get one,
  many within 24 hours, some days late, some never; replies after the last day do not exist;
- reddit and Hacker News targets give mentions without ratings; `files` targets give
  call-centre complaints (channel, category, resolution time, follow-up score that falls as
  resolution drags) or survey answers, shaped as repwatch/drops.py stores them;
- a few reviews have no date, as real feeds sometimes do.

Everything is drawn from one numpy generator seeded with `seed`, so the same arguments give
the same warehouse, row for row. Rows are built as arrays and joined to their texts inside
DuckDB: a million items take about half a minute, half of it the one-off annotation of the
texts. Items are loaded in runs of whole days of about `chunk_items` each, one transaction per
run as a backfill would load them (stg_reviews keeps the last), so memory grows slowly with the
size (peak about 3 GB for a million items, under 5 GB for five million); the warehouse is the
same either way. Reviews without a date are not enriched, as in the pipeline.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from repwatch.config import Config
from repwatch.demo_site import build_drops, catalog

# Relative volume of one target of each kind (mentions, complaints and surveys are rarer
# than reviews on a shop's own listings).
TARGET_VOLUME = {
    "appstore": 1.0,
    "jd": 1.0,
    "trustpilot": 0.5,
    "jsonld": 0.3,
    "reddit": 0.35,
    "hackernews": 0.1,
    "complaint": 0.4,
    "survey": 0.25,
}
COMPETITOR_VOLUME = 0.8
MENTION_SOURCES = ("reddit", "hackernews")
# Sources whose pages show the merchant's public reply (the App Store feed does not).
REPLYING_SOURCES = ("jd", "trustpilot", "jsonld")
TITLED_SOURCES = ("appstore", "trustpilot", "reddit", "hackernews")
# Shares of reviews answered: (negative, other) for own brands and for competitors.
OWN_REPLIES = catalog.ReplyPolicy(negative_share=0.8, other_share=0.35)
COMPETITOR_REPLIES = catalog.ReplyPolicy(negative_share=0.55, other_share=0.2)

STARS = np.arange(1, 6)
# Star weights (1..5) before a brand's own offset; mentions are more often neutral.
REVIEW_STARS = np.array([0.12, 0.08, 0.12, 0.26, 0.42])
MENTION_STARS = np.array([0.13, 0.12, 0.40, 0.20, 0.15])
COMPLAINT_STARS = np.array([0.6, 0.4, 0.0, 0.0, 0.0])
INCIDENT_STARS = np.array([0.65, 0.35, 0.0, 0.0, 0.0])
# How far a brand's share of poor ratings swings over its slow cycle (±).
DRIFT_AMPLITUDE = 0.35
STARS_OFF_BY_ONE = 0.08
UNDATED_SHARE = 0.002
COMPLAINT_UNRATED = 0.15

# Weekly rhythm (Monday first) from the demo site, damped: busiest days about 1.6× the quietest.
WEEKLY = 0.5 + 0.5 * np.array(catalog.WEEKLY_ACTIVITY)
YEARLY_PEAK_DAY = 319  # mid-November: Singles' Day and Black Friday
YEARLY_AMPLITUDE = 0.2
GROWTH_OVER_RANGE = 0.5
DAILY_NOISE_SHAPE = 20.0  # gamma shape: about ±22% day-to-day noise per target
INCIDENT_EVERY_DAYS = 180
INCIDENT_DAYS = 3
# People write in the day and evening (local time).
HOURLY = np.array(
    [2, 1, 1, 0.5, 0.5, 1, 2, 4, 6, 7, 8, 9, 10, 9, 8, 8, 8, 9, 10, 11, 12, 11, 8, 4],
    dtype=float,
)

# Complaints: hours to resolution are log-normal (median 30 h, p90 about 4.5 days).
RESOLUTION_MEDIAN_HOURS = 30.0
RESOLUTION_SIGMA = 1.0
UNRESOLVED_SHARE = 0.08
FOLLOWUP_ANSWERED = 0.7

# Distinct texts per (language, stars): enough variety for a large warehouse while the
# one-off annotation of the pool stays short.
TEXTS_PER_BUCKET_MAX = 400
TEXTS_PER_BUCKET_MIN = 30
ITEMS_PER_TEXT = 500

# Items loaded per transaction (whole days each): bounds the memory a large warehouse needs.
CHUNK_ITEMS = 1_000_000

BATCH_FILE = "demo-data"
RAW_PAYLOAD = json.dumps({"generator": "repwatch demo-data"})
AUTHOR_POOL_SHARE = 1 / 3  # about three items per author on average
# Mentions and survey answers without an author (deleted accounts, anonymous answers).
ANONYMOUS_SHARE = 0.1


@dataclass(frozen=True)
class Summary:
    first_day: date
    last_day: date
    items: int
    by_record_type: dict[str, int]
    replied: int
    seconds: float
    warehouse: str


@dataclass(frozen=True)
class _Target:
    brand: str
    competitor: bool
    source: str
    target_id: str
    record_type: str  # review | mention | complaint | survey
    language: str
    mapping: str | None  # files targets: the mapping name, the prefix of their ids


def _targets(config: Config) -> list[_Target]:
    targets = []
    for brand, source, target in config.targets():
        mapping = target.params.get("mapping")
        if source.source == "files":
            record_type = source.mappings[mapping].get("record_type", "survey")
        elif source.source in MENTION_SOURCES:
            record_type = "mention"
        else:
            record_type = "review"
        chinese = (
            source.source == "jd"
            or target.params.get("country", "").lower() == "cn"
            or record_type == "complaint"
        )
        targets.append(
            _Target(
                brand=brand.name,
                competitor=brand.competitor,
                source=source.source,
                target_id=target.target_id,
                record_type=record_type,
                language="zh" if chinese else "en",
                mapping=mapping,
            )
        )
    return targets


def _local_midnights(days: list[date], timezone: str) -> np.ndarray:
    """UTC epoch seconds of each day's start in the report time zone, and of the day after."""
    zone = ZoneInfo(timezone)
    moments = [datetime(d.year, d.month, d.day, tzinfo=zone) for d in days]
    following = days[-1] + timedelta(days=1)
    moments.append(datetime(following.year, following.month, following.day, tzinfo=zone))
    return np.array([int(moment.timestamp()) for moment in moments], dtype=np.int64)


def _day_weights(days: list[date]) -> np.ndarray:
    weekday = np.array([day.weekday() for day in days])
    day_of_year = np.array([day.timetuple().tm_yday for day in days])
    yearly = 1 + YEARLY_AMPLITUDE * np.cos(2 * np.pi * (day_of_year - YEARLY_PEAK_DAY) / 365.25)
    growth = 1 + GROWTH_OVER_RANGE * np.linspace(0, 1, len(days))
    return WEEKLY[weekday] * yearly * growth


def _incidents(targets: list[_Target], day_count: int, rng: np.random.Generator) -> np.ndarray:
    """(targets × days) True where a brand's public items are in a negative incident."""
    incident = np.zeros((len(targets), day_count), dtype=bool)
    brands = sorted({target.brand for target in targets})
    per_brand = max(1, round(day_count / INCIDENT_EVERY_DAYS))
    for brand in brands:
        rows = [
            number
            for number, target in enumerate(targets)
            if target.brand == brand and target.record_type in ("review", "mention")
        ]
        for start in rng.integers(0, max(1, day_count - INCIDENT_DAYS + 1), size=per_brand):
            incident[np.ix_(rows, range(start, min(day_count, start + INCIDENT_DAYS)))] = True
    return incident


def _text_pools(languages: set[str], items: int, rng: np.random.Generator):
    """Distinct real texts per (language, stars), drawn once; returns the texts and, per
    (language, stars), the indices of its texts."""
    per_bucket = int(
        np.clip(math.ceil(items / ITEMS_PER_TEXT), TEXTS_PER_BUCKET_MIN, TEXTS_PER_BUCKET_MAX)
    )
    texts: list[tuple[str, str, int]] = []  # (text, language, stars)
    buckets: dict[tuple[str, int], np.ndarray] = {}
    for language in sorted(languages):
        for stars, pool in sorted(catalog.texts_by_stars(language).items()):
            chosen = rng.choice(len(pool), size=min(per_bucket, len(pool)), replace=False)
            first = len(texts)
            texts += [(pool[index], language, stars) for index in sorted(chosen)]
            buckets[(language, stars)] = np.arange(first, len(texts))
    return texts, buckets


def _draw_stars(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One star value per row of a (rows × 5) weight matrix."""
    cumulative = np.cumsum(weights, axis=1)
    cumulative /= cumulative[:, -1:]
    draws = rng.random(len(weights))[:, None]
    return (draws > cumulative).sum(axis=1).astype(np.int8) + 1


def _annotate(texts: list[tuple[str, str, int]]) -> pd.DataFrame:
    """The enrichment of each distinct text, from the real classifier (text only; the stars
    are combined per item later)."""
    from repwatch.enrich import classify

    annotations = classify([{"text": text, "title": None, "rating": None} for text, _, _ in texts])
    frame = pd.DataFrame(
        {
            key: [
                json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
                for value in (annotation[key] for annotation in annotations)
            ]
            for key in annotations[0]
        }
    )
    frame.insert(0, "text_index", np.arange(len(texts), dtype=np.int32))
    return frame


def _combined_sentiments(text_scores: np.ndarray, text_index, rating) -> pd.DataFrame:
    """Sentiment of each distinct (text, rating) pair: the text's score combined with the
    stars exactly as enrichment does."""
    from repwatch.nlp.sentiment import combine_with_rating

    pairs = pd.DataFrame({"text_index": text_index, "rating": rating}).drop_duplicates()
    combined = [
        combine_with_rating(text_scores[index], None if pd.isna(stars) else int(stars))
        for index, stars in zip(pairs["text_index"], pairs["rating"], strict=True)
    ]
    pairs["sentiment"] = [label for label, _, _ in combined]
    pairs["sentiment_score"] = [score for _, score, _ in combined]
    pairs["rating_disagreement"] = [disagreement for _, _, disagreement in combined]
    return pairs


def generate(
    config: Config,
    *,
    items: int,
    days: int,
    last_day: date,
    seed: int = 0,
    replace: bool = False,
    chunk_items: int = CHUNK_ITEMS,
) -> Summary:
    """Write a generated warehouse of `items` items over the `days` days ending `last_day`
    into the config's warehouse file (which must not exist unless `replace`), loading about
    `chunk_items` items (whole days) per transaction."""
    if items < 1 or days < 1:
        raise ValueError("items and days must be at least 1")
    started = time.perf_counter()
    path = config.paths.warehouse
    if path.exists():
        if not replace:
            raise FileExistsError(f"{path} exists; pass replace=True (--replace) to overwrite it")
        path.unlink()
        path.with_name(path.name + ".wal").unlink(missing_ok=True)

    rng = np.random.default_rng(seed)
    targets = _targets(config)
    day_list = [last_day - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    midnights = _local_midnights(day_list, config.timezone)
    horizon = int(midnights[-1])  # nothing (item, reply, resolution) exists after the last day

    target_of, day_of, surge = _place_items(targets, day_list, items, rng)
    per_target = {
        name: np.array([getattr(target, name) for target in targets])[target_of]
        for name in ("brand", "competitor", "source", "record_type", "language")
    }
    record_type = per_target["record_type"]
    texts, text_index, rating = _texts_and_ratings(per_target, day_of, surge, rng)
    published, undated = _publication_moments(day_of, midnights, record_type, rng)
    replied, reply_at, reply_template = _replies(
        per_target, rating, published, undated, horizon, rng
    )
    resolved, resolved_at, followup = _complaint_outcomes(record_type, published, horizon, rng)
    labels, channel, category = _channels_and_categories(record_type, texts, text_index, rng)
    latest = np.maximum.reduce(
        [published, np.where(replied, reply_at, 0), np.where(resolved, resolved_at, 0)]
    )
    crawled = np.minimum(latest + rng.integers(3600, 24 * 3600, size=items), horizon)
    likes = np.where(
        record_type == "mention", rng.geometric(0.08, items) - 1, rng.geometric(0.6, items) - 1
    )
    generated = pd.DataFrame(
        {
            "item": np.arange(items, dtype=np.int64),
            "target": target_of,
            "day": day_of,
            "text_index": text_index,
            "rating": pd.array(rating, dtype="Int8"),
            "published_at": _moments(published, ~undated),
            "reply_at": _moments(reply_at, replied),
            "reply_template": np.where(replied, reply_template, -1).astype(np.int8),
            "author_number": rng.integers(0, max(1, int(items * AUTHOR_POOL_SHARE)), size=items),
            "author_present": rng.random(items) >= ANONYMOUS_SHARE,
            "likes": likes.astype(np.int32),
            "channel": channel.astype(np.int16),
            "category": category.astype(np.int16),
            "resolved_at": _moments(resolved_at, resolved),
            "followup": pd.array(followup, dtype="Int8"),
            "crawled_at": _moments(crawled, np.ones(items, dtype=bool)),
        }
    )
    annotations = _annotate(texts)
    frames = {
        "generated_items": generated,
        "generated_targets": pd.DataFrame(
            [
                {
                    "target": number,
                    "source": target.source,
                    "target_id": target.target_id,
                    "record_type": target.record_type,
                    "language": target.language,
                    "mapping": target.mapping,
                    "titled": target.source in TITLED_SOURCES,
                }
                for number, target in enumerate(targets)
            ]
        ),
        "generated_texts": pd.DataFrame(
            {
                "text_index": np.arange(len(texts), dtype=np.int32),
                "text": [text for text, _, _ in texts],
                "title": [catalog.title_of(text, language) for text, language, _ in texts],
            }
        ),
        "generated_labels": pd.DataFrame({"label_index": range(len(labels)), "label": labels}),
        "generated_replies": pd.DataFrame(
            [
                {"reply_language": language, "template": number, "reply": template}
                for language, templates in catalog.REPLY_TEXTS.items()
                for number, template in enumerate(templates)
            ]
        ),
        "generated_annotations": annotations,
        "generated_sentiments": _combined_sentiments(
            annotations["text_score"].to_numpy(), generated["text_index"], generated["rating"]
        ),
    }
    try:
        by_type, reply_count = _write(
            config,
            frames,
            _day_runs(day_of, days, chunk_items),
            day_list,
            seed,
            datetime.fromtimestamp(horizon, UTC),
        )
    except BaseException:
        # runs already committed would make a warehouse of some of the days
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
        raise
    return Summary(
        first_day=day_list[0],
        last_day=last_day,
        items=items,
        by_record_type=by_type,
        replied=reply_count,
        seconds=time.perf_counter() - started,
        warehouse=str(path),
    )


def _place_items(
    targets: list[_Target], day_list: list[date], items: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each item's target and day (one multinomial draw over all target-day cells), and
    whether it is one of an incident's extra negative items."""
    brand_names = sorted({target.brand for target in targets})
    brand_volume = dict(zip(brand_names, rng.uniform(0.6, 1.2, len(brand_names)), strict=True))
    target_weight = np.array(
        [
            TARGET_VOLUME[target.record_type if target.source == "files" else target.source]
            * brand_volume[target.brand]
            * (COMPETITOR_VOLUME if target.competitor else 1.0)
            for target in targets
        ]
    )
    incident = _incidents(targets, len(day_list), rng)
    noise = rng.gamma(DAILY_NOISE_SHAPE, 1 / DAILY_NOISE_SHAPE, size=incident.shape)
    cell_weight = np.outer(target_weight, _day_weights(day_list)) * noise
    surge_factor = 1 + catalog.SURGE_EXTRA_VOLUME
    cell_weight *= np.where(incident, surge_factor, 1)
    counts = rng.multinomial(items, (cell_weight / cell_weight.sum()).ravel())
    cell = np.repeat(np.arange(counts.size), counts)
    surge = incident.ravel()[cell] & (rng.random(items) < catalog.SURGE_EXTRA_VOLUME / surge_factor)
    days = len(day_list)
    return (cell // days).astype(np.int32), (cell % days).astype(np.int32), surge


def _texts_and_ratings(
    per_target: dict[str, np.ndarray],
    day_of: np.ndarray,
    surge: np.ndarray,
    rng: np.random.Generator,
) -> tuple[list[tuple[str, str, int]], np.ndarray, np.ndarray]:
    """Each item's text, drawn from the texts whose label gives the stars drawn for it, and
    its rating: those stars, a few off by one; none for mentions, some complaints unrated."""
    record_type, language = per_target["record_type"], per_target["language"]
    items = len(record_type)
    # Stars: the brand's profile, its share of poor ratings drifting slowly; incidents poor.
    brand_names, brand_of = np.unique(per_target["brand"], return_inverse=True)
    brand_offset = rng.normal(0, 0.25, len(brand_names))
    drift_period = rng.uniform(120, 400, len(brand_names))
    drift_phase = rng.uniform(0, 2 * np.pi, len(brand_names))
    drift = np.sin(2 * np.pi * day_of / drift_period[brand_of] + drift_phase[brand_of])
    poor_factor = np.exp(brand_offset[brand_of]) * (1 + DRIFT_AMPLITUDE * drift)
    weights = np.where((record_type == "mention")[:, None], MENTION_STARS, REVIEW_STARS)
    weights = weights * np.where(STARS <= 2, poor_factor[:, None], 1.0)
    weights[record_type == "complaint"] = COMPLAINT_STARS
    weights[surge] = INCIDENT_STARS
    stars = _draw_stars(weights, rng)

    texts, buckets = _text_pools(set(language), items, rng)
    text_index = np.empty(items, dtype=np.int32)
    for (bucket_language, bucket_stars), members in buckets.items():
        mask = (language == bucket_language) & (stars == bucket_stars)
        text_index[mask] = members[rng.integers(0, len(members), size=int(mask.sum()))]

    rating = stars.astype(float)
    nudged = (record_type != "complaint") & (rng.random(items) < STARS_OFF_BY_ONE)
    rating[nudged] = np.clip(rating[nudged] + rng.choice((-1, 1), size=int(nudged.sum())), 1, 5)
    rating[record_type == "mention"] = np.nan
    rating[(record_type == "complaint") & (rng.random(items) < COMPLAINT_UNRATED)] = np.nan
    return texts, text_index, rating


def _publication_moments(
    day_of: np.ndarray, midnights: np.ndarray, record_type: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds: a local hour of the item's day by the daily rhythm, a second within it;
    and which reviews show no date at all."""
    items = len(day_of)
    seconds = rng.choice(24, size=items, p=HOURLY / HOURLY.sum()) * 3600
    seconds += rng.integers(0, 3600, size=items)
    day_length = midnights[day_of + 1] - midnights[day_of]  # 23 or 25 hours on DST days
    published = midnights[day_of] + np.minimum(seconds, day_length - 1)
    undated = (record_type == "review") & (rng.random(items) < UNDATED_SHARE)
    return published, undated


def _replies(
    per_target: dict[str, np.ndarray],
    rating: np.ndarray,
    published: np.ndarray,
    undated: np.ndarray,
    horizon: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merchant replies on the sources that show them: answered share by rating and brand,
    delay from the demo site's policy; a reply due after the last day has not happened."""
    items = len(rating)
    negative = rating <= 2
    reply_share = np.where(
        per_target["competitor"],
        np.where(negative, COMPETITOR_REPLIES.negative_share, COMPETITOR_REPLIES.other_share),
        np.where(negative, OWN_REPLIES.negative_share, OWN_REPLIES.other_share),
    )
    uppers = np.array([upper for upper, _ in OWN_REPLIES.delay_hours])
    lowers = np.concatenate(([0.25], uppers[:-1]))
    delay_weights = np.array([weight for _, weight in OWN_REPLIES.delay_hours])
    band = rng.choice(len(uppers), size=items, p=delay_weights / delay_weights.sum())
    reply_at = published + (rng.uniform(lowers[band], uppers[band]) * 3600).astype(np.int64)
    replied = (
        np.isin(per_target["source"], REPLYING_SOURCES)
        & (per_target["record_type"] == "review")
        & ~undated
        & (rng.random(items) < reply_share)
        & (reply_at < horizon)
    )
    # Templates of catalog.REPLY_TEXTS: an apology (0 or 1) or a thank-you for good ratings (2).
    template = np.where(rating >= 4, 2, rng.integers(0, 2, size=items))
    return replied, reply_at, template


def _complaint_outcomes(
    record_type: np.ndarray, published: np.ndarray, horizon: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resolution after a log-normal delay (some never, none after the last day), and a
    follow-up score on 1-5, answered by most, lower the longer the resolution took."""
    items = len(record_type)
    hours = rng.lognormal(np.log(RESOLUTION_MEDIAN_HOURS), RESOLUTION_SIGMA, items)
    resolved_at = published + (hours * 3600).astype(np.int64)
    resolved = (
        (record_type == "complaint")
        & (rng.random(items) >= UNRESOLVED_SHARE)
        & (resolved_at < horizon)
    )
    score = np.rint(4.6 - 0.9 * np.log10(1 + hours) + rng.normal(0, 0.8, items)).clip(1, 5)
    answered = resolved & (rng.random(items) < FOLLOWUP_ANSWERED)
    return resolved, resolved_at, np.where(answered, score, np.nan)


def _channels_and_categories(
    record_type: np.ndarray,
    texts: list[tuple[str, str, int]],
    text_index: np.ndarray,
    rng: np.random.Generator,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Labels, and each item's channel and category as indices into them: complaints filed
    by the call-centre tool's keyword rule, survey answers by the demo workbook's topics."""
    items = len(record_type)
    complaint_channels = list(build_drops.COMPLAINT_CHANNELS)
    survey_channels = list(build_drops.SURVEY_CHANNELS)
    topics = list(build_drops.SURVEY_TOPICS)
    text_category = [build_drops.complaint_category(text) for text, _, _ in texts]
    labels = [*complaint_channels, *survey_channels, *topics]
    labels += sorted(set(text_category) - set(labels))
    position = {label: number for number, label in enumerate(labels)}
    complaint = record_type == "complaint"
    channel = np.where(
        complaint,
        rng.choice(len(complaint_channels), size=items, p=_shares(build_drops.COMPLAINT_CHANNELS)),
        len(complaint_channels)
        + rng.choice(len(survey_channels), size=items, p=_shares(build_drops.SURVEY_CHANNELS)),
    )
    category = np.where(
        complaint,
        np.array([position[name] for name in text_category])[text_index],
        position[topics[0]] + rng.integers(0, len(topics), size=items),
    )
    return labels, channel, category


def _moments(epoch_seconds: np.ndarray, present: np.ndarray) -> pd.Series:
    """UTC timestamps, missing where not `present`."""
    moments = pd.to_datetime(np.where(present, epoch_seconds, 0), unit="s", utc=True)
    return pd.Series(moments).where(present)


def _day_runs(day_of: np.ndarray, days: int, chunk_items: int) -> list[np.ndarray]:
    """The items in runs of whole days, about `chunk_items` items each, in day order: the
    positions of each run's items."""
    items_before_day = np.concatenate(([0], np.cumsum(np.bincount(day_of, minlength=days))))
    run_of_day = items_before_day[:-1] // max(1, chunk_items)
    run_of_item = run_of_day[day_of]
    return [np.flatnonzero(run_of_item == run) for run in np.unique(run_of_item)]


def _write(
    config: Config,
    frames: dict[str, pd.DataFrame],
    runs: list[np.ndarray],
    day_list: list[date],
    seed: int,
    enriched_at: datetime,
) -> tuple[dict[str, int], int]:
    """Run the load models on each run of days of the generated items and store their
    enrichment, one transaction per run; returns the items per record type and the replied
    count."""
    from repwatch.enrich import ENRICHED_TABLE, enrichment_version
    from repwatch.warehouse import (
        LOAD_MODELS,
        Model,
        connect,
        ensure_schema,
        materialize,
        sync_targets,
        transaction,
    )

    version = enrichment_version(config.nlp.problem_rules)
    items = frames.pop("generated_items")
    with connect(config) as con:
        con.execute("set enable_progress_bar = false")
        for name, frame in frames.items():
            con.register(name, frame)
        ensure_schema(con)
        sync_targets(con, config)
        for positions in runs:
            run_items = items.iloc[positions]
            days = day_list[int(run_items["day"].min())], day_list[int(run_items["day"].max())]
            con.register("generated_items", run_items)
            with transaction(con):
                con.execute(
                    f"create or replace temp table batch_valid as {_BATCH_SQL}",
                    {"raw": RAW_PAYLOAD, "file": BATCH_FILE, "surnames": build_drops.SURNAMES},
                )
                con.execute(
                    "create or replace temp table batch_meta as select ? as batch_id",
                    [f"demo-data-seed-{seed}"],
                )
                for name in LOAD_MODELS:
                    materialize(con, Model.load(name))
                con.execute(
                    f"insert into {ENRICHED_TABLE} by name {_ENRICHED_SQL}",
                    {
                        "version": version,
                        "enriched_at": enriched_at,
                        "first_day": days[0],
                        "last_day": days[1],
                    },
                )
                con.execute("drop table batch_valid")
                con.execute("drop table batch_meta")
            con.unregister("generated_items")
        by_type = dict(
            con.execute(
                "select record_type, count(*) from int_reviews group by all order by 1"
            ).fetchall()
        )
        ((replied,),) = con.execute(
            "select count(*) from int_reviews where reply_at is not null"
        ).fetchall()
        for name in frames:
            con.unregister(name)
    return by_type, int(replied)


def save_config(config: Config, path: Path) -> None:
    """Write `config` (with its data folder, e.g. a generated one) as a YAML config file.
    Target parameters are kept as written, so target ids and the generated rows still match;
    relative drop folders are then read from the new file's folder."""
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    settings = config.model_dump(mode="json")
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")


def _shares(weights: dict[str, float]) -> np.ndarray:
    values = np.array(list(weights.values()), dtype=float)
    return values / values.sum()


# The records a load would pass to stg_reviews (RECORD_FIELDS plus file and line), built from
# the generated arrays and the text pool.
_BATCH_SQL = """
with

items as (
    select
        items.*,
        targets.* exclude (target),
        texts.text,
        texts.title as text_title,
    from generated_items as items
    inner join generated_targets as targets using (target)
    inner join generated_texts as texts using (text_index)
),

with_ids as (
    select
        *,
        case
            when mapping is not null then mapping || ':G' || lpad(item::varchar, 9, '0')
            else (1000000000 + item)::varchar
        end as review_id,
        case
            when not author_present and record_type <> 'review' then null
            when record_type = 'complaint'
                then substr($surnames, author_number % length($surnames) + 1, 1) || '**'
            when language = 'zh' then '用户' || (author_number % 100000)::varchar
            else 'customer' || author_number::varchar
        end as author,
    from items
)

select
    source,
    target_id,
    review_id,
    case when record_type = 'mention' then 'mention' else 'review' end as kind,
    author,
    rating,
    case when titled then text_title end as title,
    text,
    language,
    published_at,
    case when published_at is null then 'unknown' else 'exact' end as date_precision,
    replace(replies.reply, '{author}', coalesce(author, '')) as reply_text,
    reply_at,
    case
        when source = 'files' then 'file://' || mapping || '.csv#line=' || (item + 2)::varchar
        else 'https://demo-data.example/' || source || '/' || review_id
    end as url,
    likes,
    case
        when record_type = 'complaint' then json_object(
            'record_type', 'complaint',
            'file', mapping || '.csv',
            'line', item + 2,
            'channel', channels.label,
            'category', categories.label,
            'resolved_at', strftime(resolved_at, '%Y-%m-%dT%H:%M:%SZ'),
            'followup_satisfaction', followup
        )
        when record_type = 'survey' then json_object(
            'record_type', 'survey',
            'file', mapping || '.xlsx',
            'line', item + 2,
            'channel', channels.label,
            'category', categories.label
        )
    end as extra,
    crawled_at,
    $raw as raw,
    $file as file,
    item as line,
from with_ids
left join generated_replies as replies
    on with_ids.language = replies.reply_language
    and with_ids.reply_template = replies.template
left join generated_labels as channels
    on with_ids.channel = channels.label_index
left join generated_labels as categories
    on with_ids.category = categories.label_index
"""

# Each dated item's annotations: its text's (computed once per distinct text) with the
# sentiment of its (text, rating) pair. The run's days bound the scan of int_reviews, which
# holds the runs before too.
_ENRICHED_SQL = """
select
    reviews.source,
    reviews.target_id,
    reviews.review_id,
    reviews.published_day,
    $version::varchar as enrichment_version,
    sha256(coalesce(reviews.title, '') || chr(10) || coalesce(reviews.text, '')) as text_hash,
    annotations.* exclude (text_index, sentiment, sentiment_score, rating_disagreement)
        replace (annotations.dimensions::json as dimensions),
    sentiments.sentiment,
    sentiments.sentiment_score,
    sentiments.rating_disagreement,
    $enriched_at::timestamptz as enriched_at,
from int_reviews as reviews
inner join batch_valid as batch
    using (source, target_id, review_id)
inner join generated_items as items
    on batch.line = items.item
inner join generated_annotations as annotations
    on items.text_index = annotations.text_index
inner join generated_sentiments as sentiments
    on items.text_index = sentiments.text_index
    and items.rating is not distinct from sentiments.rating
where reviews.published_day between $first_day and $last_day
order by reviews.published_day
"""
