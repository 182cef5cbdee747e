"""The one place configuration is read: `repwatch.yaml` validated into typed models.

Relative paths in the file are resolved against the file's own folder, so a config
works from any working directory. Environment variables override a few settings
(for deployments and tests) and are the only place secrets come from.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROJECT_DIR = Path(__file__).resolve().parents[1]
# Target parameters each source needs (required, optional); spiders read them from here.
SOURCE_TARGET_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "appstore": (("app_id", "country"), ()),
    "jd": (("product_id",), ()),
    "jsonld": (("url",), ()),
    "trustpilot": (("domain",), ()),
    "reddit": (("query",), ("subreddit",)),
    "hackernews": (("query",), ()),
    "files": (("folder", "mapping"), ()),
}
KNOWN_SOURCES = tuple(SOURCE_TARGET_KEYS)
DEPARTMENTS = ("customer_service", "product", "marketing", "management", "data_engineering")

# Settings a deployment may override without editing the file.
SMTP_PASSWORD_ENV = "REPWATCH_SMTP_PASSWORD"
# Relative to the working directory (unlike paths in the file).
DATA_DIR_ENV = "REPWATCH_DATA_DIR"


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file, the key and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Strict):
    """One thing to crawl on a source, e.g. an app in one country's store."""

    params: dict[str, str]

    @property
    def target_id(self) -> str:
        """Stable identifier stored with every record, e.g. `country=us&app_id=123`."""
        return "&".join(f"{key}={self.params[key]}" for key in sorted(self.params))

    @property
    def label(self) -> str:
        """A short name for reports: the parameters, a drop folder by its own name (its full
        path belongs to the machine, not to an e-mail)."""
        return " ".join(
            f"{key}={PurePath(value).name if key == 'folder' else value}"
            for key, value in sorted(self.params.items())
        )


class SourceConfig(_Strict):
    source: str
    targets: list[Target] = Field(min_length=1)
    # files source only: named column mappings, record field -> column header in the drop.
    mappings: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if value not in KNOWN_SOURCES:
            raise ValueError(f"unknown source {value!r} (known: {', '.join(KNOWN_SOURCES)})")
        return value

    @model_validator(mode="after")
    def _targets_have_their_keys(self) -> SourceConfig:
        required, optional = SOURCE_TARGET_KEYS[self.source]
        for number, target in enumerate(self.targets):
            missing = [key for key in required if not target.params.get(key)]
            unknown = sorted(set(target.params) - {*required, *optional})
            if missing or unknown:
                problem = (
                    f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)}"
                )
                raise ValueError(
                    f"targets.{number}: {problem} (a {self.source} target takes "
                    f"{', '.join(required + optional)})"
                )
            mapping = target.params.get("mapping")
            if mapping is not None and mapping not in self.mappings:
                raise ValueError(f"targets.{number}: no mapping named {mapping!r} in mappings")
        return self

    @field_validator("targets", mode="before")
    @classmethod
    def _targets_as_params(cls, value: object) -> object:
        # In YAML a target is written flat: `{app_id: "123", country: us}`.
        if isinstance(value, list):
            return [
                {"params": {str(k): str(v) for k, v in item.items()}}
                if isinstance(item, dict) and "params" not in item
                else item
                for item in value
            ]
        return value


# Names end up in e-mail headers (subjects, To:): a line break there would add a header.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(value: str) -> str:
    if _CONTROL_CHARACTERS.search(value):
        raise ValueError("must be one line of text, without line breaks or control characters")
    return value


class Brand(_Strict):
    name: str = Field(min_length=1)
    competitor: bool = False
    sources: list[SourceConfig] = Field(min_length=1)

    _name_is_one_line = field_validator("name")(_one_line)


class Recipient(_Strict):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = ""
    department: Literal[DEPARTMENTS] = "management"  # type: ignore[valid-type]
    language: Literal["en", "zh-CN"] = "en"
    brands: list[str] = Field(default_factory=list, description="empty: every own brand")

    _name_is_one_line = field_validator("name")(_one_line)


class ReportConfig(_Strict):
    recipients: list[Recipient] = Field(default_factory=list)
    trend_days: int = Field(default=30, ge=7, le=366)


class Reports(_Strict):
    daily: ReportConfig = ReportConfig()
    weekly: ReportConfig = ReportConfig()
    monthly: ReportConfig = ReportConfig()


class Thresholds(_Strict):
    negative_share_warning: float = Field(default=0.30, ge=0, le=1)
    min_reviews: int = Field(default=5, ge=0)


class CrawlConfig(_Strict):
    user_agent: str = "repwatch/0.1 (+https://github.com/repwatch/repwatch)"
    contact: str = ""
    lookback_days: int = Field(default=3, ge=0, le=3650)
    download_delay: float = Field(default=1.0, ge=0)
    # A page not answered within this many seconds is given up and retried.
    download_timeout: float = Field(default=30, gt=0, le=600)
    obey_robots_txt: bool = True
    # Re-read this much before a target's newest item, to catch late replies and edits.
    overlap_hours: int = Field(default=48, ge=0, le=24 * 60)
    # Sources crawled side by side; a source's own targets always go one at a time.
    parallel_sources: int = Field(default=4, ge=1, le=32)
    # Pages per target and run; Apple's review feed itself stops at 10.
    max_pages: int = Field(default=10, ge=1, le=10000)
    base_urls: dict[str, str] = Field(default_factory=dict)

    @field_validator("base_urls")
    @classmethod
    def _known_sources(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(KNOWN_SOURCES))
        if unknown:
            raise ValueError(f"unknown source {unknown[0]!r} (known: {', '.join(KNOWN_SOURCES)})")
        return value


# SMTP settings a deployment gives in the environment (SmtpConfig explains the precedence).
SMTP_ENV = {
    "REPWATCH_SMTP_HOST": "host",
    "REPWATCH_SMTP_PORT": "port",
    "REPWATCH_SMTP_USER": "username",
    "REPWATCH_SMTP_USERNAME": "username",  # wins over _USER when both are set
    "REPWATCH_SMTP_SENDER": "sender",
    "REPWATCH_SMTP_STARTTLS": "starttls",
    "REPWATCH_SMTP_SSL": "ssl",
}
# How Airflow hands the SMTP provider's default connection to tasks started with it in the
# environment (URI or JSON form); read here without importing Airflow.
AIRFLOW_SMTP_CONNECTION_ENV = "AIRFLOW_CONN_SMTP_DEFAULT"
_TRUE_WORDS = {"true", "1", "yes", "on"}
_FALSE_WORDS = {"false", "0", "no", "off", ""}


def _connection_flag(extra: Mapping, key: str) -> bool:
    value = extra.get(key, False)
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    # Airflow itself takes any non-empty string as true, so "disable_tls=false" would disable
    # TLS there; the words are read by what they say here.
    if word in _TRUE_WORDS | _FALSE_WORDS:
        return word in _TRUE_WORDS
    raise ValueError(f"{AIRFLOW_SMTP_CONNECTION_ENV}: extra {key}={value!r} is not true or false")


def airflow_smtp_connection(environ: Mapping[str, str]) -> tuple[dict, str | None] | None:
    """The Airflow SMTP connection in `environ` as (SmtpConfig settings, password), or None.

    Accepts both forms Airflow reads from AIRFLOW_CONN_SMTP_DEFAULT:
    `smtp://login:password@host:port?from_email=...&disable_tls=true` (URL-encoded parts; the
    extras as query parameters or as JSON in `__extra__`) and `{"conn_type": "smtp",
    "host": ..., "port": ..., "login": ..., "password": ..., "extra": {...}}`.
    TLS follows the SMTP provider's hook: implicit SSL unless `disable_ssl`, else STARTTLS unless
    `disable_tls`; without a port, 465 with SSL and 25 without (smtplib's defaults);
    `from_email` is the sender and `timeout` the timeout. Errors never quote the value, which
    holds the password.
    """
    value = (environ.get(AIRFLOW_SMTP_CONNECTION_ENV) or "").strip()
    if not value:
        return None
    where = AIRFLOW_SMTP_CONNECTION_ENV
    if value.startswith("{"):
        try:
            fields = json.loads(value)
            extra = fields.get("extra") or {}
            extra = json.loads(extra) if isinstance(extra, str) else extra
        except (ValueError, AttributeError):
            raise ValueError(f"{where}: not valid JSON") from None
        if not isinstance(extra, dict):
            raise ValueError(f"{where}: extra is not a JSON object")
        conn_type = str(fields.get("conn_type") or "")
        host, port = fields.get("host"), fields.get("port")
        login, password = fields.get("login"), fields.get("password")
    else:
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            raise ValueError(f"{where}: not a valid connection URI") from None
        conn_type = parts.scheme
        host = unquote(parts.hostname) if parts.hostname else None
        login = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            extra = json.loads(query["__extra__"]) if "__extra__" in query else query
        except ValueError:
            raise ValueError(f"{where}: __extra__ is not valid JSON") from None
    if conn_type.replace("-", "_") != "smtp":
        raise ValueError(f"{where}: connection type is {conn_type!r}, expected 'smtp'")
    if not host:
        raise ValueError(f"{where}: the connection has no host")
    ssl = not _connection_flag(extra, "disable_ssl")
    settings: dict = {
        "host": host,
        "port": port or (465 if ssl else 25),
        "username": login or None,
        "ssl": ssl,
        "starttls": not ssl and not _connection_flag(extra, "disable_tls"),
    }
    if extra.get("from_email"):
        settings["sender"] = extra["from_email"]
    if extra.get("timeout"):
        settings["timeout_seconds"] = extra["timeout"]
    return settings, password or None


def smtp_environment_settings(environ: Mapping[str, str]) -> dict:
    """SMTP settings from the environment: the Airflow connection, REPWATCH_SMTP_* over it."""
    connection = airflow_smtp_connection(environ)
    settings = dict(connection[0]) if connection else {}
    for env_name, key in SMTP_ENV.items():
        if environ.get(env_name):
            settings[key] = environ[env_name]
    return settings


class SmtpConfig(_Strict):
    """Where report e-mail goes. Each setting comes from the first of these that gives it:

    1. REPWATCH_SMTP_HOST, _PORT, _USERNAME (or _USER), _SENDER, _STARTTLS, _SSL;
    2. the Airflow connection in AIRFLOW_CONN_SMTP_DEFAULT, so a deployment configures SMTP
       once for Airflow's own mail and for repwatch's reports;
    3. the `smtp:` section of repwatch.yaml (what is committed: the demo's local server);
    4. the defaults below.

    The most specific source wins: a one-off REPWATCH_ variable over the deployment's shared
    connection over the committed file. The password likewise comes from
    REPWATCH_SMTP_PASSWORD, else the Airflow connection; never from the file. It is read when
    needed and not kept in the model, so neither repr() nor model_dump() can show it.
    """

    host: str | None = None
    port: int = Field(default=25, ge=1, le=65535)
    username: str | None = None
    starttls: bool = False
    ssl: bool = False
    sender: str = "repwatch@localhost"
    timeout_seconds: float = Field(default=30, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _environment_over_file(cls, data: object) -> object:
        if isinstance(data, dict):
            return {**data, **smtp_environment_settings(os.environ)}
        return data

    @property
    def password(self) -> str | None:
        """REPWATCH_SMTP_PASSWORD, else the Airflow connection's password; never from the file."""
        if os.environ.get(SMTP_PASSWORD_ENV):
            return os.environ[SMTP_PASSWORD_ENV]
        connection = airflow_smtp_connection(os.environ)
        return connection[1] if connection else None


class NlpConfig(_Strict):
    # Your own problem-type phrase rules (YAML, same shape as repwatch/nlp/rules/problems.yaml);
    # unset: the shipped rules.
    problem_rules: Path | None = None


# The enrichment's satisfaction dimensions and flag kinds (repwatch.nlp.problems.DIMENSIONS,
# repwatch.nlp.flags); spelled out here so that loading a config needs no NLP import.
SATISFACTION_DIMENSIONS = ("quality", "service", "delivery", "price", "function")
FLAG_KINDS = (
    "ad_or_contact",
    "gibberish",
    "repeated_characters",
    "too_short",
    "off_topic",
    "rating_text_mismatch",
    "near_duplicate",
    "rating_burst",
)


class BayesianPrior(_Strict):
    """Prior of the Bayesian average rating; Trustpilot's TrustScore uses 7 reviews at 3.5."""

    mean: float = Field(default=3.5, ge=1, le=5)
    weight: float = Field(default=7, ge=0)


class ReputationWeights(_Strict):
    rating: float = Field(default=0.35, ge=0)
    volume: float = Field(default=0.10, ge=0)
    recency: float = Field(default=0.15, ge=0)
    sentiment: float = Field(default=0.25, ge=0)
    response: float = Field(default=0.15, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> ReputationWeights:
        if not any(self.model_dump().values()):
            raise ValueError("at least one reputation weight must be above 0")
        return self


class Baselines(_Strict):
    """Windows of the trailing baselines that alerts compare a day against."""

    trailing_days: int = Field(default=28, ge=2, le=366)
    min_trailing_days: int = Field(default=14, ge=2)
    same_weekday_weeks: int = Field(default=8, ge=2, le=52)
    min_same_weekday_weeks: int = Field(default=4, ge=2)

    @model_validator(mode="after")
    def _minimum_within_window(self) -> Baselines:
        if self.min_trailing_days > self.trailing_days:
            raise ValueError("min_trailing_days is larger than trailing_days")
        if self.min_same_weekday_weeks > self.same_weekday_weeks:
            raise ValueError("min_same_weekday_weeks is larger than same_weekday_weeks")
        return self


def _default_satisfaction_weights() -> dict[str, float]:
    return {"quality": 0.30, "service": 0.25, "delivery": 0.15, "price": 0.15, "function": 0.15}


class MetricsConfig(_Strict):
    """Settings of the metric formulas in docs/metrics.md."""

    satisfaction_weights: dict[Literal[SATISFACTION_DIMENSIONS], float] = Field(  # type: ignore[valid-type]
        default_factory=_default_satisfaction_weights, min_length=1
    )
    bayesian_prior: BayesianPrior = BayesianPrior()
    sla_hours: float = Field(default=24, gt=0, le=24 * 30)
    # The overdue list of a day holds negative reviews published this many days before it.
    overdue_window_days: int = Field(default=7, ge=1, le=90)
    reputation_weights: ReputationWeights = ReputationWeights()
    recency_half_life_days: float = Field(default=7, gt=0, le=366)
    baselines: Baselines = Baselines()
    top_terms: int = Field(default=20, ge=1, le=200)
    # Items with one of these flags are left out of every KPI and counted apart as excluded.
    excluded_flags: list[Literal[FLAG_KINDS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["ad_or_contact", "gibberish", "repeated_characters"]
    )

    @field_validator("satisfaction_weights")
    @classmethod
    def _positive_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for dimension, weight in value.items():
            if weight <= 0:
                raise ValueError(f"weight of {dimension!r} must be above 0")
        return value


EVENT_KINDS = ("fix", "statement", "campaign", "release", "other")


class Event(_Strict):
    """Something done on a known day (a fix shipped, a public statement, a campaign) whose
    effect mart_event_effects measures: the same KPIs over `window_days` days before the day
    and as many days from it on."""

    name: str = Field(min_length=1)
    date: datetime.date
    brand: str = Field(min_length=1)
    kind: Literal[EVENT_KINDS] = "other"  # type: ignore[valid-type]
    window_days: int = Field(default=14, ge=1, le=366)


ALERT_RULES = (
    "negative",
    "negative_share",
    "nss_drop",
    "rating_drop",
    "reviews",
    "mentions",
    "reach",
    "problem_surge",
    "trigger_words",
)
ALERT_SEVERITIES = ("warning", "critical")


class AlertRule(_Strict):
    """One indicator's thresholds (docs/alerts.md). A rule fires when its day's value crosses
    the statistical threshold (from history) or the fixed one; `combine: both` asks for both."""

    enabled: bool = True
    statistical: bool = True
    # Fixed thresholds in the indicator's unit (a count, a share 0-1, NSS points, stars);
    # for the drop rules the value must fall below them.
    fixed_warning: float | None = None
    fixed_critical: float | None = None
    combine: Literal["either", "both"] = "either"
    department: Literal[DEPARTMENTS] = "customer_service"  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _something_to_compare_with(self) -> AlertRule:
        if self.enabled and not self.statistical and self.fixed_warning is None:
            raise ValueError("a rule without statistical thresholds needs fixed_warning")
        return self


def _default_alert_rules() -> dict[str, AlertRule]:
    return {
        "negative": AlertRule(department="customer_service"),
        # Fixed floors: a share that is unusual but under 60% is not worth a message.
        "negative_share": AlertRule(
            fixed_warning=0.6, fixed_critical=0.8, combine="both", department="customer_service"
        ),
        "nss_drop": AlertRule(department="marketing"),
        "rating_drop": AlertRule(department="product"),
        "reviews": AlertRule(department="marketing"),
        "mentions": AlertRule(department="marketing"),
        "reach": AlertRule(department="marketing"),
        # Rare problem types are noisy: at least 5 negative items about one, and unusual.
        "problem_surge": AlertRule(fixed_warning=5, combine="both", department="product"),
        # A trigger word fires when at least 3 new items carry one and that is unusual.
        "trigger_words": AlertRule(
            fixed_warning=3, fixed_critical=10, combine="both", department="management"
        ),
    }


def _default_trigger_words() -> list[str]:
    return [
        "曝光",
        "投诉",
        "食物中毒",
        "315",
        "维权",
        "lawsuit",
        "recall",
        "data breach",
        "scam",
        "food poisoning",
    ]


class AlertsConfig(_Strict):
    """Early-warning rules (docs/alerts.md): thresholds from history and from config."""

    # Statistical thresholds: how many alerts per brand per 90 days chance alone may raise,
    # shared by all the series a brand is tested on each day (Bonferroni; docs/alerts.md).
    # A value must clear the thresholds of both the trailing window and the same weekday.
    false_alarms_per_90_days: float = Field(default=1.0, gt=0, le=90)
    critical_false_alarms_per_90_days: float = Field(default=0.05, gt=0, le=90)
    # Below this many items (reviews + mentions) of the day and series, nothing fires; a
    # source whose trailing mean is below it is not tested on its own.
    min_volume: int = Field(default=10, ge=0)
    cooldown_hours: float = Field(default=48, ge=0, le=24 * 90)
    include_competitors: bool = False
    # Critical alerts go to this department as well as to the rule's owner.
    escalate_to: Literal[DEPARTMENTS] = "management"  # type: ignore[valid-type]
    # Empty: the daily report's recipients, each getting the alerts of their department.
    recipients: list[Recipient] = Field(default_factory=list)
    # Alerts of a department nobody above belongs to go here, and the e-mail says so.
    default_recipients: list[Recipient] = Field(default_factory=list)
    trigger_words: list[str] = Field(default_factory=_default_trigger_words)
    rules: dict[Literal[ALERT_RULES], AlertRule] = Field(  # type: ignore[valid-type]
        default_factory=_default_alert_rules
    )
    examples: int = Field(default=5, ge=0, le=50)
    trend_days: int = Field(default=28, ge=7, le=366)

    @model_validator(mode="after")
    def _critical_beyond_warning(self) -> AlertsConfig:
        if self.critical_false_alarms_per_90_days > self.false_alarms_per_90_days:
            raise ValueError(
                "critical_false_alarms_per_90_days is larger than false_alarms_per_90_days"
            )
        return self

    @field_validator("rules", mode="before")
    @classmethod
    def _defaults_under_overrides(cls, value: object) -> object:
        # A rule named in the file changes only the keys it gives; unnamed rules keep defaults.
        if isinstance(value, dict):
            defaults = {name: rule.model_dump() for name, rule in _default_alert_rules().items()}
            for name, rule in value.items():
                if name in defaults and isinstance(rule, dict):
                    defaults[name] = {**defaults[name], **rule}
                else:
                    defaults[name] = rule
            return defaults
        return value

    def rule(self, name: str) -> AlertRule:
        return self.rules.get(name, AlertRule(enabled=False))


class VolumeChecks(_Strict):
    """A silent site change shows as a crawl that finds far fewer items than usual, none at
    all, or many pages it cannot parse; each check's severity says whether it stops the run."""

    trailing_runs: int = Field(default=14, ge=2, le=366)
    # A baseline needs this many earlier runs of the target.
    min_runs: int = Field(default=3, ge=1)
    # Flag a run whose items fall below this share of the trailing median.
    min_share_of_baseline: float = Field(default=0.3, ge=0, le=1)
    drop_severity: Literal["error", "warning"] = "warning"
    zero_severity: Literal["error", "warning"] = "error"
    # Flag a run whose rejected pages / fetched pages exceed this.
    max_parse_failure_rate: float = Field(default=0.2, ge=0, le=1)
    parse_failure_severity: Literal["error", "warning"] = "error"

    @model_validator(mode="after")
    def _minimum_within_window(self) -> VolumeChecks:
        if self.min_runs > self.trailing_runs:
            raise ValueError("min_runs is larger than trailing_runs")
        return self


class QualityConfig(_Strict):
    # Who gets the data-quality e-mail; empty: the daily report's data_engineering recipients.
    notify: list[Recipient] = Field(default_factory=list)
    volume: VolumeChecks = VolumeChecks()


class Paths(_Strict):
    data_dir: Path = Path("data")

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def crawl_dir(self) -> Path:
        return self.data_dir / "crawl"


class Config(_Strict):
    timezone: str = "UTC"
    brands: list[Brand] = Field(min_length=1)
    reports: Reports = Reports()
    thresholds: Thresholds = Thresholds()
    crawl: CrawlConfig = CrawlConfig()
    # Built per config, not at import: its environment settings are read when loading.
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    nlp: NlpConfig = NlpConfig()
    metrics: MetricsConfig = MetricsConfig()
    events: list[Event] = Field(default_factory=list)
    quality: QualityConfig = QualityConfig()
    alerts: AlertsConfig = AlertsConfig()
    paths: Paths = Paths()
    config_file: Path | None = Field(default=None, exclude=True)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _unique_brands(self) -> Config:
        names = [brand.name for brand in self.brands]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"brand {duplicates[0]!r} is listed more than once")
        return self

    @model_validator(mode="after")
    def _events_of_known_brands(self) -> Config:
        brands = {brand.name for brand in self.brands}
        names = [event.name for event in self.events]
        for number, event in enumerate(self.events):
            if event.brand not in brands:
                raise ValueError(f"events.{number}: no brand named {event.brand!r} in brands")
            if names.count(event.name) > 1:
                raise ValueError(f"events.{number}: event {event.name!r} is listed more than once")
        return self

    def targets(self) -> list[tuple[Brand, SourceConfig, Target]]:
        """Every (brand, source, target) to crawl, in config order."""
        return [
            (brand, source, target)
            for brand in self.brands
            for source in brand.sources
            for target in source.targets
        ]

    def base_url(self, source: str) -> str | None:
        return self.crawl.base_urls.get(source)


def _location(error: dict) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(top level)"


def _describe(error: dict) -> str:
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling)"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return message


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a config file; every problem becomes one ConfigError line."""
    config_path = Path(path)
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{config_path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config_path}: cannot read: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, yaml.constructor.ConstructorError):
            # safe_load refuses tags such as !!python/object/apply: they would run code.
            problem += " (only plain YAML is read: no tags that build Python objects)"
        raise ConfigError(f"{config_path}:{where}: not valid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: expected a mapping of settings at the top level")
    if "password" in (raw.get("smtp") or {}):
        raise ConfigError(
            f"{config_path}: smtp.password: secrets are not read from the file; "
            f"set {SMTP_PASSWORD_ENV} in the environment"
        )
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_location(e)}: {_describe(e)}" for e in exc.errors()]
        raise ConfigError(f"{config_path}: " + "; ".join(problems)) from None
    if os.environ.get(DATA_DIR_ENV):
        data_dir = Path(os.environ[DATA_DIR_ENV]).resolve()
    else:
        data_dir = (config_path.resolve().parent / config.paths.data_dir).resolve()
    rules = config.nlp.problem_rules
    if rules is not None and not rules.is_absolute():
        rules = (config_path.resolve().parent / rules).resolve()
    return config.model_copy(
        update={
            "paths": Paths(data_dir=data_dir),
            "nlp": NlpConfig(problem_rules=rules),
            "config_file": config_path.resolve(),
        }
    )


SECRET_MASK = "********"
# Keys and URL query parameters whose values are credentials.
_SECRET_NAME = re.compile(
    r"(?i)^(?:.*[_-])?(?:password|passwd|pwd|secret|token|api_?key|access_?key|auth|"
    r"signature|sig|key|credentials?)$"
)
# user:password@ in a URL (e.g. a base URL through an authenticated proxy or mirror).
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^/\s@]*@")
_QUERY_PARAMETER = re.compile(r"([?&;])([^=&#;\s]+)=([^&#;\s]*)")


def mask_text_secrets(text: str) -> str:
    """The text with URL passwords and credential-like query parameter values masked."""
    text = _URL_PASSWORD.sub(rf"\1:{SECRET_MASK}@", text)

    def parameter(match: re.Match) -> str:
        separator, name, value = match.groups()
        secret = _SECRET_NAME.match(name) and value
        return f"{separator}{name}={SECRET_MASK if secret else value}"

    return _QUERY_PARAMETER.sub(parameter, text) if "=" in text else text


def mask_secrets(value: object) -> object:
    """Plain data (a dumped config) with every secret masked: values under credential-like
    keys, and passwords or credential parameters inside URLs anywhere."""
    if isinstance(value, str):
        return mask_text_secrets(value)
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    if isinstance(value, dict):
        return {
            key: SECRET_MASK
            if isinstance(key, str) and _SECRET_NAME.match(key) and value[key]
            else mask_secrets(value[key])
            for key in value
        }
    return value


def shown_config(config: Config) -> dict:
    """The effective config as JSON-ready data for showing (`repwatch config show`): the SMTP
    password only as set or not, and every other secret masked (see mask_secrets)."""
    shown = mask_secrets(config.model_dump(mode="json"))
    shown["smtp"]["password"] = SECRET_MASK if config.smtp.password else None
    return shown


def default_config_path() -> Path:
    """REPWATCH_CONFIG if set, else ./repwatch.yaml."""
    return Path(os.environ.get("REPWATCH_CONFIG", "repwatch.yaml"))
