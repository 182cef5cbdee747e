"""Early-warning alerts: the demo's planted surge fires on its first day and is e-mailed once
to each recipient, in their language, with its reasons; a generated quiet history stays within
the false-alarm budget; the notification rules (cooldown, escalation, resolution, folding,
recipients) on their own; the reasons in words."""

from __future__ import annotations

import re
from datetime import date, timedelta
from email import policy
from email.parser import BytesParser

import pytest
from scipy import stats

from repwatch.alerts import (
    Alert,
    Notice,
    OpenAlert,
    apply_notices,
    count_quantile,
    describe,
    plan_notices,
    recipients_by_language,
    score_quantile,
    shown_notices,
)
from repwatch.config import PROJECT_DIR, AlertRule, Paths, Recipient, load_config
from repwatch.i18n import load_catalogue
from tests.conftest import demo_base_urls, write_config

DAY = date(2026, 11, 20)


def _alert(
    day: date,
    severity: str | None,
    value: float,
    *,
    rule: str = "negative",
    source: str = "all",
    department: str = "customer_service",
) -> Alert:
    return Alert(
        day=day,
        brand="Acme Shop",
        is_competitor=False,
        source=source,
        rule=rule,
        subject="",
        department=department,
        value=value,
        volume=100,
        baseline=10.0,
        baseline_stddev=3.0,
        same_weekday_mean=11.0,
        same_weekday_stddev=3.0,
        family_size=20,
        tail_probability=1 / 90 / 20,
        threshold_warning=19.0,
        threshold_critical=25.0,
        fixed_warning=None,
        severity=severity,
    )


def _replay(days: list[tuple[str | None, float]], *, cooldown_hours: float = 48) -> list[str]:
    """Notice kinds per day for a sequence of (severity, value) of one alert."""
    state: dict = {}
    kinds = []
    for offset, (severity, value) in enumerate(days):
        day = DAY + timedelta(days=offset)
        notices = plan_notices(
            day,
            [_alert(day, severity, value)],
            state,
            cooldown_hours=cooldown_hours,
            complete_day=True,
        )
        apply_notices(state, day, notices)
        kinds.append(",".join(notice.kind for notice in notices) or "-")
    return kinds


def test_cooldown_holds_repeats_until_it_passes():
    days = [("warning", 20), ("warning", 21), ("warning", 22), ("warning", 20)]
    assert _replay(days) == ["new", "-", "reminder", "-"]


def test_escalation_is_sent_within_the_cooldown():
    assert _replay([("warning", 20), ("critical", 30)]) == ["new", "escalated"]


def test_resolved_once_back_under_the_threshold_it_was_raised_at():
    # Day 2 no longer fires (its own baseline absorbed the surge) but is still above the
    # threshold of day 1: not resolved yet. Day 3 is back to usual: resolved, once.
    days = [("critical", 40), (None, 30), (None, 12), (None, 11), ("warning", 20)]
    assert _replay(days) == ["new", "-", "resolved", "-", "new"]


def test_a_day_in_progress_resolves_nothing():
    state = {("Acme Shop", "all", "negative", ""): OpenAlert(DAY, "warning", False, 19.0)}
    later = DAY + timedelta(days=1)
    notices = plan_notices(
        later, [_alert(later, None, 2)], state, cooldown_hours=48, complete_day=False
    )
    assert notices == []


@pytest.fixture
def surge_env(tmp_path, monkeypatch):
    """The demo environment with the demo's own 45-day first crawl, so the baselines have
    history before the surge (the shared fixture reads 14 days)."""
    from repwatch.demo_site.server import serve_in_thread
    from repwatch.smtp_sink import SmtpSink

    monkeypatch.delenv("REPWATCH_DATA_DIR", raising=False)
    with (
        serve_in_thread(port=0, last_day=DAY) as site_url,
        SmtpSink(host="127.0.0.1", port=0, out_dir=tmp_path / "mailbox") as sink,
    ):
        path = write_config(
            tmp_path,
            crawl={"base_urls": demo_base_urls(site_url), "lookback_days": 45},
            smtp={"host": "127.0.0.1", "port": sink.port},
            paths={"data_dir": str(tmp_path / "data")},
        )
        yield load_config(path), sink


def _parse(path):
    with path.open("rb") as handle:
        return BytesParser(policy=policy.default).parse(handle)


def test_demo_surge_fires_on_its_first_day_and_is_mailed_once(surge_env):
    from repwatch.pipeline import run_day
    from repwatch.warehouse import connect

    config, sink = surge_env
    run_day(config, DAY, send=True)
    surge_start = DAY - timedelta(days=2)  # the demo site's surge: the last three days
    with connect(config, read_only=True) as con:
        fired_days = [
            day
            for (day,) in con.execute(
                "select day from mart_alerts where brand = 'Acme Shop' and source = 'all' "
                "and rule = 'negative' and fired order by day"
            ).fetchall()
        ]
        quiet_alerts = con.execute(
            "select count(*) from mart_alerts where fired and day < ? and day >= ?",
            [surge_start, surge_start - timedelta(days=14)],
        ).fetchone()[0]
    # fires on the surge's first day, not on the day before it
    assert surge_start in fired_days
    assert surge_start - timedelta(days=1) not in fired_days
    assert quiet_alerts <= 2  # both brands, every source and rule, two weeks before

    alert_mails = [_parse(path) for path in sink.received if "alert" in path.name]
    assert alert_mails, "no alert e-mail for the planted surge"

    # The day's report lists every brand-wide alert the day's alert e-mail announced, also
    # those the trailing baseline has absorbed since they fired.
    from repwatch.report import build_daily_context

    with connect(config, read_only=True) as con:
        announced = set(
            con.execute(
                "select rule, subject from alert_notifications where day = ? and status = 'fired' "
                "and brand = 'Acme Shop' and source = 'all'",
                [DAY],
            ).fetchall()
        )
        context = build_daily_context(con, config, DAY)
    acme = next(brand for brand in context["brands"] if brand["name"] == "Acme Shop")
    listed = {(alert["rule"], alert["subject"] or "") for alert in acme["alerts"]}
    assert announced and announced <= listed
    by_recipient: dict[str, list] = {}
    for message in alert_mails:
        by_recipient.setdefault(message["To"].addresses[0].addr_spec, []).append(message)
    # The demo's customer service: cs-lead reads English, kefu Chinese; one e-mail each.
    assert len(by_recipient["cs-lead@acme.example"]) == 1
    assert len(by_recipient["kefu@acme.example"]) == 1
    english, chinese = by_recipient["cs-lead@acme.example"][0], by_recipient["kefu@acme.example"][0]
    assert english["X-Repwatch-Report"] == chinese["X-Repwatch-Report"]  # one event, one ledger key

    assert str(english["Subject"]).strip().startswith("repwatch alert [")
    text = english.get_body(("plain",)).get_content()
    assert "negative reviews" in text and "usual" in text and "threshold" in text
    assert "Owner: Customer service." in text

    assert str(chinese["Subject"]).strip().startswith("repwatch 预警 [")
    chinese_text = chinese.get_body(("plain",)).get_content()
    assert "负面评价为" in chinese_text and "通常为" in chinese_text and "阈值" in chinese_text
    assert "负责：客服部。" in chinese_text
    # Without the example items: review texts are data and stay as written.
    chinese_words = re.sub(
        r'<td class="review".*?</td>', "", chinese.get_body(("html",)).get_content(), flags=re.S
    )
    chinese_lines = "\n".join(
        line for line in chinese_text.splitlines() if not line.startswith(("- ", "  "))
    )
    english_words = [
        text.strip(" ,.")
        for key, text in load_catalogue("en").items()
        if key.startswith("alert_mail.") and isinstance(text, str) and "{" not in text
    ] + ["usual", "threshold", "Owner", "Time zone", "likes", "Sent by"]
    for body in (chinese_lines, chinese_words, str(chinese["Subject"])):
        assert not [word for word in english_words if word and word in body]

    def trend_png(message) -> bytes:
        return next(
            part.get_content() for part in message.walk() if part.get_content_type() == "image/png"
        )

    for message in (english, chinese):
        assert "cid:alert-trend" in message.get_body(("html",)).get_content()
    assert trend_png(chinese) != trend_png(english)  # the chart's words are Chinese too

    with connect(config, read_only=True) as con:
        recorded, alerts = con.execute(
            "select count(*), count(distinct (brand, source, rule, subject)) "
            "from alert_notifications where day = ?",
            [DAY],
        ).fetchone()
    assert recorded == alerts > 0  # each notice once, not once per language

    received = len(sink.received)
    run_day(config, DAY, send=True)  # a re-run: the report and the alert are already sent
    assert len(sink.received) == received


def test_backfill_evaluates_alerts_and_sends_nothing(surge_env):
    from repwatch.pipeline import backfill
    from repwatch.warehouse import connect

    config, sink = surge_env
    backfill(config, DAY - timedelta(days=3), DAY, send=False)
    with connect(config, read_only=True) as con:
        fired = con.execute(
            "select count(*) from mart_alerts where fired and day = ?", [DAY]
        ).fetchone()[0]
    assert fired > 0
    assert sink.received == []


def test_source_alerts_fold_into_the_brand_alert_of_the_same_rule():
    overall = _alert(DAY, "warning", 20)
    appstore = _alert(DAY, "warning", 15, source="appstore")
    share = _alert(DAY, "warning", 0.7, rule="negative_share", source="appstore")
    notices = [Notice("new", overall), Notice("new", appstore), Notice("new", share)]
    # the appstore negative count is part of the overall alert; its share alert is not
    assert shown_notices(notices, [overall, appstore, share]) == [notices[0], notices[2]]
    # an overall alert in its cooldown (no notice of its own) still absorbs its sources
    assert shown_notices(notices[1:], [overall, appstore, share]) == [notices[2]]
    quiet_overall = _alert(DAY, None, 12)
    assert shown_notices(notices[1:], [quiet_overall, appstore, share]) == notices[1:]


def test_count_and_score_quantiles_are_exact_tails():
    for mean in (0.05, 0.8, 3.0, 25.0, 400.0):
        for tail in (1e-2, 4e-4, 1e-6):
            poisson = stats.poisson.isf(tail, mean)
            assert count_quantile(tail, mean, None) == poisson
            assert count_quantile(tail, mean, mean / 2) == poisson
            # three times the Poisson variance: negative binomial of that mean and variance
            success = 1 / 3
            size = mean * success / (1 - success)
            wider = count_quantile(tail, mean, 3 * mean)
            assert wider == stats.nbinom.isf(tail, size, success)
            assert wider >= poisson
    assert count_quantile(1e-3, 0, None) == 0
    assert score_quantile(0.025, 10**9) == pytest.approx(1.959964, abs=1e-5)
    assert score_quantile(4e-4, 28) == pytest.approx(
        stats.t.isf(4e-4, 27) * (1 + 1 / 28) ** 0.5, rel=1e-9
    )


def test_a_department_without_recipients_goes_to_the_default_recipients():
    from repwatch.alerts import _recipients

    config = load_config(PROJECT_DIR / "demo" / "repwatch.yaml")
    product = Notice("new", _alert(DAY, "warning", 20, rule="rating_drop", department="product"))
    service = Notice("new", _alert(DAY, "warning", 20))
    defaults = config.alerts.default_recipients
    assert defaults, "the demo config names default alert recipients"

    recipients, unstaffed = _recipients(config, "Acme Shop", [product, service])
    assert unstaffed == ["product"]
    assert {recipient.email for recipient in defaults} <= {r.email for r in recipients}

    recipients, unstaffed = _recipients(config, "Acme Shop", [service])
    assert unstaffed == []
    assert recipients and {r.department for r in recipients} == {"customer_service"}

    nobody = config.model_copy(
        update={"alerts": config.alerts.model_copy(update={"default_recipients": []})}
    )
    assert _recipients(nobody, "Acme Shop", [product]) == ([], ["product"])


# A quiet generated history: the demo's brands and sources, no incidents, its own seed (the
# bench uses another one). Small enough for a test, as dense per day as the bench's year.
QUIET_DAYS = 200
QUIET_ITEMS = 40_000
QUIET_SEED = 11
QUIET_LAST_DAY = date(2026, 6, 30)
WARM_UP_DAYS = 60


@pytest.fixture(scope="module")
def quiet_history(tmp_path_factory):
    from repwatch.bench.alerts import generate_history

    config = load_config(PROJECT_DIR / "demo" / "repwatch.yaml")
    data_dir = tmp_path_factory.mktemp("quiet") / "data"
    config = config.model_copy(update={"paths": Paths(data_dir=data_dir)})
    first_day, _brand = generate_history(
        config,
        items=QUIET_ITEMS,
        days=QUIET_DAYS,
        last_day=QUIET_LAST_DAY,
        seed=QUIET_SEED,
        surge_day=None,
    )
    return config, first_day


def test_quiet_history_stays_within_the_false_alarm_budget(quiet_history):
    from repwatch.alerts import evaluate_alerts, replay_alert_emails

    config, first_day = quiet_history
    evaluate_alerts(config, first_day, QUIET_LAST_DAY)
    first = first_day + timedelta(days=WARM_UP_DAYS)
    emails = replay_alert_emails(config, first, QUIET_LAST_DAY)
    brand_days = len(config.brands) * ((QUIET_LAST_DAY - first).days + 1)
    # The budget is an expectation: if the thresholds hold it, chance alerts over these
    # brand-days are at most Poisson with mean budget × brand-days / 90 (Bonferroni is an
    # upper bound). The margin is that distribution's 99th percentile, so a calibrated
    # system fails this by bad luck about once in a hundred seeds; without the correction
    # (each of the ~20 daily series a brand has tested at the whole budget) it fails.
    expected = config.alerts.false_alarms_per_90_days * brand_days / 90
    allowed = stats.poisson.ppf(0.99, expected)
    sent = sum(len(days) for days in emails.values())
    assert sent <= allowed, f"{sent} alert e-mails on a quiet history, at most {allowed}"


def test_nothing_fires_below_the_minimum_volume(quiet_history):
    from repwatch.alerts import evaluate_alerts
    from repwatch.warehouse import connect

    config, first_day = quiet_history
    day = QUIET_LAST_DAY - timedelta(days=20)
    huge = config.model_copy(
        update={
            "alerts": config.alerts.model_copy(
                update={"min_volume": 10**6, "false_alarms_per_90_days": 90}
            )
        }
    )
    evaluate_alerts(huge, day, QUIET_LAST_DAY)
    with connect(huge, read_only=True) as con:
        fired, crossed, per_source_tested = con.execute(
            """
            select count(*) filter (where fired),
                count(*) filter (where note = 'below minimum volume'),
                count(*) filter (where source != 'all' and statistical_warning is not null)
            from mart_alerts where day between ? and ?
            """,
            [day, QUIET_LAST_DAY],
        ).fetchone()
    assert fired == 0
    # at 90 chance alerts per 90 days something crosses; the volume keeps it quiet
    assert crossed > 0
    assert per_source_tested == 0

    evaluate_alerts(config, day, QUIET_LAST_DAY)
    with connect(config, read_only=True) as con:
        tested_sources = {
            source
            for (source,) in con.execute(
                "select distinct source from mart_alerts where day between ? and ? "
                "and source != 'all' and statistical_warning is not null",
                [day, QUIET_LAST_DAY],
            ).fetchall()
        }
        small_sources = {
            source
            for (source,) in con.execute(
                """
                -- usual items (reviews and mentions) of the source never reach the minimum
                select source from (
                    select source, period_start, sum(trailing_mean) as usual_items
                    from mart_kpi_baselines
                    where grain = 'day' and metric in ('reviews', 'mentions')
                        and source != 'all' and period_start between ? and ?
                    group by source, period_start
                )
                group by source having max(usual_items) < ?
                """,
                [day, QUIET_LAST_DAY, config.alerts.min_volume],
            ).fetchall()
        }
    assert tested_sources, "the large sources are tested on their own"
    assert small_sources and not (tested_sources & small_sources)


def test_trigger_words_fire_on_the_days_items_carry_them(quiet_history):
    from repwatch.alerts import evaluate_alerts
    from repwatch.warehouse import connect

    config, first_day = quiet_history
    word = "Refund"  # matched case-insensitively
    alerts = config.alerts.model_copy(
        update={
            "trigger_words": [word],
            "min_volume": 0,
            "rules": {
                **config.alerts.rules,
                "trigger_words": AlertRule(
                    statistical=False, fixed_warning=2, department="management"
                ),
            },
        }
    )
    config = config.model_copy(update={"alerts": alerts})
    start = QUIET_LAST_DAY - timedelta(days=60)
    evaluate_alerts(config, start, QUIET_LAST_DAY)
    with connect(config, read_only=True) as con:
        rows = con.execute(
            "select brand, day, value, fired, matched_words from mart_alerts "
            "where rule = 'trigger_words' and day between ? and ?",
            [start, QUIET_LAST_DAY],
        ).fetchall()
        texts = con.execute(
            """
            select distinct brand, published_day, source, review_id, concat_ws(' ', title, text)
            from int_reviews
            where brand is not null and record_type in ('review', 'mention')
                and published_day between ? and ?
            """,
            [start, QUIET_LAST_DAY],
        ).fetchall()
    carrying: dict[tuple, int] = {}
    for brand, day, _source, _review_id, text in texts:
        if word.lower() in text.lower():
            carrying[(brand, day)] = carrying.get((brand, day), 0) + 1
    assert any(count >= 2 for count in carrying.values()), "the word is too rare to test"
    for brand, day, value, fired, matched_words in rows:
        assert value == carrying.get((brand, day), 0)
        assert fired == (value >= 2)
        assert (matched_words or []) == ([word] if value else [])


def test_recipients_are_grouped_by_language_once_each():
    people = [
        Recipient(email="a@x.example", language="zh-CN"),
        Recipient(email="b@x.example"),
        Recipient(email="A@x.example", language="en"),  # listed again: one message
        Recipient(email="c@x.example", language="zh-CN"),
    ]
    grouped = recipients_by_language(people)
    assert list(grouped) == ["en", "zh-CN"]
    assert [r.email for r in grouped["en"]] == ["b@x.example"]
    assert [r.email for r in grouped["zh-CN"]] == ["a@x.example", "c@x.example"]


def _reason_alert(**changes) -> Alert:
    from dataclasses import replace

    alert = _alert(DAY, "warning", 46)
    figures = {
        "baseline": 8.4,
        "baseline_stddev": 11.2,
        "same_weekday_mean": 5.2,
        "threshold_warning": 16.0,
        "threshold_critical": 18.0,
    }
    return replace(alert, **{**figures, **changes})


def test_the_reasons_in_english_and_chinese():
    alert = _reason_alert()
    english = describe(alert, DAY)
    assert english["sentence"] == (
        "negative reviews 46 today vs 8.4 ± 11.2 usual (5.2 on this weekday); "
        "threshold 16, critical 18"
    )
    assert (english["heading"], english["where"]) == ("Negative reviews", "all sources")
    chinese = describe(alert, DAY, "zh-CN")
    assert chinese["sentence"] == (
        "今日负面评价为 46，通常为 8.4 ± 11.2（以往同一星期几为 5.2）；阈值 16，严重阈值 18"
    )
    assert chinese["where"] == "全部来源"

    surge = _reason_alert(
        rule="problem_surge",
        subject="delivery_logistics",
        source="jd",
        since=DAY - timedelta(days=2),
        baseline_stddev=None,
        same_weekday_mean=None,
    )
    later = DAY + timedelta(days=1)
    assert describe(surge, later)["sentence"] == (
        "negative items (Delivery logistics) 46 on 2026-11-20 vs 8.4 usual; threshold 16, "
        "critical 18 (crossed on 2026-11-18, not yet back under)"
    )
    chinese = describe(surge, later, "zh-CN")
    assert chinese["sentence"] == (
        "2026年11月20日负面内容（物流配送）为 46，通常为 8.4；阈值 16，严重阈值 18"
        "（2026年11月18日 起越过阈值，尚未回落）"
    )
    assert chinese["where"] == "京东"

    words = _reason_alert(rule="trigger_words", matched_words=["投诉", "recall"])
    assert describe(words, DAY, "zh-CN")["sentence"].endswith("；预警词：投诉、recall")
    assert describe(words, DAY)["sentence"].endswith("; words: 投诉, recall")
