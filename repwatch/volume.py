"""Volume checks on crawl runs: the most common real failure of a review crawler is a site that
changed silently, so the crawl still "succeeds" but finds far fewer items, none, or pages it can
no longer parse.

For each crawl run of a batch (a row of `crawl_runs`), compared with the same source and
target's earlier runs:
- items below `min_share_of_baseline` of the trailing median of `trailing_runs` earlier runs
  (given at least `min_runs` of them) -> `drop_severity`;
- no items at all while that median is above 0 -> `zero_severity`;
- rejected pages / fetched pages (rows read, for a file drop) above `max_parse_failure_rate`
  -> `parse_failure_severity`.
Thresholds and severities come from the config's `quality.volume` section.
"""

from __future__ import annotations

import json
import statistics
from typing import TYPE_CHECKING

from repwatch.suites import Outcome

if TYPE_CHECKING:
    import duckdb

    from repwatch.config import VolumeChecks

TABLE = "crawl_runs"
SUITE = "crawl_volume"
ITEMS_VS_BASELINE = "items_vs_trailing_median"
ITEMS_NOT_ZERO = "items_not_zero"
PARSE_FAILURE_RATE = "parse_failure_rate"


def check_volume(
    con: duckdb.DuckDBPyConnection, batch_id: str, settings: VolumeChecks
) -> list[Outcome]:
    """One outcome per check and crawl run of `batch_id`, passed or failed."""
    runs = con.execute(
        """
        select source, target_id, started_at, coalesce(items, 0), coalesce(rejects, 0),
            coalesce(responses, 0)
        from crawl_runs where batch_id = ? order by source, target_id, started_at
        """,
        [batch_id],
    ).fetchall()
    outcomes = []
    for source, target_id, started_at, items, rejects, pages in runs:
        history = [
            count
            for (count,) in con.execute(
                """
                select coalesce(items, 0) from crawl_runs
                where source = ? and target_id = ? and batch_id <> ? and started_at < ?
                order by started_at desc limit ?
                """,
                [source, target_id, batch_id, started_at, settings.trailing_runs],
            ).fetchall()
        ]
        outcomes += judge_run(
            source,
            target_id,
            items=items,
            rejects=rejects,
            pages=pages,
            history=history,
            settings=settings,
        )
    return outcomes


def judge_run(
    source: str,
    target_id: str,
    *,
    items: int,
    rejects: int,
    pages: int,
    history: list[int],
    settings: VolumeChecks,
) -> list[Outcome]:
    """The volume outcomes of one run given the item counts of the runs before it."""

    def outcome(check: str, severity: str, success: bool, reason: str, observed: dict) -> Outcome:
        return Outcome(
            table=TABLE,
            suite=SUITE,
            expectation=check,
            severity=severity,
            success=success,
            reason=reason,
            column="items" if check != PARSE_FAILURE_RATE else "rejects",
            observed=json.dumps(observed),
            source=source,
            target_id=target_id,
        )

    outcomes = []
    if len(history) >= settings.min_runs:
        median = statistics.median(history)
        floor = settings.min_share_of_baseline * median
        outcomes.append(
            outcome(
                ITEMS_VS_BASELINE,
                settings.drop_severity,
                items >= floor,
                f"items below {settings.min_share_of_baseline:.0%} of the trailing median",
                {"items": items, "trailing_median": median, "runs": len(history)},
            )
        )
        outcomes.append(
            outcome(
                ITEMS_NOT_ZERO,
                settings.zero_severity,
                items > 0 or median == 0,
                "no items while the trailing median is above 0",
                {"items": items, "trailing_median": median},
            )
        )
    # A file drop's rejects are rows, not pages: there the rate is over rows read.
    read = pages if rejects <= pages else items + rejects
    rate = rejects / read if read else 0.0
    outcomes.append(
        outcome(
            PARSE_FAILURE_RATE,
            settings.parse_failure_severity,
            rate <= settings.max_parse_failure_rate,
            f"more than {settings.max_parse_failure_rate:.0%} of pages failed to parse",
            {"rejects": rejects, "read": read, "rate": round(rate, 4)},
        )
    )
    return outcomes
