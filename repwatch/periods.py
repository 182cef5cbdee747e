"""How a scheduled run maps to the period it reports; kept here so every DAG and the
command agree, and so it can be tested without Airflow.

Periods are calendar periods in the report time zone: a day; an ISO week, Monday to
Sunday, labelled `2026-W48`; a calendar month, labelled `2026-11`. A run reports the
period its logical date falls in; the DAGs use data-interval timetables, so that run starts
once the period is over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

REPORTS = ("daily", "weekly", "monthly")
_WEEK_LABEL = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH_LABEL = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Period:
    report: str  # daily, weekly or monthly
    start: date
    end: date  # inclusive

    @property
    def label(self) -> str:
        if self.report == "weekly":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        if self.report == "monthly":
            return f"{self.start:%Y-%m}"
        return self.start.isoformat()

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        return period_containing(self.report, self.start - timedelta(days=1))

    def __str__(self) -> str:
        return self.label


def period_containing(report: str, day: date) -> Period:
    """The daily, weekly or monthly period that `day` belongs to."""
    if report == "daily":
        return Period(report, day, day)
    if report == "weekly":
        monday = day - timedelta(days=day.weekday())
        return Period(report, monday, monday + timedelta(days=6))
    if report == "monthly":
        first = day.replace(day=1)
        next_first = (first + timedelta(days=32)).replace(day=1)
        return Period(report, first, next_first - timedelta(days=1))
    raise ValueError(f"unknown report {report!r} (known: {', '.join(REPORTS)})")


def last_complete_period(report: str, today: date) -> Period:
    """The newest period of `report` that ended before `today`."""
    period = period_containing(report, today - timedelta(days=1))
    return period if period.end < today else period.previous()


def parse_period(report: str, label: str) -> Period:
    """A period from its label: `2026-11-27` (daily), `2026-W48` (weekly), `2026-11` (monthly).
    A day is accepted for every report and means the period containing it."""
    label = label.strip()
    try:
        if report == "weekly" and (match := _WEEK_LABEL.match(label)):
            monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
            return period_containing(report, monday)
        if report == "monthly" and (match := _MONTH_LABEL.match(label)):
            return period_containing(report, date(int(match[1]), int(match[2]), 1))
        return period_containing(report, date.fromisoformat(label))
    except ValueError as error:
        if str(error).startswith("unknown report"):
            raise
        examples = {"daily": "2026-11-27", "weekly": "2026-W48", "monthly": "2026-11"}
        raise ValueError(
            f"{label!r} is not a {report} period (expected e.g. {examples.get(report, '?')})"
        ) from error


def report_day(logical_date: datetime, timezone: str) -> date:
    """The calendar day a run's logical date falls on in the report time zone.

    The daily DAG uses a data-interval timetable, so the run for day D has logical date
    D 00:00 and starts once D is over. `airflow dags test repwatch_daily D` and a backfill
    over D1..D2 report exactly D and D1..D2.
    """
    if logical_date.tzinfo is None:
        raise ValueError("logical_date must carry a time zone")
    return logical_date.astimezone(ZoneInfo(timezone)).date()


def period_of_run(report: str, logical_date: datetime, timezone: str) -> Period:
    """The period a weekly or monthly run reports: the one its logical date falls in (the
    start of its data interval), in the report time zone."""
    return period_containing(report, report_day(logical_date, timezone))
