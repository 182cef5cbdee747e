"""
### repwatch_daily

The daily monitoring job: crawl every configured source and target, check the raw batch
(Great Expectations; rejected rows go to quarantine), load it into the DuckDB warehouse,
annotate new reviews (language, text sentiment, problem types, flags), recompute the marts,
check staging and marts with their Great Expectations suites, evaluate the early-warning
alerts, render the daily report and e-mail it.

**Tasks.** `plan_crawls` → `crawl_<source>` (one mapped task instance per target; a
source's targets one after another, sources side by side) → `validate_and_load` →
`enrich_reviews` → `transform_marts` (updates the `repwatch_marts` asset) → `check_quality`
→ `evaluate_alerts` → `render_report` → `send_report`. Every task that opens the DuckDB
warehouse runs in the pool `repwatch_warehouse` of one slot: DuckDB allows one writer process.

**Period.** Each run reports one calendar day: the day of the run's logical date in the
config's time zone (`repwatch.periods.report_day`). The timetable is a data-interval one at
midnight in that time zone, so the run for day D has logical date D 00:00 and starts once D
is over. `airflow dags test repwatch_daily 2026-11-26` reports 2026-11-26; a run triggered
without a logical date reports the last day complete when it was triggered (yesterday).

**Backfill.** `airflow backfill create --dag-id repwatch_daily --from-date D1 --to-date D2`
gives one run per day. A backfill run re-derives its day from the raw archive
(`<data_dir>/raw/`) for every target whose archive holds the whole day (a crawl that finished
cleanly after the day and reached back to it) and crawls only the others, from the day's
start. With `--max-active-runs 1` the first day's crawl serves the days after it.

**Data quality.** Raw suites and volume checks run in `validate_and_load`, staging and mart
suites in `check_quality`; results go to the warehouse table `quality_results` and to GX's
Data Docs under `<data_dir>/quality/`. An error-severity failure e-mails the data engineers;
one in staging or marts also withholds that day's report (`send_report` sends nothing).

**Mail.** Scheduled and manual runs send the report and the alerts (once per recipient and
day: a retry sends no duplicate). Backfill runs send nothing unless `dag_run.conf` is
`{"send": true}`; `{"send": false}` silences any run. A task that fails for good e-mails the
data engineers (`quality.notify`) through the SMTP connection `smtp_default`, or the one the
Airflow Variable `repwatch_smtp_conn_id` names.

**Without Airflow.** `repwatch run --date D` runs the same steps in one process;
`repwatch backfill --from D1 --to D2` a range.

**Config.** The `repwatch.yaml` named by the `REPWATCH_CONFIG` environment variable.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import get_current_context, task
from repwatch_common import (
    MARTS,
    WAREHOUSE_POOL,
    crawl_and_transform,
    evaluate_alerts,
    parse_config,
    repwatch_dag,
    task_config,
    wants_mail,
)

from repwatch.orchestration import configured_sources

CONFIG = parse_config()


@repwatch_dag("daily", "0 0 * * *", CONFIG, timeout=timedelta(hours=1), doc_md=__doc__)
def repwatch_daily():
    @task(pool=WAREHOUSE_POOL)
    def check_quality(transformed: dict) -> dict:
        from datetime import date

        from repwatch.pipeline import check_quality as check

        quality = check(
            task_config(),
            date.fromisoformat(transformed["start"]),
            date.fromisoformat(transformed["end"]),
            run_id=transformed["batch_id"],
            progress=print,
        )
        return {"day": transformed["day"], **quality.as_dict()}

    @task(pool=WAREHOUSE_POOL)
    def render_report(checked: dict) -> dict:
        from repwatch.periods import parse_period
        from repwatch.pipeline import run_report

        result = run_report(task_config(), parse_period("daily", checked["day"]), send=False)
        return {**checked, "archive_path": str(result.archive_paths[0])}

    @task(pool=WAREHOUSE_POOL)
    def send_report(rendered_report: dict) -> dict:
        from repwatch.periods import parse_period
        from repwatch.pipeline import run_report

        archive_path = rendered_report["archive_path"]
        if rendered_report["withholds_report"]:
            print(f"not sending {archive_path}: data-quality errors in staging or marts")
            return {"sent": [], "skipped": [], "transport": None}
        if not wants_mail(get_current_context()):
            print(f"not sending {archive_path}: backfill run without conf send=true")
            return {"sent": [], "skipped": [], "transport": None}
        # Every recipient gets their language and department's version, once (send ledger).
        period = parse_period("daily", rendered_report["day"])
        result = run_report(task_config(), period, send=True, progress=print)
        return {"sent": result.sent, "skipped": result.skipped, "transport": result.transport}

    transformed = crawl_and_transform(CONFIG, configured_sources(CONFIG), outlets=[MARTS])
    checked = check_quality(transformed)
    rendered = render_report(checked)
    checked >> evaluate_alerts(transformed) >> rendered
    send_report(rendered)


repwatch_daily()
