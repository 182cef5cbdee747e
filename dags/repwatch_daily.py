"""
### repwatch_daily

The daily monitoring job: crawl every configured source and target, check the raw batch
(Great Expectations; rejected rows go to quarantine), load it into the DuckDB warehouse,
annotate new reviews (language, text sentiment, problem types, flags), recompute the marts,
check staging and marts with their Great Expectations suites, render the daily report and
e-mail it.

**Data quality.** Raw suites and volume checks run in `check_and_load`, staging and mart
suites in `check_quality`; results go to the warehouse table `quality_results` and to GX's
Data Docs under `<data_dir>/quality/`. An error-severity failure e-mails the data engineers;
one in staging or marts also withholds that day's report (`send_report` sends nothing).

**Period.** Each run reports one calendar day: the day of the run's logical date in the
configured time zone. The schedule is a data-interval timetable at midnight, so the run for
day D has logical date D 00:00 and starts once D is complete. `airflow dags test
repwatch_daily 2026-11-26` reports 2026-11-26; a backfill over D1..D2 reports D1..D2.

**Mail.** Scheduled and manual runs send the report (once per recipient and day: a retry
sends no duplicate). Backfill runs send nothing unless `dag_run.conf` is `{"send": true}`.

**Config.** The `repwatch.yaml` named by the `REPWATCH_CONFIG` environment variable.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task


def _config():
    from repwatch.config import default_config_path, load_config

    return load_config(default_config_path())


def _report_day(config):
    from repwatch.periods import report_day

    return report_day(get_current_context()["logical_date"], config.timezone)


@dag(
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["repwatch", "daily"],
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(hours=2),
    },
    doc_md=__doc__,
)
def repwatch_daily():
    @task
    def crawl_sources() -> list[str]:
        from repwatch.pipeline import crawl_for_day

        config = _config()
        return [str(path) for path in crawl_for_day(config, _report_day(config), progress=print)]

    @task
    def check_and_load(files: list[str]) -> dict:
        from pathlib import Path

        from repwatch.pipeline import check_and_load as check_and_load_files

        loaded = check_and_load_files(_config(), [Path(name) for name in files])
        return {
            "batch_id": loaded.batch_id,
            "valid_rows": loaded.valid_rows,
            "quarantined_rows": loaded.quarantined_rows,
            "days": [day.isoformat() for day in loaded.days],
            "raw_quality": loaded.quality.as_dict() if loaded.quality else None,
        }

    @task
    def enrich_reviews(loaded: dict) -> dict:
        from repwatch.pipeline import enrich_reviews as enrich

        return {**loaded, "enriched": enrich(_config(), progress=print)}

    @task
    def transform_marts(loaded: dict) -> dict:
        from datetime import date

        from repwatch.pipeline import transform_for_day

        config = _config()
        day = _report_day(config)
        touched = [date.fromisoformat(value) for value in loaded["days"]]
        start, end = transform_for_day(config, day, touched, progress=print)
        return {
            "batch_id": loaded["batch_id"],
            "day": day.isoformat(),
            "start": start.isoformat(),
            "end": end.isoformat(),
        }

    @task
    def check_quality(transformed: dict) -> dict:
        from datetime import date

        from repwatch.pipeline import check_quality as check

        quality = check(
            _config(),
            date.fromisoformat(transformed["start"]),
            date.fromisoformat(transformed["end"]),
            run_id=transformed["batch_id"],
            progress=print,
        )
        return {"day": transformed["day"], **quality.as_dict()}

    @task
    def render_report(checked: dict) -> dict:
        from datetime import date

        from repwatch.pipeline import render_report as render

        _, archive_path = render(_config(), date.fromisoformat(checked["day"]))
        return {**checked, "archive_path": str(archive_path)}

    @task
    def send_report(rendered_report: dict) -> dict:
        from repwatch.pipeline import render_report as render
        from repwatch.pipeline import send_report as send

        archive_path = rendered_report["archive_path"]
        if rendered_report["withholds_report"]:
            print(f"not sending {archive_path}: data-quality errors in staging or marts")
            return {"sent": [], "skipped": [], "transport": None}
        context = get_current_context()
        dag_run = context["dag_run"]
        is_backfill = str(getattr(dag_run, "run_type", "")).endswith("backfill")
        wanted = (dag_run.conf or {}).get("send", not is_backfill)
        if not wanted:
            print(f"not sending {archive_path}: backfill run without conf send=true")
            return {"sent": [], "skipped": [], "transport": None}
        config = _config()
        rendered, _ = render(config, _report_day(config))
        delivery = send(config, rendered)
        return {
            "sent": list(delivery.sent),
            "skipped": list(delivery.skipped),
            "transport": delivery.transport,
        }

    @task
    def evaluate_alerts(transformed: dict) -> dict:
        from repwatch.alerts import check_alerts

        config = _config()
        dag_run = get_current_context()["dag_run"]
        is_backfill = str(getattr(dag_run, "run_type", "")).endswith("backfill")
        send = (dag_run.conf or {}).get("send", not is_backfill)
        result = check_alerts(config, _report_day(config), send=send, progress=print)
        return {"fired": result.fired, "notices": len(result.notices), "sent": result.sent}

    loaded = enrich_reviews(check_and_load(crawl_sources()))
    transformed = transform_marts(loaded)
    evaluate_alerts(transformed)
    send_report(render_report(check_quality(transformed)))


repwatch_daily()
