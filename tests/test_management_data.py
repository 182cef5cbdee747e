"""The weekly and monthly management figures on a generated demo warehouse (repwatch demo-data,
then the real period models): each figure against a recount from the underlying rows
(int_reviews with int_reviews_enriched, deduplicated and filtered here in Python as
docs/metrics.md says), previous-period values against the context of the previous period,
and empty periods."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from statistics import median
from zoneinfo import ZoneInfo

import duckdb
import pytest

from repwatch.config import Config, load_config
from repwatch.demo_data import generate
from repwatch.management_data import (
    BEST_REVIEW_MAX_CHARS,
    BEST_REVIEW_MIN_CHARS,
    BEST_REVIEWS_PER_BRAND,
    COMPARISON_KEYS,
    KPI_KEYS,
    TERM_LANGUAGES,
    TOP_TERMS_PER_LANGUAGE,
    _two_proportion_test,
    build_period_context,
)
from repwatch.periods import Period, parse_period
from repwatch.pipeline import transform_days
from repwatch.warehouse import connect
from tests.conftest import write_config

ITEMS = 8000
DAYS = 80
LAST_DAY = date(2026, 11, 20)
FIRST_DAY = LAST_DAY - timedelta(days=DAYS - 1)  # 2026-09-02
WEEK = parse_period("weekly", "2026-W46")  # 9-15 November, complete
MONTH = parse_period("monthly", "2026-10")  # complete, and September before it partly covered
RUNNING_MONTH = parse_period("monthly", "2026-11")  # the data ends on the 20th
EMPTY_WEEK = parse_period("weekly", "2025-W10")  # long before the data
LATER_WEEK = parse_period("weekly", "2027-W02")  # after the data


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Config:
    folder = tmp_path_factory.mktemp("management")
    config = load_config(write_config(folder, paths={"data_dir": str(folder / "data")}))
    generate(config, items=ITEMS, days=DAYS, last_day=LAST_DAY, seed=11)
    transform_days(config, FIRST_DAY, LAST_DAY)
    return config


@pytest.fixture(scope="module")
def contexts(config) -> dict[str, dict]:
    periods = {
        "week": WEEK,
        "week_before": WEEK.previous(),
        "month": MONTH,
        "month_before": MONTH.previous(),
        "running_month": RUNNING_MONTH,
        "empty": EMPTY_WEEK,
        "later": LATER_WEEK,
    }
    with connect(config, read_only=True) as con:
        return {name: build_period_context(con, config, period) for name, period in periods.items()}


# --- the rows, recounted here ----------------------------------------------------------------


def _rows(config: Config, sql: str, parameters=()) -> list[dict]:
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        con.execute("set timezone = 'UTC'")
        cursor = con.execute(sql, list(parameters))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _items(config: Config, first: date, last: date, record_types=("review", "mention")):
    """Items of configured brands published first..last, once per brand (newest crawl, then
    first target), with their annotations and whether an excluded flag leaves them out."""
    rows = _rows(
        config,
        """
        select reviews.*, enriched.sentiment as enriched_sentiment, enriched.text_sentiment,
            enriched.text_score, enriched.language as enriched_language, enriched.flags,
            enriched.problems, enriched.terms, enriched.dimensions,
            enriched.rating_disagreement
        from int_reviews as reviews
        left join int_reviews_enriched as enriched using (source, target_id, review_id)
        where reviews.published_day between ? and ?
        """,
        [first, last],
    )
    brands = {brand.name for brand in config.brands}
    newest: dict[tuple, dict] = {}
    for row in rows:
        if row["brand"] not in brands or row["record_type"] not in record_types:
            continue
        key = (row["brand"], row["source"], row["review_id"])
        kept = newest.get(key)
        if kept is None or (row["crawled_at"], kept["target_id"]) > (
            kept["crawled_at"],
            row["target_id"],
        ):
            newest[key] = row
    excluded_kinds = set(config.metrics.excluded_flags)
    items = []
    for row in newest.values():
        flags = row["flags"] or []
        row["excluded"] = any(flag.split(":")[0] in excluded_kinds for flag in flags)
        row["sentiment"] = row["enriched_sentiment"] or row["sentiment"]
        items.append(row)
    return items


def _counted(items, brand, record_type):
    return [
        item
        for item in items
        if item["brand"] == brand and item["record_type"] == record_type and not item["excluded"]
    ]


def _recount(config: Config, period: Period, brand: str) -> dict:
    items = _items(config, period.start, period.end)
    reviews = _counted(items, brand, "review")
    mentions = _counted(items, brand, "mention")
    rated = [item["rating"] for item in reviews if item["rating"] is not None]
    negative = [item for item in reviews if item["sentiment"] == "negative"]
    within_sla = [
        item
        for item in negative
        if item["reply_at"] is not None
        and (item["reply_at"] - item["published_at"]).total_seconds() <= 24 * 3600
    ]
    scores = [item["text_score"] for item in reviews if item["text_score"] is not None]
    replied = [item for item in reviews if item["reply_at"] is not None]
    response_hours = [
        max((item["reply_at"] - item["published_at"]).total_seconds() / 3600, 0) for item in replied
    ]
    return {
        "reviews": len(reviews),
        "mentions": len(mentions),
        "rated_reviews": len(rated),
        "avg_rating": sum(rated) / len(rated) if rated else None,
        "csat": 100 * sum(1 for stars in rated if stars >= 4) / len(rated) if rated else None,
        "positive": sum(1 for item in reviews if item["sentiment"] == "positive"),
        "neutral": sum(1 for item in reviews if item["sentiment"] == "neutral"),
        "negative": len(negative),
        "negative_share": len(negative) / len(reviews) if reviews else None,
        "mean_text_score": sum(scores) / len(scores) if scores else None,
        "response_rate": len(replied) / len(reviews) if reviews else None,
        "first_response_median_hours": median(response_hours) if response_hours else None,
        "sla_compliance": len(within_sla) / len(negative) if negative else None,
        "negative_replied_within_sla": len(within_sla),
        "ratings": Counter(rated),
    }


def _own(config: Config) -> list[str]:
    return [brand.name for brand in config.brands if not brand.competitor]


def _brand(context: dict, name: str) -> dict:
    (found,) = [brand for brand in context["brands"] if brand["name"] == name]
    return found


def _approx(value):
    return None if value is None else pytest.approx(value, rel=1e-9, abs=1e-9)


# --- KPIs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "period"), [("week", WEEK), ("month", MONTH)])
def test_kpis_equal_a_recount_of_the_rows(config, contexts, name, period):
    context = contexts[name]
    recounted = [
        "reviews",
        "mentions",
        "rated_reviews",
        "avg_rating",
        "csat",
        "positive",
        "neutral",
        "negative",
        "negative_share",
        "mean_text_score",
        "response_rate",
        "first_response_median_hours",
        "sla_compliance",
        "negative_replied_within_sla",
    ]
    for brand in _own(config):
        kpis = _brand(context, brand)["kpis"]
        assert set(kpis) == set(KPI_KEYS)
        now = _recount(config, period, brand)
        before = _recount(config, period.previous(), brand)
        assert now["reviews"] > 50, "the generated week has a real volume"
        for key in recounted:
            assert kpis[key]["value"] == _approx(now[key]), key
            assert kpis[key]["previous"] == _approx(before[key]), key
            if now[key] is not None and before[key] is not None:
                assert kpis[key]["change"] == _approx(now[key] - before[key]), key
        assert kpis["reviews"]["relative_change"] == _approx(
            (now["reviews"] - before["reviews"]) / before["reviews"]
        )


def test_counts_are_integers_and_rates_in_range(contexts):
    for context in (contexts["week"], contexts["month"], contexts["running_month"]):
        for brand in context["brands"]:
            kpis = brand["kpis"]
            for key in ("reviews", "mentions", "positive", "neutral", "negative"):
                assert isinstance(kpis[key]["value"], int)
            for key in ("negative_share", "sla_compliance", "response_rate", "share_of_voice"):
                assert 0 <= kpis[key]["value"] <= 1
            for key in ("csat", "satisfaction_index", "reputation_score"):
                assert 0 <= kpis[key]["value"] <= 100
            assert -1 <= kpis["mean_text_score"]["value"] <= 1
            sentiment = sum(kpis[key]["value"] for key in ("positive", "neutral", "negative"))
            assert sentiment <= kpis["reviews"]["value"]


def test_satisfaction_dimensions_and_index_from_the_items(config, contexts):
    weights = config.metrics.satisfaction_weights
    for brand in _own(config):
        items = _items(config, WEEK.start, WEEK.end)
        scores = defaultdict(list)
        for item in items:
            if item["brand"] != brand or item["excluded"] or item["dimensions"] is None:
                continue
            for dimension, sentiment in json.loads(item["dimensions"]).items():
                if dimension in weights:
                    scores[dimension].append(3 + 2 * round(sentiment, 6))
        context = _brand(contexts["week"], brand)
        expected_index = sum(weights[d] * (sum(s) / len(s) - 1) for d, s in scores.items()) / (
            4 * sum(weights[d] for d in scores)
        )
        assert context["kpis"]["satisfaction_index"]["value"] == pytest.approx(
            100 * expected_index, abs=1e-4
        )
        assert [row["dimension"] for row in context["dimensions"]] == list(weights)
        for row in context["dimensions"]:
            values = scores.get(row["dimension"], [])
            assert row["weight"] == weights[row["dimension"]]
            assert row["items"]["value"] == len(values)
            expected = (sum(values) / len(values) - 1) / 4 * 100 if values else None
            assert row["satisfaction"]["value"] == (
                None if expected is None else pytest.approx(expected, abs=1e-4)
            )


def test_overdue_reviews_are_the_list_of_the_periods_last_day(config, contexts):
    zone = ZoneInfo(config.timezone)
    for name, as_of in (("week", WEEK.end), ("running_month", LAST_DAY)):
        for brand in _own(config):
            context = _brand(contexts[name], brand)
            assert context["overdue_as_of"]["value"] == as_of
            end_of_day = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=zone)
            items = _items(config, as_of - timedelta(days=7), as_of, ("review",))
            overdue = [
                item
                for item in items
                if item["brand"] == brand
                and not item["excluded"]
                and item["sentiment"] == "negative"
                and item["published_at"] + timedelta(hours=24) <= end_of_day
                and (item["reply_at"] is None or item["reply_at"] > end_of_day)
            ]
            assert overdue, "the generated data has unanswered negative reviews"
            assert context["kpis"]["overdue_reviews"]["value"] == len(overdue)


# --- previous period, comparison, share of voice ----------------------------------------------


@pytest.mark.parametrize(("name", "before"), [("week", "week_before"), ("month", "month_before")])
def test_previous_values_are_those_of_the_previous_periods_context(contexts, name, before):
    context, previous = contexts[name], contexts[before]
    assert context["previous"] == {
        "label": previous["label"],
        "start": previous["start"],
        "end": previous["end"],
        "days": previous["days"],
    }
    for brand, earlier in zip(context["brands"], previous["brands"], strict=True):
        for key in KPI_KEYS:
            assert brand["kpis"][key]["previous"] == earlier["kpis"][key]["value"], key
        assert brand["overdue_as_of"]["previous"] == earlier["overdue_as_of"]["value"]
        for row, old in zip(brand["dimensions"], earlier["dimensions"], strict=True):
            assert row["satisfaction"]["previous"] == old["satisfaction"]["value"]
            assert row["items"]["previous"] == old["items"]["value"]
        assert [r["previous"] for r in brand["ratings"]] == [r["count"] for r in earlier["ratings"]]
        old_problems = {row["problem"]: row["count"] for row in earlier["problems"]}
        for row in brand["problems"]:
            assert row["previous"] == old_problems.get(row["problem"], 0)
        assert brand["trend_previous"] == earlier["trend"]
        if brand["complaints"] is not None:
            totals, old = brand["complaints"]["totals"], earlier["complaints"]["totals"]
            assert {k: v["previous"] for k, v in totals.items()} == {
                k: v["value"] for k, v in old.items()
            }
    for row, old in zip(context["comparison"], previous["comparison"], strict=True):
        assert row["brand"] == old["brand"]
        for key in COMPARISON_KEYS:
            assert row[key]["previous"] == old[key]["value"], key


def test_comparison_covers_every_brand_with_share_of_voice_of_reviews_and_mentions(
    config, contexts
):
    context = contexts["week"]
    assert [(row["brand"], row["competitor"]) for row in context["comparison"]] == [
        (brand.name, brand.competitor) for brand in config.brands
    ]
    volume = {
        brand.name: sum(_recount(config, WEEK, brand.name)[k] for k in ("reviews", "mentions"))
        for brand in config.brands
    }
    total = sum(volume.values())
    for row in context["comparison"]:
        assert row["share_of_voice"]["value"] == _approx(volume[row["brand"]] / total)
        recount = _recount(config, WEEK, row["brand"])
        for key in ("reviews", "mentions", "avg_rating", "csat", "negative_share"):
            assert row[key]["value"] == _approx(recount[key]), key
        assert row["reputation_score"]["value"] is not None
        assert row["satisfaction_index"]["value"] is not None
    shares = [row["share_of_voice"]["value"] for row in context["comparison"]]
    assert sum(shares) == pytest.approx(1.0)
    for brand in context["brands"]:
        (row,) = [r for r in context["comparison"] if r["brand"] == brand["name"]]
        assert brand["kpis"]["share_of_voice"] == row["share_of_voice"]


# --- trend, ratings, problems ----------------------------------------------------------------


def test_monthly_trend_covers_every_day_and_adds_up(config, contexts):
    for name, period in (("month", MONTH), ("running_month", RUNNING_MONTH)):
        for brand_name in _own(config):
            brand = _brand(contexts[name], brand_name)
            days = [row["day"] for row in brand["trend"]]
            assert days == [period.start + timedelta(days=n) for n in range(period.days)]
            assert len(brand["trend_previous"]) == period.previous().days
            for key in ("reviews", "mentions", "positive", "neutral", "negative"):
                assert sum(row[key] for row in brand["trend"]) == brand["kpis"][key]["value"]
            items = _items(config, period.start, period.end, ("review",))
            per_day = defaultdict(list)
            for item in _counted(items, brand_name, "review"):
                if item["text_score"] is not None:
                    per_day[item["published_day"]].append(item["text_score"])
            for row in brand["trend"]:
                scores = per_day.get(row["day"])
                expected = sum(scores) / len(scores) if scores else None
                assert row["mean_text_score"] == _approx(expected)
    # The running month has no data after the 20th: zeros and no rates, not gaps.
    tail = [row for row in _brand(contexts["running_month"], "Acme Shop")["trend"]]
    assert all(row["reviews"] == 0 and row["mean_text_score"] is None for row in tail[20:])
    assert all(row["negative_share"] is None and row["avg_rating"] is None for row in tail[20:])
    assert contexts["running_month"]["complete"] is False
    assert contexts["month"]["complete"] is True


def test_rating_distribution_counts_each_star(config, contexts):
    for brand_name in _own(config):
        brand = _brand(contexts["month"], brand_name)
        now = _recount(config, MONTH, brand_name)["ratings"]
        before = _recount(config, MONTH.previous(), brand_name)["ratings"]
        assert brand["ratings"] == [
            {"stars": stars, "count": now[stars], "previous": before[stars]}
            for stars in range(1, 6)
        ]


def test_problem_types_equal_a_direct_count_most_frequent_first(config, contexts):
    def count(period, brand):
        counts = Counter()
        for item in _items(config, period.start, period.end):
            if item["brand"] == brand and not item["excluded"]:
                counts.update(set(item["problems"] or []))
        return counts

    for brand_name in _own(config):
        problems = _brand(contexts["week"], brand_name)["problems"]
        now, before = count(WEEK, brand_name), count(WEEK.previous(), brand_name)
        assert now, "the generated week raises problem types"
        assert {row["problem"] for row in problems} == set(now) | set(before)
        for row in problems:
            assert (row["count"], row["previous"]) == (now[row["problem"]], before[row["problem"]])
            assert row["change"] == row["count"] - row["previous"]
        order = [(-row["count"], -row["previous"], row["problem"]) for row in problems]
        assert order == sorted(order)
        assert sum(row["share_of_problems"] or 0 for row in problems) == pytest.approx(1.0)


# --- terms and best reviews --------------------------------------------------------------------


def test_word_cloud_terms_per_language_counted_once_per_item(config, contexts):
    for brand_name in _own(config):
        terms = _brand(contexts["month"], brand_name)["terms"]
        assert list(terms) == list(TERM_LANGUAGES)
        items = [
            item
            for item in _items(config, MONTH.start, MONTH.end)
            if item["brand"] == brand_name and not item["excluded"] and item["terms"]
        ]
        own_words = set(brand_name.lower().split())
        for language in TERM_LANGUAGES:
            listed = terms[language]
            assert 0 < len(listed) <= TOP_TERMS_PER_LANGUAGE
            counts = Counter()
            positive, negative = Counter(), Counter()
            for item in items:
                if item["enriched_language"] != language:
                    continue
                distinct = set(item["terms"]) - own_words
                counts.update(distinct)
                if item["sentiment"] == "positive":
                    positive.update(distinct)
                if item["sentiment"] == "negative":
                    negative.update(distinct)
            expected = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
            assert [(row["term"], row["items"]) for row in listed] == expected[: len(listed)]
            assert len(listed) == min(TOP_TERMS_PER_LANGUAGE, len(expected))
            for row in listed:
                assert (row["positive"], row["negative"]) == (
                    positive[row["term"]],
                    negative[row["term"]],
                )
        mart_lists = _brand(contexts["month"], brand_name)["top_terms"]
        assert mart_lists["positive"] and mart_lists["negative"]
        assert [row["rank"] for row in mart_lists["positive"]] == list(
            range(1, len(mart_lists["positive"]) + 1)
        )


def _quotable(item) -> bool:
    text = item["text"] or ""
    return (
        not item["excluded"]
        and item["text_sentiment"] == "positive"
        and (item["rating"] is None or item["rating"] >= 4)
        and not item["flags"]
        and "fake_or_malicious" not in (item["problems"] or [])
        and not item["rating_disagreement"]
        and BEST_REVIEW_MIN_CHARS <= len(text) <= BEST_REVIEW_MAX_CHARS
    )


def test_best_reviews_follow_their_rules_and_are_the_best(config, contexts):
    zone = ZoneInfo(config.timezone)
    for brand_name in _own(config):
        best = _brand(contexts["month"], brand_name)["best_reviews"]
        assert len(best) == BEST_REVIEWS_PER_BRAND
        items = {
            (item["source"], item["target_id"], item["review_id"]): item
            for item in _items(config, MONTH.start, MONTH.end)
            if item["brand"] == brand_name
        }
        for review in best:
            item = items[(review["source"], review["target_id"], review["review_id"])]
            assert _quotable(item)
            assert review["text"] == item["text"]
            assert review["rating"] == item["rating"]
            assert review["text_score"] == item["text_score"]
            assert review["language"] == item["enriched_language"]
            assert review["published_at"] == item["published_at"]
            assert review["published_at"].tzinfo is not None
            assert review["published_at"].utcoffset() == zone.utcoffset(review["published_at"])
            for key in ("author", "url", "title", "record_type"):
                assert review[key] == item[key], key
        assert len({review["text"].lower() for review in best}) == len(best), "distinct texts"
        scores = [review["text_score"] for review in best]
        assert scores == sorted(scores, reverse=True)
        # Nothing better was left out: the top scores of every quotable distinct text.
        by_text = {}
        for item in items.values():
            if _quotable(item):
                text = item["text"].lower()
                by_text[text] = max(by_text.get(text, -2), item["text_score"])
        assert scores == sorted(by_text.values(), reverse=True)[: len(best)]


# --- complaints, surveys, events -------------------------------------------------------------


def test_complaints_recounted_from_the_drop_records(config, contexts):
    brand = _brand(contexts["month"], "Acme Shop")
    complaints = brand["complaints"]
    assert complaints is not None
    for period, side in ((MONTH, "value"), (MONTH.previous(), "previous")):
        records = _items(config, period.start, period.end, ("complaint",))
        records = [record for record in records if record["brand"] == "Acme Shop"]
        resolved = [record for record in records if json.loads(record["extra"]).get("resolved_at")]
        totals = complaints["totals"]
        assert totals["complaints"][side] == len(records) > 0
        assert totals["resolved"][side] == len(resolved)
        assert totals["resolution_rate"][side] == _approx(len(resolved) / len(records))
        by_channel = Counter(json.loads(record["extra"])["channel"] for record in records)
        listed = {row["channel"]: row["complaints"][side] for row in complaints["by_channel"]}
        assert listed == {channel: by_channel[channel] for channel in listed}
        assert set(by_channel) <= set(listed)
    for breakdown, key in (("by_channel", "channel"), ("by_category", "category")):
        rows = complaints[breakdown]
        assert sum(row["complaints"]["value"] for row in rows) == totals["complaints"]["value"]
        order = [
            (-row["complaints"]["value"], -row["complaints"]["previous"], row[key]) for row in rows
        ]
        assert order == sorted(order)


def test_surveys_recounted_from_the_answers(config, contexts):
    surveys = _brand(contexts["month"], "Acme Shop")["surveys"]
    assert surveys is not None
    answers = [
        record
        for record in _items(config, MONTH.start, MONTH.end, ("survey",))
        if record["brand"] == "Acme Shop"
    ]
    rated = [record["rating"] for record in answers if record["rating"] is not None]
    totals = surveys["totals"]
    assert totals["responses"]["value"] == len(answers) > 0
    assert totals["mean_score"]["value"] == _approx(sum(rated) / len(rated))
    assert totals["csat"]["value"] == _approx(100 * sum(r >= 4 for r in rated) / len(rated))


def test_events_overlapping_the_period_with_their_effects(config, contexts):
    (event,) = config.events  # the demo's fix of 2026-11-06, 14-day windows
    for name in ("week", "month", "running_month"):
        (described,) = contexts[name]["events"]
        assert (described["name"], described["date"], described["brand"]) == (
            event.name,
            event.date,
            event.brand,
        )
    assert contexts["running_month"]["events"][0]["in_period"] is True
    assert contexts["week"]["events"][0]["in_period"] is False  # only its after-window
    assert contexts["month_before"]["events"] == []  # September ends before 23 October
    effects = contexts["week"]["events"][0]["effects"]
    (mart,) = _rows(config, "select * from mart_event_effects where event_name = ?", [event.name])
    assert effects["window_days_used"] == mart["window_days_used"]
    for key, figure in effects["figures"].items():
        assert figure["before"] == _approx(mart[f"{key}_before"]), key
        assert figure["after"] == _approx(mart[f"{key}_after"]), key
    # the mart's negative share before the fix, recounted
    before = _items(config, event.date - timedelta(days=14), event.date - timedelta(days=1))
    reviews = _counted(before, event.brand, "review")
    negative = sum(1 for item in reviews if item["sentiment"] == "negative")
    assert effects["figures"]["negative_share"]["before"] == _approx(negative / len(reviews))
    test = effects["negative_share_test"]
    assert test is not None and test["significant"] == (test["p_value"] < 0.05)


def test_two_proportion_test_by_hand():
    # 20 of 100 before, 35 of 100 after: pooled p = 55/200 = 0.275,
    # se = sqrt(0.275 * 0.725 * (1/100 + 1/100)) = 0.0631467, z = 0.15 / se = 2.37542,
    # two-sided p = erfc(z / sqrt 2) = 0.0175289
    test = _two_proportion_test(100, 0.20, 100, 0.35)
    assert test["z"] == pytest.approx(2.3754227, abs=1e-6)
    assert test["p_value"] == pytest.approx(0.0175289, abs=1e-6)
    assert test["significant"] is True
    assert _two_proportion_test(100, 0.20, 100, 0.25)["significant"] is False
    # 1 of 10 vs 2 of 10: too few for the normal approximation
    assert _two_proportion_test(10, 0.1, 10, 0.2) is None
    assert _two_proportion_test(0, None, 50, 0.2) is None


# --- edges ---------------------------------------------------------------------------------


def test_a_period_without_data_gives_zeros_and_none(config, contexts):
    context = contexts["empty"]
    assert (context["label"], context["start"], context["end"]) == (
        "2025-W10",
        date(2025, 3, 3),
        date(2025, 3, 9),
    )
    for brand in context["brands"]:
        kpis = brand["kpis"]
        for key in ("reviews", "mentions", "positive", "neutral", "negative"):
            assert kpis[key] == {"value": 0, "previous": 0, "change": 0, "relative_change": None}
        for key in ("avg_rating", "csat", "negative_share", "mean_text_score", "reputation_score"):
            assert kpis[key] == {
                "value": None,
                "previous": None,
                "change": None,
                "relative_change": None,
            }
        # nothing was published, so nothing is overdue (None is for days the data lacks)
        assert kpis["overdue_reviews"]["value"] == 0
        assert [row["reviews"] for row in brand["trend"]] == [0] * 7
        assert all(row["mean_text_score"] is None for row in brand["trend"])
        assert brand["ratings"] == [{"stars": s, "count": 0, "previous": 0} for s in range(1, 6)]
        assert brand["problems"] == [] and brand["best_reviews"] == []
        assert brand["terms"] == {language: [] for language in TERM_LANGUAGES}
        assert brand["complaints"] is None and brand["surveys"] is None
        assert all(row["satisfaction"]["value"] is None for row in brand["dimensions"])
    assert all(row["share_of_voice"]["value"] is None for row in context["comparison"])
    assert context["events"] == []
    assert context["coverage"]["start"] == EMPTY_WEEK.start
    later = contexts["later"]
    assert later["data_last_day"] == LAST_DAY and later["complete"] is False
    assert all(brand["kpis"]["overdue_reviews"]["value"] is None for brand in later["brands"])


def test_top_level_and_coverage(config, contexts):
    context = contexts["week"]
    assert (context["report"], context["label"], context["days"]) == ("weekly", "2026-W46", 7)
    assert (context["start"], context["end"]) == (date(2026, 11, 9), date(2026, 11, 15))
    assert context["previous"]["label"] == "2026-W45"
    assert context["timezone"] == config.timezone
    assert context["data_last_day"] == LAST_DAY
    assert [brand["name"] for brand in context["brands"]] == _own(config)
    assert (context["coverage"]["start"], context["coverage"]["end"]) == (WEEK.start, WEEK.end)
    assert contexts["month"]["label"] == "2026-10"


def test_same_warehouse_same_context(config, contexts):
    with connect(config, read_only=True) as con:
        again = build_period_context(con, config, MONTH)
    assert again == contexts["month"]


def test_an_unknown_report_is_refused(config):
    with connect(config, read_only=True) as con, pytest.raises(ValueError, match="unknown report"):
        build_period_context(
            con, config, Period("quarterly", date(2026, 10, 1), date(2026, 12, 31))
        )


def test_a_warehouse_without_marts_gives_an_empty_context(tmp_path):
    config = load_config(write_config(tmp_path, paths={"data_dir": str(tmp_path / "data")}))
    generate(config, items=200, days=10, last_day=LAST_DAY, seed=1)
    with connect(config, read_only=True) as con:
        context = build_period_context(con, config, WEEK)
    acme = _brand(context, "Acme Shop")
    assert acme["kpis"]["reviews"]["value"] == 0
    assert acme["problems"] == []
