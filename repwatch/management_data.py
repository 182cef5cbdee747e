"""The figures of the weekly and monthly management reports, read from the warehouse.

`build_period_context(con, config, period)` returns plain data for one weekly or monthly
`Period` (a daily one works too) and the period before it: dates as `date`, instants as
timezone-aware `datetime` in the report time zone, numbers as int or float, None where a figure
has no value. No text is formatted or translated: problem types, dimensions, languages,
channels and sentiments appear as their ids, for the renderer to label.

Figures come from the marts' rows of the period's grain (`week`, `month`; see
docs/metrics.md), which are computed from the period's items, so rates are pooled over the
period, never averaged over days. Only what no mart holds is computed here, from the period's
items (int_reviews with int_reviews_enriched, read by day range, counted as the marts count
them: once per brand, leaving out items with an excluded flag): the mean text sentiment score,
the word-cloud terms per language, the best positive reviews, and share of voice over reviews
and mentions.

A comparable figure is a dict `{"value", "previous", "change", "relative_change"}` ("KPI"
below): the period's value, the previous period's, value − previous (None when either is None)
and change / |previous| (None when previous is None or 0). Counts are 0, not None, in a period
without items; rates are None there.

Shape of the context:

    report: "weekly" | "monthly" | "daily"
    label, start, end, days: the period ("2026-W47", first and last day, day count)
    previous: {"label", "start", "end", "days"}
    timezone: config.timezone
    data_last_day: newest published day in the warehouse (None when empty)
    complete: whether the data reaches the period's last day
    brands: one dict per own brand (config order):
        name
        kpis: {key: KPI} for KPI_KEYS:
            reviews, mentions, rated_reviews, excluded_reviews: counts (mart_brand_kpis)
            avg_rating (1-5), bayesian_rating, csat (0-100), nss (-100..100)
            positive, neutral, negative: review counts; negative_share (0-1)
            mean_text_score: mean of the enrichment's text score (the text alone, -1..1) over
                the counted reviews that have one
            satisfaction_index (0-100), reputation_score (0-100)
            response_rate (0-1), first_response_median_hours
            sla_compliance (0-1): negative reviews answered within metrics.sla_hours
            negative_replied_within_sla: their count
            overdue_reviews: negative reviews unanswered after the SLA on the list of the
                period's last day with data (mart_overdue_reviews); 0 before the data, None
                for a period that lies wholly after it
            share_of_voice (0-1): the brand's reviews + mentions / those of all configured
                brands (mart_brand_kpis.share_of_voice counts mentions only; it is
                mention_share_of_voice here)
            mention_share_of_voice (0-1)
        overdue_as_of: {"value": day, "previous": day} the lists counted (None: no list)
        dimensions: per configured satisfaction dimension (config order):
            {"dimension", "weight", "satisfaction": KPI (0-100), "items": KPI}
        trend: one row per day of the period; trend_previous: the same for the previous period
            {"day", "reviews", "mentions", "positive", "neutral", "negative",
             "negative_share", "avg_rating", "mean_text_score"}
            (counts 0 and rates None on days without items)
        ratings: [{"stars": 1..5, "count", "previous"}]
        problems: [{"problem", "count", "previous", "change", "negative", "share_of_problems"}]
            counted reviews and mentions raising each problem type (mart_problem_types;
            negative: those of them with negative sentiment, share_of_problems: of all problem
            mentions of the period, None for a type of the previous period only), types of
            either period, most frequent first (then previous count, then id)
        terms: {"zh": [...], "en": [...]}: the word cloud, up to TOP_TERMS_PER_LANGUAGE terms
            per language of the period's counted reviews and mentions, each
            {"term", "items", "positive", "negative"} (items: how many items use it, once per
            item; positive/negative: of those, by sentiment), most used first, ties by term;
            the words of the brand's own name are left out, as in mart_top_terms
        top_terms: {"positive": [...], "negative": [...]}: mart_top_terms' lists,
            {"term", "items", "share_of_items", "rank"}
        best_reviews: up to BEST_REVIEWS_PER_BRAND counted reviews or mentions of the period
            for marketing reuse: text sentiment positive, 4-5 stars where rated, no flag at
            all (every flag asks a person to look first), not tagged fake_or_malicious, stars
            and text agreeing, text of BEST_REVIEW_MIN_CHARS..BEST_REVIEW_MAX_CHARS
            characters, one item per distinct text; highest text score first, ties by stars,
            newest, source, id:
            {"source", "target_id", "review_id", "record_type", "author", "published_at",
             "url", "rating", "title", "text", "language", "text_score"}
        complaints: None when the brand has no complaint record in either period, else
            {"totals": {key: KPI}, "by_channel": [...], "by_category": [...]}
            for the figures of COMPLAINT_KEYS (mart_complaints): complaints, resolved,
            resolution_rate (0-1), resolution_median_hours, resolution_p90_hours, followups,
            followup_mean (1-5), followup_satisfied_share (0-1); list rows add "channel" or
            "category" and go by complaints of the period, then previous, then name
        surveys: None without survey answers in either period, else the same shape with
            SURVEY_KEYS (mart_surveys): responses, mean_score (1-5), csat (0-100)
    comparison: every configured brand (config order):
        {"brand", "competitor", and a KPI per COMPARISON_KEYS}: reviews, mentions,
        avg_rating, csat, negative_share, satisfaction_index, reputation_score, share_of_voice
    events: configured events whose day or effect window (window_days before the day to
        window_days − 1 after) overlaps the period, by day then name:
        {"name", "kind", "brand", "date", "window_days", "in_period" (the day itself is in
         the period), "effects"}; effects is None until mart_event_effects holds the event as
        configured, else {"window_days_used", "complete", "before_first_day",
        "after_last_day", "figures": {key: {"before", "after", "change"}} for EVENT_KEYS,
        "negative_share_test"}; the test is a two-sided two-proportion z-test of the negative
        share before vs after, {"z", "p_value", "significant" (p < SIGNIFICANCE_LEVEL)}, None
        when a side has too few reviews for it (expected counts under 5)
    coverage: repwatch.coverage.build_coverage(con, config, start, end)
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from repwatch.config import Config
from repwatch.coverage import build_coverage
from repwatch.periods import Period
from repwatch.warehouse import table_names

GRAINS = {"daily": "day", "weekly": "week", "monthly": "month"}
KPI_KEYS = (
    "reviews",
    "mentions",
    "rated_reviews",
    "excluded_reviews",
    "avg_rating",
    "bayesian_rating",
    "csat",
    "nss",
    "positive",
    "neutral",
    "negative",
    "negative_share",
    "mean_text_score",
    "satisfaction_index",
    "reputation_score",
    "response_rate",
    "first_response_median_hours",
    "sla_compliance",
    "negative_replied_within_sla",
    "overdue_reviews",
    "share_of_voice",
    "mention_share_of_voice",
)
# Read from mart_brand_kpis as they are; the counts among them are 0 without a row.
_MART_KPIS = {
    "reviews": "reviews",
    "mentions": "mentions",
    "rated_reviews": "rated_reviews",
    "excluded_reviews": "excluded_reviews",
    "avg_rating": "avg_rating",
    "bayesian_rating": "bayesian_rating",
    "csat": "csat",
    "nss": "nss",
    "positive": "positive",
    "neutral": "neutral",
    "negative": "negative",
    "negative_share": "negative_share",
    "satisfaction_index": "satisfaction_index",
    "reputation_score": "reputation_score",
    "response_rate": "response_rate",
    "first_response_median_hours": "first_response_median_hours",
    "sla_compliance": "sla_compliance",
    "negative_replied_within_sla": "negative_replied_within_sla",
    "mention_share_of_voice": "share_of_voice",
}
_COUNTS = frozenset(
    {
        "reviews",
        "mentions",
        "rated_reviews",
        "excluded_reviews",
        "positive",
        "neutral",
        "negative",
        "negative_replied_within_sla",
    }
)
COMPARISON_KEYS = (
    "reviews",
    "mentions",
    "avg_rating",
    "csat",
    "negative_share",
    "satisfaction_index",
    "reputation_score",
    "share_of_voice",
)
COMPLAINT_KEYS = (
    "complaints",
    "resolved",
    "resolution_rate",
    "resolution_median_hours",
    "resolution_p90_hours",
    "followups",
    "followup_mean",
    "followup_satisfied_share",
)
SURVEY_KEYS = ("responses", "mean_score", "csat")
_DROP_COUNTS = frozenset({"complaints", "resolved", "followups", "responses"})
EVENT_KEYS = (
    "reviews",
    "reviews_per_day",
    "avg_rating",
    "negative_share",
    "nss",
    "csat",
    "complaints",
)
TERM_LANGUAGES = ("zh", "en")
TOP_TERMS_PER_LANGUAGE = 60
BEST_REVIEWS_PER_BRAND = 5
BEST_REVIEW_MIN_CHARS = 40
BEST_REVIEW_MAX_CHARS = 400
# Problem type of reviews the enrichment judges fake or malicious: never quoted.
FAKE_PROBLEM = "fake_or_malicious"
SIGNIFICANCE_LEVEL = 0.05
# The z-test's normal approximation needs this many expected items of each kind per side.
MIN_EXPECTED_COUNT = 5
_WORD = re.compile(r"\w+")

# The period's public reviews and mentions of the given brands, as the marts count them: an
# item two targets of one brand found counts once (newest crawl, then first target), items
# with an excluded flag are marked. Both tables are read by day range, so that the scans skip
# the other days (an annotation stored without its day is read too, as int_review_facts does).
_ITEMS_SQL = """
enrichment as (
    select
        source,
        target_id,
        review_id,
        language,
        sentiment,
        text_sentiment,
        text_score,
        rating_disagreement,
        problems,
        flags,
        terms,
    from int_reviews_enriched
    where published_day between $first and $last or published_day is null
),

items as (
    select
        reviews.brand,
        reviews.source,
        reviews.target_id,
        reviews.review_id,
        reviews.record_type,
        reviews.published_day,
        reviews.published_at,
        reviews.rating,
        reviews.author,
        reviews.url,
        reviews.title,
        reviews.text,
        coalesce(enrichment.sentiment, reviews.sentiment) as sentiment,
        enrichment.language,
        enrichment.text_sentiment,
        enrichment.text_score,
        coalesce(enrichment.rating_disagreement, false) as rating_disagreement,
        coalesce(enrichment.problems, []::varchar []) as problems,
        coalesce(enrichment.flags, []::varchar []) as flags,
        enrichment.terms,
        len(
            list_filter(
                coalesce(enrichment.flags, []::varchar []),
                lambda flag: list_contains($excluded_flags::varchar [], split_part(flag, ':', 1))
            )
        ) > 0 as excluded,
    from int_reviews as reviews
    left join enrichment
        using (source, target_id, review_id)
    where
        reviews.published_day between $first and $last
        and reviews.brand in (select unnest($brands::varchar []))
        and reviews.record_type in ('review', 'mention')
    qualify row_number() over (
        partition by reviews.brand, reviews.source, reviews.review_id
        order by reviews.crawled_at desc, reviews.target_id
    ) = 1
)
"""

# Per brand and day: counted reviews with a text score, and the sum of their scores (as a
# decimal: the scores have four places, so sums are exact and independent of thread order).
_TEXT_SCORES_SQL = f"""
with
{_ITEMS_SQL}
select
    brand,
    published_day,
    count(text_score) as scored,
    sum(text_score::decimal(18, 6)) as score_sum,
from items
where record_type = 'review' and not excluded
group by brand, published_day
order by brand, published_day
"""

_TERMS_SQL = f"""
with
{_ITEMS_SQL},

item_terms as (
    select
        brand,
        language,
        sentiment,
        unnest(list_distinct(terms)) as term,
    from items
    where
        not excluded
        and terms is not null
        and language in (select unnest($languages::varchar []))
),

own_names as (
    select
        unnest($name_brands::varchar []) as brand,
        unnest($name_terms::varchar []) as term,
)

select
    brand,
    language,
    term,
    count(*) as items,
    count(*) filter (where sentiment = 'positive') as positive,
    count(*) filter (where sentiment = 'negative') as negative,
from item_terms
anti join own_names
    using (brand, term)
group by brand, language, term
qualify row_number() over (partition by brand, language order by items desc, term) <= $limit
order by brand, language, items desc, term
"""

# Quotable praise: counted reviews and mentions whose text the model reads as positive, rated
# 4-5 stars where rated, without any flag (ads, spam, near-duplicates, bursts, mismatches, off
# topic: every flag asks a person to look first), not judged fake, stars and text agreeing,
# of a quotable length; one item per distinct text. Best text score first; ties by stars,
# then newest, then source and id.
_BEST_REVIEWS_SQL = f"""
with
{_ITEMS_SQL},

candidates as (
    select
        *,
        lower(text) as normalised_text,
    from items
    where
        not excluded
        and text_sentiment = 'positive'
        and (rating is null or rating >= 4)
        and len(flags) = 0
        and not list_contains(problems, $fake_problem)
        and not rating_disagreement
        and length(text) between $min_chars and $max_chars
    qualify row_number() over (
        partition by brand, normalised_text
        order by text_score desc, rating desc nulls last, published_at desc, source, review_id
    ) = 1
)

select
    brand,
    source,
    target_id,
    review_id,
    record_type,
    author,
    published_at,
    url,
    rating,
    title,
    text,
    language,
    text_score,
from candidates
qualify row_number() over (
    partition by brand
    order by text_score desc, rating desc nulls last, published_at desc, source, review_id
) <= $limit
order by brand, text_score desc, rating desc nulls last, published_at desc, source, review_id
"""


def build_period_context(con, config: Config, period: Period) -> dict:
    """Everything the weekly or monthly management report shows for `period` and the period
    before it, read from the warehouse behind `con` (see the module docstring for the shape)."""
    if period.report not in GRAINS:
        raise ValueError(f"unknown report {period.report!r} (known: {', '.join(GRAINS)})")
    previous = period.previous()
    grain = GRAINS[period.report]
    tables = table_names(con)
    all_brands = [brand.name for brand in config.brands]
    own_brands = [brand.name for brand in config.brands if not brand.competitor]
    starts = (period.start, previous.start)
    data_last_day = _data_last_day(con, tables)

    kpi_rows = _mart_rows(
        con,
        tables,
        "mart_brand_kpis",
        "grain = $grain and source = 'all' and period_start in ($current, $previous) "
        "and brand in (select unnest($brands::varchar []))",
        {"grain": grain, "current": period.start, "previous": previous.start, "brands": all_brands},
    )
    by_period = {(row["brand"], row["period_start"]): row for row in kpi_rows}
    volumes = {
        start: sum(_volume(by_period.get((name, start))) for name in all_brands) for start in starts
    }

    def kpi_value(name: str, start: date, key: str):
        row = by_period.get((name, start))
        if key == "share_of_voice":
            return _share(_volume(row), volumes[start])
        column = _MART_KPIS[key]
        if row is None or row[column] is None:
            return 0 if key in _COUNTS else None
        return _number(row[column])

    scores = _text_scores(con, config, tables, own_brands, previous.start, period.end)
    overdue_days = {
        start: _overdue_day(first, last, data_last_day)
        for start, first, last in (
            (period.start, period.start, period.end),
            (previous.start, previous.start, previous.end),
        )
    }
    overdue = _overdue_counts(con, tables, own_brands, list(overdue_days.values()))
    dimensions = _dimension_rows(con, tables, grain, starts, own_brands)
    daily = _daily_rows(con, tables, own_brands, previous.start, period.end)
    problems = _problem_rows(con, tables, grain, starts, own_brands)
    terms = _terms(con, config, tables, own_brands, period)
    top_terms = _top_terms(con, tables, grain, period.start, own_brands)
    best = _best_reviews(con, config, tables, own_brands, period)
    complaints = _drop_rows(con, tables, "mart_complaints", grain, starts, own_brands)
    surveys = _drop_rows(con, tables, "mart_surveys", grain, starts, own_brands)

    brands = []
    for name in own_brands:
        values: dict[str, dict] = {}
        for key in KPI_KEYS:
            if key == "mean_text_score":
                current = _mean_score(scores, name, period.start, period.end)
                before = _mean_score(scores, name, previous.start, previous.end)
            elif key == "overdue_reviews":
                current = _overdue_value(overdue, name, overdue_days[period.start])
                before = _overdue_value(overdue, name, overdue_days[previous.start])
            else:
                current = kpi_value(name, period.start, key)
                before = kpi_value(name, previous.start, key)
            values[key] = _kpi(current, before)
        current_row = by_period.get((name, period.start))
        previous_row = by_period.get((name, previous.start))
        brands.append(
            {
                "name": name,
                "kpis": values,
                "overdue_as_of": {
                    "value": overdue_days[period.start],
                    "previous": overdue_days[previous.start],
                },
                "dimensions": _dimensions(config, dimensions, name, starts),
                "trend": _trend(daily, scores, name, period),
                "trend_previous": _trend(daily, scores, name, previous),
                "ratings": [
                    {
                        "stars": stars,
                        "count": _count(current_row, f"rating_{stars}"),
                        "previous": _count(previous_row, f"rating_{stars}"),
                    }
                    for stars in range(1, 6)
                ],
                "problems": _problems(problems, name, starts),
                "terms": {language: terms[(name, language)] for language in TERM_LANGUAGES},
                "top_terms": {
                    sentiment: top_terms[(name, sentiment)]
                    for sentiment in ("positive", "negative")
                },
                "best_reviews": best[name],
                "complaints": _drop_figures(complaints, name, starts, COMPLAINT_KEYS),
                "surveys": _drop_figures(surveys, name, starts, SURVEY_KEYS),
            }
        )

    comparison = [
        {
            "brand": brand.name,
            "competitor": brand.competitor,
            **{
                key: _kpi(
                    kpi_value(brand.name, period.start, key),
                    kpi_value(brand.name, previous.start, key),
                )
                for key in COMPARISON_KEYS
            },
        }
        for brand in config.brands
    ]
    return {
        "report": period.report,
        "label": period.label,
        "start": period.start,
        "end": period.end,
        "days": period.days,
        "previous": {
            "label": previous.label,
            "start": previous.start,
            "end": previous.end,
            "days": previous.days,
        },
        "timezone": config.timezone,
        "data_last_day": data_last_day,
        "complete": data_last_day is not None and data_last_day >= period.end,
        "brands": brands,
        "comparison": comparison,
        "events": _events(con, config, tables, period),
        "coverage": build_coverage(con, config, period.start, period.end),
    }


# --- reading ------------------------------------------------------------------------------


def _dicts(con, sql: str, parameters: dict) -> list[dict]:
    cursor = con.execute(sql, parameters)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _mart_rows(con, tables: set[str], mart: str, where: str, parameters: dict) -> list[dict]:
    if mart not in tables:
        return []
    # `mart` is one of this module's constants, never input; the values are parameters.
    return _dicts(con, f"select * from {mart} where {where} order by all", parameters)


def _data_last_day(con, tables: set[str]) -> date | None:
    if "int_reviews" not in tables:
        return None
    return con.execute("select max(published_day) from int_reviews").fetchone()[0]


def _items_parameters(config: Config, brands: list[str], first: date, last: date) -> dict:
    return {
        "first": first,
        "last": last,
        "brands": brands,
        "excluded_flags": list(config.metrics.excluded_flags),
    }


def _has_items(tables: set[str]) -> bool:
    return {"int_reviews", "int_reviews_enriched"} <= tables


def _text_scores(
    con, config: Config, tables: set[str], brands: list[str], first: date, last: date
) -> dict[tuple[str, date], tuple[int, Decimal]]:
    """(brand, day) -> (scored reviews, sum of their text scores)."""
    if not _has_items(tables) or not brands:
        return {}
    rows = con.execute(
        _TEXT_SCORES_SQL,
        _items_parameters(config, brands, first, last),
    ).fetchall()
    return {(brand, day): (int(scored), total or Decimal(0)) for brand, day, scored, total in rows}


def _mean_score(
    scores: dict[tuple[str, date], tuple[int, Decimal]], brand: str, first: date, last: date
) -> float | None:
    scored, total = 0, Decimal(0)
    for day in _days(first, last):
        count, day_total = scores.get((brand, day), (0, Decimal(0)))
        scored += count
        total += day_total
    return float(total / scored) if scored else None


def _overdue_day(first: date, last: date, data_last_day: date | None) -> date | None:
    """The day whose overdue list stands for the period: its last day, or the newest day with
    data when the period is still running; None when the period lies wholly after the data."""
    if data_last_day is None or data_last_day < first:
        return None
    return min(last, data_last_day)


def _overdue_counts(
    con, tables: set[str], brands: list[str], days: list[date | None]
) -> dict[tuple[str, date], int]:
    wanted = [day for day in days if day is not None]
    if "mart_overdue_reviews" not in tables or not wanted or not brands:
        return {}
    rows = con.execute(
        """
        select brand, as_of_day, count(*)
        from mart_overdue_reviews
        where
            as_of_day in (select unnest($days))
            and brand in (select unnest($brands::varchar []))
        group by brand, as_of_day
        order by brand, as_of_day
        """,
        {"days": wanted, "brands": brands},
    ).fetchall()
    return {(brand, day): int(count) for brand, day, count in rows}


def _overdue_value(overdue: dict, brand: str, day: date | None) -> int | None:
    return None if day is None else overdue.get((brand, day), 0)


def _dimension_rows(
    con, tables: set[str], grain: str, starts: tuple[date, date], brands: list[str]
) -> dict[tuple[str, date, str], dict]:
    rows = _mart_rows(
        con,
        tables,
        "mart_dimension_satisfaction",
        "grain = $grain and source = 'all' and period_start in (select unnest($starts)) "
        "and brand in (select unnest($brands::varchar []))",
        {"grain": grain, "starts": list(starts), "brands": brands},
    )
    return {(row["brand"], row["period_start"], row["dimension"]): row for row in rows}


def _dimensions(config: Config, rows: dict, brand: str, starts: tuple[date, date]) -> list[dict]:
    current, previous = starts
    dimensions = []
    for dimension, weight in config.metrics.satisfaction_weights.items():
        now = rows.get((brand, current, dimension))
        before = rows.get((brand, previous, dimension))
        dimensions.append(
            {
                "dimension": dimension,
                "weight": weight,
                "satisfaction": _kpi(
                    _number(now["satisfaction"]) if now else None,
                    _number(before["satisfaction"]) if before else None,
                ),
                "items": _kpi(_count(now, "items"), _count(before, "items")),
            }
        )
    return dimensions


def _daily_rows(
    con, tables: set[str], brands: list[str], first: date, last: date
) -> dict[tuple[str, date], dict]:
    rows = _mart_rows(
        con,
        tables,
        "mart_brand_kpis",
        "grain = 'day' and source = 'all' and period_start between $first and $last "
        "and brand in (select unnest($brands::varchar []))",
        {"first": first, "last": last, "brands": brands},
    )
    return {(row["brand"], row["period_start"]): row for row in rows}


def _trend(daily: dict, scores: dict, brand: str, period: Period) -> list[dict]:
    series = []
    for day in _days(period.start, period.end):
        row = daily.get((brand, day))
        series.append(
            {
                "day": day,
                "reviews": _count(row, "reviews"),
                "mentions": _count(row, "mentions"),
                "positive": _count(row, "positive"),
                "neutral": _count(row, "neutral"),
                "negative": _count(row, "negative"),
                "negative_share": _number(row["negative_share"]) if row else None,
                "avg_rating": _number(row["avg_rating"]) if row else None,
                "mean_text_score": _mean_score(scores, brand, day, day),
            }
        )
    return series


def _problem_rows(
    con, tables: set[str], grain: str, starts: tuple[date, date], brands: list[str]
) -> list[dict]:
    return _mart_rows(
        con,
        tables,
        "mart_problem_types",
        "grain = $grain and source = 'all' and period_start in (select unnest($starts)) "
        "and brand in (select unnest($brands::varchar []))",
        {"grain": grain, "starts": list(starts), "brands": brands},
    )


def _problems(rows: list[dict], brand: str, starts: tuple[date, date]) -> list[dict]:
    current, previous = starts
    by_problem: dict[str, dict] = {}
    for row in rows:
        if row["brand"] != brand:
            continue
        entry = by_problem.setdefault(
            row["problem"],
            {
                "problem": row["problem"],
                "count": 0,
                "previous": 0,
                "negative": 0,
                "share_of_problems": None,
            },
        )
        if row["period_start"] == current:
            entry["count"] = int(row["items"])
            entry["negative"] = int(row["negative_items"])
            entry["share_of_problems"] = _number(row["share_of_problems"])
        elif row["period_start"] == previous:
            entry["previous"] = int(row["items"])
    problems = [
        {**entry, "change": entry["count"] - entry["previous"]} for entry in by_problem.values()
    ]
    return sorted(problems, key=lambda item: (-item["count"], -item["previous"], item["problem"]))


def _terms(
    con, config: Config, tables: set[str], brands: list[str], period: Period
) -> dict[tuple[str, str], list[dict]]:
    terms: dict[tuple[str, str], list[dict]] = defaultdict(list)
    if not _has_items(tables) or not brands:
        return terms
    name_words = [
        (brand.name, word)
        for brand in config.brands
        if brand.name in brands
        for word in sorted(set(_WORD.findall(brand.name.lower())))
    ]
    parameters = {
        **_items_parameters(config, brands, period.start, period.end),
        "languages": list(TERM_LANGUAGES),
        "name_brands": [brand for brand, _ in name_words],
        "name_terms": [word for _, word in name_words],
        "limit": TOP_TERMS_PER_LANGUAGE,
    }
    rows = con.execute(_TERMS_SQL, parameters).fetchall()
    for brand, language, term, items, positive, negative in rows:
        terms[(brand, language)].append(
            {"term": term, "items": items, "positive": positive, "negative": negative}
        )
    return terms


def _top_terms(
    con, tables: set[str], grain: str, start: date, brands: list[str]
) -> dict[tuple[str, str], list[dict]]:
    rows = _mart_rows(
        con,
        tables,
        "mart_top_terms",
        "grain = $grain and period_start = $start "
        "and brand in (select unnest($brands::varchar []))",
        {"grain": grain, "start": start, "brands": brands},
    )
    lists: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in sorted(rows, key=lambda row: (row["brand"], row["sentiment"], row["rank"])):
        lists[(row["brand"], row["sentiment"])].append(
            {
                "term": row["term"],
                "items": int(row["items"]),
                "share_of_items": _number(row["share_of_items"]),
                "rank": int(row["rank"]),
            }
        )
    return lists


def _best_reviews(
    con, config: Config, tables: set[str], brands: list[str], period: Period
) -> dict[str, list[dict]]:
    best: dict[str, list[dict]] = defaultdict(list)
    if not _has_items(tables) or not brands:
        return best
    zone = ZoneInfo(config.timezone)
    parameters = {
        **_items_parameters(config, brands, period.start, period.end),
        "fake_problem": FAKE_PROBLEM,
        "min_chars": BEST_REVIEW_MIN_CHARS,
        "max_chars": BEST_REVIEW_MAX_CHARS,
        "limit": BEST_REVIEWS_PER_BRAND,
    }
    for row in _dicts(con, _BEST_REVIEWS_SQL, parameters):
        brand = row.pop("brand")
        published = row["published_at"]
        # DuckDB hands out instants in the session's time zone; the report shows the config's.
        row["published_at"] = published.astimezone(zone) if published else None
        row["text_score"] = _number(row["text_score"])
        best[brand].append(row)
    return best


def _drop_rows(
    con, tables: set[str], mart: str, grain: str, starts: tuple[date, date], brands: list[str]
) -> list[dict]:
    return _mart_rows(
        con,
        tables,
        mart,
        "grain = $grain and period_start in (select unnest($starts)) "
        "and brand in (select unnest($brands::varchar []))",
        {"grain": grain, "starts": list(starts), "brands": brands},
    )


def _drop_figures(
    rows: list[dict], brand: str, starts: tuple[date, date], keys: tuple[str, ...]
) -> dict | None:
    """Totals, per channel and per category of a brand's complaint or survey records (the
    marts' 'all' rows), each figure against the previous period; None without records."""
    current, previous = starts
    own = [row for row in rows if row["brand"] == brand]
    if not own:
        return None
    by_key = {(row["period_start"], row["channel"], row["category"]): row for row in own}

    def figures(channel: str, category: str) -> dict:
        now = by_key.get((current, channel, category))
        before = by_key.get((previous, channel, category))
        return {key: _kpi(_drop_value(now, key), _drop_value(before, key)) for key in keys}

    def breakdown(dimension: str) -> list[dict]:
        names = sorted(
            {
                row[dimension]
                for row in own
                if row[dimension] != "all"
                and row["channel" if dimension == "category" else "category"] == "all"
            }
        )
        entries = []
        for name in names:
            channel, category = (name, "all") if dimension == "channel" else ("all", name)
            entries.append({dimension: name, **figures(channel, category)})
        count_key = keys[0]
        return sorted(
            entries,
            key=lambda entry: (
                -entry[count_key]["value"],
                -entry[count_key]["previous"],
                entry[dimension],
            ),
        )

    return {
        "totals": figures("all", "all"),
        "by_channel": breakdown("channel"),
        "by_category": breakdown("category"),
    }


def _drop_value(row: dict | None, key: str):
    if row is None or row[key] is None:
        return 0 if key in _DROP_COUNTS else None
    return _number(row[key])


def _events(con, config: Config, tables: set[str], period: Period) -> list[dict]:
    """Configured events whose day or effect window overlaps the period, with their effects
    as mart_event_effects holds them (when it holds the event as configured)."""
    events = [
        event
        for event in config.events
        if event.date - timedelta(days=event.window_days) <= period.end
        and event.date + timedelta(days=event.window_days - 1) >= period.start
    ]
    if not events:
        return []
    rows = _mart_rows(
        con,
        tables,
        "mart_event_effects",
        "event_name in (select unnest($names::varchar []))",
        {"names": [event.name for event in events]},
    )
    by_name = {row["event_name"]: row for row in rows}
    described = []
    for event in sorted(events, key=lambda event: (event.date, event.name)):
        row = by_name.get(event.name)
        as_configured = (
            row is not None
            and row["brand"] == event.brand
            and row["event_date"] == event.date
            and row["window_days"] == event.window_days
        )
        described.append(
            {
                "name": event.name,
                "kind": event.kind,
                "brand": event.brand,
                "date": event.date,
                "window_days": event.window_days,
                "in_period": period.start <= event.date <= period.end,
                "effects": _effects(row) if as_configured else None,
            }
        )
    return described


def _effects(row: dict) -> dict:
    figures = {}
    for key in EVENT_KEYS:
        before, after = _number(row[f"{key}_before"]), _number(row[f"{key}_after"])
        figures[key] = {
            "before": before,
            "after": after,
            "change": None if before is None or after is None else after - before,
        }
    return {
        "window_days_used": row["window_days_used"],
        "complete": row["complete"],
        "before_first_day": row["before_first_day"],
        "after_last_day": row["after_last_day"],
        "figures": figures,
        "negative_share_test": _two_proportion_test(
            row["reviews_before"],
            row["negative_share_before"],
            row["reviews_after"],
            row["negative_share_after"],
        ),
    }


def _two_proportion_test(
    trials_before: int | None,
    share_before: float | None,
    trials_after: int | None,
    share_after: float | None,
) -> dict | None:
    """Two-sided z-test of equal proportions (pooled standard error); None when a side has
    too few items for the normal approximation."""
    if not trials_before or not trials_after or share_before is None or share_after is None:
        return None
    hits_before = round(share_before * trials_before)
    hits_after = round(share_after * trials_after)
    pooled = (hits_before + hits_after) / (trials_before + trials_after)
    expected = (
        trials * share for trials in (trials_before, trials_after) for share in (pooled, 1 - pooled)
    )
    if min(expected) < MIN_EXPECTED_COUNT:
        return None
    error = math.sqrt(pooled * (1 - pooled) * (1 / trials_before + 1 / trials_after))
    z = (hits_after / trials_after - hits_before / trials_before) / error
    p_value = math.erfc(abs(z) / math.sqrt(2))
    return {"z": z, "p_value": p_value, "significant": p_value < SIGNIFICANCE_LEVEL}


# --- small helpers ---------------------------------------------------------------------------


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def _number(value):
    """Plain int or float (DuckDB hands decimals out as Decimal)."""
    if isinstance(value, Decimal):
        return float(value)
    return value


def _count(row: dict | None, key: str) -> int:
    return int(row[key] or 0) if row else 0


def _volume(row: dict | None) -> int:
    return _count(row, "reviews") + _count(row, "mentions")


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _kpi(value, previous) -> dict:
    change = None if value is None or previous is None else value - previous
    relative = None if change is None or not previous else change / abs(previous)
    return {"value": value, "previous": previous, "change": change, "relative_change": relative}
