"""
### repwatch_weekly

The weekly management report of the previous ISO week (Monday to Sunday in the config's time
zone): satisfaction index, reputation score, competitor comparison and trends, archived and
e-mailed to its recipients.

**Period.** A data-interval timetable at Monday 00:00 in the config's time zone: the run for
week W has W's Monday as logical date and starts once W is over; it reports
`repwatch.periods.period_of_run("weekly", logical_date, timezone)`, e.g. `2026-W47`.
`airflow dags test repwatch_weekly 2026-11-16` reports 2026-W47 (16–22 November).

**When the week is complete.** `wait_for_daily_runs` (an ExternalTaskSensor in reschedule
mode, holding no worker slot while it waits) waits until `repwatch_daily` has a successful
run for each of the week's seven days, so the Sunday run (which starts with this one) and any
re-run or backfilled day are in the marts first. A day still missing after two days fails the
sensor, which e-mails the data engineers: backfill the day, then clear this run. A cron
timetable plus a sensor was chosen over scheduling on the `repwatch_marts` asset: it gives
one run per week with its period in its logical date, past weeks can be backfilled with
`airflow backfill create --dag-id repwatch_weekly`, and a missing day fails loudly instead of
holding the report back without a word.

**Report.** `report_week` is one library call, `repwatch.pipeline.run_report(config,
period, send=...)`, in the `repwatch_warehouse` pool. Backfill runs send nothing unless
`dag_run.conf` is `{"send": true}`.

**Without Airflow.** `repwatch report weekly --period 2026-W47`.
"""

from __future__ import annotations

from repwatch_common import period_report_dag

repwatch_weekly = period_report_dag("weekly", "0 0 * * 1", doc_md=__doc__)
repwatch_weekly()
