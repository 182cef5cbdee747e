"""Great Expectations suites in code, one per validated table, and the run that applies them.

Tables and their suites:
- raw, one suite per source (`raw_<source>`): the shared rules of the raw gate (repwatch.quality)
  plus what that source promises (App Store, JD and Trustpilot reviews always carry a rating;
  Reddit and Hacker News yield mentions only; a mention never carries a rating);
- staging: `stg_reviews` (the batch just loaded) and `int_reviews` (its rows after the upsert):
  columns present, keys present and unique, enumerations within their accepted values;
- marts: every mart's key present and unique (the `-- unique key:` header of its model), plus
  invariants of mart_brand_kpis (sentiment counts add up to reviews, rates within range, weeks
  and months the sum of their days) and of mart_kpi_baselines (no gaps in a daily series).

Every expectation's meta carries its `severity`: an *error* stops what depends on the table
(rows are quarantined, or the period's report is withheld) and e-mails the data engineers; a
*warning* lets the run go on and is listed in the report. Tables are validated as pandas frames
fetched from DuckDB (GX on DuckDB through SQLAlchemy evaluates nothing). A `QualityRun` validates
in one GX file context under `<data_dir>/quality/`, so each run's results appear in GX's static
Data Docs site there; its outcomes are stored in the warehouse table `quality_results`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from repwatch.records import DATE_PRECISIONS, LANGUAGES
from repwatch.warehouse import table_exists

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from great_expectations.core import ExpectationSuite, ExpectationSuiteValidationResult


log = logging.getLogger(__name__)

ERROR = "error"
WARNING = "warning"
SEVERITIES = (ERROR, WARNING)
KINDS = ("review", "mention")
RECORD_TYPES = ("review", "mention", "complaint", "survey")
SENTIMENTS = ("positive", "neutral", "negative")
GRAINS = ("day", "week", "month")
# Sites whose reviews always show stars, and sites that only hold posts about a brand.
RATED_SOURCES = ("appstore", "jd", "trustpilot")
MENTION_SOURCES = ("reddit", "hackernews")
# The raw check frame's rating as landed, whatever its type.
LANDED_RATING = "rating_as_landed"

DOCS_SITE = "repwatch"
QUALITY_DIR = "quality"
# Inside QUALITY_DIR: GX's file context keeps its stores in gx/, the site in gx/docs/.
DOCS_INDEX = Path("gx") / "docs" / "index.html"

RESULTS_DDL = """
create table if not exists quality_results (
    run_id varchar not null,
    stage varchar not null,
    checked_at timestamptz not null,
    table_name varchar not null,
    suite varchar not null,
    source varchar,
    target_id varchar,
    expectation varchar not null,
    column_name varchar,
    severity varchar not null,
    success boolean not null,
    observed varchar,
    reason varchar,
    docs_page varchar
);
create table if not exists quality_runs (
    run_id varchar not null,
    stage varchar not null,
    checked_at timestamptz not null,
    first_day date,
    last_day date,
    docs_index varchar,
    errors integer not null,
    warnings integer not null
);
"""


def rule(severity: str, reason: str) -> dict[str, str]:
    """An expectation's meta: how bad a failure is, and the reason quarantine rows carry."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, not {severity!r}")
    return {"severity": severity, "reason": reason}


# --- suites --------------------------------------------------------------------------------


def raw_source_rules(source: str | None) -> list:
    """The expectations a raw batch of `source` adds to the shared raw rules."""
    import great_expectations.expectations as gxe

    def where(condition: str) -> dict[str, str]:
        return {"row_condition": condition, "condition_parser": "pandas"}

    rules = [
        gxe.ExpectColumnValuesToBeNull(
            column="rating", **where('kind=="mention"'), meta=rule(ERROR, "a mention has a rating")
        )
    ]
    if source in RATED_SOURCES:
        rules.append(
            # On the landed value: a rating of the wrong type is already quarantined as such.
            gxe.ExpectColumnValuesToNotBeNull(
                column=LANDED_RATING,
                **where('kind=="review"'),
                meta=rule(ERROR, f"{source} review without a rating"),
            )
        )
    if source in MENTION_SOURCES:
        rules.append(
            gxe.ExpectColumnValuesToBeInSet(
                column="kind",
                value_set=["mention"],
                meta=rule(ERROR, f"{source} yields mentions only"),
            )
        )
    return rules


def staging_suite(table: str) -> ExpectationSuite:
    """stg_reviews or int_reviews: columns, keys, accepted values."""
    import great_expectations.expectations as gxe

    gx = _import_gx()
    key = ["source", "target_id", "review_id"]
    columns = [*key, "kind", "rating", "language", "published_at", "date_precision", "likes"]
    if table == "int_reviews":
        columns += ["brand", "is_competitor", "record_type", "published_day", "sentiment"]
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=columns, exact_match=False, meta=rule(ERROR, f"{table} lacks columns")
        ),
        *(
            gxe.ExpectColumnValuesToNotBeNull(column=name, meta=rule(ERROR, f"missing {name}"))
            for name in [*key, "kind", "language", "date_precision", "likes"]
        ),
        _unique(key),
        *_in_sets([("kind", KINDS), ("language", LANGUAGES), ("date_precision", DATE_PRECISIONS)]),
        gxe.ExpectColumnValuesToBeBetween(
            column="rating", min_value=1, max_value=5, meta=rule(ERROR, "rating not in 1–5")
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="likes", min_value=0, meta=rule(ERROR, "likes negative")
        ),
    ]
    if table == "int_reviews":
        expectations += [
            *_in_sets([("record_type", RECORD_TYPES), ("sentiment", SENTIMENTS)]),
            # A target no longer in the config keeps its rows but counts for no brand.
            gxe.ExpectColumnValuesToNotBeNull(
                column="brand", meta=rule(WARNING, "rows of a target no brand configures")
            ),
        ]
    return gx.ExpectationSuite(name=table, expectations=expectations)


def _unique(columns: list[str]):
    import great_expectations.expectations as gxe

    meta = rule(ERROR, f"duplicate {', '.join(columns)}")
    if len(columns) == 1:
        return gxe.ExpectColumnValuesToBeUnique(column=columns[0], meta=meta)
    return gxe.ExpectCompoundColumnsToBeUnique(column_list=columns, meta=meta)


def _in_sets(pairs: list[tuple[str, tuple[str, ...]]]) -> list:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToBeInSet(
            column=name,
            value_set=list(allowed),
            meta=rule(ERROR, f"{name} not in {', '.join(allowed)}"),
        )
        for name, allowed in pairs
    ]


# Rates of mart_brand_kpis and their ranges (docs/metrics.md).
KPI_RANGES = {
    "csat": (0, 100),
    "nss": (-100, 100),
    "mention_nss": (-100, 100),
    "negative_share": (0, 1),
    "response_rate": (0, 1),
    "sla_compliance": (0, 1),
    "share_of_voice": (0, 1),
    "positive_share_lower_bound": (0, 1),
    "satisfaction_index": (0, 100),
    "reputation_score": (0, 100),
    "avg_rating": (1, 5),
    "bayesian_rating": (1, 5),
}
# Counts that a week or a month must hold as the sum of its days.
ADDITIVE_KPIS = ("reviews", "mentions", "positive", "neutral", "negative", "replied_reviews")
# Derived columns the fetch adds (see _MART_QUERIES); zero where the invariant holds.
SENTIMENT_GAP = "reviews_minus_sentiment_counts"
MISSING_DAYS = "missing_days_in_series"


def mart_suite(table: str, unique_key: tuple[str, ...]) -> ExpectationSuite:
    import great_expectations.expectations as gxe

    gx = _import_gx()
    expectations = [
        *(
            gxe.ExpectColumnValuesToNotBeNull(column=name, meta=rule(ERROR, f"missing {name}"))
            for name in unique_key
        ),
        _unique(list(unique_key)),
    ]
    if "grain" in unique_key:
        expectations += _in_sets([("grain", GRAINS)])
    if table == "mart_brand_kpis":
        expectations.append(_exactly_zero(SENTIMENT_GAP, "sentiment counts do not add up"))
        expectations += [
            gxe.ExpectColumnValuesToBeBetween(
                column=name, min_value=low, max_value=high, meta=rule(ERROR, f"{name} out of range")
            )
            for name, (low, high) in KPI_RANGES.items()
        ]
        expectations += [
            _exactly_zero(f"{name}_minus_days", f"{name} of a week or month is not its days' sum")
            for name in ADDITIVE_KPIS
        ]
    if table == "mart_kpi_baselines":
        expectations.append(_exactly_zero(MISSING_DAYS, "gap in a daily series"))
    return gx.ExpectationSuite(name=table, expectations=expectations)


def _exactly_zero(column: str, reason: str):
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnValuesToBeBetween(
        column=column, min_value=0, max_value=0, meta=rule(ERROR, reason)
    )


# --- rows an expectation rejects ------------------------------------------------------------


def unexpected_rows(config, frame: pd.DataFrame, parameters: dict[str, Any]) -> np.ndarray:
    """A mask of the rows of `frame` that break the map expectation `config`, computed from its
    definition the way GX evaluates it on pandas: nulls are outside a column map's domain,
    `row_condition` narrows the domain, bounds are inclusive unless strict. Reading every row
    index out of GX's COMPLETE result format costs far more than this; callers compare the
    count with GX's `unexpected_count` (see `check_unexpected_count`)."""
    kwargs = {name: _resolve(value, parameters) for name, value in config.kwargs.items()}
    domain = np.ones(len(frame), dtype=bool)
    if kwargs.get("row_condition"):
        # DataFrame.query, as GX applies it, keeps the rows where this evaluates true.
        domain &= frame.eval(_pandas_condition(kwargs)).to_numpy(dtype=bool)
    kind = config.type
    if kind == "expect_compound_columns_to_be_unique":
        keys = frame[list(kwargs["column_list"])]
        if kwargs.get("ignore_row_if", "all_values_are_missing") == "any_value_is_missing":
            domain &= keys.notna().all(axis=1).to_numpy()
        else:
            domain &= keys.notna().any(axis=1).to_numpy()
        repeated = np.zeros(len(frame), dtype=bool)
        repeated[domain] = keys.loc[domain].duplicated(keep=False).to_numpy()
        return repeated
    column = frame[kwargs["column"]]
    present = column.notna().to_numpy()
    if kind == "expect_column_values_to_not_be_null":
        return domain & ~present
    if kind == "expect_column_values_to_be_null":
        return domain & present
    domain &= present
    if kind == "expect_column_values_to_be_in_set":
        return domain & ~column.isin(list(kwargs["value_set"])).to_numpy()
    if kind == "expect_column_values_to_be_between":
        within = np.ones(len(frame), dtype=bool)
        low, high, values = kwargs.get("min_value"), kwargs.get("max_value"), column
        if low is not None:
            within &= (values > low if kwargs.get("strict_min") else values >= low).to_numpy()
        if high is not None:
            within &= (values < high if kwargs.get("strict_max") else values <= high).to_numpy()
        return domain & ~within
    raise ValueError(f"no row-level reading of {kind}")


def check_unexpected_count(outcome, rows: np.ndarray) -> None:
    """Refuse rows that disagree with GX's own count: the definitions read here and GX's
    evaluation must never drift apart silently."""
    expected = outcome.result.get("unexpected_count")
    if expected is not None and int(expected) != int(rows.sum()):
        raise RuntimeError(
            f"{outcome.expectation_config.type} on {outcome.expectation_config.kwargs}: "
            f"GX counts {expected} unexpected rows, the row-level reading {int(rows.sum())}"
        )


def _pandas_condition(kwargs: dict[str, Any]) -> str:
    from great_expectations.expectations.row_conditions import (
        PassThroughCondition,
        deserialize_row_condition,
    )

    condition = kwargs["row_condition"]
    if isinstance(condition, dict):
        condition = deserialize_row_condition(condition)
    if isinstance(condition, PassThroughCondition):
        return condition.pass_through_filter
    if isinstance(condition, str) and kwargs.get("condition_parser") == "pandas":
        return condition
    raise ValueError(f"no row-level reading of the row condition {condition!r}")


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    if isinstance(value, dict) and set(value) == {"$PARAMETER"}:
        return parameters[value["$PARAMETER"]]
    return value


# --- fetching tables -----------------------------------------------------------------------

# Rows of a mart whose period lies in $first..$last, by materialisation keys (see warehouse.py).
_PERIOD_FILTERS = {
    1: "{0} between $first and $last",
    2: "{0} >= $first and {1} <= $last",
}
_MART_QUERIES = {
    "mart_brand_kpis": f"""
        with kpis as (
            select * from mart_brand_kpis where period_start >= $first and period_end <= $last
        ),
        day_sums as (
            select
                periods.grain, periods.period_start, periods.brand, periods.source,
                {", ".join(f"sum(days.{n}) as {n}" for n in ADDITIVE_KPIS)},
            from kpis as periods
            join kpis as days
                on days.grain = 'day'
                and days.brand = periods.brand
                and days.source = periods.source
                and days.period_start between periods.period_start and periods.period_end
            where periods.grain <> 'day'
            group by all
        )
        select
            kpis.*,
            kpis.reviews - kpis.positive - kpis.neutral - kpis.negative
                - kpis.sentiment_unknown as {SENTIMENT_GAP},
            {", ".join(f"kpis.{n} - day_sums.{n} as {n}_minus_days" for n in ADDITIVE_KPIS)},
        from kpis
        left join day_sums using (grain, period_start, brand, source)
    """,
    "mart_kpi_baselines": f"""
        select
            *,
            case when grain = 'day' then
                date_diff(
                    'day',
                    min(period_start) over series,
                    max(period_start) over series
                ) + 1 - count(*) over series
            end as {MISSING_DAYS},
        from mart_kpi_baselines
        where period_start >= $first and period_end <= $last
        window series as (partition by grain, brand, source, metric)
    """,
}


def fetch_mart(
    con: duckdb.DuckDBPyConnection, table: str, first: date, last: date
) -> pd.DataFrame | None:
    """The mart's rows of first..last (whole table for a `table` model); None if not built."""
    from repwatch.warehouse import Model

    if not table_exists(con, table):
        return None
    if table in _MART_QUERIES:
        query = _MART_QUERIES[table]
    else:
        model = Model.load(table)
        template = _PERIOD_FILTERS.get(len(model.keys)) if model.materialized == "period" else None
        where = template.format(*model.keys) if template else "true"
        query = f"select * from {table} where {where}"
    parameters = {"first": first, "last": last}
    used = {name: value for name, value in parameters.items() if f"${name}" in query}
    return con.execute(query, used).df()


# --- outcomes and the run --------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One expectation (or volume check) on one table: a row of quality_results."""

    table: str
    suite: str
    expectation: str
    severity: str
    success: bool
    reason: str
    column: str | None = None
    observed: str | None = None  # JSON
    source: str | None = None
    target_id: str | None = None
    docs_page: str | None = None

    @property
    def is_error(self) -> bool:
        return not self.success and self.severity == ERROR

    @property
    def is_warning(self) -> bool:
        return not self.success and self.severity == WARNING

    def describe(self) -> str:
        where = " ".join(part for part in (self.source, self.target_id) if part)
        column = f".{self.column}" if self.column else ""
        observed = f" (observed {self.observed})" if self.observed is not None else ""
        return f"{self.table}{column}{f' [{where}]' if where else ''}: {self.reason}{observed}"


def outcomes_of(
    result: ExpectationSuiteValidationResult,
    *,
    table: str,
    source: str | None = None,
    docs_page: str | None = None,
) -> list[Outcome]:
    outcomes = []
    for outcome in result.results:
        config = outcome.expectation_config
        meta = config.meta or {}
        outcomes.append(
            Outcome(
                table=table,
                suite=result.suite_name,
                expectation=config.type,
                severity=meta.get("severity", ERROR),
                success=bool(outcome.success),
                reason=meta.get("reason", config.type),
                column=config.kwargs.get("column"),
                observed=_observed(outcome.result),
                source=source,
                docs_page=docs_page,
            )
        )
    return outcomes


def _observed(result: dict[str, Any]) -> str | None:
    if "observed_value" in result:
        value = result["observed_value"]
    elif "unexpected_count" in result:
        value = {
            "unexpected_count": result.get("unexpected_count"),
            "unexpected_percent": result.get("unexpected_percent"),
            "examples": (result.get("partial_unexpected_list") or [])[:5],
        }
    else:
        return None
    return json.dumps(value, default=_plain, ensure_ascii=False)


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _import_gx():
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations as gx

    # This GX module forces its logger to INFO and reports routine set-up (temporary folders).
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    return gx


# Large per-row lists are what the raw gate reads to quarantine rows; Data Docs and the results
# store need only the counts and a few examples.
_PER_ROW_KEYS = ("unexpected_list", "unexpected_index_list", "unexpected_index_query")


def _without_progress_bars(context):
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


class QualityRun:
    """Validates tables for one run id. With a data dir, in a GX file context under
    `<data_dir>/quality/` whose Data Docs site gets a page per validated table; without one,
    in an ephemeral context and without docs."""

    def __init__(self, run_id: str, data_dir: Path | None = None):
        self.run_id = run_id
        self.root = data_dir / QUALITY_DIR if data_dir is not None else None
        self.outcomes: list[Outcome] = []
        self._context = None
        self._ephemeral = None
        self._keys: list = []
        self._suffix = 0

    @property
    def docs_index(self) -> Path | None:
        return self.root / DOCS_INDEX if self.root is not None else None

    def _validation_context(self):
        """Ephemeral: a file context writes its project YAML on every data source, asset and
        batch definition added, three times per validation, which cost more than validating."""
        if self._ephemeral is None:
            self._ephemeral = _without_progress_bars(_import_gx().get_context(mode="ephemeral"))
        return self._ephemeral

    def _docs_context(self):
        """The file context under `<data_dir>/quality/` that keeps results and Data Docs."""
        if self._context is not None:
            return self._context
        gx = _import_gx()
        self.root.mkdir(parents=True, exist_ok=True)
        context = gx.get_context(mode="file", project_root_dir=str(self.root))
        if DOCS_SITE not in {site["site_name"] for site in context.get_docs_sites_urls()}:
            context.add_data_docs_site(
                site_name=DOCS_SITE,
                site_config={
                    "class_name": "SiteBuilder",
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                    # Relative to gx/, so the folder can move with the data dir.
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": "docs",
                    },
                },
            )
        self._context = _without_progress_bars(context)
        return context

    def validate(
        self,
        table: str,
        frame: pd.DataFrame,
        suite: ExpectationSuite,
        *,
        source: str | None = None,
        parameters: dict[str, Any] | None = None,
        result_format: dict[str, Any] | str = "SUMMARY",
    ) -> tuple[ExpectationSuiteValidationResult, list[Outcome]]:
        """Validate `frame` with `suite`; returns GX's result (in `result_format`) and the
        outcomes, which are also kept for `store`."""
        context = self._validation_context()
        self._suffix += 1
        asset_name = f"{suite.name}_{self._suffix}"
        datasource = context.data_sources.add_or_update_pandas(f"repwatch_{self.run_id}")
        batch = (
            datasource.add_dataframe_asset(asset_name)
            .add_batch_definition_whole_dataframe("whole")
            .get_batch(batch_parameters={"dataframe": frame})
        )
        result = batch.validate(
            suite, result_format=result_format, expectation_parameters=parameters or {}
        )
        for outcome in result.results:
            if outcome.exception_info.get("raised_exception"):
                raise RuntimeError(
                    f"GX could not evaluate {outcome.expectation_config.type} on {table}: "
                    f"{outcome.exception_info.get('exception_message')}"
                )
        docs_page = self._keep_for_docs(result, suite.name, asset_name)
        outcomes = outcomes_of(result, table=table, source=source, docs_page=docs_page)
        self.outcomes += outcomes
        return result, outcomes

    def _keep_for_docs(self, result, suite_name: str, asset_name: str) -> str | None:
        if self.root is None:
            return None
        import copy

        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        stored = copy.copy(result)
        stored.results = [copy.copy(outcome) for outcome in result.results]
        for outcome in stored.results:
            outcome.result = {
                key: value for key, value in outcome.result.items() if key not in _PER_ROW_KEYS
            }
        run = RunIdentifier(run_name=self.run_id, run_time=datetime.now(UTC))
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite_name),
            run_id=run,
            batch_identifier=asset_name,
        )
        self._docs_context().validation_results_store.set(key, stored)
        self._keys.append(key)
        run_time = run.run_time.strftime("%Y%m%dT%H%M%S.%fZ")
        page = Path("gx", "docs", "validations", suite_name, self.run_id, run_time, asset_name)
        return str(self.root / page.with_suffix(".html"))

    def build_docs(self) -> Path | None:
        """Write the pages of this run's validations and refresh the site's index."""
        if self.root is None or not self._keys:
            return None
        context = self._docs_context()
        context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=self._keys)
        return self.docs_index

    @property
    def errors(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.is_error]

    @property
    def warnings(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.is_warning]


def store_outcomes(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    stage: str,
    outcomes: list[Outcome],
    *,
    days: tuple[date | None, date | None] = (None, None),
    docs_index: Path | None = None,
) -> None:
    """Replace the rows of (run_id, stage) in quality_results and quality_runs."""
    import pandas as pd

    now = datetime.now(UTC)
    con.execute(RESULTS_DDL)
    for table in ("quality_results", "quality_runs"):
        con.execute(f"delete from {table} where run_id = ? and stage = ?", [run_id, stage])
    if outcomes:
        rows = pd.DataFrame([asdict(outcome) for outcome in outcomes]).rename(
            columns={"table": "table_name", "column": "column_name"}
        )
        rows = rows.drop(columns="suite").assign(
            suite=[outcome.suite for outcome in outcomes],
            run_id=run_id,
            stage=stage,
            checked_at=now,
        )
        con.register("new_quality_results", rows)
        con.execute("insert into quality_results by name select * from new_quality_results")
        con.unregister("new_quality_results")
    con.execute(
        "insert into quality_runs values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            stage,
            now,
            *days,
            str(docs_index) if docs_index else None,
            sum(outcome.is_error for outcome in outcomes),
            sum(outcome.is_warning for outcome in outcomes),
        ],
    )


def check_warehouse(
    con: duckdb.DuckDBPyConnection,
    run: QualityRun,
    *,
    first: date,
    last: date,
    batch_id: str | None = None,
) -> list[Outcome]:
    """Validate staging (the rows of `batch_id`, when given) and every mart's rows of
    first..last with their suites; returns the outcomes."""
    from repwatch.warehouse import LOAD_MODELS, PERIOD_MODELS, Model

    outcomes: list[Outcome] = []
    for table in LOAD_MODELS:
        if not table_exists(con, table):
            continue
        where = "batch_id = ?" if table == "int_reviews" else "true"
        if table == "int_reviews" and batch_id is None:
            where, values = "published_day between ? and ?", [first, last]
        else:
            values = [batch_id] if table == "int_reviews" else []
        frame = con.execute(f"select * from {table} where {where}", values).df()
        outcomes += run.validate(table, frame, staging_suite(table))[1]
    for table in PERIOD_MODELS:
        model = Model.load(table)
        if model.materialized == "temp" or not model.unique_key:
            continue
        frame = fetch_mart(con, table, first, last)
        if frame is not None:
            outcomes += run.validate(table, frame, mart_suite(table, model.unique_key))[1]
    return outcomes
