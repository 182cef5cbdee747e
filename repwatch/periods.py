"""How a scheduled run maps to the period it reports; kept here so every DAG and the
command agree, and so it can be tested without Airflow."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo


def report_day(logical_date: datetime, timezone: str) -> date:
    """The calendar day a daily run reports: its logical date's day in the report time zone.

    The daily DAG uses a data-interval timetable, so the run for day D has logical date
    D 00:00 and starts once D is over. `airflow dags test repwatch_daily D` and a backfill
    over D1..D2 report exactly D and D1..D2.
    """
    if logical_date.tzinfo is None:
        raise ValueError("logical_date must carry a time zone")
    return logical_date.astimezone(ZoneInfo(timezone)).date()
