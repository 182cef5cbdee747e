"""Alert quality (issue 7): how many alert e-mails a quiet history sends, and whether a
planted surge is caught on its first day.

A year is generated with `repwatch.demo_data` for the demo config's brands and sources (fixed
seed): its weekly and yearly rhythm, growth, slow drift of poor ratings and day-to-day noise,
and no incident but one, planted for the first own brand `SURGE_DAYS_BEFORE_END` days before
the last day. Every day is evaluated by mart_alerts and replayed through the notification
rules (cooldown, escalation, folding of source alerts), exactly as daily runs would.
- False alarms: days with an alert e-mail per brand per 90 quiet days, from `WARM_UP_DAYS`
  after the first day (the baselines fill) to the day before the surge's baselines could see
  it. Peers, on the same days: the daily report's fixed warning (negative share >= 30% with
  >= 5 reviews, per brand and day) and a plain spike rule (negative reviews above the
  trailing mean + 2 sigma, no same-weekday check, no minimum volume).
- Surge: 1 when an alert of the surging brand fires on the surge's first day, else 0; the
  peers by their own rules on that day.
"""

from __future__ import annotations

from datetime import date, timedelta
from unittest import mock

import numpy as np

from repwatch.bench import Context, Row

DAYS = 365
ITEMS = 120_000
LAST_DAY = date(2026, 11, 20)
SEED = 7
WARM_UP_DAYS = 60
SURGE_DAYS_BEFORE_END = 10
FALSE_ALARM_TARGET = 1.0  # alert e-mails per brand per 90 days
SURGE_TARGET = 1.0  # caught on its first day


def generate_history(
    config, *, items: int, days: int, last_day: date, seed: int, surge_day: date | None
):
    """A generated warehouse without the demo's incidents; with `surge_day`, one incident of
    the first own brand starting that day. Transformed, alerts not yet evaluated."""
    from repwatch import demo_data
    from repwatch.pipeline import transform_days

    first_day = last_day - timedelta(days=days - 1)
    surging_brand = next(brand.name for brand in config.brands if not brand.competitor)

    def planted_incidents(targets, day_count, rng):
        incident = np.zeros((len(targets), day_count), dtype=bool)
        if surge_day is not None:
            start = (surge_day - first_day).days
            rows = [
                number
                for number, target in enumerate(targets)
                if target.brand == surging_brand and target.record_type in ("review", "mention")
            ]
            incident[
                np.ix_(rows, range(start, min(day_count, start + demo_data.INCIDENT_DAYS)))
            ] = True
        return incident

    with mock.patch.object(demo_data, "_incidents", planted_incidents):
        summary = demo_data.generate(
            config, items=items, days=days, last_day=last_day, seed=seed, replace=True
        )
    transform_days(config, summary.first_day, summary.last_day)
    return summary.first_day, surging_brand


def _peer_alerts(config, first: date, last: date, brand: str | None = None) -> tuple[int, int]:
    """Brand-days the fixed share rule and the plain 2-sigma spike rule would alert on."""
    from repwatch.warehouse import connect

    brand_filter = "and brand = ?" if brand else ""
    extra = [brand] if brand else []
    with connect(config, read_only=True) as con:
        fixed = con.execute(
            f"""
            select count(*) from mart_brand_kpis
            where grain = 'day' and source = 'all' and period_start between ? and ?
                and reviews >= ? and negative_share >= ? {brand_filter}
            """,
            [
                first,
                last,
                config.thresholds.min_reviews,
                config.thresholds.negative_share_warning,
                *extra,
            ],
        ).fetchone()[0]
        spikes = con.execute(
            f"""
            select count(*) from mart_kpi_baselines
            where grain = 'day' and source = 'all' and metric = 'negative'
                and period_start between ? and ?
                and value > trailing_mean + 2 * trailing_stddev {brand_filter}
            """,
            [first, last, *extra],
        ).fetchone()[0]
    return fixed, spikes


def _fired_on(config, brand: str, day: date) -> bool:
    from repwatch.warehouse import connect

    with connect(config, read_only=True) as con:
        return bool(
            con.execute(
                "select count(*) from mart_alerts where fired and brand = ? and day = ?",
                [brand, day],
            ).fetchone()[0]
        )


def benchmarks(context: Context) -> list[Row]:
    from repwatch.alerts import evaluate_alerts, replay_alert_emails
    from repwatch.config import PROJECT_DIR, Paths, load_config

    config = load_config(PROJECT_DIR / "demo" / "repwatch.yaml")
    config = config.model_copy(update={"paths": Paths(data_dir=context.work_dir / "alerts")})
    surge_day = LAST_DAY - timedelta(days=SURGE_DAYS_BEFORE_END)
    first_day, surging_brand = generate_history(
        config, items=ITEMS, days=DAYS, last_day=LAST_DAY, seed=SEED, surge_day=surge_day
    )
    evaluate_alerts(config, first_day, LAST_DAY)

    quiet_first = first_day + timedelta(days=WARM_UP_DAYS)
    quiet_last = surge_day - timedelta(days=1)
    per_90_days = 90 / ((quiet_last - quiet_first).days + 1) / len(config.brands)
    emails = replay_alert_emails(config, quiet_first, quiet_last)
    false_alarms = sum(len(days) for days in emails.values()) * per_90_days
    fixed, spikes = _peer_alerts(config, quiet_first, quiet_last)

    caught = _fired_on(config, surging_brand, surge_day)
    fixed_caught, spike_caught = _peer_alerts(config, surge_day, surge_day, surging_brand)

    false_figure = "alert e-mails per brand per 90 quiet days"
    surge_figure = "planted surge alerted on its first day (1 = yes)"
    fixed_peer = "negative share >= 30% (fixed)"
    spike_peer = "negative > mean + 2 sigma (trailing only)"
    return [
        Row(
            false_figure,
            false_alarms,
            "alerts",
            FALSE_ALARM_TARGET,
            "<=",
            fixed_peer,
            fixed * per_90_days,
        ),
        Row(
            false_figure,
            false_alarms,
            "alerts",
            FALSE_ALARM_TARGET,
            "<=",
            spike_peer,
            spikes * per_90_days,
        ),
        Row(surge_figure, caught, "yes", SURGE_TARGET, ">=", fixed_peer, min(fixed_caught, 1)),
        Row(surge_figure, caught, "yes", SURGE_TARGET, ">=", spike_peer, min(spike_caught, 1)),
    ]
