"""What the repwatch DAGs share: the config, default arguments, the warehouse pool, the marts
asset, the tasks of the crawl → load → transform chain, how a run finds its period and
whether it sends mail, the @dag policy of every DAG (`repwatch_dag`), and the weekly and
monthly report DAGs, which differ in their period only (`period_report_dag`). Not a DAG
itself (.airflowignore keeps the dag-processor off it).

Every task calls one library function; the library never imports Airflow.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import (
    Asset,
    CronDataIntervalTimetable,
    Param,
    TriggerRule,
    dag,
    get_current_context,
    task,
)

OWNER = "data-engineering"
# DuckDB allows one writer process, and a reader cannot open the file while a writer holds it:
# every task that opens the warehouse runs in this pool of one slot (created by
# `airflow pools set repwatch_warehouse 1 ...`; docs/airflow.md).
WAREHOUSE_POOL = "repwatch_warehouse"
# Updated by repwatch_daily once a day's marts are recomputed; the event's extra names the day.
MARTS = Asset(name="repwatch_marts")
# Airflow Variable naming the SMTP connection of the failure e-mail (default smtp_default).
SMTP_CONN_VARIABLE = "repwatch_smtp_conn_id"

SEND_PARAMS = {
    "send": Param(
        None,
        type=["null", "boolean"],
        description=(
            "E-mail stakeholders? Empty: scheduled and manual runs send, backfill runs do not."
        ),
    )
}


def parse_config():
    """The config read when the DAG file is parsed: its time zone sets the schedule, its
    sources the crawl tasks and its data engineers the failure e-mail. A missing or broken
    file is an import error shown in the Airflow UI."""
    from repwatch.orchestration import current_config

    return current_config()


def task_config():
    """The config as a task reads it when it runs."""
    from repwatch.orchestration import current_config

    return current_config()


def timetable(cron: str, config) -> CronDataIntervalTimetable:
    """A data-interval timetable in the report time zone: the run for a period has the
    period's start as logical date and starts once the period is over."""
    return CronDataIntervalTimetable(cron, timezone=config.timezone)


def start_date(config) -> pendulum.DateTime:
    return pendulum.datetime(2026, 1, 1, tz=config.timezone)


def failure_mail(config):
    """E-mail to the data engineers (the data-quality recipients) when a task fails for good,
    through the SMTP provider and its connection (`smtp_default` unless the Airflow Variable
    repwatch_smtp_conn_id names another)."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    from repwatch.orchestration import data_engineers

    recipients = [recipient.email for recipient in data_engineers(config)]
    if not recipients:
        return None
    return SmtpNotifier(
        to=recipients,
        from_email=config.smtp.sender,
        smtp_conn_id=f"{{{{ var.value.get('{SMTP_CONN_VARIABLE}', 'smtp_default') }}}}",
        subject="repwatch: {{ ti.dag_id }}.{{ ti.task_id }} failed ({{ ti.run_id }})",
    )


def default_args(config, *, timeout: timedelta) -> dict:
    return {
        "owner": OWNER,
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=20),
        "execution_timeout": timeout,
        "on_failure_callback": failure_mail(config),
    }


def run_period(context, config, report: str):
    """The period a run reports: the one its logical date falls in, in the report time zone.
    A run triggered without a logical date (Airflow 3 allows it) reports the last period
    complete when it was triggered."""
    from repwatch.periods import period_of_run

    if context.get("logical_date") is not None:
        return period_of_run(report, context["logical_date"], config.timezone)
    return period_of_run(report, context["dag_run"].run_after, config.timezone).previous()


def run_day(context, config, *, hourly: bool = False):
    """The day a daily run reports; with `hourly`, the day an hourly run's hour falls on (a
    run without a logical date: the day of the last complete hour)."""
    from repwatch.periods import report_day

    if not hourly or context.get("logical_date") is not None:
        return run_period(context, config, "daily").start
    return report_day(context["dag_run"].run_after - timedelta(hours=1), config.timezone)


def is_backfill(context) -> bool:
    run_type = context["dag_run"].run_type
    return getattr(run_type, "value", run_type) == "backfill"


def wants_mail(context) -> bool:
    """Scheduled and manual runs e-mail stakeholders; backfill runs only with
    dag_run.conf {"send": true}; conf {"send": false} silences any run."""
    send = context["params"].get("send")
    return bool(send) if send is not None else not is_backfill(context)


# ----------------------------------------------------------------- crawl → load → transform


@task(pool=WAREHOUSE_POOL)
def plan_crawls(sources: list[str], hourly: bool = False) -> dict[str, dict[str, dict]]:
    """Which targets this run crawls and from when, by source and target; a backfill run
    takes the targets whose raw archive holds its day from there."""
    from repwatch.orchestration import plan_crawls as plan

    config = task_config()
    context = get_current_context()
    day, backfill = run_day(context, config, hourly=hourly), is_backfill(context)
    planned = plan(config, day, backfill=backfill, sources=sources)
    held = f"the raw archive holds {day}" if backfill else "no targets"
    for source, jobs in planned.items():
        print(f"{source}: " + ("; ".join(job.label for job in jobs) or held))
    return {
        source: {job.target_id: job.as_dict() for job in jobs} for source, jobs in planned.items()
    }


@task(execution_timeout=timedelta(hours=1), map_index_template="{{ crawl_target }}")
def crawl_target(plan: dict, source: str, target_id: str) -> str:
    """One target, in its own crawl process, into the raw landing; skipped when the plan
    takes it from the raw archive."""
    from airflow.sdk.exceptions import AirflowSkipException

    from repwatch.landing import new_run_id
    from repwatch.orchestration import CrawlJob, crawl_job

    get_current_context()["crawl_target"] = target_id
    job = plan.get(source, {}).get(target_id)
    if job is None:
        raise AirflowSkipException(f"{source} {target_id}: the raw archive holds this day")
    crawl = CrawlJob.from_dict(job)
    return str(crawl_job(task_config(), crawl, run_id=new_run_id(), progress=print))


# Once every crawl is done, whether it crawled, was skipped (the archive holds the day) or
# failed for good (already e-mailed): one target must not hold back the others' rows. A
# crawl process that fails is recorded as a failed crawl by a task that succeeds.
@task(pool=WAREHOUSE_POOL, trigger_rule=TriggerRule.ALL_DONE)
def validate_and_load(planned: dict | None, landed: list) -> dict:
    """Raw suites and volume checks, then load what passes and quarantine the rest; landed
    files of earlier runs that were never loaded come along."""
    from pathlib import Path

    from repwatch.pipeline import check_and_load

    if planned is None:
        raise RuntimeError("plan_crawls failed: no crawl plan, nothing loaded")
    files = [Path(name) for names in landed for name in (names or []) if name]
    wanted = sum(len(jobs) for jobs in planned.values())
    print(f"{len(files)} of {wanted} planned crawls landed; earlier landings not loaded follow")
    loaded = check_and_load(task_config(), files)
    print(f"checked: {loaded.valid_rows} rows loaded, {loaded.quarantined_rows} quarantined")
    return {
        "batch_id": loaded.batch_id,
        "valid_rows": loaded.valid_rows,
        "quarantined_rows": loaded.quarantined_rows,
        "days": [day.isoformat() for day in loaded.days],
        "raw_quality": loaded.quality.as_dict() if loaded.quality else None,
    }


@task(pool=WAREHOUSE_POOL)
def enrich_reviews(loaded: dict) -> dict:
    from repwatch.pipeline import enrich_reviews as enrich

    return {**loaded, "enriched": enrich(task_config(), progress=print)}


@task(pool=WAREHOUSE_POOL)
def transform_marts(loaded: dict, hourly: bool = False) -> dict:
    """Recompute the day's crawl window and every day the load touched."""
    from datetime import date

    from repwatch.pipeline import transform_for_day

    config = task_config()
    context = get_current_context()
    day = run_day(context, config, hourly=hourly)
    touched = [date.fromisoformat(value) for value in loaded["days"]]
    start, end = transform_for_day(config, day, touched, progress=print)
    for outlet in context["task"].outlets:
        context["outlet_events"][outlet].extra = {
            "day": day.isoformat(),
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
    return {
        "batch_id": loaded["batch_id"],
        "day": day.isoformat(),
        "start": start.isoformat(),
        "end": end.isoformat(),
    }


def crawl_and_transform(
    config, sources: list[str], *, hourly: bool = False, outlets: list[Asset] | None = None
):
    """plan_crawls → crawl_<source>, mapped over the source's configured targets (a source's
    targets one after another, so each site sees one crawler at a time; sources side by side,
    as `repwatch run` does) → validate_and_load → enrich_reviews → transform_marts; returns
    the transform's XComArg."""
    from repwatch.orchestration import configured_targets

    planned = plan_crawls(sources, hourly)
    landed = [
        crawl_target.override(task_id=f"crawl_{source}", max_active_tis_per_dag=1)
        .partial(plan=planned, source=source)
        .expand(target_id=configured_targets(config, source))
        for source in sources
    ]
    loaded = enrich_reviews(validate_and_load(planned, landed))
    return transform_marts.override(outlets=outlets or [])(loaded, hourly)


@task(pool=WAREHOUSE_POOL)
def evaluate_alerts(transformed: dict, hourly: bool = False) -> dict:
    """Alert rules over the day's marts; notices go out unless the run sends no mail
    (cooldowns live in the library, so a re-run sends nothing twice)."""
    from repwatch.alerts import check_alerts

    config = task_config()
    context = get_current_context()
    day = run_day(context, config, hourly=hourly)
    result = check_alerts(config, day, send=wants_mail(context), progress=print)
    return {"fired": result.fired, "notices": len(result.notices), "sent": list(result.sent)}


# ----------------------------------------------------------------- weekly and monthly reports

# The daily runs a period needs may finish hours after the period's run starts (the Sunday
# run starts with the weekly one); a day still missing two days on is reported by failing.
PERIOD_WAIT = timedelta(days=2)
PERIOD_POKE = timedelta(minutes=10)


def daily_run_dates_of(report: str, config):
    """execution_date_fn of the period sensor: the logical dates of the daily runs of every
    day of the run's period."""

    def dates(_logical_date, context):
        from repwatch.orchestration import daily_run_dates

        return daily_run_dates(run_period(context, config, report), config.timezone)

    return dates


@task(pool=WAREHOUSE_POOL)
def report_period(report: str) -> dict:
    """The period's report from the marts, archived and (unless a backfill) e-mailed."""
    from repwatch.pipeline import run_report

    config = task_config()
    context = get_current_context()
    period = run_period(context, config, report)
    print(f"{report} report of {period.label} ({period.start} .. {period.end})")
    result = run_report(config, period, send=wants_mail(context), progress=print)
    return {
        "period": period.label,
        "archive_paths": [str(path) for path in result.archive_paths],
        "sent": list(result.sent),
        "skipped": list(result.skipped),
    }


def wait_and_report(report: str, config) -> None:
    """Wait until every day of the period has a successful repwatch_daily run, then report."""
    from airflow.providers.standard.sensors.external_task import ExternalTaskSensor

    wait = ExternalTaskSensor(
        task_id="wait_for_daily_runs",
        external_dag_id="repwatch_daily",
        execution_date_fn=daily_run_dates_of(report, config),
        allowed_states=["success"],
        check_existence=True,
        mode="reschedule",
        poke_interval=PERIOD_POKE.total_seconds(),
        timeout=PERIOD_WAIT.total_seconds(),
    )
    wait >> report_period.override(task_id=f"report_{report.removesuffix('ly')}")(report)


def repwatch_dag(name: str, cron: str, config, *, timeout: timedelta, doc_md: str, **options):
    """@dag with the policy of every repwatch DAG: dag_id `repwatch_<name>`, a data-interval
    timetable on `cron` in the config's time zone, no catchup, one run at a time, retries
    and the failure e-mail with `timeout` per task, the `send` param; `options` (e.g.
    dagrun_timeout) go to @dag as they are."""
    return dag(
        dag_id=f"repwatch_{name}",
        schedule=timetable(cron, config),
        start_date=start_date(config),
        catchup=False,
        max_active_runs=1,
        tags=["repwatch", name],
        default_args=default_args(config, timeout=timeout),
        params=SEND_PARAMS,
        doc_md=doc_md,
        **options,
    )


def period_report_dag(report: str, cron: str, doc_md: str):
    """The DAG of the weekly or monthly report, `repwatch_<report>`: `wait_and_report` once
    a period of `cron` is over. Returns the decorated DAG function for the DAG file to call,
    so that the DAG's file is that file."""
    config = parse_config()

    @repwatch_dag(report, cron, config, timeout=timedelta(hours=1), doc_md=doc_md)
    def period_report():
        wait_and_report(report, config)

    return period_report
