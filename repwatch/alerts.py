"""Early-warning alerts: evaluate the indicator rules into mart_alerts, e-mail what fired.

The evaluation is set-based SQL (transforms/mart_alerts.sql) over the stored marts, run for a
range of days after each transform and by `repwatch alerts check`; re-running a range replaces
its rows. Notification is decided here, per alert (brand, source, rule, subject):
- new: it fires and was not open (never notified, or resolved since);
- escalated: it fires at a higher severity than last notified;
- reminder: it still fires and the cooldown since the last notice has passed;
- resolved: it was open and no longer fires on a complete day.
Cooldowns are counted between alert days, not wall-clock time, so replaying history makes the
same decisions. Notices of one brand and day go out as one e-mail to the departments that own
them (critical ones to `alerts.escalate_to` as well), through the send ledger of repwatch.mail;
notified alerts are recorded in `alert_notifications`. Backfills evaluate and never send.

The e-mail is rendered once per language its recipients read (templates/alert.*.j2, words from
the catalogues' `alert_mail.*` entries); every version of one e-mail has the same ledger
period, so each recipient gets one message per alert event, in their language.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import duckdb

from repwatch.config import Config, Recipient
from repwatch.i18n import DEFAULT_LANGUAGE, LANGUAGES, translator

if TYPE_CHECKING:
    from repwatch.report import RenderedReport

log = logging.getLogger(__name__)
Progress = Callable[[str], None]

REPORT = "alert"
SEVERITY_RANK = {"warning": 1, "critical": 2}
CHART_WIDTH_PX = 560
CHART_HEIGHT_PX = 220
# Alerts of one e-mail that show example items; the rest are one line each.
EXAMPLE_ALERTS = 3


@dataclass(frozen=True)
class RuleKind:
    """How a rule fires; what its value is in words is the catalogue's alert_mail.rule.<rule>."""

    direction: str  # "up": fires above its threshold; "down": below
    kind: str  # count | share | score | rating
    of_reviews: bool  # rates of the day's reviews; other rules count all items


RULES = {
    "negative": RuleKind("up", "count", False),
    "negative_share": RuleKind("up", "share", True),
    "nss_drop": RuleKind("down", "score", True),
    "rating_drop": RuleKind("down", "rating", True),
    "reviews": RuleKind("up", "count", False),
    "mentions": RuleKind("up", "count", False),
    "reach": RuleKind("up", "count", False),
    "problem_surge": RuleKind("up", "count", False),
    "trigger_words": RuleKind("up", "count", False),
}

NOTIFICATIONS_DDL = """
create table if not exists alert_notifications (
    day date not null,
    brand varchar not null,
    source varchar not null,
    rule varchar not null,
    subject varchar not null,
    severity varchar,
    status varchar not null,
    threshold double,
    period varchar not null,
    recorded_at timestamptz not null
)
"""
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def _slug(value: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return _NOT_SLUG.sub("-", ascii_text.lower()).strip("-") or "brand"


# ---------------------------------------------------------------------------- evaluation


def count_quantile(tail: float, mean: float, variance: float | None) -> float:
    """The smallest q with P(X > q) <= tail for a count X of this mean and variance: Poisson
    when the variance is not above the mean, else negative binomial (a Poisson count whose
    rate varies from day to day by a gamma law; its tail is heavier than a scaled Poisson)."""
    if mean <= 0:
        return 0.0
    from scipy.special import nbdtrik, pdtrik

    # Both invert the CDF continuously in q; the quantile is the next integer.
    if variance is None or variance <= mean:
        quantile = pdtrik(1 - tail, mean)
    else:
        success = mean / variance
        quantile = nbdtrik(1 - tail, mean * success / (1 - success), success)
    return float(max(math.ceil(quantile - 1e-9), 0))


def score_quantile(tail: float, window: float) -> float:
    """t with P(T > t) = tail for the next value of a normal series whose mean and σ come
    from `window` values: Student-t with window − 1 degrees of freedom, widened by
    √(1 + 1/window) for the error of the mean. Plain z = Φ⁻¹(1 − tail) trusts a σ from a few
    weeks far too much at Bonferroni tails."""
    from scipy.special import stdtrit

    return float(stdtrit(window - 1, 1 - tail) * math.sqrt(1 + 1 / window))


def _register_functions(con) -> None:
    for name, function, parameters in (
        ("alert_count_quantile", count_quantile, ["DOUBLE", "DOUBLE", "DOUBLE"]),
        ("alert_score_quantile", score_quantile, ["DOUBLE", "DOUBLE"]),
    ):
        # a connection that evaluated alerts before has them already
        with contextlib.suppress(duckdb.InvalidInputException):
            con.remove_function(name)
        con.create_function(name, function, parameters, "DOUBLE", side_effects=False)
    # The smallest value that fires, from one baseline at one tail probability: counts (with
    # a count scale) one above their count quantile, scores the Student-t prediction bound.
    con.execute(
        """
        create or replace temp macro alert_threshold(
            tail, count_scale, count_mean, count_variance, mean, sigma, window_size
        ) as if(
            count_scale is not null,
            (alert_count_quantile(tail, count_mean, count_variance) + 1) / count_scale,
            mean - alert_score_quantile(tail, window_size) * sigma
        )
        """
    )


def _set_alert_settings(con, config: Config) -> None:
    alerts = config.alerts
    _register_functions(con)
    con.execute(
        "set variable alert_false_alarms_warning = ?::double", [alerts.false_alarms_per_90_days]
    )
    con.execute(
        "set variable alert_false_alarms_critical = ?::double",
        [alerts.critical_false_alarms_per_90_days],
    )
    con.execute("set variable alert_min_volume = ?::double", [alerts.min_volume])
    con.execute("set variable alert_trigger_words = ?::varchar[]", [list(alerts.trigger_words)])
    digest = hashlib.sha256(alerts.model_dump_json().encode("utf-8")).hexdigest()[:12]
    con.execute("set variable alert_settings = ?", [digest])
    con.execute(
        "create or replace temp table alert_rules (rule varchar, enabled boolean, "
        "statistical boolean, fixed_warning double, fixed_critical double, combine varchar, "
        "department varchar, direction varchar, kind varchar, of_reviews boolean)"
    )
    con.executemany(
        "insert into alert_rules values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                name,
                rule.enabled,
                rule.statistical,
                rule.fixed_warning,
                rule.fixed_critical,
                rule.combine,
                rule.department,
                RULES[name].direction,
                RULES[name].kind,
                RULES[name].of_reviews,
            )
            for name in RULES
            for rule in [alerts.rule(name)]
        ],
    )


def evaluate_alerts(config: Config, start: date, end: date) -> int | None:
    """Recompute mart_alerts for start..end from the stored marts, in one transaction.

    Returns the number of alerts that fired in the range; None before the marts exist."""
    from repwatch.warehouse import (
        Model,
        _set_metric_settings,
        connect,
        materialize,
        table_exists,
        transaction,
    )

    if end < start:
        raise ValueError(f"alert range ends ({end}) before it starts ({start})")
    with connect(config) as con:
        if not table_exists(con, "mart_kpi_baselines"):
            return None
        with transaction(con):
            con.execute("set variable period_start = ?::date", [start])
            con.execute("set variable period_end = ?::date", [end])
            _set_metric_settings(con, config)
            _set_alert_settings(con, config)
            materialize(con, Model.load("mart_alerts"))
            fired = con.execute(
                "select count(*) from mart_alerts where fired and day between ? and ?",
                [start, end],
            ).fetchone()[0]
    return fired


# ---------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Alert:
    """One row of mart_alerts."""

    day: date
    brand: str
    is_competitor: bool
    source: str
    rule: str
    subject: str
    department: str
    value: float | None
    volume: float
    baseline: float | None
    baseline_stddev: float | None
    same_weekday_mean: float | None
    same_weekday_stddev: float | None
    family_size: int | None
    tail_probability: float | None
    threshold_warning: float | None
    threshold_critical: float | None
    fixed_warning: float | None
    severity: str | None
    matched_words: list[str] | None = None
    # Not stored: the first day of an alert no check told anyone about (see open_since).
    since: date | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.brand, self.source, self.rule, self.subject)


ALERT_COLUMNS = [name for name in Alert.__dataclass_fields__ if name != "since"]


@dataclass(frozen=True)
class Notice:
    kind: str  # new | escalated | reminder | resolved
    alert: Alert
    previous_severity: str | None = None


@dataclass(frozen=True)
class OpenAlert:
    """The last notice of an alert: its day, severity, whether it was a resolution, and the
    warning threshold in force when the alert was raised."""

    day: date
    severity: str | None
    resolved: bool
    threshold: float | None = None


def plan_notices(
    day: date,
    alerts: Iterable[Alert],
    last_notices: dict[tuple, OpenAlert],
    *,
    cooldown_hours: float,
    complete_day: bool,
) -> list[Notice]:
    """What to tell people about `day`, given the day's evaluated alerts and each alert's last
    notice (up to and including `day`).

    An open alert resolves once its value is back on the usual side of the threshold it was
    raised at: the trailing baseline soon absorbs a surge, so the day's own threshold would
    call a surge over on its second day. Resolutions only on complete days: an hourly check
    of a day in progress has not seen all of its items."""
    notices = []
    firing = set()
    evaluated = set()
    for alert in alerts:
        evaluated.add(alert.key)
        if alert.severity is None:
            continue
        firing.add(alert.key)
        last = last_notices.get(alert.key)
        if last is None or last.resolved:
            notices.append(Notice("new", alert))
        elif SEVERITY_RANK[alert.severity] > SEVERITY_RANK.get(last.severity, 0):
            notices.append(Notice("escalated", alert, last.severity))
        elif (day - last.day).days * 24 >= cooldown_hours and day > last.day:
            notices.append(Notice("reminder", alert, last.severity))
    if complete_day:
        by_key = {alert.key: alert for alert in alerts if alert.key in evaluated}
        for key, last in sorted(last_notices.items()):
            alert = by_key.get(key)
            if last.resolved or key in firing or alert is None or last.day >= day:
                continue
            if _back_to_usual(alert, last.threshold):
                notices.append(Notice("resolved", alert, last.severity))
    return notices


def _back_to_usual(alert: Alert, raised_at: float | None) -> bool:
    if alert.value is None or raised_at is None:
        return True
    if RULES[alert.rule].direction == "up":
        return alert.value < raised_at
    return alert.value > raised_at


def apply_notices(last_notices: dict[tuple, OpenAlert], day: date, notices: list[Notice]) -> None:
    """Update the last-notice state with notices sent for `day`."""
    for notice in notices:
        last_notices[notice.alert.key] = OpenAlert(
            day=day,
            severity=notice.alert.severity if notice.kind != "resolved" else None,
            resolved=notice.kind == "resolved",
            threshold=_raised_at(last_notices.get(notice.alert.key), notice),
        )


def _raised_at(last: OpenAlert | None, notice: Notice) -> float | None:
    """An open alert keeps the threshold it was first raised at."""
    if notice.kind in ("escalated", "reminder") and last is not None and not last.resolved:
        return last.threshold
    return notice.alert.threshold_warning


def shown_notices(notices: list[Notice], alerts: Iterable[Alert]) -> list[Notice]:
    """The notices an e-mail shows: a source's alert is left out while the brand's alert of
    the same rule over all sources fires that day (the e-mail names its main source)."""
    firing_overall = {
        (alert.brand, alert.rule)
        for alert in alerts
        if alert.source == "all" and alert.severity is not None
    }
    return [
        notice
        for notice in notices
        if notice.kind == "resolved"
        or notice.alert.source == "all"
        or (notice.alert.brand, notice.alert.rule) not in firing_overall
    ]


def replay_alert_emails(config: Config, first: date, last: date) -> dict[str, list[date]]:
    """Per brand, the days whose alert e-mail would carry a firing alert, had alerts been
    checked after each complete day from `first` to `last` (mart_alerts already evaluated);
    resolution-only notes are not counted. Sends and records nothing."""
    from repwatch.warehouse import connect

    state: dict[tuple, OpenAlert] = {}
    emails: dict[str, list[date]] = {brand.name: [] for brand in config.brands}
    with connect(config, read_only=True) as con:
        day = first
        while day <= last:
            alerts = read_alerts(con, day)
            notices = plan_notices(
                day,
                alerts,
                state,
                cooldown_hours=config.alerts.cooldown_hours,
                complete_day=True,
            )
            apply_notices(state, day, notices)
            for brand in {
                notice.alert.brand
                for notice in shown_notices(notices, alerts)
                if notice.kind != "resolved"
            }:
                emails.setdefault(brand, []).append(day)
            day += timedelta(days=1)
    return emails


# ---------------------------------------------------------------------------- reading


def read_alerts(con, day: date, *, brands: Iterable[str] | None = None) -> list[Alert]:
    rows = con.execute(
        f"select {', '.join(ALERT_COLUMNS)} from mart_alerts where day = ? "
        "order by brand, source, rule, subject",
        [day],
    ).fetchall()
    alerts = [Alert(*row) for row in rows]
    if brands is not None:
        wanted = set(brands)
        alerts = [alert for alert in alerts if alert.brand in wanted]
    return alerts


def alerts_in_force(con, day: date, *, brands: Iterable[str] | None = None) -> list[Alert]:
    """The alerts a report of `day` lists: those firing on the day, and those the day's alert
    e-mails announced as still open though the day's own threshold has moved past them (a
    surge the trailing baseline absorbed, see open_since), with the threshold they fired at."""
    from repwatch.warehouse import table_names

    if "alert_notifications" not in table_names(con):  # no alert e-mail sent yet
        return [alert for alert in read_alerts(con, day, brands=brands) if alert.severity]
    announced = {
        (brand, source, rule, subject): (severity, threshold)
        for brand, source, rule, subject, severity, threshold in con.execute(
            """
            select brand, source, rule, subject, severity, threshold
            from alert_notifications
            where day = ? and status = 'fired'
            qualify row_number() over (
                partition by brand, source, rule, subject order by recorded_at desc
            ) = 1
            """,
            [day],
        ).fetchall()
    }
    in_force = []
    for alert in read_alerts(con, day, brands=brands):
        if alert.severity is None and alert.key in announced:
            severity, threshold = announced[alert.key]
            alert = replace(alert, severity=severity, threshold_warning=threshold)
        if alert.severity is not None:
            in_force.append(alert)
    return in_force


def _last_notices(con, day: date) -> dict[tuple, OpenAlert]:
    con.execute(NOTIFICATIONS_DDL)
    rows = con.execute(
        """
        select brand, source, rule, subject, day, severity, status, threshold
        from alert_notifications
        where day <= ?
        qualify row_number() over (
            partition by brand, source, rule, subject order by day desc, recorded_at desc
        ) = 1
        """,
        [day],
    ).fetchall()
    return {
        (brand, source, rule, subject): OpenAlert(
            notice_day, severity, status == "resolved", threshold
        )
        for brand, source, rule, subject, notice_day, severity, status, threshold in rows
    }


def _record_notices(
    con, day: date, notices: list[Notice], state: dict[tuple, OpenAlert], period: str
) -> None:
    """Store the notices sent; `state` already holds them (apply_notices)."""
    now = datetime.now(UTC)
    con.executemany(
        "insert into alert_notifications values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                day,
                *notice.alert.key,
                state[notice.alert.key].severity,
                "resolved" if notice.kind == "resolved" else "fired",
                state[notice.alert.key].threshold,
                period,
                now,
            )
            for notice in notices
        ],
    )


def open_since(
    con, day: date, alerts: list[Alert], last_notices: dict[tuple, OpenAlert], since: date
) -> list[Alert]:
    """The day's alerts, with those that fired on an earlier day from `since` on that nobody
    was told about (no check ran, or a backfill) and are still beyond the threshold they
    fired at, marked firing since then. The trailing baseline soon absorbs a surge, so the
    day's own threshold alone would keep quiet about a surge in its third day."""
    rows = con.execute(
        f"""
        select {", ".join(ALERT_COLUMNS)} from mart_alerts
        where fired and day between ? and ?
        order by day
        """,
        [since, day - timedelta(days=1)],
    ).fetchall()
    first_unannounced: dict[tuple, Alert] = {}
    for row in rows:
        earlier = Alert(*row)
        last = last_notices.get(earlier.key)
        if last is not None and last.day >= earlier.day:
            first_unannounced.pop(earlier.key, None)  # told about; a later streak may follow
            continue
        first_unannounced.setdefault(earlier.key, earlier)
    carried = []
    for alert in alerts:
        first = first_unannounced.get(alert.key)
        still_beyond = first is not None and not _back_to_usual(alert, first.threshold_warning)
        if alert.severity is None and still_beyond:
            alert = replace(
                alert,
                severity=first.severity,
                threshold_warning=first.threshold_warning,
                threshold_critical=first.threshold_critical,
                since=first.day,
            )
        carried.append(alert)
    return carried


# ---------------------------------------------------------------------------- wording


def _number(value: float | None, kind: str) -> str:
    """A figure as the reason sentence writes it, the same in every language."""
    if value is None:
        return "–"
    if kind == "share":
        return f"{value * 100:.0f}%"
    if kind == "rating":
        return f"{value:.2f}"
    if float(value).is_integer() and abs(value) >= 10:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def describe(alert: Alert, today: date | None = None, language: str = DEFAULT_LANGUAGE) -> dict:
    """The alert in words in `language`: `label` (what the value is), `heading` (the label
    capitalised), `where` (the source) and `sentence`, the reason, e.g. "negative reviews 46
    today vs 8.4 ± 11.2 usual (5.2 on this weekday); threshold 16, critical 18"."""
    tr = translator(language)
    kind = RULES[alert.rule].kind
    problem = tr.label("problem", alert.subject) if alert.subject else ""
    label = tr.t(f"alert_mail.rule.{alert.rule}", problem=problem)
    number = _number(alert.value, kind)
    if today is None or alert.day == today:
        sentence = tr.t("alert_mail.reason_today", label=label, value=number)
    else:
        sentence = tr.t(
            "alert_mail.reason_on_day", label=label, value=number, date=tr.date(alert.day)
        )
    if alert.baseline is not None:
        usual = _number(alert.baseline, kind)
        if alert.baseline_stddev:
            usual += f" ± {_number(alert.baseline_stddev, kind)}"
        sentence += tr.t("alert_mail.reason_usual", usual=usual)
    if alert.same_weekday_mean is not None:
        weekday = _number(alert.same_weekday_mean, kind)
        sentence += tr.t("alert_mail.reason_weekday", value=weekday)
    if alert.threshold_warning is not None:
        sentence += tr.t(
            "alert_mail.reason_threshold", value=_number(alert.threshold_warning, kind)
        )
        if alert.threshold_critical is not None:
            critical = _number(alert.threshold_critical, kind)
            sentence += tr.t("alert_mail.reason_critical", value=critical)
    if alert.since is not None:
        sentence += tr.t("alert_mail.reason_since", date=tr.date(alert.since))
    if alert.matched_words:
        words = tr.t("alert_mail.list_separator").join(alert.matched_words)
        sentence += tr.t("alert_mail.reason_words", words=words)
    where = (
        tr.t("common.all_sources") if alert.source == "all" else tr.label("source", alert.source)
    )
    return {
        "label": label,
        "heading": label[:1].upper() + label[1:],
        "where": where,
        "sentence": sentence,
    }


# ---------------------------------------------------------------------------- e-mail


def _examples(con, config: Config, alert: Alert) -> list[dict]:
    """The day's items behind the alert, most liked first, with links."""
    if config.alerts.examples == 0:
        return []
    # int_reviews_enriched repeats some int_reviews columns: qualify every one
    conditions = [
        "reviews.brand = ?",
        "reviews.published_day = ?",
        "reviews.record_type in ('review', 'mention')",
    ]
    parameters: list = [alert.brand, alert.day]
    if alert.source != "all":
        conditions.append("reviews.source = ?")
        parameters.append(alert.source)
    if alert.rule in ("negative", "negative_share", "nss_drop", "rating_drop", "problem_surge"):
        conditions.append("coalesce(enriched.sentiment, reviews.sentiment) = 'negative'")
    if alert.rule == "problem_surge":
        conditions.append("list_contains(enriched.problems, ?)")
        parameters.append(alert.subject)
    if alert.rule == "trigger_words":
        conditions.append(
            "len(list_filter(?::varchar[], lambda word: contains("
            "lower(concat_ws(' ', reviews.title, reviews.text)), lower(word)))) > 0"
        )
        parameters.append(list(config.alerts.trigger_words))
    rows = con.execute(
        f"""
        select distinct on (reviews.source, reviews.review_id)
            reviews.source, reviews.rating, reviews.title, reviews.text, reviews.url,
            coalesce(reviews.likes, 0) as likes, reviews.published_at
        from int_reviews as reviews
        left join int_reviews_enriched as enriched
            on
                enriched.source = reviews.source
                and enriched.target_id = reviews.target_id
                and enriched.review_id = reviews.review_id
        where {" and ".join(conditions)}
        order by reviews.source, reviews.review_id
        """,
        parameters,
    ).fetchall()
    rows.sort(key=lambda row: (-row[5], -(row[6].timestamp() if row[6] else 0)))
    from repwatch.report import short_text

    return [
        {
            "source": source,
            "rating": rating,
            "title": short_text(title, 120),
            "text": short_text(text, 200),
            "url": url,
            "likes": likes,
        }
        for source, rating, title, text, url, likes, _published in rows[: config.alerts.examples]
    ]


def _trend_series(con, config: Config, alert: Alert) -> list[dict]:
    """Items per day by sentiment over `alerts.trend_days` up to the alert's day."""
    first = alert.day - timedelta(days=config.alerts.trend_days - 1)
    rows = con.execute(
        """
        select period_start, positive + mention_positive, neutral + mention_neutral,
            negative + mention_negative
        from mart_brand_kpis
        where grain = 'day' and brand = ? and source = ? and period_start between ? and ?
        """,
        [alert.brand, alert.source, first, alert.day],
    ).fetchall()
    by_day = {day: values for day, *values in rows}
    series = []
    for offset in range(config.alerts.trend_days):
        day = first + timedelta(days=offset)
        positive, neutral, negative = by_day.get(day, (0, 0, 0))
        series.append({"day": day, "positive": positive, "neutral": neutral, "negative": negative})
    return series


def recipients_by_language(recipients: Iterable[Recipient]) -> dict[str, list[Recipient]]:
    """The languages an alert e-mail is needed in, each with who reads it (render each once).
    A recipient listed twice gets one message, in the language of the first listing."""
    grouped: dict[str, list[Recipient]] = {}
    seen: set[str] = set()
    for recipient in recipients:
        if recipient.email.lower() in seen:
            continue
        seen.add(recipient.email.lower())
        grouped.setdefault(recipient.language, []).append(recipient)
    return {language: grouped[language] for language in LANGUAGES if language in grouped}


def _recipients(
    config: Config, brand: str, notices: list[Notice]
) -> tuple[list[Recipient], list[str]]:
    """Who gets the brand's e-mail, and the departments that have nobody of their own (their
    alerts go to alerts.default_recipients)."""
    departments = {notice.alert.department for notice in notices}
    if any(notice.alert.severity == "critical" for notice in notices):
        departments.add(config.alerts.escalate_to)

    def for_brand(recipients: list[Recipient]) -> list[Recipient]:
        return [r for r in recipients if not r.brands or brand in r.brands]

    candidates = for_brand(config.alerts.recipients or config.reports.daily.recipients)
    chosen = [recipient for recipient in candidates if recipient.department in departments]
    covered = {recipient.department for recipient in chosen}
    unstaffed = sorted(departments - covered)
    if unstaffed:
        chosen += [
            recipient
            for recipient in for_brand(config.alerts.default_recipients)
            if recipient.email not in {chosen_one.email for chosen_one in chosen}
        ]
    return chosen, unstaffed


# Per rule, the per-source count behind an alert over all sources: (table, column, filter).
_SOURCE_COUNTS = {
    "negative": ("mart_brand_kpis", "negative", ""),
    "negative_share": ("mart_brand_kpis", "negative", ""),
    "reviews": ("mart_brand_kpis", "reviews", ""),
    "mentions": ("mart_brand_kpis", "mentions", ""),
    "problem_surge": ("mart_problem_types", "negative_items", "and problem = ?"),
}
# A source is named as the main one when it carries at least this share of the day's value.
MAIN_SOURCE_SHARE = 0.5


def main_source(con, alert: Alert) -> tuple[str, float] | None:
    """The source most of an overall alert's items came from, with its share, e.g.
    ("appstore", 0.8); None when no source carries MAIN_SOURCE_SHARE of them."""
    if alert.source != "all" or alert.rule not in _SOURCE_COUNTS:
        return None
    table, column, condition = _SOURCE_COUNTS[alert.rule]
    parameters: list = [alert.brand, alert.day]
    if condition:
        parameters.append(alert.subject)
    rows = con.execute(
        f"""
        select source, coalesce({column}, 0)::double
        from {table}
        where grain = 'day' and brand = ? and period_start = ? and source != 'all' {condition}
        """,
        parameters,
    ).fetchall()
    total = sum(count for _source, count in rows)
    if not total:
        return None
    source, count = max(rows, key=lambda row: (row[1], row[0]))
    return (source, count / total) if count / total >= MAIN_SOURCE_SHARE else None


def _ordered(notices: list[Notice]) -> list[Notice]:
    def weight(notice: Notice) -> tuple:
        alert = notice.alert
        spread = alert.baseline_stddev or 0
        excess = abs((alert.value or 0) - (alert.baseline or 0)) / spread if spread else 0
        return (
            notice.kind == "resolved",
            -SEVERITY_RANK.get(alert.severity or "", 0),
            alert.source != "all",
            -excess,
            alert.rule,
            alert.subject,
        )

    return sorted(notices, key=weight)


def alert_period(day: date, brand: str, notices: list[Notice]) -> str:
    """The send ledger's period of a brand's alert e-mail: its day, brand and notices, so the
    same notices are never sent twice to anyone, and other notices make another e-mail."""
    digest = hashlib.sha256(
        "\n".join(
            f"{notice.kind}|{'|'.join(notice.alert.key)}|{notice.alert.severity}"
            for notice in _ordered(notices)
        ).encode("utf-8")
    ).hexdigest()[:10]
    return f"{day.isoformat()}.{_slug(brand)}.{digest}"


@dataclass(frozen=True)
class _Firing:
    """What an e-mail shows of a firing alert, the same in every language."""

    notice: Notice
    main_source: tuple[str, float] | None
    examples: list[dict]


def render_alert_versions(
    con,
    config: Config,
    day: date,
    brand: str,
    notices: list[Notice],
    today: date,
    languages: Sequence[str],
    *,
    unstaffed: Sequence[str] = (),
) -> dict[str, RenderedReport]:
    """The e-mail of a brand's notices of a day in each of `languages` (language ->
    RenderedReport), all with the same ledger period: the reasons in words, a trend chart of
    the headline alert, example items with links, and who owns each alert (`unstaffed`:
    owning departments without recipients, whose alerts went to the default recipients).
    The warehouse is read once for all languages."""
    notices = _ordered(notices)
    firing = [
        _Firing(
            notice,
            main_source(con, notice.alert),
            _examples(con, config, notice.alert) if number < EXAMPLE_ALERTS else [],
        )
        for number, notice in enumerate(notice for notice in notices if notice.kind != "resolved")
    ]
    resolved = [notice for notice in notices if notice.kind == "resolved"]
    trend = _trend_series(con, config, firing[0].notice.alert) if firing else []
    period = alert_period(day, brand, notices)
    return {
        language: _render_alert_version(
            config, day, brand, period, firing, resolved, trend, today, unstaffed, language
        )
        for language in languages
    }


def _render_alert_version(
    config: Config,
    day: date,
    brand: str,
    period: str,
    firing: list[_Firing],
    resolved: list[Notice],
    trend: list[dict],
    today: date,
    unstaffed: Sequence[str],
    language: str,
) -> RenderedReport:
    from repwatch.charts import sentiment_trend_png
    from repwatch.rendering import archive_copy, environment, finish_html
    from repwatch.report import RenderedReport, chart_labels

    tr = translator(language)
    items = []
    images: dict[str, bytes] = {}
    for number, fired in enumerate(firing):
        alert = fired.notice.alert
        words = describe(alert, today, language)
        entry = {
            "kind": fired.notice.kind,
            "severity": alert.severity,
            "previous_severity": fired.notice.previous_severity,
            "department": tr.label("department", alert.department),
            **words,
            "main_source": _main_source_words(tr, fired.main_source),
            "unstaffed": alert.department in unstaffed,
            "examples": [
                {**example, "source": tr.label("source", example["source"])}
                for example in fired.examples
            ],
            "chart": None,
        }
        if number == 0:
            content_id = f"alert-trend.{period}@repwatch"
            images[content_id] = sentiment_trend_png(
                trend,
                title=tr.t(
                    "alert_mail.chart_title", brand=brand, where=words["where"], days=len(trend)
                ),
                width_px=CHART_WIDTH_PX,
                height_px=CHART_HEIGHT_PX,
                labels=chart_labels(language),
            )
            entry["chart"] = {
                "src": f"cid:{content_id}",
                "width": CHART_WIDTH_PX,
                "height": CHART_HEIGHT_PX,
                "alt": tr.t("alert_mail.chart_alt", brand=brand, date=tr.date(day)),
            }
        items.append(entry)
    cleared = [
        {
            **describe(notice.alert, today, language),
            "department": tr.label("department", notice.alert.department),
        }
        for notice in resolved
    ]
    if items:
        head = firing[0].notice.alert
        subject = tr.t(
            "alert_mail.subject",
            severity=tr.t(f"alerts.severity_{head.severity}"),
            brand=brand,
            label=items[0]["label"],
            value=_number(head.value, RULES[head.rule].kind),
            date=tr.date(day),
        )
        if len(items) > 1:
            subject += tr.t("alert_mail.subject_more", count=len(items) - 1)
    else:
        subject = tr.t(
            "alert_mail.subject_resolved", brand=brand, count=len(cleared), date=tr.date(day)
        )
    false_alarms = config.alerts.false_alarms_per_90_days
    values = {
        "subject": subject,
        "brand": brand,
        "day": day,
        "timezone": config.timezone,
        "alerts": items,
        "resolved": cleared,
        "chance": tr.t("alert_mail.chance", count=false_alarms, value=f"{false_alarms:g}"),
        "unstaffed": tr.t("alert_mail.list_separator").join(
            tr.label("department", department) for department in unstaffed
        ),
        "min_volume": f"{config.alerts.min_volume:,}",
        "cooldown_hours": f"{config.alerts.cooldown_hours:g}",
    }
    env = environment(language)
    html = finish_html(env.get_template("alert.html.j2").render(values))
    text = env.get_template("alert.txt.j2").render(values)
    return RenderedReport(
        report=REPORT,
        period=period,
        subject=subject,
        html=html,
        text=text,
        images=images,
        archive_html=archive_copy(html, images),
        language=language,
    )


def _main_source_words(tr, found: tuple[str, float] | None) -> str | None:
    if found is None:
        return None
    source, share = found
    return tr.t(
        "alert_mail.main_source", source=tr.label("source", source), share=tr.percent(share)
    )


@dataclass
class CheckResult:
    day: date
    evaluated: tuple[date, date] | None = None
    fired: int = 0
    notices: list[Notice] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)  # subjects
    unsent: list[str] = field(default_factory=list)  # brands whose alerts had no recipient


def notify(config: Config, day: date, *, complete_day: bool, resend: bool = False) -> CheckResult:
    """Decide and send the notices of `day` for the brands alerts are watched for."""
    from repwatch.mail import deliver
    from repwatch.warehouse import connect, table_exists

    result = CheckResult(day=day)
    brands = [
        brand.name
        for brand in config.brands
        if config.alerts.include_competitors or not brand.competitor
    ]
    today = datetime.now(ZoneInfo(config.timezone)).date()
    with connect(config) as con:
        if not table_exists(con, "mart_alerts"):
            return result
        state = _last_notices(con, day)
        alerts = open_since(
            con,
            day,
            read_alerts(con, day, brands=brands),
            state,
            day - timedelta(days=config.crawl.lookback_days),
        )
        notices = plan_notices(
            day,
            alerts,
            state,
            cooldown_hours=config.alerts.cooldown_hours,
            complete_day=complete_day,
        )
        result.notices = notices
        shown = shown_notices(notices, alerts)
        for brand in brands:
            own = [notice for notice in notices if notice.alert.brand == brand]
            own_shown = [notice for notice in shown if notice.alert.brand == brand]
            if not own:
                continue
            if not own_shown:
                # Only source alerts of an overall alert still in its cooldown: no e-mail,
                # but they count as told, like the overall alert they belong to.
                apply_notices(state, day, own)
                _record_notices(con, day, own, state, "folded")
                continue
            recipients, unstaffed = _recipients(config, brand, own_shown)
            if not recipients:
                # Not recorded: the alerts stay new and go out once someone is configured.
                log.warning(
                    "alerts of %s on %s have no recipient (departments %s, no "
                    "alerts.default_recipients); nothing sent",
                    brand,
                    day,
                    ", ".join(unstaffed),
                )
                result.unsent.append(brand)
                continue
            readers = recipients_by_language(recipients)
            versions = render_alert_versions(
                con, config, day, brand, own_shown, today, list(readers), unstaffed=unstaffed
            )
            for language, people in readers.items():
                rendered = versions[language]
                delivery = deliver(config, rendered, con=con, recipients=people, resend=resend)
                result.sent += delivery.sent
                result.skipped += delivery.skipped
                result.emails.append(rendered.subject)
            # Once per event, whatever the number of languages: the versions share the period.
            apply_notices(state, day, own)
            _record_notices(con, day, own, state, alert_period(day, brand, own_shown))
    return result


def check_alerts(
    config: Config,
    day: date,
    *,
    send: bool = True,
    start: date | None = None,
    progress: Progress = lambda _message: None,
) -> CheckResult:
    """Evaluate the alerts of the crawl window up to `day` (or start..day) and, with `send`,
    notify those of `day`. A day before today (in the config's time zone) is complete, so
    alerts that cleared on it are reported resolved."""
    start = start or day - timedelta(days=config.crawl.lookback_days)
    fired = evaluate_alerts(config, start, day)
    result = CheckResult(day=day)
    if fired is None:
        progress("alerts: no marts yet, nothing evaluated")
        return result
    progress(f"alerts: evaluated {start} .. {day}, {fired} fired")
    if send:
        today = datetime.now(ZoneInfo(config.timezone)).date()
        result = notify(config, day, complete_day=day < today)
        for notice in result.notices:
            progress(
                f"alert {notice.kind} ({notice.alert.brand}, {notice.alert.source}): "
                f"{describe(notice.alert)['sentence']}"
            )
        progress(f"alert mail: {len(result.sent)} sent, {len(result.skipped)} already sent before")
        for brand in result.unsent:
            progress(f"alert mail: no recipient for the alerts of {brand}; nothing sent")
    return replace(result, evaluated=(start, day), fired=fired)
