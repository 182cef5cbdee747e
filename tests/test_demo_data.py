"""`repwatch demo-data`: deterministic for a seed, the counts asked for, realistic shapes, and
exactly the schema a real load and enrichment produce."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from repwatch.config import Config, Paths, load_config
from repwatch.demo_data import generate
from repwatch.records import RECORD_FIELDS
from tests.conftest import write_config

ITEMS = 4000
DAYS = 120
LAST_DAY = date(2026, 11, 20)
FIRST_DAY = LAST_DAY - timedelta(days=DAYS - 1)
TABLES = ("stg_reviews", "int_reviews", "int_reviews_enriched", "dim_targets")


def _config_in(folder: Path) -> Config:
    folder.mkdir(parents=True, exist_ok=True)
    return load_config(write_config(folder, paths={"data_dir": str(folder / "data")}))


def _with_data_dir(config: Config, folder: Path) -> Config:
    return config.model_copy(update={"paths": Paths(data_dir=folder)})


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Config:
    config = _config_in(tmp_path_factory.mktemp("generated"))
    generate(config, items=ITEMS, days=DAYS, last_day=LAST_DAY, seed=7)
    return config


def _query(config: Config, sql: str) -> list[tuple]:
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def _one(config: Config, sql: str):
    (row,) = _query(config, sql)
    return row[0] if len(row) == 1 else row


def _contents(config: Config) -> dict[str, list[tuple]]:
    return {
        table: _query(config, f"select * from {table} order by all")
        for table in ("int_reviews", "int_reviews_enriched")
    }


def test_same_seed_same_warehouse_other_seed_other_warehouse(generated, tmp_path):
    again = _with_data_dir(generated, tmp_path / "again")
    generate(again, items=ITEMS, days=DAYS, last_day=LAST_DAY, seed=7)
    assert _contents(again) == _contents(generated)

    other = _with_data_dir(generated, tmp_path / "other")
    generate(other, items=ITEMS, days=DAYS, last_day=LAST_DAY, seed=8)
    assert _contents(other)["int_reviews"] != _contents(generated)["int_reviews"]


def test_counts_and_range(generated):
    for table in ("stg_reviews", "int_reviews"):
        assert _one(generated, f"select count(*) from {table}") == ITEMS
    undated = _one(generated, "select count(*) from int_reviews where published_day is null")
    assert undated > 0
    # Every dated item is enriched, filed under its day; undated ones wait for a date.
    assert (
        _one(
            generated,
            """
        select count(*)
        from int_reviews as reviews
        inner join int_reviews_enriched as enriched
            using (source, target_id, review_id, published_day)
        """,
        )
        == _one(generated, "select count(*) from int_reviews_enriched")
        == ITEMS - undated
    )
    first, last = _one(generated, "select min(published_day), max(published_day) from int_reviews")
    assert (first, last) == (FIRST_DAY, LAST_DAY)
    configured = {(brand.name, source.source) for brand, source, _ in generated.targets()}
    found = set(_query(generated, "select distinct brand, source from int_reviews"))
    assert found == configured
    record_types = dict(
        _query(generated, "select record_type, count(*) from int_reviews group by 1")
    )
    assert set(record_types) == {"review", "mention", "complaint", "survey"}
    assert record_types["review"] > ITEMS / 2


def test_loading_in_runs_of_days_gives_the_same_warehouse_in_day_order(generated, tmp_path):
    in_runs = _with_data_dir(generated, tmp_path / "runs")
    generate(in_runs, items=ITEMS, days=DAYS, last_day=LAST_DAY, seed=7, chunk_items=ITEMS // 7)
    assert _contents(in_runs) == _contents(generated)
    assert _one(in_runs, "select count(*) from stg_reviews") < ITEMS / 3, "the last run only"
    # Stored in day order, so that a scan of a few days skips the rest of the table.
    for table in ("int_reviews", "int_reviews_enriched"):
        days = [day for (day,) in _query(in_runs, f"select published_day from {table}")]
        dated = [day for day in days if day is not None]
        assert dated == sorted(dated)


def test_refuses_to_overwrite_a_warehouse_unless_asked(generated, tmp_path):
    config = _with_data_dir(generated, tmp_path / "data")
    generate(config, items=50, days=5, last_day=LAST_DAY, seed=1)
    with pytest.raises(FileExistsError):
        generate(config, items=50, days=5, last_day=LAST_DAY, seed=1)
    generate(config, items=60, days=5, last_day=LAST_DAY, seed=1, replace=True)
    assert _one(config, "select count(*) from int_reviews") == 60


def test_ratings_follow_the_texts(generated):
    rows = dict(
        _query(
            generated,
            """
            select enriched.text_sentiment, avg(reviews.rating)
            from int_reviews as reviews
            inner join int_reviews_enriched as enriched using (source, target_id, review_id)
            where reviews.record_type = 'review'
            group by 1
            """,
        )
    )
    assert rows["positive"] >= 3.8
    assert rows["negative"] <= 2.6
    negative_share = _one(
        generated,
        "select avg((rating <= 2)::int) from int_reviews where record_type = 'review'",
    )
    assert 0.1 <= negative_share <= 0.4


def test_languages_by_source(generated):
    languages = dict(
        _query(
            generated,
            "select source, list(distinct language) from int_reviews "
            "where source in ('jd', 'trustpilot') group by 1",
        )
    )
    assert languages == {"jd": ["zh"], "trustpilot": ["en"]}


def test_weekends_are_busier_than_midweek(generated):
    per_weekday = dict(
        _query(
            generated,
            "select isodow(published_day), count(*) from int_reviews "
            "where published_day is not null group by 1",
        )
    )
    weekend = (per_weekday[6] + per_weekday[7]) / 2
    midweek = (per_weekday[2] + per_weekday[3]) / 2
    assert weekend > 1.2 * midweek


def test_replies_come_early_late_or_never(generated):
    shares = _query(
        generated,
        """
        select
            rating <= 2 as poor,
            avg((reply_at is not null)::int) as replied,
            avg((epoch(reply_at - published_at) <= 24 * 3600)::int)
                filter (where reply_at is not null) as within_a_day,
            max(reply_at) as last_reply,
            min(epoch(reply_at - published_at)) as first_delay,
        from int_reviews
        where source in ('jd', 'trustpilot', 'jsonld') and rating is not null
        group by 1 order by 1
        """,
    )
    (_, other_replied, *_), (_, poor_replied, within_a_day, last_reply, first_delay) = shares
    assert poor_replied > other_replied > 0
    assert poor_replied < 1  # some never get an answer
    assert 0.3 < within_a_day < 0.95  # most within the 24-hour SLA, some late
    assert first_delay > 0
    # No reply comes from after the last generated day.
    assert last_reply.date() <= LAST_DAY
    assert _one(generated, "select count(reply_at) from int_reviews where source = 'appstore'") == 0


def test_mentions_have_no_ratings_and_complaints_are_shaped_like_drops(generated):
    assert (
        _one(generated, "select count(rating) from int_reviews where record_type = 'mention'") == 0
    )
    extras = [
        json.loads(extra)
        for (extra,) in _query(
            generated, "select extra from int_reviews where record_type = 'complaint'"
        )
    ]
    assert {"channel", "category", "resolved_at", "followup_satisfaction"} <= set(extras[0])
    resolved = [extra for extra in extras if extra["resolved_at"] is not None]
    assert 0.7 < len(resolved) / len(extras) < 1
    scores = {extra["followup_satisfaction"] for extra in extras} - {None}
    assert scores <= {1, 2, 3, 4, 5}
    # Slow resolutions leave customers less satisfied.
    by_speed = dict(
        _query(
            generated,
            """
            select
                epoch(try_cast(extra ->> 'resolved_at' as timestamptz) - published_at)
                    <= 24 * 3600 as fast,
                avg(try_cast(extra ->> 'followup_satisfaction' as double)),
            from int_reviews
            where record_type = 'complaint' and extra ->> 'resolved_at' is not null
            group by 1
            """,
        )
    )
    assert by_speed[True] > by_speed[False]


def test_enrichment_is_up_to_date_for_the_real_enrichment_step(generated, tmp_path):
    from repwatch.enrich import enrich

    config = _with_data_dir(generated, tmp_path / "copy")
    config.paths.data_dir.mkdir(parents=True)
    config.paths.warehouse.write_bytes(generated.paths.warehouse.read_bytes())
    # Same enrichment version and text hashes: nothing is pending, nothing is redone.
    assert enrich(config) == 0


def _load_a_real_batch(config: Config) -> None:
    from repwatch.warehouse import load_batch

    record = {
        "source": "appstore",
        "target_id": "app_id=1000001&country=us",
        "review_id": "1",
        "kind": "review",
        "author": "someone",
        "rating": 4,
        "title": "Fine",
        "text": "works fine",
        "language": "en",
        "published_at": "2026-11-20T08:00:00Z",
        "date_precision": "exact",
        "reply_text": None,
        "reply_at": None,
        "url": "https://example.test/1",
        "likes": 0,
        "extra": json.dumps({"version": "1.0"}),
        "crawled_at": "2026-11-21T01:00:00Z",
        "raw": json.dumps({"id": "1"}),
    }
    frame = pd.DataFrame([{**record, "file": "batch.jsonl", "line": 1}])
    frame = frame.loc[:, [*RECORD_FIELDS, "file", "line"]]
    quarantine = pd.DataFrame(
        columns=["source", "target_id", "review_id", "reason", "payload", "file", "line"]
    )
    load_batch(config, frame, quarantine, batch_id="real", files=[])


def test_schema_is_what_the_pipeline_produces(generated, tmp_path):
    real = _with_data_dir(generated, tmp_path / "real")
    _load_a_real_batch(real)

    def schema(config: Config) -> list[tuple]:
        return _query(
            config,
            "select table_name, column_name, data_type, is_nullable "
            "from information_schema.columns "
            f"where table_name in {TABLES} order by table_name, ordinal_position",
        )

    assert schema(generated) == schema(real)


def test_the_command_writes_a_warehouse_and_a_config_for_it(generated, tmp_path):
    from click.testing import CliRunner

    from repwatch.cli import main

    out_config = tmp_path / "generated.yaml"
    arguments = ["--config", str(generated.config_file), "demo-data", "--reviews", "300"]
    arguments += ["--days", "10", "--last-day", "2026-11-20", "--seed", "3"]
    arguments += ["--data-dir", str(tmp_path / "data"), "--out-config", str(out_config)]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    written = load_config(out_config)
    assert written.paths.warehouse == (tmp_path / "data" / "warehouse.duckdb").resolve()
    assert _one(written, "select count(*) from int_reviews") == 300
    assert [target.target_id for *_, target in written.targets()] == [
        target.target_id for *_, target in generated.targets()
    ]
    # Again without --replace: refused, the warehouse kept.
    assert CliRunner().invoke(main, arguments).exit_code != 0
    assert _one(written, "select count(*) from int_reviews") == 300
