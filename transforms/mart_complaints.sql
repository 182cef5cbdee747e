-- grain: one row per period (grain 'day', 'week' or 'month') per brand per complaint channel
--   per category, plus the brand's totals over all channels (channel 'all'), over all
--   categories (category 'all') and over both, for every period with a complaint of the brand
-- materialized: period(period_start, period_end)
-- unique key: grain, period_start, brand, channel, category
-- inputs: int_reviews (complaint records of file drops: extra.channel, extra.category,
--   extra.resolved_at, extra.followup_satisfaction)
-- A complaint belongs to the period of the day it was created; its resolution counts whenever
-- it came (as of the run), as a review's reply does for the response rate. Formulas and
-- versions: docs/metrics.md.
with

complaints as (
    select
        brand,
        published_day,
        published_at,
        channel,
        category,
        try_cast(extra ->> 'resolved_at' as timestamptz) as resolved_at,
        try_cast(extra ->> 'followup_satisfaction' as double) as followup_satisfaction,
    from drop_records('complaint')
),

complaints_in_periods as (
    select
        grains.grain,
        period_start_of(grains.grain, complaints.published_day) as period_start,
        period_end_of(grains.grain, period_start) as period_end,
        complaints.*,
        -- a resolution stamped before its ticket (a typo in the export) counts as immediate
        -- (greatest() skips nulls, so unresolved tickets are kept out explicitly); epoch
        -- seconds, as a difference of timestamptz depends on the session's time zone
        case
            when complaints.resolved_at is not null
                then greatest(
                    (epoch(complaints.resolved_at) - epoch(complaints.published_at)) / 3600, 0
                )
        end as resolution_hours,
    from complaints
    cross join (values ('day'), ('week'), ('month')) as grains (grain)
    where recomputed(period_start, period_end)
),

aggregated as (
    select
        grain,
        period_start,
        period_end,
        brand,
        coalesce(channel, 'all') as channel,
        coalesce(category, 'all') as category,
        count(*) as complaints,
        count(resolved_at) as resolved,
        count(*) - count(resolved_at) as unresolved,
        median(resolution_hours) as resolution_median_hours,
        quantile_cont(resolution_hours, 0.9) as resolution_p90_hours,
        count(followup_satisfaction) as followups,
        avg(followup_satisfaction) as followup_mean,
        count(*) filter (where followup_satisfaction >= 4) as followup_satisfied,
    from complaints_in_periods
    group by grouping sets (
        (grain, period_start, period_end, brand, channel, category),
        (grain, period_start, period_end, brand, channel),
        (grain, period_start, period_end, brand, category),
        (grain, period_start, period_end, brand)
    )
),

with_rates as (
    select
        *,
        resolved / complaints as resolution_rate,
        followup_satisfied / nullif(followups, 0) as followup_satisfied_share,
        'complaints.v1' as metric_version,
    from aggregated
)

select * from with_rates
