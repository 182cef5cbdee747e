"""
### repwatch_monthly

The monthly management report of the previous calendar month in the config's time zone:
satisfaction index, reputation score, competitor comparison and trends, archived and
e-mailed to its recipients.

**Period.** A data-interval timetable at 00:00 on the 1st in the config's time zone: the run
for month M has M's first day as logical date and starts once M is over; it reports
`repwatch.periods.period_of_run("monthly", logical_date, timezone)`, e.g. `2026-10`.
`airflow dags test repwatch_monthly 2026-10-01` reports October 2026.

**When the month is complete.** `wait_for_daily_runs` (an ExternalTaskSensor in reschedule
mode) waits until `repwatch_daily` has a successful run for every day of the month. A day
still missing after two days fails the sensor, which e-mails the data engineers: backfill the
day, then clear this run. Why a cron timetable and a sensor rather than the `repwatch_marts`
asset: see repwatch_weekly.

**Report.** `report_month` is one library call, `repwatch.pipeline.run_report(config,
period, send=...)`, in the `repwatch_warehouse` pool. Backfill runs send nothing unless
`dag_run.conf` is `{"send": true}`.

**Without Airflow.** `repwatch report monthly --period 2026-10`.
"""

from __future__ import annotations

from repwatch_common import period_report_dag

repwatch_monthly = period_report_dag("monthly", "0 0 1 * *", doc_md=__doc__)
repwatch_monthly()
