"""
### repwatch_alerts

Early warnings within the hour: crawl the mention sources (Reddit, Hacker News: where a
story spreads first) incrementally, load and enrich what is new, recompute the current day's
marts and evaluate the alert rules for that day; the people who own an alert are e-mailed at
once, with why.

**Period.** Hourly data-interval timetable in the config's time zone. A run evaluates the day
its logical date (the start of its hour) falls on, a day still in progress; the daily run
re-evaluates the day once it is complete and reports alerts that cleared as resolved.

**Idempotent.** Cooldowns, escalations and reminders are decided by the library against
`alert_notifications`, counted between alert days: a re-run or an overlapping hour sends
nothing twice. Crawls are incremental (from each target's watermark less the overlap), so an
hour costs a few requests per target. Every warehouse task runs in the `repwatch_warehouse`
pool. Backfill runs evaluate and send nothing unless `dag_run.conf` is `{"send": true}`.

**Without Airflow.** `repwatch alerts check --crawl-mentions --date D` does the same in one
process; without `--crawl-mentions` it evaluates the warehouse as it is.
"""

from __future__ import annotations

from datetime import timedelta

from repwatch_common import (
    crawl_and_transform,
    evaluate_alerts,
    parse_config,
    repwatch_dag,
)

from repwatch.orchestration import mention_sources

CONFIG = parse_config()


@repwatch_dag(
    "alerts",
    "0 * * * *",
    CONFIG,
    timeout=timedelta(minutes=30),
    doc_md=__doc__,
    dagrun_timeout=timedelta(minutes=55),
)
def repwatch_alerts():
    transformed = crawl_and_transform(CONFIG, mention_sources(CONFIG), hourly=True)
    evaluate_alerts(transformed, hourly=True)


repwatch_alerts()
