"""The whole demo job for one day over real HTTP (demo site) and real SMTP (aiosmtpd):
crawl → check → load → transform → report → send, read back from the received .eml files."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, timedelta

import duckdb
import pytest

from repwatch.demo_site.catalog import reviews_for
from repwatch.pipeline import backfill, run_day


def _mart(config):
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        return con.execute("select * from mart_brand_daily order by all").fetchall()


def _served_negatives(day, country, app_id):
    return sum(
        1
        for review in reviews_for(country, app_id, day)
        if review["published_at"] is not None
        and review["published_at"].astimezone(UTC).date() == day
        and review["rating"] in (1, 2)
    )


def test_demo_day_end_to_end(demo_env):
    config, day = demo_env.config, demo_env.day
    result = run_day(config, day)

    assert len(result.landed_files) == len(config.targets())
    assert result.valid_rows > 0
    assert result.archive_path.exists()

    # The App Store part of the mart holds exactly the 1–2 star reviews the site served that day.
    served_one_or_two_stars = _served_negatives(day, "us", "1000001") + _served_negatives(
        day, "cn", "1000001"
    )
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        appstore_low_stars, negative, previous_week = con.execute(
            """
            select
                sum(rating_1 + rating_2) filter (where day = $day and source = 'appstore'),
                sum(negative) filter (where day = $day),
                sum(negative) filter (where day between $day - 10 and $day - 4) / 7
            from mart_brand_daily where brand = 'Acme Shop'
            """,
            {"day": day},
        ).fetchone()
        # Sentiment comes from each review's text combined with its stars (the enrichment).
        enriched_negative = con.execute(
            """
            select count(distinct (reviews.source, reviews.review_id))
            from int_reviews as reviews
            join int_reviews_enriched as enriched using (source, target_id, review_id)
            where reviews.brand = 'Acme Shop' and reviews.published_day = ?
                and reviews.record_type = 'review' and enriched.sentiment = 'negative'
            """,
            [day],
        ).fetchone()[0]
    assert appstore_low_stars == served_one_or_two_stars
    assert negative == enriched_negative
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        complaints = con.execute(
            """
            select problem, count(distinct (source, review_id))
            from (
                select source, review_id, unnest(enriched.problems) as problem
                from int_reviews join int_reviews_enriched as enriched
                    using (source, target_id, review_id)
                where int_reviews.brand = 'Acme Shop' and int_reviews.published_day = ?
            )
            group by problem
            """,
            [day],
        ).fetchall()
    assert complaints, "the day's negative texts raise problem types"
    assert negative > 2 * previous_week, "the planted surge is visible in the mart"
    expected_negative = negative

    messages = demo_env.sink.messages("daily")
    recipients = sorted(r.email for r in config.reports.daily.recipients)
    assert sorted(m["To"].addresses[0].addr_spec for m in messages) == recipients
    languages = {r.email: r.language for r in config.reports.daily.recipients}
    assert set(languages.values()) == {"en", "zh-CN"}, "the demo mails both languages"
    for message in messages:
        language = languages[message["To"].addresses[0].addr_spec]
        day_label = day.isoformat() if language == "en" else f"{day.year}年{day.month}月{day.day}日"
        assert day_label in str(message["Subject"])
        assert str(expected_negative) in str(message["Subject"])
        html_part = message.get_body(preferencelist=("html",))
        text_part = message.get_body(preferencelist=("plain",))
        assert text_part is not None and str(expected_negative) in text_part.get_content()
        if language == "en":
            complaint_line = next(
                line
                for line in text_part.get_content().splitlines()
                if line.startswith("What customers complain about")
            )
            for problem, count in complaints:
                assert f"{problem.replace('_', ' ').capitalize()} {count}" in complaint_line
        html = html_part.get_content()
        images = [p for p in message.walk() if p.get_content_type() == "image/png"]
        assert images, "at least one chart attached as PNG"
        for image in images:
            cid = image["Content-ID"].strip("<>")
            assert f"cid:{cid}" in html
            assert image.get_content()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.reliability(
    row="The same day run twice",
    expected="Identical marts, no duplicate rows in int_reviews, and no e-mail sent twice "
    "(the send ledger skips every recipient)",
)
def test_rerunning_a_day_gives_identical_marts_and_no_duplicate_mail(demo_env):
    config, day = demo_env.config, demo_env.day
    run_day(config, day)
    first_mart = _mart(config)
    mails_after_first = len(demo_env.sink.received)

    second = run_day(config, day)
    assert _mart(config) == first_mart
    assert second.sent == []
    assert len(second.skipped) == len(config.reports.daily.recipients)
    assert len(demo_env.sink.received) == mails_after_first

    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        duplicates = con.execute(
            "select count(*) from (select source, target_id, review_id from int_reviews "
            "group by all having count(*) > 1)"
        ).fetchone()[0]
    assert duplicates == 0


def test_backfill_reports_each_day_and_sends_nothing(demo_env):
    config, day = demo_env.config, demo_env.day
    start = day - timedelta(days=2)
    results = backfill(config, start, day)
    assert [r.day for r in results] == [start + timedelta(days=n) for n in range(3)]
    assert all(r.archive_path.exists() for r in results)
    assert demo_env.sink.received == []
    with duckdb.connect(str(config.paths.warehouse), read_only=True) as con:
        days = con.execute(
            "select distinct day from mart_brand_daily where day between ? and ? order by 1",
            [start, day],
        ).fetchall()
    assert [d for (d,) in days] == [r.day for r in results]


def test_cli_run_with_no_smtp_host_writes_the_outbox(demo_env, tmp_path):
    env_config = demo_env.config_path.read_text().replace("host: 127.0.0.1", "host: null")
    config_path = tmp_path / "no-smtp.yaml"
    config_path.write_text(env_config)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "repwatch",
            "--config",
            str(config_path),
            "run",
            "--date",
            demo_env.day.isoformat(),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    outbox = sorted((demo_env.data_dir / "outbox").glob("daily-*.eml"))
    assert len(outbox) == len(demo_env.config.reports.daily.recipients)
    assert demo_env.sink.received == []


def test_reloading_the_same_files_does_not_duplicate_quarantine_rows(demo_env, tmp_path):
    from repwatch.pipeline import check_and_load

    records = tmp_path / "batch.jsonl"
    records.write_text('{"broken json\n', encoding="utf-8")
    records.with_suffix(".rejects.jsonl").write_text(
        json.dumps({"url": "http://x/1", "status": 200, "error": "not a feed", "body": "<html>"})
        + "\n",
        encoding="utf-8",
    )
    for _ in range(2):
        loaded = check_and_load(demo_env.config, [records])
        assert (loaded.valid_rows, loaded.quarantined_rows) == (0, 2)
    with duckdb.connect(str(demo_env.config.paths.warehouse), read_only=True) as con:
        reasons = con.execute("select reason from quarantine order by reason").fetchall()
    assert len(reasons) == 2
    assert reasons[0][0].startswith("page failed to parse")
