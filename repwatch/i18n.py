"""Report languages: message catalogues (data files) and the formatting of dates and numbers.

Every label of every report comes from a catalogue, `templates/i18n/<language>.yaml`: nested
keys, flattened to dotted ones (`kpi.reviews`), whose values are texts with `{name}`
placeholders filled by `t("key", name=value)` (str.format syntax, so `{value:.1f}` works). A
value may instead be a mapping `{one: ..., other: ...}`, chosen by the `count` placeholder
(English plurals; Chinese needs only `other`). Lists (month names) are read by the formatting
helpers. A data engineer fixes a translation in the YAML, never in code; the tests check that
both catalogues hold the same keys and that every key a template uses exists.

Dates, periods and numbers are formatted per language from the catalogue's `format.*`
entries: "2026-11-27" and "Friday 27 November 2026" in English, "2026年11月27日" and
"2026年11月27日（周五）" in Chinese; week and month labels likewise ("week 48, 2026",
"2026年第48周"). Review texts are data and stay as written.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from pathlib import Path

import yaml

from repwatch.config import PROJECT_DIR

CATALOGUE_DIR = PROJECT_DIR / "templates" / "i18n"
LANGUAGES = ("en", "zh-CN")
DEFAULT_LANGUAGE = "en"
_PLURAL_FORMS = ("one", "other")
_FORMATTER = string.Formatter()


class MissingTranslation(KeyError):
    """A key the catalogue does not hold (a typo in a template, or a catalogue out of step)."""


def catalogue_path(language: str) -> Path:
    return CATALOGUE_DIR / f"{language}.yaml"


def _flatten(values: Mapping, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        is_plural = isinstance(value, Mapping) and set(value) <= set(_PLURAL_FORMS)
        if isinstance(value, Mapping) and not is_plural:
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


@cache
def load_catalogue(language: str) -> dict[str, object]:
    """The flattened catalogue of `language` (read once per process)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown report language {language!r} (known: {', '.join(LANGUAGES)})")
    path = catalogue_path(language)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path.name}: expected a mapping of keys")
    return _flatten(raw)


def placeholders(text: str) -> set[str]:
    """The names of the `{name}` fields of a catalogue text."""
    return {
        field.split(".")[0].split("[")[0]
        for _literal, field, _spec, _conversion in _FORMATTER.parse(text)
        if field
    }


class Translator:
    """Labels and formats of one language; `t` is what templates call."""

    def __init__(self, language: str):
        self.language = language
        self.catalogue = load_catalogue(language)

    # -- labels

    def has(self, key: str) -> bool:
        return key in self.catalogue

    def t(self, key: str, /, **values) -> str:
        try:
            entry = self.catalogue[key]
        except KeyError:
            raise MissingTranslation(f"{self.language}: no {key!r} in the catalogue") from None
        if isinstance(entry, Mapping):
            count = values.get("count")
            entry = entry.get("one") if count == 1 and "one" in entry else entry["other"]
        if not isinstance(entry, str):
            raise MissingTranslation(f"{self.language}: {key!r} is not a text")
        return entry.format(**values) if values or "{" in entry else entry

    def label(self, group: str, name: str | None) -> str:
        """The translated name of an id (a source, problem type, dimension ...); an id the
        catalogue does not know is shown as it is, tidied (a source added to the config later
        must not break a report)."""
        if name is None:
            return self.t("common.none")
        key = f"{group}.{name}"
        if key in self.catalogue:
            return self.t(key)
        return name.replace("_", " ")

    def items(self, key: str) -> list[str]:
        entry = self.catalogue[key]
        if not isinstance(entry, list):
            raise MissingTranslation(f"{self.language}: {key!r} is not a list")
        return [str(item) for item in entry]

    # -- numbers

    def number(self, value, digits: int = 0) -> str:
        if value is None:
            return self.t("common.missing")
        return f"{value:,.{digits}f}"

    def percent(self, share, digits: int = 0) -> str:
        """A share 0–1 as a percentage."""
        if share is None:
            return self.t("common.missing")
        return f"{share * 100:.{digits}f}%"

    def hours(self, value, digits: int = 1) -> str:
        if value is None:
            return self.t("common.missing")
        return self.t("format.hours", value=f"{value:,.{digits}f}")

    def duration(self, hours) -> str:
        """A waiting time: "31 h", "6 d 23 h" (whole hours)."""
        if hours is None:
            return self.t("common.missing")
        whole = max(0, round(hours))
        if whole < 48:
            return self.t("format.duration_hours", hours=whole)
        return self.t("format.duration_days", days=whole // 24, hours=whole % 24)

    def signed(self, change, digits: int = 1, unit: str = "") -> str:
        """A change with an arrow: "▲ +1.3", "▼ -0.4 pp", "=" when it rounds to nothing."""
        if change is None:
            return self.t("common.missing")
        if round(change, digits) == 0:
            return "="
        arrow = "▲" if change > 0 else "▼"
        return f"{arrow} {change:+,.{digits}f}{unit}"

    # -- dates

    def _fields(self, value: date) -> dict:
        if isinstance(value, datetime):
            value = value.date()
        return {
            "year": value.year,
            "month": value.month,
            "day": value.day,
            "iso": value.isoformat(),
            "month_name": self.items("format.months")[value.month - 1],
            "month_abbr": self.items("format.months_short")[value.month - 1],
            "weekday": self.items("format.weekdays")[value.weekday()],
        }

    def date(self, value: date | None) -> str:
        """A date in tables: 2026-11-27 / 2026年11月27日."""
        if value is None:
            return self.t("common.missing")
        return self.t("format.date", **self._fields(value))

    def date_long(self, value: date) -> str:
        """A date in headings, with its weekday."""
        return self.t("format.date_long", **self._fields(value))

    def date_short(self, value: date) -> str:
        """Day and month only: 27 Nov / 11月27日."""
        return self.t("format.date_short", **self._fields(value))

    def datetime(self, value: datetime | None, timezone=None) -> str:
        if value is None:
            return self.t("common.missing")
        if timezone is not None:
            value = value.astimezone(timezone)
        return self.t("format.datetime", time=f"{value:%H:%M}", **self._fields(value.date()))

    def month(self, value: date) -> str:
        return self.t("format.month", **self._fields(value))

    def period(self, period) -> str:
        """A report period in words: the day, "week 48, 2026 (23 Nov – 29 Nov)", "November
        2026"."""
        if period.report == "weekly":
            year, week, _ = period.start.isocalendar()
            return self.t(
                "format.week",
                year=year,
                week=week,
                first=self.date_short(period.start),
                last=self.date_short(period.end),
            )
        if period.report == "monthly":
            return self.month(period.start)
        return self.date_long(period.start)

    def period_short(self, period) -> str:
        """A compact period label for subjects: 2026-11-27 / 2026-W48 / 2026年第48周."""
        if period.report == "weekly":
            year, week, _ = period.start.isocalendar()
            return self.t("format.week_short", year=year, week=week)
        if period.report == "monthly":
            return self.t("format.month_short", year=period.start.year, month=period.start.month)
        return self.date(period.start)


@cache
def translator(language: str) -> Translator:
    return Translator(language)
